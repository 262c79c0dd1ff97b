/**
 * The kubelet version skew policy (https://kubernetes.io/releases/version-skew-policy/): a
 * kubelet must not be newer than kube-apiserver, and may be up to three minor versions older.
 * Pure; the MachinePool refuses a template that breaks it, before any machine is touched.
 */
import { formatVersion, resolveVersion, supportedMinors } from '../cluster/versions.js';

/** How many minors a kubelet may lag its API server (since Kubernetes 1.28). */
export const MAX_KUBELET_MINOR_LAG = 3;

/** Why a kubelet at `kubelet` may not join a control plane at `controlPlane`; undefined when it may. */
export function kubeletSkewProblem(kubelet: string, controlPlane: string): string | undefined {
  const k = resolveVersion(kubelet);
  if (!k) return `version "${kubelet}" is not supported; use one of ${supportedMinors().join(', ')}`;
  const cp = resolveVersion(controlPlane);
  if (!cp) return `the control plane version "${controlPlane}" is not supported`;
  if (k.major !== cp.major || k.minor > cp.minor) {
    return `kubelet ${formatVersion(k)} is newer than the control plane ${formatVersion(cp)}; a kubelet may not be newer than its API server (upgrade the Cluster first, or set the pool's version to ${cp.major}.${cp.minor} or older)`;
  }
  if (cp.minor - k.minor > MAX_KUBELET_MINOR_LAG) {
    return `kubelet ${formatVersion(k)} is ${cp.minor - k.minor} minor versions older than the control plane ${formatVersion(cp)}; at most ${MAX_KUBELET_MINOR_LAG} are supported (set the pool's version to ${cp.major}.${cp.minor - MAX_KUBELET_MINOR_LAG} or newer)`;
  }
  return undefined;
}
