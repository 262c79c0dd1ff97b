/**
 * Kubernetes versions of a Cluster: which minors kok provisions, what patch a bare minor means,
 * and which version changes are safe upgrades. Pure functions, table-tested.
 */

/**
 * The patch release a bare minor ("1.31") resolves to, and so the image tag of the control plane.
 * Pinned rather than looked up, so a Cluster's manifests never change under it without an edit here.
 */
export const latestPatch: Readonly<Record<string, number>> = {
  '1.28': 15,
  '1.29': 15,
  '1.30': 14,
  '1.31': 10,
  '1.32': 6,
  '1.33': 2,
  '1.34': 0,
};

export interface KubeVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

export const supportedMinors = (): string[] => Object.keys(latestPatch);

/** "1.31" or "1.31.2" (as the CRD's pattern admits) → a full version; undefined when unsupported. */
export function resolveVersion(spec: string): KubeVersion | undefined {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(spec);
  if (!m) return undefined;
  const minorKey = `${m[1]}.${m[2]}`;
  const latest = latestPatch[minorKey];
  if (latest === undefined) return undefined;
  const patch = m[3] === undefined ? latest : Number(m[3]);
  return { major: Number(m[1]), minor: Number(m[2]), patch };
}

export const formatVersion = (v: KubeVersion): string => `${v.major}.${v.minor}.${v.patch}`;
/** The upstream image tag: "v1.31.10". */
export const imageTag = (v: KubeVersion): string => `v${formatVersion(v)}`;

export function compareVersions(a: KubeVersion, b: KubeVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/**
 * Why moving the control plane from `current` to `desired` is refused, or undefined when it is
 * allowed. Kubernetes supports upgrading one minor at a time and never downgrading: the stored
 * objects of a newer API server may not be readable by an older one.
 */
export function refuseVersionChange(current: KubeVersion, desired: KubeVersion): string | undefined {
  if (compareVersions(desired, current) < 0) {
    return `downgrade from ${formatVersion(current)} to ${formatVersion(desired)} is not supported; set spec.version back to ${current.major}.${current.minor} or later`;
  }
  if (desired.major !== current.major || desired.minor > current.minor + 1) {
    return `upgrade from ${formatVersion(current)} to ${formatVersion(desired)} skips a minor version; upgrade one minor at a time (next: ${current.major}.${current.minor + 1})`;
  }
  return undefined;
}
