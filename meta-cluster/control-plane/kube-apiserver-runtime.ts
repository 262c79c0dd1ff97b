/**
 * The runtime of `registry.k8s.io/kube-apiserver` pods: kok's own API server stands in for the
 * image. A pod's TLS files come from its mounted Secrets (the flags --tls-cert-file,
 * --tls-private-key-file, --client-ca-file name them, as for the real binary); it serves HTTPS on
 * a free 127.0.0.1 port with the cluster's serving certificate, authenticates clients by
 * certificates the cluster CA signed (no tokens), and is reachable as podIP:--secure-port through
 * the pod network. All apiserver pods of one control-plane namespace share one backend (like
 * replicas sharing one etcd), whose data outlives the pods; every other flag is ignored.
 *
 * Not (yet) like the real binary: the TLS files are read once at start (a rotated certificate
 * takes a pod restart), and authorization is AlwaysAllow whatever `--authorization-mode` says:
 * every authenticated client may do everything, so the CA's client certificates (and bootstrap
 * tokens, when enabled) are the only gate. RBAC (which the meta-cluster enforces) would need
 * upstream's `system:kube-controller-manager` and `system:kube-scheduler` roles for kok's own
 * components, which act under those certificates.
 */
import type { Socket } from 'node:net';
import type { KubeClient, KubeObject } from '../../operators/runtime/client.js';
import { bootstrapTokenAuthenticator } from '../apiserver/bootstrap-tokens.js';
import { ApiHttpServer } from '../apiserver/server.js';
import type { PodRuntime, PodRuntimeContext, RunningPod } from '../node-agent/runtime.js';
import { keyMatchesCertificate } from '../pki/pki.js';
import type { BusinessBackends } from './business-backends.js';
import { ContainerFlags, containerWithImage, podKey } from './container-flags.js';
import { ControlPlaneError } from './errors.js';
import { readMountedText } from './mounted-files.js';
import type { LoopbackAddress, PodNetwork } from './pod-network.js';

export const KUBE_APISERVER_IMAGE = 'registry.k8s.io/kube-apiserver';

export interface KubeApiserverRuntimeOptions {
  /** A meta-cluster client, to read the pods' mounted Secrets. */
  client: KubeClient;
  backends: BusinessBackends;
  network: PodNetwork;
  bookmarkIntervalMs?: number;
}

export class KubeApiserverRuntime implements PodRuntime {
  readonly name = 'kube-apiserver';
  readonly simulated = false;
  /** Pod key → its loopback listener, while it serves. */
  private readonly listeners = new Map<string, LoopbackAddress>();

  constructor(private readonly opts: KubeApiserverRuntimeOptions) {}

  /** Where a running apiserver pod listens in this process (tests, diagnostics). */
  listenerOf(namespace: string, podName: string): LoopbackAddress | undefined {
    return this.listeners.get(`${namespace}/${podName}`);
  }

  async start(pod: KubeObject, ctx: PodRuntimeContext): Promise<RunningPod> {
    const key = podKey(pod);
    const container = containerWithImage(pod, KUBE_APISERVER_IMAGE);
    const flags = new ContainerFlags(pod, container);
    const securePort = flags.port('secure-port', 6443);
    const files = {
      cert: flags.require('tls-cert-file', 'the serving certificate; kok does not generate one'),
      key: flags.require('tls-private-key-file', 'the key of the serving certificate'),
      clientCa: flags.require('client-ca-file', "kok's kube-apiserver authenticates clients by certificate only"),
    };
    const read = (path: string) => readMountedText(this.opts.client, pod, container, path);
    const [certPem, keyPem, caPem] = await Promise.all([read(files.cert), read(files.key), read(files.clientCa)]);
    let matches: boolean;
    try {
      matches = keyMatchesCertificate(certPem, keyPem);
    } catch (err) {
      throw new ControlPlaneError('InvalidFlag', `pod ${key}: ${files.cert} or ${files.key}: ${(err as Error).message}`, { cause: err });
    }
    if (!matches) {
      throw new ControlPlaneError('InvalidFlag', `pod ${key}: --tls-private-key-file ${files.key} is not the key of --tls-cert-file ${files.cert}`);
    }
    if (ctx.signal.aborted) throw new Error(`pod ${key}: stopped while starting`);

    const lease = this.opts.backends.acquire(pod.metadata.namespace!);
    let http: ApiHttpServer | undefined;
    let port: number;
    try {
      http = new ApiHttpServer(lease.backend.api, {
        tls: { certPem, keyPem, caPem },
        tokens: new Map(),
        tokenAuthenticator: flags.bool('enable-bootstrap-token-auth', false) ? bootstrapTokenAuthenticator(lease.backend.api) : undefined,
        bookmarkIntervalMs: this.opts.bookmarkIntervalMs,
        metrics: lease.backend.metrics,
      });
      port = await http.listen(0, '127.0.0.1');
    } catch (err) {
      await http?.close();
      lease.release();
      throw err;
    }
    const server = http;
    const address = { host: '127.0.0.1', port, accept: (socket: Socket) => server.accept(socket) };
    const unroute = this.opts.network.register(ctx.podIP, securePort, address);
    this.listeners.set(key, address);
    let serving = true;
    let stopping: Promise<void> | undefined;
    return {
      ready: () => serving,
      stop: () =>
        (stopping ??= (async () => {
          serving = false;
          unroute();
          if (this.listeners.get(key) === address) this.listeners.delete(key);
          await server.close();
          lease.release();
        })()),
    };
  }
}
