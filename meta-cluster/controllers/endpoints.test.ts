import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isNotFound, KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { eventually, startTestServer, type TestServer } from '../../test/helpers.js';
import { EndpointsController, MANAGED_BY, MANAGED_BY_LABEL, desiredEndpoints, endpointSubsets, resolveTargetPort, selectsPod } from './endpoints.js';
import { resources } from './resources.js';

const service = (spec: Record<string, unknown> = {}): KubeObject => ({
  metadata: { name: 'shop', namespace: 'ns', labels: { team: 'pay' } },
  spec: { selector: { app: 'shop' }, ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }], ...spec },
});

function pod(name: string, o: { ip?: string; ready?: boolean; terminating?: boolean; webPort?: number; phase?: string; labels?: Record<string, string> } = {}): KubeObject {
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, labels: o.labels ?? { app: 'shop' }, ...(o.terminating ? { deletionTimestamp: '2030-01-01T00:00:00Z' } : {}) },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'shop', ports: o.webPort ? [{ name: 'web', containerPort: o.webPort }] : [] }] },
    status: {
      phase: o.phase ?? 'Running',
      ...(o.ip !== undefined ? { podIP: o.ip } : {}),
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

const ref = (name: string) => ({ kind: 'Pod', namespace: 'ns', name, uid: `uid-${name}` });

describe('resolveTargetPort', () => {
  it.each<[number | string | undefined, number | undefined]>([
    [8080, 8080],
    ['web', 9000],
    ['metrics', undefined],
    [undefined, 80],
  ])('targetPort %s → %s', (targetPort, want) => {
    expect(resolveTargetPort(pod('a', { webPort: 9000 }), { port: 80, targetPort })).toBe(want);
  });
  it('matches the protocol of a named port', () => {
    expect(resolveTargetPort(pod('a', { webPort: 9000 }), { port: 53, targetPort: 'web', protocol: 'UDP' })).toBeUndefined();
  });
});

describe('endpointSubsets', () => {
  it('puts ready pods in addresses and the others in notReadyAddresses, sorted by IP', () => {
    const subsets = endpointSubsets(service(), [
      pod('b', { ip: '10.0.0.2', webPort: 9000 }),
      pod('a', { ip: '10.0.0.1', webPort: 9000 }),
      pod('c', { ip: '10.0.0.3', webPort: 9000, ready: false }),
    ]);
    expect(subsets).toEqual([
      {
        addresses: [
          { ip: '10.0.0.1', nodeName: 'n1', targetRef: ref('a') },
          { ip: '10.0.0.2', nodeName: 'n1', targetRef: ref('b') },
        ],
        notReadyAddresses: [{ ip: '10.0.0.3', nodeName: 'n1', targetRef: ref('c') }],
        ports: [{ name: 'http', port: 9000, protocol: 'TCP' }],
      },
    ]);
  });

  it('groups pods by their resolved ports and leaves out pods without the named port', () => {
    const svc = service({ ports: [{ name: 'http', port: 80, targetPort: 'web' }, { name: 'admin', port: 81, targetPort: 8081 }] });
    const subsets = endpointSubsets(svc, [pod('a', { ip: '10.0.0.1', webPort: 9000 }), pod('b', { ip: '10.0.0.2', webPort: 9001 }), pod('c', { ip: '10.0.0.3' })]);
    expect(subsets.map((s) => [s.addresses?.map((a) => a.ip), s.ports])).toEqual([
      [['10.0.0.1'], [{ name: 'admin', port: 8081, protocol: 'TCP' }, { name: 'http', port: 9000, protocol: 'TCP' }]],
      [['10.0.0.2'], [{ name: 'admin', port: 8081, protocol: 'TCP' }, { name: 'http', port: 9001, protocol: 'TCP' }]],
      [['10.0.0.3'], [{ name: 'admin', port: 8081, protocol: 'TCP' }]],
    ]);
  });

  it('skips pods without an IP, finished pods, and terminating pods unless not-ready addresses are published', () => {
    const pods = [pod('a', { webPort: 1 }), pod('b', { ip: '10.0.0.2', webPort: 1, phase: 'Succeeded' }), pod('c', { ip: '10.0.0.3', webPort: 1, terminating: true })];
    expect(endpointSubsets(service(), pods)).toEqual([]);
    const published = endpointSubsets(service({ publishNotReadyAddresses: true }), [...pods, pod('d', { ip: '10.0.0.4', webPort: 1, ready: false })]);
    expect(published[0]!.addresses!.map((a) => a.ip)).toEqual(['10.0.0.3', '10.0.0.4']);
    expect(published[0]!.notReadyAddresses).toBeUndefined();
  });

  it('lists portless addresses only for a headless service without ports, with hostnames for its subdomain', () => {
    const p = { ...pod('a', { ip: '10.0.0.1' }), spec: { ...pod('a').spec, hostname: 'a', subdomain: 'shop' } };
    expect(endpointSubsets(service({ ports: [], clusterIP: 'None' }), [p])).toEqual([{ addresses: [{ ip: '10.0.0.1', hostname: 'a', nodeName: 'n1', targetRef: ref('a') }] }]);
    expect(endpointSubsets(service({ ports: [] }), [p])).toEqual([]);
  });
});

describe('desiredEndpoints and selectsPod', () => {
  it('returns nothing to write when the stored Endpoints already match', () => {
    const svc = service();
    const pods = [pod('a', { ip: '10.0.0.1', webPort: 9000 })];
    const want = desiredEndpoints(svc, pods)!;
    expect(want.metadata).toEqual({ name: 'shop', namespace: 'ns', labels: { team: 'pay', [MANAGED_BY_LABEL]: MANAGED_BY } });
    const stored = JSON.parse(JSON.stringify({ ...want, metadata: { ...want.metadata, resourceVersion: '7' } }));
    expect(desiredEndpoints(svc, pods, stored)).toBeUndefined();
    expect(desiredEndpoints(svc, [...pods, pod('b', { ip: '10.0.0.2', webPort: 9000 })], stored)?.metadata.resourceVersion).toBe('7');
  });
  it.each<[Record<string, string> | undefined, Record<string, string>, boolean]>([
    [{ app: 'shop' }, { app: 'shop', color: 'blue' }, true],
    [{ app: 'shop', color: 'green' }, { app: 'shop', color: 'blue' }, false],
    [undefined, { app: 'shop' }, false],
    [{}, { app: 'shop' }, false],
  ])('selector %o selects %o: %s', (selector, labels, want) => {
    expect(selectsPod(service({ selector }), pod('a', { labels }))).toBe(want);
  });
});

describe('EndpointsController against the embedded API server', () => {
  let server: TestServer;
  let client: KubeClient;
  let controller: EndpointsController;
  const ns = 'default';

  beforeAll(async () => {
    server = await startTestServer();
    client = new KubeClient(server.kubeConfig);
    controller = new EndpointsController(client);
    await controller.start();
  });
  afterAll(async () => {
    await controller?.stop();
    client?.close();
    await server?.destroy();
  });

  const getEndpoints = (name: string) => client.get(resources.endpoints, ns, name).catch((e) => (isNotFound(e) ? undefined : Promise.reject(e)));
  const ips = (ep: KubeObject | undefined, field: 'addresses' | 'notReadyAddresses') =>
    (ep?.subsets ?? []).flatMap((s: Record<string, Array<{ ip: string }>>) => (s[field] ?? []).map((a) => a.ip)).sort();

  async function runPod(name: string, color: string, ip: string, ready: boolean): Promise<void> {
    await client.create(resources.pods, ns, {
      metadata: { name, labels: { app: 'shop', color } },
      spec: { containers: [{ name: 'c', image: 'shop:1', ports: [{ name: 'web', containerPort: 8080 }] }] },
    });
    await setReady(name, ip, ready);
  }
  async function setReady(name: string, ip: string, ready: boolean): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await client.patch(resources.pods, ns, name, 'merge', { status: { phase: 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now }] } }, { sub: 'status' });
  }

  it('follows pod readiness and a blue-green selector switch at once, writing only on change', async () => {
    await runPod('blue-1', 'blue', '10.1.0.1', true);
    await runPod('blue-2', 'blue', '10.1.0.2', false);
    await runPod('green-1', 'green', '10.2.0.1', true);
    await client.create(resources.services, ns, {
      metadata: { name: 'shop' },
      spec: { selector: { app: 'shop', color: 'blue' }, ports: [{ name: 'http', port: 80, targetPort: 'web' }] },
    });
    const first = await eventually(async () => {
      const ep = await getEndpoints('shop');
      expect(ips(ep, 'addresses')).toEqual(['10.1.0.1']);
      expect(ips(ep, 'notReadyAddresses')).toEqual(['10.1.0.2']);
      return ep;
    });
    expect(first!.subsets[0].ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
    expect(first!.subsets[0].addresses[0].targetRef).toMatchObject({ kind: 'Pod', namespace: ns, name: 'blue-1' });

    await setReady('blue-2', '10.1.0.2', true);
    await eventually(async () => expect(ips(await getEndpoints('shop'), 'addresses')).toEqual(['10.1.0.1', '10.1.0.2']), 2000);

    // A change that does not alter the endpoints writes nothing.
    const rv = (await getEndpoints('shop'))!.metadata.resourceVersion;
    await client.patch(resources.pods, ns, 'blue-1', 'merge', { metadata: { annotations: { touched: 'yes' } } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await getEndpoints('shop'))!.metadata.resourceVersion).toBe(rv);

    const switchedAt = Date.now();
    await client.patch(resources.services, ns, 'shop', 'merge', { spec: { selector: { app: 'shop', color: 'green' } } });
    await eventually(async () => {
      const ep = await getEndpoints('shop');
      expect(ips(ep, 'addresses')).toEqual(['10.2.0.1']);
      expect(ips(ep, 'notReadyAddresses')).toEqual([]);
      return true;
    }, 2000, 10);
    expect(Date.now() - switchedAt).toBeLessThan(1500);

    await client.delete(resources.pods, ns, 'green-1');
    await eventually(async () => (await getEndpoints('shop'))?.subsets?.length === 0);
    await client.delete(resources.services, ns, 'shop');
    await eventually(async () => (await getEndpoints('shop')) === undefined);
  });

  it('leaves the Endpoints of a service without a selector alone', async () => {
    await client.create(resources.services, ns, { metadata: { name: 'external' }, spec: { ports: [{ port: 5432 }] } });
    await client.create(resources.endpoints, ns, { metadata: { name: 'external' }, subsets: [{ addresses: [{ ip: '192.168.1.10' }], ports: [{ port: 5432 }] }] });
    await client.patch(resources.services, ns, 'external', 'merge', { metadata: { labels: { touched: 'yes' } } });
    await new Promise((r) => setTimeout(r, 300));
    const ep = await getEndpoints('external');
    expect(ep!.subsets).toEqual([{ addresses: [{ ip: '192.168.1.10' }], ports: [{ port: 5432 }] }]);
    expect(ep!.metadata.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    await client.delete(resources.services, ns, 'external');
    await new Promise((r) => setTimeout(r, 200));
    expect(await getEndpoints('external')).toBeDefined();
  });
});
