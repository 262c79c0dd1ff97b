/**
 * Which version each control-plane component should run: the API server moves first; the
 * controller-manager and scheduler follow once every API server replica runs the new version
 * (the version-skew policy: they may lag the API server, never lead it). Pure, table-tested.
 */
import type { KubeObject } from '../runtime/client.js';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { image, versionOfImage, type ComponentVersions } from './desired.js';
import { components } from './names.js';
import { formatVersion, refuseVersionChange, resolveVersion, supportedMinors, type KubeVersion } from './versions.js';

export interface ObservedDeployments {
  readonly apiServer?: KubeObject;
  readonly controllerManager?: KubeObject;
  readonly scheduler?: KubeObject;
}

export interface RolloutPlan {
  readonly versions: ComponentVersions;
  /** What every component runs once the plan is done. */
  readonly target: string;
  /** What every component runs on every replica; the last such version while a rollout goes on; undefined before the first completes. */
  readonly running?: string;
  /** Every component runs `target` on every replica. */
  readonly complete: boolean;
  /** Every API server replica runs `target`. */
  readonly apiServerDone: boolean;
  readonly refused?: string;
}

/** Thrown for a spec no retry can fix; the message names the object and field. */
export class InvalidClusterSpec extends Error {}

/** True when the Deployment runs `img` on every replica, all ready, and nothing older remains. */
export function rolledOut(d: KubeObject | undefined, img: string): boolean {
  if (!d) return false;
  const want = Number(d.spec?.replicas ?? 1);
  const s = d.status ?? {};
  return (
    d.spec?.template?.spec?.containers?.[0]?.image === img &&
    Number(s.observedGeneration ?? 0) >= Number(d.metadata.generation ?? 0) &&
    Number(s.updatedReplicas ?? 0) === want &&
    Number(s.readyReplicas ?? 0) === want &&
    Number(s.replicas ?? 0) === want
  );
}

const runningImageVersion = (d: KubeObject | undefined): KubeVersion | undefined => versionOfImage(d?.spec?.template?.spec?.containers?.[0]?.image);

export function planRollout(cluster: Cluster, observed: ObservedDeployments): RolloutPlan {
  const where = `Cluster ${cluster.metadata.namespace}/${cluster.metadata.name}`;
  const desired = resolveVersion(cluster.spec.version);
  if (!desired) {
    const minors = supportedMinors();
    throw new InvalidClusterSpec(
      `${where}: spec.version "${cluster.spec.version}" is not supported; use one of ${minors[0]}–${minors[minors.length - 1]} (a minor like "1.31", or a patch like "1.31.2")`,
    );
  }
  const running = cluster.status?.version ? resolveVersion(cluster.status.version) : undefined;
  const refused = running ? refuseVersionChange(running, desired) : undefined;
  // A refused change touches nothing: the plan stays on what runs.
  const target = refused ? running! : desired;
  const apiServerDone = rolledOut(observed.apiServer, image(components.apiServer, target));
  const follower = (d: KubeObject | undefined) => (apiServerDone ? target : (runningImageVersion(d) ?? target));
  const versions: ComponentVersions = {
    apiServer: target,
    controllerManager: follower(observed.controllerManager),
    scheduler: follower(observed.scheduler),
  };
  const allDone =
    apiServerDone &&
    rolledOut(observed.controllerManager, image(components.controllerManager, target)) &&
    rolledOut(observed.scheduler, image(components.scheduler, target));
  return {
    versions,
    target: formatVersion(target),
    running: allDone ? formatVersion(target) : running && formatVersion(running),
    complete: allDone,
    apiServerDone,
    refused: refused && `${where}: spec.version ${cluster.spec.version} refused: ${refused}`,
  };
}
