import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operators/runtime/client.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { formatLoopbackPorts, LoopbackLoadBalancer, parseLoopbackPorts } from './loopback-lb.js';
import { PodNetwork } from './pod-network.js';

let server: TestServer;
let client: KubeClient;
const network = new PodNetwork();
const backends: net.Server[] = [];
let lb: LoopbackLoadBalancer | undefined;

/** A TCP server answering every connection with its name, registered as podIP:8443. */
async function backend(name: string, podIP: string): Promise<() => void> {
  const s = net.createServer((c) => c.end(name));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  backends.push(s);
  return network.register(podIP, 8443, { host: '127.0.0.1', port: (s.address() as net.AddressInfo).port });
}

/** What a client connecting to the port reads; 'reset' when the connection is cut without data. */
function dial(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
    s.on('close', () => resolve(data || 'reset'));
  });
}

const service = (name: string, type = 'LoadBalancer') => ({
  metadata: { name },
  spec: { type, ports: [{ name: 'https', port: 443, targetPort: 8443 }] },
});
const endpoints = (name: string, ready: string[], notReady: string[] = []) => ({
  metadata: { name },
  subsets: [{
    addresses: ready.map((ip) => ({ ip })),
    notReadyAddresses: notReady.map((ip) => ({ ip })),
    ports: [{ name: 'https', port: 8443, protocol: 'TCP' }],
  }],
});
const ingressPort = async (name: string): Promise<number> =>
  eventually(async () => (await client.get(resources.services, 'default', name)).status?.loadBalancer?.ingress?.[0]?.ports?.[0]?.port, 5_000);

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig, { fieldManager: 'service-controller' });
});

afterEach(async () => {
  await lb?.stop();
  lb = undefined;
});

afterAll(async () => {
  for (const s of backends) s.close();
  client?.close();
  await server?.destroy();
});

async function startLb(): Promise<LoopbackLoadBalancer> {
  lb = new LoopbackLoadBalancer({ client, network });
  await lb.start();
  return lb;
}

describe('loopback port annotation', () => {
  it('round-trips and ignores malformed pairs', () => {
    expect(parseLoopbackPorts('6443=40123, 80=40124,x=1,5=70000')).toEqual(new Map([[6443, 40123], [80, 40124]]));
    expect(formatLoopbackPorts(new Map([[6443, 40123], [80, 40124]]))).toBe('6443=40123,80=40124');
    expect(parseLoopbackPorts(undefined).size).toBe(0);
  });
});

describe('LoopbackLoadBalancer', () => {
  it('serves a LoadBalancer Service on a loopback port, round robin over ready endpoints that serve', async () => {
    await backend('a', '10.64.0.2');
    await backend('b', '10.64.0.3');
    await client.create(resources.services, 'default', service('api'));
    // .4 is ready but simulated (nothing serves it); .5 serves but is not ready.
    await backend('not-ready', '10.64.0.5');
    await client.create(resources.endpoints, 'default', endpoints('api', ['10.64.0.2', '10.64.0.3', '10.64.0.4'], ['10.64.0.5']));
    const balancer = await startLb();
    const port = await ingressPort('api');
    const svc = await client.get(resources.services, 'default', 'api');
    expect(svc.status.loadBalancer.ingress).toEqual([{ ip: '127.0.0.1', ports: [{ port, protocol: 'TCP' }] }]);
    expect(svc.metadata.annotations?.['kok.dev/loopback-port']).toBe(`443=${port}`);
    expect(balancer.addressOf('default', 'api', 443)).toEqual({ host: '127.0.0.1', port });
    expect(balancer.addressOf('default', 'api', 80)).toBeUndefined();
    const answers = [await dial(port), await dial(port), await dial(port), await dial(port)];
    expect(answers.sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('hands a connection to a backend in this process instead of piping it through a second one', async () => {
    // Port 1 serves nothing: a proxied connection would be refused there and reset.
    const inProcess = net.createServer((c) => c.end('in-process'));
    const handed: net.Socket[] = [];
    network.register('10.64.2.2', 8443, { host: '127.0.0.1', port: 1, accept: (s) => (handed.push(s), inProcess.emit('connection', s)) });
    await client.create(resources.services, 'default', service('direct'));
    await client.create(resources.endpoints, 'default', endpoints('direct', ['10.64.2.2']));
    await startLb();
    const port = await ingressPort('direct');
    expect(await dial(port)).toBe('in-process');
    expect(handed).toHaveLength(1);
    expect(handed[0]!.localPort).toBe(port);
  });

  it('resets connections at once while no endpoint serves', async () => {
    await client.create(resources.services, 'default', service('idle'));
    await client.create(resources.endpoints, 'default', endpoints('idle', ['10.64.9.9']));
    await startLb();
    const port = await ingressPort('idle');
    const started = Date.now();
    expect(await dial(port)).toBe('reset');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('keeps its port across restarts and closes it when the Service goes', async () => {
    await backend('c', '10.64.1.2');
    await client.create(resources.services, 'default', service('stable'));
    await client.create(resources.endpoints, 'default', endpoints('stable', ['10.64.1.2']));
    await startLb();
    const port = await ingressPort('stable');
    await lb!.stop();
    expect(await dial(port)).toBe('refused');
    const again = await startLb();
    await eventually(() => again.addressOf('default', 'stable', 443), 5_000);
    expect(again.addressOf('default', 'stable', 443)?.port).toBe(port);
    expect(await dial(port)).toBe('c');
    await client.delete(resources.services, 'default', 'stable');
    await eventually(async () => (await dial(port)) === 'refused', 5_000);
    expect(again.addressOf('default', 'stable', 443)).toBeUndefined();
  });

  it('clears the ingress of a Service that is no longer a LoadBalancer, and leaves others alone', async () => {
    await client.create(resources.services, 'default', service('switch'));
    await client.create(resources.services, 'default', service('plain', 'ClusterIP'));
    const balancer = await startLb();
    const port = await ingressPort('switch');
    await client.patch(resources.services, 'default', 'switch', 'merge', { spec: { type: 'ClusterIP' } });
    await eventually(async () => !(await client.get(resources.services, 'default', 'switch')).status?.loadBalancer?.ingress, 5_000);
    expect(await dial(port)).toBe('refused');
    expect(balancer.addressOf('default', 'plain', 443)).toBeUndefined();
    expect((await client.get(resources.services, 'default', 'plain')).status?.loadBalancer?.ingress).toBeUndefined();
  });
});
