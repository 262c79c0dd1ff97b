/**
 * The user data a machine boots with: a `JoinConfiguration` telling its node agent (kubelet)
 * which API server to join, with what bootstrap token, under what Node name and labels — what
 * cloud-init carries to `kubeadm join` on a real machine. It holds a credential: it travels only
 * as provider user data (never logged, see provider.ts) and in the Machine's bootstrap Secret.
 */
import { parse, stringify } from 'yaml';

export const JOIN_API_VERSION = 'fleet.kok.dev/v1alpha1';
export const JOIN_KIND = 'JoinConfiguration';

export interface JoinConfiguration {
  /** HTTPS URL of the API server to join. */
  readonly server: string;
  /** PEM of the CA that signed the API server's serving certificate. */
  readonly caPem: string;
  /** A bootstrap token `<id>.<secret>` (meta-cluster/apiserver/bootstrap-tokens.ts). */
  readonly token: string;
  readonly nodeName: string;
  /** Labels the Node registers with (unit, tier, target, zone, instance type, pool labels). */
  readonly labels: Readonly<Record<string, string>>;
  /** e.g. "1.31.10" */
  readonly kubeletVersion: string;
  /** Node capacity from the machine type. */
  readonly capacity: { readonly cpu: string; readonly memory: string; readonly pods: string };
}

export function encodeJoinConfiguration(c: JoinConfiguration): string {
  return stringify({ apiVersion: JOIN_API_VERSION, kind: JOIN_KIND, ...c }, { lineWidth: 0 });
}

/** Parses user data; throws an error naming the missing or wrong field (never echoing the token). */
export function decodeJoinConfiguration(userData: string): JoinConfiguration {
  let doc: Record<string, unknown>;
  try {
    doc = parse(userData) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`user data is not YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!doc || typeof doc !== 'object') throw new Error('user data is not a JoinConfiguration document');
  if (doc.apiVersion !== JOIN_API_VERSION || doc.kind !== JOIN_KIND) {
    throw new Error(`user data is ${String(doc.apiVersion)}/${String(doc.kind)}, want ${JOIN_API_VERSION}/${JOIN_KIND}`);
  }
  for (const f of ['server', 'caPem', 'token', 'nodeName', 'kubeletVersion'] as const) {
    if (typeof doc[f] !== 'string' || doc[f] === '') throw new Error(`user data JoinConfiguration: ${f} must be a non-empty string`);
  }
  const labels = doc.labels ?? {};
  if (typeof labels !== 'object' || Object.values(labels as object).some((v) => typeof v !== 'string')) {
    throw new Error('user data JoinConfiguration: labels must map strings to strings');
  }
  const capacity = doc.capacity as JoinConfiguration['capacity'] | undefined;
  if (!capacity || !['cpu', 'memory', 'pods'].every((k) => typeof (capacity as Record<string, unknown>)[k] === 'string')) {
    throw new Error('user data JoinConfiguration: capacity needs cpu, memory and pods as strings');
  }
  const { apiVersion: _a, kind: _k, ...rest } = doc;
  return rest as unknown as JoinConfiguration;
}
