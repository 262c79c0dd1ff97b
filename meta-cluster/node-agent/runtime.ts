/**
 * Pod runtimes: what "runs" a pod's containers on a simulated node. The default runtime simulates
 * them (nothing runs; the pod says so in its `kok.dev/Simulated` condition). Another runtime can
 * give an image a real process — control-plane/ serves the kube-apiserver image with a kok API
 * server — by registering it for that image in a RuntimeRegistry passed to the NodeAgent.
 *
 * The contract, kept small on purpose:
 * - `start(pod, ctx)` is called when the pod's containers start (again after each crash-loop
 *   restart). It resolves once the process is up; a rejection is a failed start (the container
 *   terminates with reason StartError and the pod's restartPolicy decides what follows).
 * - `ready()` is polled by the agent (about once a second) while the containers run; the pod's
 *   Ready condition follows it, after the agent's readiness delay.
 * - `stop()` is called once: on a crash injected by annotation, on the pod's deletion, on
 *   `removeNode` and on `NodeAgent.stop()`. It should resolve when the process is gone.
 * - `ctx.signal` aborts when the agent stops or the pod goes away, for runtimes that tie
 *   child processes to it.
 */
import type { KubeObject } from '../../operators/runtime/client.js';

export interface PodRuntimeContext {
  /** The simulated node the pod is bound to. */
  readonly nodeName: string;
  /** The IP the agent allocated to the pod from its node's pod CIDR. */
  readonly podIP: string;
  /** The node's InternalIP. */
  readonly hostIP: string;
  /** Aborted when the pod's containers must go away (deletion, removeNode, agent stop). */
  readonly signal: AbortSignal;
}

export interface RunningPod {
  /** Whether the pod's process serves; polled while the containers run. */
  ready(): boolean;
  /** Ends the process; called at most once. */
  stop(): Promise<void>;
}

export interface PodRuntime {
  /** Shown in logs and in the pod's Simulated condition. */
  readonly name: string;
  /** True when no process runs: the pod's `kok.dev/Simulated` condition is True (else False). @default false */
  readonly simulated?: boolean;
  start(pod: KubeObject, ctx: PodRuntimeContext): Promise<RunningPod>;
}

/** Nothing runs: a simulated process starts and stops at once and is always ready. */
export const simulatedRuntime: PodRuntime = {
  name: 'simulated',
  simulated: true,
  async start() {
    return { ready: () => true, stop: async () => {} };
  },
};

/**
 * Which images a runtime serves: an image name without tag or digest
 * (`registry.k8s.io/kube-apiserver` matches `registry.k8s.io/kube-apiserver:v1.31.0`), a RegExp
 * tested against the whole image reference, or a predicate.
 */
export type ImageMatcher = string | RegExp | ((image: string) => boolean);

/** `registry.k8s.io/kube-apiserver:v1.31.0@sha256:…` → `registry.k8s.io/kube-apiserver`. */
export function imageName(image: string): string {
  const noDigest = image.split('@')[0]!;
  const lastSlash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > lastSlash ? noDigest.slice(0, colon) : noDigest;
}

function matches(m: ImageMatcher, image: string): boolean {
  if (typeof m === 'string') return imageName(image) === m;
  if (m instanceof RegExp) return m.test(image);
  return m(image);
}

/**
 * Maps images to runtimes. A pod runs under the runtime of the first registration (in order) that
 * matches any of its containers' images; otherwise under the fallback (the simulated runtime).
 */
export class RuntimeRegistry {
  private readonly entries: Array<{ match: ImageMatcher; runtime: PodRuntime }> = [];

  constructor(private readonly fallback: PodRuntime = simulatedRuntime) {}

  register(match: ImageMatcher, runtime: PodRuntime): this {
    this.entries.push({ match, runtime });
    return this;
  }

  resolve(pod: KubeObject): PodRuntime {
    const images: string[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
      .map((c: { image?: string }) => String(c?.image ?? ''))
      .filter(Boolean);
    for (const e of this.entries) if (images.some((i) => matches(e.match, i))) return e.runtime;
    return this.fallback;
  }
}
