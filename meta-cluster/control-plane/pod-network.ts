/**
 * The simulated pod network. Pods get addresses from their node's pod CIDR (10.64.x.y), which no
 * host interface carries; a pod whose runtime really serves listens on 127.0.0.1 instead and
 * registers here which loopback listener stands for its podIP:port. Anything in the process that
 * would dial a pod (the loopback load balancer) resolves the address through this table.
 */
import type { Socket } from 'node:net';

export interface LoopbackAddress {
  readonly host: string;
  readonly port: number;
  /**
   * Set when the listener lives in this process: it takes a connection accepted elsewhere (by a
   * load balancer) as its own, so no second loopback connection and byte pipe stand between.
   */
  readonly accept?: (socket: Socket) => void;
}

const keyOf = (podIP: string, port: number) => `${podIP}:${port}`;

export class PodNetwork {
  private readonly routes = new Map<string, { target: LoopbackAddress; owner: symbol }>();

  /**
   * Routes podIP:port to `target` until the returned function is called. A later registration of
   * the same address wins (a pod that took over a freed IP); unregistering the older one then
   * leaves the newer route alone.
   */
  register(podIP: string, port: number, target: LoopbackAddress): () => void {
    const owner = Symbol(keyOf(podIP, port));
    const key = keyOf(podIP, port);
    this.routes.set(key, { target, owner });
    return () => {
      if (this.routes.get(key)?.owner === owner) this.routes.delete(key);
    };
  }

  /** The listener serving podIP:port, or undefined when nothing serves there (e.g. a simulated pod). */
  resolve(podIP: string, port: number): LoopbackAddress | undefined {
    return this.routes.get(keyOf(podIP, port))?.target;
  }

  get size(): number {
    return this.routes.size;
  }
}
