/**
 * What a container sees at a path, read as the kubelet would have mounted it: the container's
 * volumeMount with the longest mountPath that holds the path (subPath honoured) → the pod's volume
 * → the Secret or ConfigMap it projects (all keys, or only `items` key → path) → the key's bytes,
 * fetched through the API on each read, so a rotated Secret is seen the next time the file is read.
 */
import { posix } from 'node:path';
import { isNotFound, type KubeClient, type KubeObject } from '../../operators/runtime/client.js';
import { resources } from '../controllers/resources.js';
import { podKey, type Container } from './container-flags.js';
import { ControlPlaneError } from './errors.js';

interface KeyToPath {
  key: string;
  path: string;
}

/** The object a volume projects, as the kubelet resolves it. */
interface Projection {
  kind: 'Secret' | 'ConfigMap';
  name: string;
  items?: KeyToPath[];
}

/** Reads the file at `path` in `container` (a name or the container itself) of `pod`. */
export async function readMountedFile(client: KubeClient, pod: KubeObject, container: string | Container, path: string): Promise<Buffer> {
  const c = typeof container === 'string' ? findContainer(pod, container) : container;
  const where = `pod ${podKey(pod)} container ${c.name}: cannot read ${path}`;
  const fail = (code: ConstructorParameters<typeof ControlPlaneError>[0], why: string) => new ControlPlaneError(code, `${where}: ${why}`);
  if (!path.startsWith('/')) throw fail('MountedFileNotFound', 'the path is not absolute');
  const file = posix.normalize(path);

  const mount = longestMount(c, file);
  if (!mount) throw fail('MountedFileNotFound', 'no volumeMount of the container holds this path');
  const rest = file === mount.mountPath ? '' : file.slice(mount.mountPath === '/' ? 1 : mount.mountPath.length + 1);
  const inVolume = posix.normalize(posix.join(mount.subPath ?? '', rest)).replace(/^\.$/, '');
  if (!inVolume) throw fail('MountedFileNotFound', `it is the mount point of volume "${mount.name}", a directory`);

  const volume = ((pod.spec?.volumes ?? []) as Array<Record<string, any>>).find((v) => v.name === mount.name);
  if (!volume) throw fail('MountedFileNotFound', `the pod has no volume "${mount.name}" for the mount at ${mount.mountPath}`);
  const source = projectionOf(volume);
  if (!source) {
    const type = Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
    throw fail('UnsupportedVolume', `volume "${volume.name}" is of type ${type}; only secret and configMap volumes can be read`);
  }

  const what = `${source.kind} ${pod.metadata.namespace}/${source.name} (volume "${volume.name}")`;
  let key: string | undefined;
  if (source.items) {
    key = source.items.find((i) => posix.normalize(i.path) === inVolume)?.key;
    if (key === undefined) {
      const paths = source.items.map((i) => i.path).join(', ');
      throw fail('MountedFileNotFound', `${what} projects only [${paths}], not ${inVolume}`);
    }
  } else if (!inVolume.includes('/')) {
    key = inVolume;
  }
  if (key === undefined) throw fail('MountedFileNotFound', `${what} has no subdirectory ${posix.dirname(inVolume)}`);

  const object = await fetch(client, pod.metadata.namespace!, source);
  const bytes = object && valueOf(object, source.kind, key);
  if (bytes) return bytes;
  if (!object) throw fail('MountedFileNotFound', `${what} does not exist`);
  throw fail('MountedFileNotFound', `${what} has no key "${key}"`);
}

/** Like readMountedFile, as UTF-8 text (PEM, kubeconfig YAML). */
export async function readMountedText(client: KubeClient, pod: KubeObject, container: string | Container, path: string): Promise<string> {
  return (await readMountedFile(client, pod, container, path)).toString('utf8');
}

function findContainer(pod: KubeObject, name: string): Container {
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])] as Container[];
  const c = all.find((x) => x.name === name);
  if (!c) throw new ControlPlaneError('MountedFileNotFound', `pod ${podKey(pod)}: no container named ${name}`);
  return c;
}

/** The mount that holds `file`: the longest mountPath equal to it or a parent directory of it. */
function longestMount(c: Container, file: string): { name: string; mountPath: string; subPath?: string } | undefined {
  let best: { name: string; mountPath: string; subPath?: string } | undefined;
  for (const m of c.volumeMounts ?? []) {
    const mountPath = posix.normalize(m.mountPath).replace(/(.)\/$/, '$1');
    const holds = file === mountPath || file.startsWith(mountPath === '/' ? '/' : `${mountPath}/`);
    if (holds && (!best || mountPath.length > best.mountPath.length)) best = { name: m.name, mountPath, subPath: m.subPath || undefined };
  }
  return best;
}

function projectionOf(volume: Record<string, any>): Projection | undefined {
  if (volume.secret) {
    return { kind: 'Secret', name: volume.secret.secretName, items: volume.secret.items };
  }
  if (volume.configMap) {
    return { kind: 'ConfigMap', name: volume.configMap.name, items: volume.configMap.items };
  }
  return undefined;
}

async function fetch(client: KubeClient, namespace: string, source: Projection): Promise<KubeObject | undefined> {
  try {
    return await client.get(source.kind === 'Secret' ? resources.secrets : resources.configmaps, namespace, source.name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

function valueOf(object: KubeObject, kind: Projection['kind'], key: string): Buffer | undefined {
  if (kind === 'Secret') {
    const b64 = object.data?.[key];
    return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : undefined;
  }
  const text = object.data?.[key];
  if (typeof text === 'string') return Buffer.from(text, 'utf8');
  const b64 = object.binaryData?.[key];
  return typeof b64 === 'string' ? Buffer.from(b64, 'base64') : undefined;
}
