/**
 * kubectl driving the embedded meta-cluster as a user types it, for the oldest supported kubectl
 * (1.27), the default one on PATH and the newest (1.33). Each version gets its own server; the
 * tests inside a version build on each other and run in order.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeVersion } from '../meta-cluster/apiserver/discovery.js';
import type { KubeObject } from '../meta-cluster/apiserver/types.js';
import { eventually, kubectl, kubectlBinary, startTestServer, tempDir, type KubectlResult, type TestServer } from './helpers.js';

const versions: { name: string; version?: string }[] = [
  { name: '1.27 (oldest)', version: '1.27' },
  { name: 'default', version: undefined },
  { name: '1.33 (newest)', version: '1.33' },
];

const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.demo.kok.dev' },
  spec: {
    group: 'demo.kok.dev',
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList', shortNames: ['wd', 'wdg'], categories: ['gadgets'] },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } },
        additionalPrinterColumns: [
          { name: 'Size', type: 'string', jsonPath: '.spec.size' },
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Colour', type: 'string', priority: 1, jsonPath: '.spec.color' },
          { name: 'Created', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'A Widget is a demo gadget made by kok tests.',
            properties: {
              spec: {
                type: 'object',
                description: 'WidgetSpec is the desired state of a widget.',
                required: ['size'],
                properties: {
                  size: { type: 'string', description: 'How big the widget is.', enum: ['small', 'medium', 'large'] },
                  replicas: { type: 'integer', description: 'How many copies to run.', minimum: 0, maximum: 10, default: 1 },
                  color: { type: 'string', description: 'Paint colour of the widget.', default: 'blue' },
                },
              },
              status: {
                type: 'object',
                properties: {
                  replicas: { type: 'integer' },
                  conditions: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['type', 'status'],
                      properties: {
                        type: { type: 'string' },
                        status: { type: 'string' },
                        reason: { type: 'string' },
                        message: { type: 'string' },
                        lastTransitionTime: { type: 'string', format: 'date-time' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const widget = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) =>
  YAML.stringify({ apiVersion: 'demo.kok.dev/v1', kind: 'Widget', metadata: { name, ...metadata }, spec });

const deployment = (image: string) =>
  YAML.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', labels: { app: 'web', tier: 'front' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image,
              ports: [{ containerPort: 80 }],
              env: [
                { name: 'MODE', value: 'prod' },
                { name: 'LEVEL', value: '3' },
              ],
            },
            { name: 'sidecar', image: 'busybox:1.36', command: ['sleep', 'infinity'] },
          ],
        },
      },
    },
  });

/** Rows of kubectl's column output, keyed by header; cells are cut at the headers' positions. */
function table(stdout: string): Record<string, string>[] {
  const lines = stdout.split('\n').filter((l) => l.trim());
  if (!lines.length) return [];
  const header = lines[0];
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index! }));
  return lines.slice(1).map((line) =>
    Object.fromEntries(starts.map((h, i) => [h.name, line.slice(h.at, i + 1 < starts.length ? starts[i + 1].at : undefined).trim()])),
  );
}

const rowNamed = (rows: Record<string, string>[], name: string) => {
  const row = rows.find((r) => r.NAME === name);
  expect(row, `a row named ${name} in ${JSON.stringify(rows)}`).toBeDefined();
  return row!;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tracks whether a promise has settled, to assert that kubectl is still waiting. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  void p.finally(() => (done = true));
  return { promise: p, settled: () => done };
}

describe.each(versions)('kubectl $name', ({ version }) => {
  let server: TestServer;
  let files: { path: string; remove(): void };

  const k = (args: string[], input?: string): Promise<KubectlResult> => kubectl(server.kubeconfigPath, args, { version, input });
  /** Runs kubectl and expects exit code 0; returns stdout. */
  const ok = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input);
    expect(r.code, `kubectl ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Runs kubectl and expects it to fail; returns stderr. */
  const fails = async (args: string[], input?: string): Promise<string> => {
    const r = await k(args, input);
    expect(r.code, `kubectl ${args.join(' ')} should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBe(0);
    return r.stderr;
  };
  const file = (name: string, content: string): string => {
    const path = join(files.path, name);
    writeFileSync(path, content);
    return path;
  };
  /** The object as the server has it, or undefined. */
  const stored = (group: string, version: string, plural: string, namespace: string, name: string): any => {
    const r = server.api.registry.lookup(group, version, plural);
    return r && server.api.tryGet(r, namespace, name);
  };
  const storedWidget = (name: string, namespace = 'default') => stored('demo.kok.dev', 'v1', 'widgets', namespace, name);
  const storedDeployment = (name: string, namespace = 'default') => stored('apps', 'v1', 'deployments', namespace, name);

  beforeAll(async () => {
    server = await startTestServer();
    files = tempDir('kok-kubectl-');
  });

  afterAll(async () => {
    await server?.destroy();
    files?.remove();
  });

  describe('discovery', () => {
    it('get ns lists the seeded namespaces', async () => {
      const rows = table(await ok(['get', 'ns']));
      expect(rows.map((r) => r.NAME).sort()).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
      for (const r of rows) expect(r.STATUS).toBe('Active');
    });

    it('version shows the server version', async () => {
      const out = await ok(['version']);
      // 1.27 prints version.Info{...GitVersion:"v1.31.0-kok"...}, later ones `Server Version: v1.31.0-kok`.
      expect(out).toMatch(/Server Version: .*v1\.31\.0-kok/);
      expect(out).toContain(kubeVersion.gitVersion);
    });

    it('api-resources lists the built-in kinds', async () => {
      const rows = table(await ok(['api-resources']));
      expect(rowNamed(rows, 'deployments')).toMatchObject({ SHORTNAMES: 'deploy', APIVERSION: 'apps/v1', NAMESPACED: 'true', KIND: 'Deployment' });
      expect(rowNamed(rows, 'leases')).toMatchObject({ APIVERSION: 'coordination.k8s.io/v1', NAMESPACED: 'true', KIND: 'Lease' });
      expect(rowNamed(rows, 'customresourcedefinitions')).toMatchObject({
        SHORTNAMES: 'crd,crds',
        APIVERSION: 'apiextensions.k8s.io/v1',
        NAMESPACED: 'false',
        KIND: 'CustomResourceDefinition',
      });
      expect(rows.find((r) => r.NAME === 'widgets')).toBeUndefined();
    });
  });

  describe('custom resources', () => {
    it('apply -f creates a CRD, which shows in api-resources with its short names', async () => {
      const out = await ok(['apply', '-f', file('crd.yaml', YAML.stringify(crd))]);
      expect(out.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/widgets.demo.kok.dev created');
      const stored = server.api.tryGet(server.api.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions')!, '', crd.metadata.name);
      expect((stored?.status as any)?.conditions).toContainEqual(expect.objectContaining({ type: 'Established', status: 'True' }));

      const rows = table(await ok(['api-resources']));
      expect(rowNamed(rows, 'widgets')).toMatchObject({ SHORTNAMES: 'wd,wdg', APIVERSION: 'demo.kok.dev/v1', NAMESPACED: 'true', KIND: 'Widget' });
      expect(await ok(['get', 'crd'])).toContain('widgets.demo.kok.dev');
    });

    it('apply -f creates a custom resource with its defaults filled', async () => {
      const out = await ok(['apply', '-f', file('w1.yaml', widget('w1', { size: 'medium' }))]);
      expect(out.trim()).toBe('widget.demo.kok.dev/w1 created');
      expect(storedWidget('w1').spec).toEqual({ size: 'medium', replicas: 1, color: 'blue' });

      const yaml = YAML.parse(await ok(['get', 'widget', 'w1', '-o', 'yaml'])) as KubeObject;
      expect(yaml).toMatchObject({ apiVersion: 'demo.kok.dev/v1', kind: 'Widget', metadata: { name: 'w1', namespace: 'default', generation: 1 } });
      expect(yaml.spec).toEqual({ size: 'medium', replicas: 1, color: 'blue' });
    });

    it('get <shortname> shows the printer columns', async () => {
      const out = await ok(['get', 'wd']);
      expect(out.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'SIZE', 'REPLICAS', 'READY', 'CREATED']);
      const row = rowNamed(table(out), 'w1');
      expect(row).toMatchObject({ SIZE: 'medium', REPLICAS: '1', READY: '' });
      // A `date` column is rendered as an age.
      expect(row.CREATED).toMatch(/^\d+s$/);

      // priority > 0 columns only with -o wide.
      const wide = await ok(['get', 'wdg', '-o', 'wide']);
      expect(wide.split('\n')[0].split(/\s+/)).toEqual(['NAME', 'SIZE', 'REPLICAS', 'READY', 'COLOUR', 'CREATED']);
      expect(rowNamed(table(wide), 'w1')).toMatchObject({ SIZE: 'medium', COLOUR: 'blue' });
    });

    it('get <category> lists the custom resources', async () => {
      const out = await ok(['get', 'gadgets']);
      expect(out).toMatch(/^(widget\.demo\.kok\.dev\/)?w1\s+medium\s+1\s/m);
    });

    it('explain shows the field descriptions of the schema', async () => {
      const kind = await ok(['explain', 'widget']);
      expect(kind).toContain('KIND:');
      expect(kind).toContain('Widget');
      expect(kind).toContain('A Widget is a demo gadget made by kok tests.');
      expect(kind).toMatch(/spec\s+<Object>/);
      expect(kind).toContain('WidgetSpec is the desired state of a widget.');

      const spec = await ok(['explain', 'widget.spec']);
      expect(spec).toContain('WidgetSpec is the desired state of a widget.');
      expect(spec).toMatch(/size\s+<string> -required-/);
      expect(spec).toContain('How big the widget is.');
      expect(spec).toMatch(/replicas\s+<integer>/);
      expect(spec).toContain('How many copies to run.');
      expect(spec).toContain('Paint colour of the widget.');
      // kubectl 1.30 added the `enum:` line to explain's template; older ones leave it out.
      if (version !== '1.27') expect(spec).toContain('enum: small, medium, large');
    });

    it('rejects a value out of enum or bounds, naming the field', async () => {
      const err = await fails(['apply', '-f', '-'], widget('bad', { size: 'huge', replicas: 11 }));
      expect(err).toContain('The Widget "bad" is invalid');
      expect(err).toContain('spec.size: Unsupported value: "huge"');
      expect(err).toContain('spec.replicas: Invalid value: 11');
      expect(storedWidget('bad')).toBeUndefined();
    });

    it('rejects an unknown field (kubectl validates strictly by default)', async () => {
      const created = await fails(['apply', '-f', '-'], widget('bad', { size: 'small', colour: 'red' }));
      expect(created).toContain('strict decoding error: unknown field "spec.colour"');
      expect(storedWidget('bad')).toBeUndefined();

      // The same on the patch path of an existing object.
      const patched = await fails(['apply', '-f', '-'], widget('w1', { size: 'small', colour: 'red' }));
      expect(patched).toContain('strict decoding error: unknown field "spec.colour"');
      expect(storedWidget('w1').spec).toEqual({ size: 'medium', replicas: 1, color: 'blue' });
    });

    it('wait --for=condition=Ready returns once a status patch sets the condition', async () => {
      const wait = track(k(['wait', '--for=condition=Ready', 'widget/w1', '--timeout=30s']));
      await sleep(500);
      expect(wait.settled()).toBe(false);

      const status = { conditions: [{ type: 'Ready', status: 'True', reason: 'Built', message: 'ready to go', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
      const out = await ok(['patch', 'widget', 'w1', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      expect(out.trim()).toBe('widget.demo.kok.dev/w1 patched');

      const r = await wait.promise;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('widget.demo.kok.dev/w1 condition met');
      const w = storedWidget('w1');
      expect(w.status).toEqual(status);
      // Status writes never bump generation.
      expect(w.metadata.generation).toBe(1);
      // The printer column with a JSONPath filter on conditions picks it up.
      expect(rowNamed(table(await ok(['get', 'wd'])), 'w1').READY).toBe('True');
    });

    it('describe shows the custom resource', async () => {
      const out = await ok(['describe', 'widget', 'w1']);
      expect(out).toMatch(/^Name:\s+w1$/m);
      expect(out).toMatch(/^Namespace:\s+default$/m);
      expect(out).toMatch(/^Kind:\s+Widget$/m);
      expect(out).toMatch(/Size:\s+medium/);
      expect(out).toMatch(/Color:\s+blue/);
      expect(out).toMatch(/Type:\s+Ready/);
      expect(out).toMatch(/Reason:\s+Built/);
    });

    it('scale works through the scale subresource', async () => {
      expect((await ok(['scale', 'widget', 'w1', '--replicas=3'])).trim()).toBe('widget.demo.kok.dev/w1 scaled');
      expect(storedWidget('w1').spec.replicas).toBe(3);
      expect(storedWidget('w1').metadata.generation).toBe(2);
      expect(rowNamed(table(await ok(['get', 'wd'])), 'w1').REPLICAS).toBe('3');
      // The scale subresource enforces the schema's bounds too.
      const err = await fails(['scale', 'widget', 'w1', '--replicas=11']);
      expect(err).toContain('spec.replicas');
      expect(storedWidget('w1').spec.replicas).toBe(3);
    });
  });

  describe('deployments', () => {
    it('apply creates, re-apply merges strategically, an unchanged apply is a no-op', async () => {
      const path = file('deploy.yaml', deployment('nginx:1.25'));
      expect((await ok(['apply', '-f', path])).trim()).toBe('deployment.apps/web created');
      expect(storedDeployment('web').metadata.generation).toBe(1);

      // A label added out of band, which the next apply must keep.
      expect((await ok(['label', 'deploy', 'web', 'extra=yes'])).trim()).toBe('deployment.apps/web labeled');
      expect(storedDeployment('web').metadata.generation).toBe(1);

      writeFileSync(path, deployment('nginx:1.27'));
      expect((await ok(['apply', '-f', path])).trim()).toBe('deployment.apps/web configured');
      const d = storedDeployment('web');
      expect(d.metadata.generation).toBe(2);
      expect(d.metadata.labels).toEqual({ app: 'web', tier: 'front', extra: 'yes' });
      const [web, sidecar] = d.spec.template.spec.containers;
      expect(web).toMatchObject({
        name: 'web',
        image: 'nginx:1.27',
        env: [
          { name: 'MODE', value: 'prod' },
          { name: 'LEVEL', value: '3' },
        ],
        ports: [{ containerPort: 80, protocol: 'TCP' }],
      });
      expect(sidecar).toMatchObject({ name: 'sidecar', image: 'busybox:1.36', command: ['sleep', 'infinity'] });

      const rv = d.metadata.resourceVersion;
      expect((await ok(['apply', '-f', path])).trim()).toBe('deployment.apps/web unchanged');
      expect(storedDeployment('web').metadata.resourceVersion).toBe(rv);
      expect(storedDeployment('web').metadata.generation).toBe(2);
    });

    it('re-apply keeps list entries added out of band (merge by key)', async () => {
      // kubectl patch defaults to a strategic merge patch: adds one env var to the web container.
      const oob = { spec: { template: { spec: { containers: [{ name: 'web', env: [{ name: 'OOB', value: '1' }] }] } } } };
      expect((await ok(['patch', 'deploy', 'web', '-p', JSON.stringify(oob)])).trim()).toBe('deployment.apps/web patched');
      // Without $setElementOrder, a strategic merge puts new list entries first (as kube-apiserver does).
      expect(storedDeployment('web').spec.template.spec.containers[0].env.map((e: { name: string }) => e.name)).toEqual(['OOB', 'MODE', 'LEVEL']);

      const path = file('deploy.yaml', deployment('nginx:1.27.1'));
      expect((await ok(['apply', '-f', path])).trim()).toBe('deployment.apps/web configured');
      const d = storedDeployment('web');
      expect(d.metadata.generation).toBe(4);
      expect(d.spec.template.spec.containers.map((c: { name: string; image: string }) => `${c.name}=${c.image}`)).toEqual([
        'web=nginx:1.27.1',
        'sidecar=busybox:1.36',
      ]);
      expect(d.spec.template.spec.containers[0].env).toEqual([
        { name: 'OOB', value: '1' },
        { name: 'MODE', value: 'prod' },
        { name: 'LEVEL', value: '3' },
      ]);
      expect(d.metadata.labels.extra).toBe('yes');
    });

    it('get -o wide, -o jsonpath, -A, --show-labels and -L', async () => {
      expect((await ok(['create', 'deployment', 'other', '--image=busybox:1.36', '-n', 'kube-system'])).trim()).toBe('deployment.apps/other created');
      expect(storedDeployment('other', 'kube-system').spec.template.spec.containers[0].image).toBe('busybox:1.36');

      const wide = table(await ok(['get', 'deploy', '-o', 'wide']));
      expect(wide.map((r) => r.NAME)).toEqual(['web']);
      expect(wide[0].READY).toMatch(/^\d+\/2$/);
      expect(wide[0]).toMatchObject({ CONTAINERS: 'web,sidecar', IMAGES: 'nginx:1.27.1,busybox:1.36', SELECTOR: 'app=web' });

      const jp = await ok(['get', 'deploy', '-o', 'jsonpath={range .items[*]}{.metadata.name}:{.spec.replicas}:{.metadata.generation}{"\\n"}{end}']);
      expect(jp).toBe('web:2:4\n');

      const all = table(await ok(['get', 'deploy', '-A']));
      expect(all.map((r) => `${r.NAMESPACE}/${r.NAME}`)).toEqual(['default/web', 'kube-system/other']);

      const labels = table(await ok(['get', 'deploy', '--show-labels']));
      expect(rowNamed(labels, 'web').LABELS).toBe('app=web,extra=yes,tier=front');

      const byLabel = table(await ok(['get', 'deploy', '-A', '-L', 'app']));
      expect(byLabel.map((r) => `${r.NAME}:${r.APP}`)).toEqual(['web:web', 'other:other']);
    });

    it('describe shows the deployment', async () => {
      const out = await ok(['describe', 'deploy', 'web']);
      expect(out).toMatch(/^Name:\s+web$/m);
      expect(out).toMatch(/^Namespace:\s+default$/m);
      expect(out).toMatch(/^Selector:\s+app=web$/m);
      expect(out).toMatch(/^Replicas:\s+2 desired/m);
      expect(out).toMatch(/extra=yes/);
      expect(out).toMatch(/Image:\s+nginx:1\.27\.1/);
      expect(out).toMatch(/Image:\s+busybox:1\.36/);
      expect(out).toMatch(/MODE:\s+prod/);
      expect(out).toMatch(/Port:\s+80\/TCP/);
    });

    it('scale sets the replicas', async () => {
      expect((await ok(['scale', 'deploy', 'web', '--replicas=4'])).trim()).toBe('deployment.apps/web scaled');
      expect(storedDeployment('web').spec.replicas).toBe(4);
      expect(rowNamed(table(await ok(['get', 'deploy'])), 'web').READY).toMatch(/^\d+\/4$/);
    });

    it('get -w prints a row per update', async () => {
      const child = spawn(kubectlBinary(version), ['get', 'deploy', '-w', '--request-timeout=20s'], {
        env: { ...process.env, KUBECONFIG: server.kubeconfigPath, HOME: dirname(server.kubeconfigPath) },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
      try {
        const webRows = () => stdout.split('\n').filter((l) => /^web\s/.test(l));
        await eventually(() => webRows().length === 1, 15_000);
        await ok(['scale', 'deploy', 'web', '--replicas=5']);
        await eventually(() => webRows().length >= 2, 15_000);
        expect(stdout.split('\n')[0].split(/\s+/).slice(0, 2)).toEqual(['NAME', 'READY']);
        expect(webRows()[0]).toMatch(/^web\s+\d+\/4\s/);
        expect(webRows().at(-1)).toMatch(/^web\s+\d+\/5\s/);
      } catch (err) {
        throw new Error(`${String(err)}\nstdout: ${stdout}\nstderr: ${stderr}`);
      } finally {
        child.kill();
        await closed;
      }
    });
  });

  describe('deletion', () => {
    it('delete without finalizers removes the object', async () => {
      expect((await ok(['delete', 'deploy', 'other', '-n', 'kube-system'])).trim()).toBe('deployment.apps "other" deleted');
      expect(storedDeployment('other', 'kube-system')).toBeUndefined();
      expect(await fails(['get', 'deploy', 'other', '-n', 'kube-system'])).toContain('deployments.apps "other" not found');
    });

    it('delete of an object with a finalizer waits until the finalizer is removed', async () => {
      await ok(['apply', '-f', '-'], widget('held', { size: 'small' }, { finalizers: ['demo.kok.dev/hold'] }));
      const del = track(k(['delete', 'widget', 'held', '--timeout=30s']));
      await eventually(() => storedWidget('held')?.metadata.deletionTimestamp, 15_000);
      await sleep(300);
      expect(del.settled()).toBe(false);
      expect(storedWidget('held').metadata.finalizers).toEqual(['demo.kok.dev/hold']);

      await ok(['patch', 'widget', 'held', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
      const r = await del.promise;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('widget.demo.kok.dev "held" deleted');
      expect(storedWidget('held')).toBeUndefined();
    });

    it('delete --wait=false leaves it terminating; wait --for=delete returns once the finalizer goes', async () => {
      await ok(['apply', '-f', '-'], widget('fin', { size: 'large' }, { finalizers: ['demo.kok.dev/hold'] }));
      expect((await ok(['delete', 'widget', 'fin', '--wait=false'])).trim()).toBe('widget.demo.kok.dev "fin" deleted');
      const w = storedWidget('fin');
      expect(w.metadata.deletionTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(w.metadata.finalizers).toEqual(['demo.kok.dev/hold']);
      expect(await ok(['get', 'widget', 'fin', '-o', 'jsonpath={.metadata.deletionTimestamp}'])).toBe(w.metadata.deletionTimestamp);

      const wait = track(k(['wait', '--for=delete', 'widget/fin', '--timeout=30s']));
      await sleep(500);
      expect(wait.settled()).toBe(false);
      const out = await ok(['patch', 'widget', 'fin', '--type=json', '-p', '[{"op":"remove","path":"/metadata/finalizers/0"}]']);
      expect(out.trim()).toBe('widget.demo.kok.dev/fin patched');
      const r = await wait.promise;
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe('widget.demo.kok.dev/fin condition met');
      expect(storedWidget('fin')).toBeUndefined();
    });
  });

  describe('namespaces, configmaps and secrets', () => {
    it('create namespace, configmap, secret; label and annotate', async () => {
      expect((await ok(['create', 'namespace', 'team-a'])).trim()).toBe('namespace/team-a created');
      expect(stored('', 'v1', 'namespaces', '', 'team-a').status).toEqual({ phase: 'Active' });

      const cm = await ok(['create', 'configmap', 'cfg', '-n', 'team-a', '--from-literal=a=1', '--from-literal=b=two']);
      expect(cm.trim()).toBe('configmap/cfg created');
      expect(stored('', 'v1', 'configmaps', 'team-a', 'cfg').data).toEqual({ a: '1', b: 'two' });

      const secret = await ok(['create', 'secret', 'generic', 'sec', '-n', 'team-a', '--from-literal=password=s3cret']);
      expect(secret.trim()).toBe('secret/sec created');
      const s = stored('', 'v1', 'secrets', 'team-a', 'sec');
      expect(s.type).toBe('Opaque');
      expect(Buffer.from(s.data.password, 'base64').toString()).toBe('s3cret');
      expect(rowNamed(table(await ok(['get', 'secret', '-n', 'team-a'])), 'sec')).toMatchObject({ TYPE: 'Opaque', DATA: '1' });

      expect((await ok(['label', 'configmap', 'cfg', '-n', 'team-a', 'env=dev'])).trim()).toBe('configmap/cfg labeled');
      // kubectl 1.27 prints the verb uninflected ("annotate"); fixed in 1.28.
      const annotated = version === '1.27' ? 'configmap/cfg annotate' : 'configmap/cfg annotated';
      expect((await ok(['annotate', 'configmap', 'cfg', '-n', 'team-a', 'note=hello world'])).trim()).toBe(annotated);
      const c = stored('', 'v1', 'configmaps', 'team-a', 'cfg');
      expect(c.metadata.labels).toEqual({ env: 'dev' });
      expect(c.metadata.annotations).toEqual({ note: 'hello world' });
      expect(rowNamed(table(await ok(['get', 'cm', '-n', 'team-a', '-l', 'env=dev', '--show-labels'])), 'cfg')).toMatchObject({ DATA: '2', LABELS: 'env=dev' });

      await ok(['apply', '-n', 'team-a', '-f', '-'], widget('w2', { size: 'small' }));
      expect(storedWidget('w2', 'team-a')).toBeDefined();
    });

    it('delete namespace removes its contents, then the namespace', async () => {
      expect((await ok(['delete', 'namespace', 'team-a'])).trim()).toBe('namespace "team-a" deleted');
      // kubectl delete waits for the namespace to be gone.
      expect(stored('', 'v1', 'namespaces', '', 'team-a')).toBeUndefined();
      expect(stored('', 'v1', 'configmaps', 'team-a', 'cfg')).toBeUndefined();
      expect(stored('', 'v1', 'secrets', 'team-a', 'sec')).toBeUndefined();
      expect(storedWidget('w2', 'team-a')).toBeUndefined();
      expect(await fails(['get', 'ns', 'team-a'])).toContain('namespaces "team-a" not found');
      expect((await k(['get', 'cm,secrets,widgets', '-n', 'team-a'])).stdout).toBe('');
    });

    it('delete ns default is forbidden', async () => {
      const err = await fails(['delete', 'ns', 'default']);
      expect(err).toContain('Error from server (Forbidden)');
      expect(err).toContain('namespaces "default" is forbidden');
      expect(stored('', 'v1', 'namespaces', '', 'default')).toBeDefined();
      expect(storedDeployment('web')).toBeDefined();
    });
  });
});
