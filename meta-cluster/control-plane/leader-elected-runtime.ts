/**
 * The shape kube-controller-manager and kube-scheduler share, as a PodRuntime: read the
 * `--kubeconfig` the pod mounts, reach the business API it names (an in-cluster Service name is
 * resolved in this process), then — with `--leader-elect=true`, the default — compete for a Lease
 * in the business cluster and run the component's work only while leading, one term at a time.
 * The pod is ready once the API answered with its credentials (a standby is ready too, as a real
 * standby's healthz is), and not ready when a term of work failed to start.
 *
 * Flags read: --kubeconfig, --leader-elect, --leader-elect-resource-namespace,
 * --leader-elect-resource-name, --leader-elect-lease-duration, --leader-elect-renew-deadline,
 * --leader-elect-retry-period; every other flag is ignored.
 */
import { randomUUID } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { LeaderElector } from '../../operators/runtime/leader-election.js';
import type { PodRuntime, RunningPod } from '../node-agent/runtime.js';
import { ContainerFlags, containerWithImage, podKey } from './container-flags.js';
import { readPodKubeconfig, resolveInClusterServer, type ServiceResolver } from './in-cluster-kubeconfig.js';

/** One term of a component's work (a leader's controllers, a scheduler); stop() ends it for good. */
export interface ComponentTerm {
  stop(): Promise<void>;
}

export interface LeaderElectedRuntimeOptions {
  /** Shown in logs and the pod's status. */
  name: string;
  /** The image this runtime runs, without tag. */
  image: string;
  /** The Lease competed for unless --leader-elect-resource-name says otherwise. */
  leaseName: string;
  /** A meta-cluster client, to read mounted Secrets. */
  client: KubeClient;
  /** Where in-cluster Service names are served in this process. */
  resolveService: ServiceResolver;
  /** Starts one term of work against the business API; resolves once it runs. */
  startTerm(kubeConfig: KubeConfig, pod: KubeObject): Promise<ComponentTerm>;
  /** Wait between attempts to reach the API. @default 1000 */
  retryMs?: number;
  /** @default console.warn */
  log?: (message: string, err?: unknown) => void;
}

interface Election {
  namespace: string;
  name: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

export class LeaderElectedRuntime implements PodRuntime {
  readonly simulated = false;
  private readonly instances = new Set<Instance>();

  constructor(private readonly opts: LeaderElectedRuntimeOptions) {}

  get name(): string {
    return this.opts.name;
  }

  async start(pod: KubeObject): Promise<RunningPod> {
    const container = containerWithImage(pod, this.opts.image);
    const flags = new ContainerFlags(pod, container);
    const path = flags.require('kubeconfig', 'the server and credentials of the business API');
    const election: Election | undefined = flags.bool('leader-elect', true)
      ? {
          namespace: flags.get('leader-elect-resource-namespace') || 'kube-system',
          name: flags.get('leader-elect-resource-name') || this.opts.leaseName,
          leaseDurationSeconds: Math.ceil(flags.seconds('leader-elect-lease-duration', 15)),
          renewDeadlineSeconds: flags.seconds('leader-elect-renew-deadline', 10),
          retryPeriodSeconds: flags.seconds('leader-elect-retry-period', 2),
        }
      : undefined;
    const kubeConfig = await readPodKubeconfig(this.opts.client, pod, container, path);
    const instance = new Instance(this.opts, pod, kubeConfig, election, () => this.instances.delete(instance));
    this.instances.add(instance);
    return instance;
  }

  /**
   * Stops every running instance (ending terms, releasing leases) while the business APIs still
   * serve; the node agent's later stop() of each is then a no-op.
   */
  async stopAll(): Promise<void> {
    await Promise.all([...this.instances].map((i) => i.stop()));
  }
}

class Instance implements RunningPod {
  private connected = false;
  private failed = false;
  private stopped = false;
  private elector?: LeaderElector;
  private term?: Promise<ComponentTerm | undefined>;
  private wake?: () => void;
  private readonly loop: Promise<void>;
  private stopping?: Promise<void>;
  private readonly log: (message: string, err?: unknown) => void;

  constructor(
    private readonly opts: LeaderElectedRuntimeOptions,
    private readonly pod: KubeObject,
    private readonly kubeConfig: KubeConfig,
    private readonly election: Election | undefined,
    private readonly onStopped: () => void,
  ) {
    const prefix = `${opts.name} pod ${podKey(pod)}`;
    this.log = opts.log ?? ((m, e) => console.warn(`${prefix}: ${m}${e ? `: ${e instanceof Error ? e.message : String(e)}` : ''}`));
    this.loop = this.run();
  }

  ready(): boolean {
    return this.connected && !this.failed && !this.stopped;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true;
      this.wake?.();
      await this.loop;
      // A leader ends its term before it gives the Lease up, as client-go's ReleaseOnCancel does.
      if (this.elector) await this.elector.stop();
      else await this.endTerm();
      this.onStopped();
    })();
    return this.stopping;
  }

  /** Reaches the API, then leads (or competes to lead) until stopped. */
  private async run(): Promise<void> {
    let kubeConfig: KubeConfig | undefined;
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        kubeConfig = resolveInClusterServer(this.kubeConfig, this.opts.resolveService);
        await probe(kubeConfig);
        break;
      } catch (err) {
        kubeConfig = undefined;
        // The first attempts fail as a matter of course while the apiserver pod starts.
        if (attempt === 10 || attempt % 60 === 0) this.log(`cannot reach the API yet (attempt ${attempt})`, err);
        await this.sleep(this.opts.retryMs ?? 1000);
      }
    }
    if (!kubeConfig || this.stopped) return;
    this.connected = true;
    const kc = kubeConfig;
    if (!this.election) {
      this.beginTerm(kc);
      return;
    }
    this.elector = new LeaderElector({
      kubeConfig: kc,
      ...this.election,
      identity: `${this.pod.metadata.name}_${randomUUID()}`,
      onStartedLeading: () => this.beginTerm(kc),
      onStoppedLeading: () => this.endTerm(),
    });
    void this.elector.run();
  }

  private beginTerm(kc: KubeConfig): void {
    this.term = this.opts.startTerm(kc, this.pod).then(
      (t) => {
        this.failed = false;
        return t;
      },
      (err) => {
        this.failed = true;
        this.log('starting its work failed', err);
        return undefined;
      },
    );
  }

  private async endTerm(): Promise<void> {
    const term = this.term;
    this.term = undefined;
    await (await term)?.stop();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** One authenticated request: the server answers and accepts the credentials. */
async function probe(kubeConfig: KubeConfig): Promise<void> {
  const client = new KubeClient(kubeConfig);
  try {
    await client.raw('/api');
  } finally {
    client.close();
  }
}
