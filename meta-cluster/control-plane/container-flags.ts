/**
 * A container's command line as the control-plane runtimes read it: the container running a given
 * image, and its `--flag=value` options from command and args together (upstream manifests put
 * them in either). Only the `=` form is read: `--flag value` cannot be told apart from a boolean
 * flag followed by a positional argument without knowing every flag.
 */
import type { KubeObject } from '../../operators/runtime/client.js';
import { parseDuration } from '../node-agent/pod-status.js';
import { imageName } from '../node-agent/runtime.js';
import { ControlPlaneError } from './errors.js';

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string; readOnly?: boolean }>;
  ports?: Array<{ containerPort: number; name?: string; protocol?: string }>;
}

export const podKey = (pod: KubeObject) => `${pod.metadata.namespace}/${pod.metadata.name}`;

/** The first container (init containers excluded) whose image is `image` at any tag or digest. */
export function containerWithImage(pod: KubeObject, image: string): Container {
  const c = ((pod.spec?.containers ?? []) as Container[]).find((x) => x.image && imageName(x.image) === image);
  if (!c) throw new ControlPlaneError('NotThisImage', `pod ${podKey(pod)}: no container runs image ${image}`);
  return c;
}

/** `--name=value` options, the last occurrence winning as with Go's flag package. */
export class ContainerFlags {
  private readonly values = new Map<string, string>();

  constructor(
    private readonly pod: KubeObject,
    private readonly container: Container,
  ) {
    for (const arg of [...(container.command ?? []), ...(container.args ?? [])]) {
      const m = /^--?([A-Za-z0-9][-A-Za-z0-9_.]*)(?:=(.*))?$/s.exec(arg);
      if (m) this.values.set(m[1]!, m[2] ?? 'true');
    }
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  require(name: string, why: string): string {
    const v = this.values.get(name);
    if (v === undefined || v === '') throw this.invalid(`--${name} is required (${why})`);
    return v;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    if (/^(true|1|t)$/i.test(v)) return true;
    if (/^(false|0|f)$/i.test(v)) return false;
    throw this.invalid(`--${name}=${v} is not a boolean`);
  }

  port(name: string, fallback: number): number {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw this.invalid(`--${name}=${v} is not a port 1..65535`);
    return n;
  }

  /** A Go duration (`15s`, `1m30s`, `500ms`) in seconds. */
  seconds(name: string, fallback: number): number {
    const v = this.values.get(name);
    if (v === undefined) return fallback;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) throw this.invalid(`--${name}=${v} is not a positive duration like 15s`);
    return ms / 1000;
  }

  private invalid(message: string): ControlPlaneError {
    return new ControlPlaneError('InvalidFlag', `pod ${podKey(this.pod)} container ${this.container.name}: ${message}`);
  }
}
