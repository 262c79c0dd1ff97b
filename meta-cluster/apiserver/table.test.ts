import { describe, expect, it } from 'vitest';

import { ApiError } from './errors.js';
import { PRINTERS, summarizePod } from './printers.js';
import { humanDuration, parseIncludeObject, tableVersionOf, toTable, wantsTable, type PrinterColumn } from './table.js';
import type { KubeObject, ResourceInfo } from './types.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const ago = (ms: number): string => new Date(NOW.getTime() - ms).toISOString();
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function resource(group: string, plural: string, kind: string, custom = false): ResourceInfo {
  return {
    group,
    version: group === '' ? 'v1' : 'v1',
    plural,
    singular: kind.toLowerCase(),
    kind,
    listKind: `${kind}List`,
    namespaced: true,
    shortNames: [],
    categories: [],
    verbs: ['get', 'list'],
    status: true,
    custom,
  };
}

const PODS = resource('', 'pods', 'Pod');
const listMeta = { resourceVersion: '42' };

describe('humanDuration', () => {
  it.each([
    [-3 * SEC, '<invalid>'],
    [-1 * SEC, '0s'],
    [0, '0s'],
    [59 * SEC, '59s'],
    [90 * SEC, '90s'],
    [119 * SEC, '119s'],
    [2 * MIN, '2m'],
    [5 * MIN + 30 * SEC, '5m30s'],
    [9 * MIN + 59 * SEC, '9m59s'],
    [10 * MIN, '10m'],
    [45 * MIN, '45m'],
    [179 * MIN, '179m'],
    [3 * HOUR, '3h'],
    [5 * HOUR + 10 * MIN, '5h10m'],
    [8 * HOUR, '8h'],
    [30 * HOUR, '30h'],
    [47 * HOUR + 59 * MIN, '47h'],
    [48 * HOUR, '2d'],
    [3 * DAY + 5 * HOUR, '3d5h'],
    [8 * DAY, '8d'],
    [120 * DAY, '120d'],
    [729 * DAY, '729d'],
    [730 * DAY, '2y'],
    [2 * 365 * DAY + 30 * DAY, '2y30d'],
    [8 * 365 * DAY, '8y'],
    [20 * 365 * DAY + 100 * DAY, '20y'],
  ])('%d ms → %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('Table negotiation', () => {
  const kubectl = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

  it('picks the first Table version the client asks for', () => {
    expect(tableVersionOf(kubectl)).toBe('v1');
    expect(wantsTable(kubectl)).toBe(true);
    expect(tableVersionOf('application/json;as=Table;v=v1beta1;g=meta.k8s.io, application/json')).toBe('v1beta1');
    expect(tableVersionOf('application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io')).toBe('v1beta1');
  });

  it('answers plain JSON when the client prefers it or asks for nothing special', () => {
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
    expect(wantsTable('application/json, application/json;as=Table;v=v1;g=meta.k8s.io')).toBe(false);
    expect(wantsTable('application/json;as=Table;v=v1;g=example.com')).toBe(false);
    expect(wantsTable('application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io')).toBe(false);
  });

  it('parses includeObject with Metadata as the default', () => {
    expect(parseIncludeObject(null)).toBe('Metadata');
    expect(parseIncludeObject('Object')).toBe('Object');
    expect(() => parseIncludeObject('All')).toThrowError(ApiError);
    expect(() => parseIncludeObject('All')).toThrowError('unrecognized includeObject value: "All"');
  });
});

describe('toTable for custom resources', () => {
  const WIDGETS = resource('example.com', 'widgets', 'Widget', true);
  const columns: PrinterColumn[] = [
    { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Hosts', type: 'string', jsonPath: '.spec.hosts', priority: 1, description: 'Served hosts' },
    { name: 'Last Sync', type: 'date', jsonPath: '.status.lastSyncTime' },
  ];
  const widget: KubeObject = {
    apiVersion: 'example.com/v1',
    kind: 'Widget',
    metadata: { name: 'w1', namespace: 'ns', creationTimestamp: ago(3 * DAY + 5 * HOUR), managedFields: [{ manager: 'x' }] },
    spec: { replicas: 3, hosts: ['a.example.com', 'b.example.com'] },
    status: { conditions: [{ type: 'Synced', status: 'False' }, { type: 'Ready', status: 'True' }], lastSyncTime: ago(5 * MIN + 30 * SEC) },
  };
  const bare: KubeObject = { metadata: { name: 'w2', creationTimestamp: ago(90 * SEC) } };

  it('evaluates printer columns by JSONPath, renders dates as ages and appends Age', () => {
    const table = toTable(WIDGETS, [widget, bare], { printerColumns: columns, listMeta, now: NOW, includeObject: 'Metadata' });
    expect(table.kind).toBe('Table');
    expect(table.apiVersion).toBe('meta.k8s.io/v1');
    expect(table.metadata).toEqual({ resourceVersion: '42' });
    expect(table.columnDefinitions.map((c) => [c.name, c.type, c.priority])).toEqual([
      ['Name', 'string', 0],
      ['Replicas', 'integer', 0],
      ['Ready', 'string', 0],
      ['Hosts', 'string', 1],
      ['Last Sync', 'date', 0],
      ['Age', 'date', 0],
    ]);
    expect(table.columnDefinitions[0]!.format).toBe('name');
    expect(table.columnDefinitions[1]!.description).toBe('Custom resource definition column (in JSONPath format): .spec.replicas');
    expect(table.columnDefinitions[3]!.description).toBe('Served hosts');
    expect(table.rows[0]!.cells).toEqual(['w1', 3, 'True', 'a.example.com,b.example.com', '5m30s', '3d5h']);
    // Missing values are null cells, which kubectl prints empty.
    expect(table.rows[1]!.cells).toEqual(['w2', null, null, null, null, '90s']);
  });

  it('does not add Age twice and renders bad dates as <invalid>', () => {
    const withAge: PrinterColumn[] = [
      { name: 'Since', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Synced', type: 'date', jsonPath: '.status.synced' },
    ];
    const table = toTable(WIDGETS, [{ metadata: { name: 'w', creationTimestamp: ago(2 * HOUR) }, status: { synced: 'yesterday' } }], {
      printerColumns: withAge,
      listMeta,
      now: NOW,
    });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Since', 'Synced']);
    expect(table.rows[0]!.cells).toEqual(['w', '120m', '<invalid>']);
  });

  it('uses Name and Age for a CRD without printer columns', () => {
    const table = toTable(WIDGETS, [bare], { listMeta, now: NOW });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(table.rows[0]!.cells).toEqual(['w2', '90s']);
  });

  it('carries PartialObjectMetadata, the whole object, or nothing per includeObject', () => {
    const meta = toTable(WIDGETS, [widget], { listMeta, now: NOW, tableVersion: 'v1beta1' });
    expect(meta.apiVersion).toBe('meta.k8s.io/v1beta1');
    expect(meta.rows[0]!.object).toEqual({
      kind: 'PartialObjectMetadata',
      apiVersion: 'meta.k8s.io/v1beta1',
      metadata: { name: 'w1', namespace: 'ns', creationTimestamp: widget.metadata.creationTimestamp },
    });
    const full = toTable(WIDGETS, [widget], { listMeta, now: NOW, includeObject: 'Object' });
    expect(full.rows[0]!.object).toEqual(widget);
    const none = toTable(WIDGETS, [widget], { listMeta, now: NOW, includeObject: 'None' });
    expect(none.rows[0]).not.toHaveProperty('object');
  });
});

describe('toTable for pods', () => {
  const crashLooping: KubeObject = {
    metadata: { name: 'web-1', namespace: 'default', creationTimestamp: ago(2 * HOUR) },
    spec: { nodeName: 'node-a', containers: [{ name: 'app' }, { name: 'sidecar' }] },
    status: {
      phase: 'Running',
      podIPs: [{ ip: '10.0.0.7' }],
      podIP: '10.0.0.7',
      conditions: [{ type: 'Ready', status: 'False' }],
      containerStatuses: [
        {
          name: 'app',
          ready: false,
          restartCount: 5,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error', finishedAt: ago(3 * MIN) } },
        },
        { name: 'sidecar', ready: true, restartCount: 0, state: { running: { startedAt: ago(2 * HOUR) } } },
      ],
    },
  };

  it('shows CrashLoopBackOff, restarts with the last restart age, and readiness', () => {
    const table = toTable(PODS, [crashLooping], { listMeta, now: NOW });
    const cells = table.rows[0]!.cells;
    expect(cells.slice(0, 5)).toEqual(['web-1', '1/2', 'CrashLoopBackOff', '5 (3m ago)', '120m']);
  });

  it('declares the wide columns with priority 1 and always fills them', () => {
    const table = toTable(PODS, [crashLooping], { listMeta, now: NOW });
    const wide = table.columnDefinitions.filter((c) => c.priority === 1).map((c) => c.name);
    expect(wide).toEqual(['IP', 'Node', 'Nominated Node', 'Readiness Gates']);
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(table.rows[0]!.cells.slice(5)).toEqual(['10.0.0.7', 'node-a', '<none>', '<none>']);
  });

  it.each([
    ['a pending pod', { status: { phase: 'Pending' } }, 'Pending'],
    ['a terminating pod', { metadata: { deletionTimestamp: ago(SEC) }, status: { phase: 'Running' } }, 'Terminating'],
    [
      'a pod stuck in an init container',
      {
        spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'app' }] },
        status: { phase: 'Pending', initContainerStatuses: [{ name: 'init', state: { waiting: { reason: 'ImagePullBackOff' } } }] },
      },
      'Init:ImagePullBackOff',
    ],
    [
      'a completed pod',
      { status: { phase: 'Succeeded', containerStatuses: [{ name: 'app', state: { terminated: { exitCode: 0, reason: 'Completed' } } }] } },
      'Completed',
    ],
    ['an evicted pod', { status: { phase: 'Failed', reason: 'Evicted' } }, 'Evicted'],
  ])('status of %s', (_, patch, want) => {
    const pod = {
      metadata: { name: 'p', ...(patch as { metadata?: object }).metadata },
      spec: { containers: [{ name: 'app' }], ...(patch as { spec?: object }).spec },
      status: (patch as { status?: object }).status,
    } as KubeObject;
    expect(summarizePod(pod, NOW).reason).toBe(want);
  });

  it('marks finished pods with a Completed row condition', () => {
    const table = toTable(PODS, [{ metadata: { name: 'done' }, status: { phase: 'Succeeded' } }], { listMeta, now: NOW });
    expect(table.rows[0]!.conditions).toEqual([{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }]);
  });
});

describe('built-in printers', () => {
  it('emit exactly one cell per column for every resource, even for a bare object', () => {
    for (const [key, printer] of PRINTERS) {
      const cells = printer.cells({ metadata: { name: 'x' } }, { now: NOW });
      expect(cells, key).toHaveLength(printer.columns.length);
      expect(printer.columns.filter((c) => c.format === 'name'), key).toHaveLength(1);
    }
  });

  it('prints deployments, nodes, services, endpoints and events like kube-apiserver', () => {
    const deployment = {
      metadata: { name: 'web', creationTimestamp: ago(DAY * 3) },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'web' } },
        template: { spec: { containers: [{ name: 'app', image: 'nginx:1' }, { name: 'log', image: 'busybox' }] } },
      },
      status: { readyReplicas: 2, updatedReplicas: 3, availableReplicas: 2 },
    };
    const deployments = toTable(resource('apps', 'deployments', 'Deployment'), [deployment], { listMeta, now: NOW });
    expect(deployments.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Ready', 'Up-to-date', 'Available', 'Age', 'Containers', 'Images', 'Selector']);
    expect(deployments.rows[0]!.cells).toEqual(['web', '2/3', 3, 2, '3d', 'app,log', 'nginx:1,busybox', 'app=web']);

    const node = {
      metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/control-plane': '', 'node-role.kubernetes.io/etcd': 'true' } },
      spec: { unschedulable: true },
      status: { conditions: [{ type: 'Ready', status: 'False' }], nodeInfo: { kubeletVersion: 'v1.31.0' }, addresses: [{ type: 'InternalIP', address: '192.168.1.5' }] },
    };
    const nodes = toTable(resource('', 'nodes', 'Node'), [node, { metadata: { name: 'n2' } }], { listMeta, now: NOW });
    expect(nodes.rows[0]!.cells.slice(0, 6)).toEqual(['n1', 'NotReady,SchedulingDisabled', 'control-plane,etcd', '<unknown>', 'v1.31.0', '192.168.1.5']);
    expect(nodes.rows[1]!.cells.slice(0, 3)).toEqual(['n2', 'Unknown', '<none>']);

    const svc = { metadata: { name: 's' }, spec: { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }, { port: 53, protocol: 'UDP' }] } };
    const services = toTable(resource('', 'services', 'Service'), [svc], { listMeta, now: NOW });
    expect(services.rows[0]!.cells.slice(0, 5)).toEqual(['s', 'NodePort', '10.96.0.10', '<none>', '80:30080/TCP,53/UDP']);

    const ep = {
      metadata: { name: 's' },
      subsets: [{ addresses: [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], ports: [{ port: 80 }, { port: 443 }] }],
    };
    const endpoints = toTable(resource('', 'endpoints', 'Endpoints'), [ep], { listMeta, now: NOW });
    expect(endpoints.rows[0]!.cells[1]).toBe('10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...');

    const event = {
      metadata: { name: 'web-1.abc' },
      involvedObject: { kind: 'Pod', name: 'web-1' },
      type: 'Warning',
      reason: 'BackOff',
      message: 'Back-off restarting failed container\n',
      lastTimestamp: ago(30 * SEC),
      firstTimestamp: ago(HOUR),
      count: 7,
      source: { component: 'kubelet', host: 'node-a' },
    };
    const events = toTable(resource('', 'events', 'Event'), [event], { listMeta, now: NOW });
    expect(events.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
    expect(events.rows[0]!.cells).toEqual(['30s', 'Warning', 'BackOff', 'pod/web-1', '', 'kubelet, node-a', 'Back-off restarting failed container', '60m', 7, 'web-1.abc']);
  });

  it('falls back to Name and Age for resources without a printer', () => {
    const table = toTable(resource('example.io', 'gadgets', 'Gadget'), [{ metadata: { name: 'g', creationTimestamp: ago(45 * MIN) } }], {
      listMeta,
      now: NOW,
    });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Age']);
    expect(table.rows[0]!.cells).toEqual(['g', '45m']);
  });

  it('prints CRDs and RBAC roles with a Created At timestamp and bindings with their role', () => {
    const crds = toTable(resource('apiextensions.k8s.io', 'customresourcedefinitions', 'CustomResourceDefinition'), [
      { metadata: { name: 'widgets.example.com', creationTimestamp: '2026-01-02T03:04:05.123Z' } },
    ], { listMeta, now: NOW });
    expect(crds.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Created At']);
    expect(crds.rows[0]!.cells).toEqual(['widgets.example.com', '2026-01-02T03:04:05Z']);
    const bindings = toTable(resource('rbac.authorization.k8s.io', 'clusterrolebindings', 'ClusterRoleBinding'), [
      { metadata: { name: 'b' }, roleRef: { kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'ServiceAccount', namespace: 'kube-system', name: 'ctl' }] },
    ], { listMeta, now: NOW });
    expect(bindings.rows[0]!.cells).toEqual(['b', 'ClusterRole/admin', '<unknown>', '', '', 'kube-system/ctl']);
  });
});
