import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { startTestServer, type TestServer } from '../../test/helpers.js';
import { resources } from '../controllers/resources.js';
import { readMountedFile, readMountedText } from './mounted-files.js';

let server: TestServer;
let client: KubeClient;

const b64 = (s: string) => Buffer.from(s).toString('base64');

const pod: KubeObject = {
  metadata: { namespace: 'default', name: 'apiserver-0' },
  spec: {
    containers: [
      {
        name: 'kube-apiserver',
        image: 'registry.k8s.io/kube-apiserver:v1.31.0',
        volumeMounts: [
          { name: 'pki', mountPath: '/etc/kubernetes/pki' },
          { name: 'ca', mountPath: '/etc/kubernetes/pki/ca/' },
          { name: 'config', mountPath: '/etc/config' },
          { name: 'one', mountPath: '/etc/one.conf', subPath: 'one.conf' },
          { name: 'scratch', mountPath: '/tmp' },
          { name: 'missing', mountPath: '/etc/missing' },
          { name: 'ghost', mountPath: '/etc/ghost' },
        ],
      },
    ],
    volumes: [
      { name: 'pki', secret: { secretName: 'apiserver-certs' } },
      { name: 'ca', secret: { secretName: 'ca', items: [{ key: 'tls.crt', path: 'tls.crt' }, { key: 'tls.crt', path: 'copies/ca.pem' }] } },
      { name: 'config', configMap: { name: 'settings' } },
      { name: 'one', configMap: { name: 'settings' } },
      { name: 'scratch', emptyDir: {} },
      { name: 'missing', secret: { secretName: 'does-not-exist' } },
    ],
  },
};

beforeAll(async () => {
  server = await startTestServer();
  client = new KubeClient(server.kubeConfig);
  await client.create(resources.secrets, 'default', { metadata: { name: 'apiserver-certs' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('SERVING'), 'tls.key': b64('KEY') } });
  await client.create(resources.secrets, 'default', { metadata: { name: 'ca' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('CA'), 'tls.key': b64('CA-KEY') } });
  await client.create(resources.configmaps, 'default', { metadata: { name: 'settings' }, data: { 'one.conf': 'a=1' }, binaryData: { blob: b64('\u0001\u0002') } });
});

afterAll(async () => {
  client?.close();
  await server?.destroy();
});

describe('readMountedFile', () => {
  it.each([
    ['a key of a whole secret', '/etc/kubernetes/pki/tls.key', 'KEY'],
    ['the longest mountPath wins (trailing slash ignored)', '/etc/kubernetes/pki/ca/tls.crt', 'CA'],
    ['an item projected to a nested path', '/etc/kubernetes/pki/ca/copies/ca.pem', 'CA'],
    ['a configMap key', '/etc/config/one.conf', 'a=1'],
    ['a configMap binaryData key', '/etc/config/blob', '\u0001\u0002'],
    ['a subPath mount of one key', '/etc/one.conf', 'a=1'],
    ['an unnormalised path', '/etc/kubernetes/pki/./ca/../tls.crt', 'SERVING'],
  ])('reads %s', async (_what, path, expected) => {
    expect(await readMountedText(client, pod, 'kube-apiserver', path)).toBe(expected);
  });

  it.each([
    ['a key the items do not project', '/etc/kubernetes/pki/ca/tls.key', /pod default\/apiserver-0 container kube-apiserver: cannot read \/etc\/kubernetes\/pki\/ca\/tls.key: Secret default\/ca \(volume "ca"\) projects only \[tls.crt, copies\/ca.pem\], not tls.key/],
    ['a missing key', '/etc/kubernetes/pki/ca.crt', /Secret default\/apiserver-certs \(volume "pki"\) has no key "ca.crt"/],
    ['a path no mount holds', '/var/lib/x', /no volumeMount of the container holds this path/],
    ['a mount point', '/etc/config', /mount point of volume "config", a directory/],
    ['a volume type that cannot be read', '/tmp/x', /volume "scratch" is of type emptyDir; only secret and configMap volumes can be read/],
    ['a missing secret', '/etc/missing/x', /Secret default\/does-not-exist \(volume "missing"\) does not exist/],
    ['a mount without its volume', '/etc/ghost/x', /the pod has no volume "ghost"/],
    ['a relative path', 'etc/config/one.conf', /not absolute/],
  ])('fails clearly on %s', async (_what, path, message) => {
    await expect(readMountedFile(client, pod, 'kube-apiserver', path)).rejects.toThrow(message);
  });

  it('names an unknown container', async () => {
    await expect(readMountedFile(client, pod, 'etcd', '/etc/config/one.conf')).rejects.toThrow('pod default/apiserver-0: no container named etcd');
  });

  it('reads a rotated secret afresh', async () => {
    await client.patch(resources.secrets, 'default', 'apiserver-certs', 'merge', { data: { 'tls.key': b64('KEY-2') } });
    expect(await readMountedText(client, pod, 'kube-apiserver', '/etc/kubernetes/pki/tls.key')).toBe('KEY-2');
  });
});
