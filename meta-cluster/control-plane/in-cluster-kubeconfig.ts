/**
 * The kubeconfig a control-plane pod was given, made usable from inside kok's process. Its server
 * is usually an in-cluster Service name (`https://kube-apiserver.<ns>.svc:6443`) that no resolver
 * here knows; such a host (`<service>.<namespace>.svc` or `….svc.<cluster domain>`) is resolved
 * to the address the Service is served at in this process (the loopback load balancer), and the
 * original name is kept as the TLS server name, so the serving certificate is still checked
 * against it exactly as a pod in a real cluster would.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeClient, KubeObject } from '../../operators/runtime/client.js';
import type { Container } from './container-flags.js';
import { podKey } from './container-flags.js';
import { ControlPlaneError } from './errors.js';
import { readMountedText } from './mounted-files.js';
import type { LoopbackAddress } from './pod-network.js';

/** Where a Service's port is served in this process; undefined while it is not (yet). */
export type ServiceResolver = (namespace: string, service: string, port: number) => LoopbackAddress | undefined;

/** `kube-apiserver.ns.svc` / `kube-apiserver.ns.svc.cluster.local` → its Service; else undefined. */
export function serviceOfHost(host: string): { namespace: string; service: string } | undefined {
  const labels = host.toLowerCase().replace(/\.$/, '').split('.');
  if (labels.length < 3 || labels[2] !== 'svc' || !labels[0] || !labels[1]) return undefined;
  return { service: labels[0], namespace: labels[1] };
}

/** Reads and parses the kubeconfig file at `path` in the pod's container. */
export async function readPodKubeconfig(client: KubeClient, pod: KubeObject, container: Container, path: string): Promise<KubeConfig> {
  const text = await readMountedText(client, pod, container, path);
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    // A YAML error's message quotes the offending lines, which may hold a key: say only where.
    const e = err as Error & { mark?: { line?: number } };
    const why = e.name === 'YAMLException' ? `is not YAML (line ${(e.mark?.line ?? 0) + 1})` : `is not a valid kubeconfig: ${e.message}`;
    throw new ControlPlaneError('InvalidKubeconfig', `pod ${podKey(pod)}: kubeconfig ${path} ${why}`);
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new ControlPlaneError('InvalidKubeconfig', `pod ${podKey(pod)}: kubeconfig ${path} has no current cluster with a server`);
  return kc;
}

/**
 * The kubeconfig with an in-cluster server resolved through `resolve`; unchanged when the server
 * is not a Service name. Throws while the Service has no address in this process yet.
 */
export function resolveInClusterServer(kc: KubeConfig, resolve: ServiceResolver): KubeConfig {
  const cluster = kc.getCurrentCluster()!;
  const url = new URL(cluster.server);
  const svc = serviceOfHost(url.hostname);
  if (!svc) return kc;
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const address = resolve(svc.namespace, svc.service, port);
  if (!address) {
    throw new ControlPlaneError('InvalidKubeconfig', `service ${svc.namespace}/${svc.service} port ${port} (server ${cluster.server}) is not served in this process yet`);
  }
  const resolved = new URL(url);
  resolved.hostname = address.host;
  resolved.port = String(address.port);
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) =>
      c.name === cluster.name ? { ...c, server: resolved.origin + url.pathname.replace(/\/$/, ''), tlsServerName: c.tlsServerName ?? url.hostname } : c,
    ),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}
