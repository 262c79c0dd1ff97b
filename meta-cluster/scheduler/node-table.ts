/**
 * The numbers the per-pod loop reads for every node, kept as columns of typed arrays indexed by a
 * node's slot. Reading NodeInfo objects costs a chain of pointer hops per node (and large memory
 * values are boxed doubles); the columns are read sequentially, which makes a decision over 1,000
 * nodes about ten times cheaper. The columns mirror NodeInfo: the cache calls `sync` after every
 * change, and `selectHostInTable` is checked against scoring.ts's `selectHost` in the tests.
 *
 * Only the resource fit and the rank are computed from the columns; everything else (readiness,
 * cordon, taints, affinity, extended resources, the reasons in the message) is delegated to the
 * predicates in predicates.ts, so the wording and semantics stay in one place.
 */
import type { NodeInfo } from './node-info.js';
import type { PodInfo } from './pod-info.js';
import { addReasons, checkResources, filterNodeExceptResources, fitErrorMessage } from './predicates.js';
import { intolerablePreferNoSchedule, MAX_NODE_SCORE, type Placement } from './scoring.js';

const HAS_NODE = 1;
/** Ready, not cordoned, no NoSchedule/NoExecute taints. */
const PLAIN = 2;
const SOFT_TAINTS = 4;

export class NodeTable {
  private capacity = 0;
  /** One past the highest slot in use. */
  private end = 0;
  private readonly free: number[] = [];
  private infos: Array<NodeInfo | undefined> = [];
  private flags = new Uint8Array(0);
  private allocCpu = new Float64Array(0);
  private allocMem = new Float64Array(0);
  private allocEph = new Float64Array(0);
  private allocPods = new Float64Array(0);
  private reqCpu = new Float64Array(0);
  private reqMem = new Float64Array(0);
  private reqEph = new Float64Array(0);
  private pods = new Float64Array(0);
  private nzCpu = new Float64Array(0);
  private nzMem = new Float64Array(0);
  /** Same-owner pod counts of the pod being placed, filled per decision from `owners`. */
  private sameOwner = new Int32Array(0);
  /** owner uid → slot → pods of that owner on the node. */
  private readonly owners = new Map<string, Map<number, number>>();

  /** Gives the node a slot; its columns follow it from now on. */
  add(ni: NodeInfo): void {
    if (ni.slot >= 0) return;
    const slot = this.free.pop() ?? this.end++;
    if (slot >= this.capacity) this.grow(Math.max(64, this.capacity * 2));
    ni.slot = slot;
    this.infos[slot] = ni;
    this.sync(ni);
  }

  remove(ni: NodeInfo): void {
    if (ni.slot < 0) return;
    this.flags[ni.slot] = 0;
    this.infos[ni.slot] = undefined;
    this.free.push(ni.slot);
    ni.slot = -1;
  }

  /** Copies the node's numbers into its slot. */
  sync(ni: NodeInfo): void {
    const s = ni.slot;
    if (s < 0) return;
    const a = ni.allocatable;
    const r = ni.requested;
    this.flags[s] = (ni.node ? HAS_NODE : 0) | (ni.plain ? PLAIN : 0) | (ni.softTaints.length ? SOFT_TAINTS : 0);
    this.allocCpu[s] = a.milliCPU;
    this.allocMem[s] = a.memory;
    this.allocEph[s] = a.ephemeralStorage;
    this.allocPods[s] = a.pods;
    this.reqCpu[s] = r.milliCPU;
    this.reqMem[s] = r.memory;
    this.reqEph[s] = r.ephemeralStorage;
    this.pods[s] = ni.podCount;
    this.nzCpu[s] = ni.nonZeroRequested.milliCPU;
    this.nzMem[s] = ni.nonZeroRequested.memory;
  }

  /** Counts a pod of `ownerUid` arriving on (+1) or leaving (−1) the node. */
  ownerDelta(ownerUid: string | undefined, ni: NodeInfo, delta: 1 | -1): void {
    if (!ownerUid || ni.slot < 0) return;
    let bySlot = this.owners.get(ownerUid);
    if (!bySlot) this.owners.set(ownerUid, (bySlot = new Map()));
    const n = (bySlot.get(ni.slot) ?? 0) + delta;
    if (n > 0) bySlot.set(ni.slot, n);
    else bySlot.delete(ni.slot);
    if (bySlot.size === 0) this.owners.delete(ownerUid);
  }

  private grow(capacity: number): void {
    const f64 = (old: Float64Array) => {
      const a = new Float64Array(capacity);
      a.set(old);
      return a;
    };
    this.allocCpu = f64(this.allocCpu);
    this.allocMem = f64(this.allocMem);
    this.allocEph = f64(this.allocEph);
    this.allocPods = f64(this.allocPods);
    this.reqCpu = f64(this.reqCpu);
    this.reqMem = f64(this.reqMem);
    this.reqEph = f64(this.reqEph);
    this.pods = f64(this.pods);
    this.nzCpu = f64(this.nzCpu);
    this.nzMem = f64(this.nzMem);
    const flags = new Uint8Array(capacity);
    flags.set(this.flags);
    this.flags = flags;
    this.sameOwner = new Int32Array(capacity);
    this.capacity = capacity;
  }

  /** The same choice and message as scoring.ts's `selectHost` over the same nodes, in O(nodes). */
  selectHost(pod: PodInfo): Placement {
    const { flags, allocCpu, allocMem, allocEph, allocPods, reqCpu, reqMem, reqEph, pods, nzCpu, nzMem, infos } = this;
    const owned = pod.ownerUid ? this.owners.get(pod.ownerUid) : undefined;
    if (owned) for (const [slot, n] of owned) this.sameOwner[slot] = n;
    const sameOwner = this.sameOwner;
    const r = pod.requests;
    const cpu = r.milliCPU;
    const mem = r.memory;
    const eph = r.ephemeralStorage;
    // Zero requests and extended resources take predicates.ts's path.
    const numeric = !pod.requestsZero && r.scalar === undefined && !pod.invalid;
    let best = -1;
    let bestRank = Infinity;
    let histogram: Map<string, number> | undefined;
    let count = 0;
    for (let i = 0; i < this.end; i++) {
      const f = flags[i]!;
      if (!(f & HAS_NODE)) continue;
      count++;
      if (!(f & PLAIN && pod.anyNode) || !numeric) {
        const reasons = filterNodeExceptResources(pod, infos[i]!) ?? checkResources(pod, infos[i]!);
        if (reasons) {
          addReasons((histogram ??= new Map()), reasons);
          continue;
        }
      } else if (
        pods[i]! + 1 > allocPods[i]! ||
        cpu > allocCpu[i]! - reqCpu[i]! ||
        mem > allocMem[i]! - reqMem[i]! ||
        eph > allocEph[i]! - reqEph[i]!
      ) {
        // The columns say "no"; checkResources says why (or "yes" where a zero request is fine).
        const reasons = checkResources(pod, infos[i]!);
        if (reasons) {
          addReasons((histogram ??= new Map()), reasons);
          continue;
        }
      }
      // nodeRank in scoring.ts, from the columns.
      const ac = allocCpu[i]!;
      const am = allocMem[i]!;
      const rc = nzCpu[i]! + pod.nonZero.milliCPU;
      const rm = nzMem[i]! + pod.nonZero.memory;
      const sc = ac <= 0 || rc > ac ? 0 : Math.floor(((ac - rc) * MAX_NODE_SCORE) / ac);
      const sm = am <= 0 || rm > am ? 0 : Math.floor(((am - rm) * MAX_NODE_SCORE) / am);
      let rank = sameOwner[i]! * 1_000_000 + (MAX_NODE_SCORE - Math.floor((sc + sm) / 2)) * 1000;
      if (f & SOFT_TAINTS) rank += Math.min(intolerablePreferNoSchedule(pod, infos[i]!), 999);
      if (rank < bestRank || (rank === bestRank && infos[i]!.name < infos[best]!.name)) {
        best = i;
        bestRank = rank;
      }
    }
    if (owned) for (const slot of owned.keys()) this.sameOwner[slot] = 0;
    if (best >= 0) return { node: infos[best], nodes: count };
    return { message: fitErrorMessage(count, histogram ?? new Map()), nodes: count };
  }
}
