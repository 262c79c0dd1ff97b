/**
 * A TCP proxy on a loopback port: each accepted connection goes to the backend `pick()` names at
 * that moment, bytes flow both ways untouched (TLS passes through end to end), and either side
 * closing closes the other. A backend in this process (one with `accept`) is handed the accepted
 * connection instead: no second connection, no copy of every byte through this process's loop.
 * With no backend the connection is reset at once, so a client fails fast instead of hanging — as
 * a cloud load balancer with no healthy target does.
 */
import net, { type AddressInfo, type Socket } from 'node:net';
import type { LoopbackAddress } from './pod-network.js';

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<Socket>();
  private bound?: number;

  constructor(private readonly pick: () => LoopbackAddress | undefined) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Listens on `port` (0: any free port); rejects (EADDRINUSE) when it is taken. */
  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.bound = (this.server.address() as AddressInfo).port;
    return this.bound;
  }

  get port(): number | undefined {
    return this.bound;
  }

  /** Stops listening and cuts every open connection. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
  }

  private accept(client: Socket): void {
    this.track(client);
    const target = this.pick();
    if (!target) {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    if (target.accept) {
      // The backend is in this process: it serves the connection itself (still tracked here, so
      // closing the proxy cuts it as it cuts a piped one).
      target.accept(client);
      return;
    }
    const upstream = net.connect(target.port, target.host);
    this.track(upstream);
    upstream.setNoDelay(true);
    // Errors end both sides; they are the client's to see (a reset), not ours to log.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
