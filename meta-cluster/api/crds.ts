/**
 * The CustomResourceDefinitions of fleet.kok.dev, generated from the kind definitions in
 * ./v1alpha1 — the one source of truth. `kok crds` prints them; ./crds.yaml is their committed form
 * (a test fails when it drifts); the embedded meta-cluster installs them on start.
 */
import { isDeepStrictEqual } from 'node:util';
import { stringify } from 'yaml';
import type { Api } from '../apiserver/api.js';
import type { KubeObject } from '../apiserver/types.js';
import { cloudTargetKind } from './v1alpha1/cloud-target.js';
import { clusterKind } from './v1alpha1/cluster.js';
import { machinePoolKind } from './v1alpha1/machine-pool.js';
import { machineKind } from './v1alpha1/machine.js';
import type { KindDefinition, ScaleSubresource } from './v1alpha1/schema-dsl.js';

/** Every fleet.kok.dev kind. Adding a kind: its file in ./v1alpha1 and one line here. */
export const fleetKinds: readonly KindDefinition[] = [
  cloudTargetKind as KindDefinition,
  clusterKind as KindDefinition,
  machinePoolKind as KindDefinition,
  machineKind as KindDefinition,
];

export function crdName(def: KindDefinition): string {
  return `${def.plural}.${def.group}`;
}

/**
 * The apiextensions.k8s.io/v1 CRD of one kind: served and stored at its version, with a status
 * subresource and, if the kind has one, a scale subresource.
 */
export function crdFor(def: KindDefinition): KubeObject {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: crdName(def),
      labels: { 'app.kubernetes.io/part-of': 'kok' },
    },
    spec: {
      group: def.group,
      scope: def.scope,
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: def.categories,
      },
      versions: [
        {
          name: def.version,
          served: true,
          storage: true,
          subresources: { status: {}, ...(def.scale ? { scale: scaleOf(def.scale) } : {}) },
          additionalPrinterColumns: def.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'APIVersion defines the versioned schema of this representation of an object.',
                },
                kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
                metadata: { type: 'object' },
                spec: def.spec.schema,
                status: def.status.schema,
              },
            },
          },
        },
      ],
    },
  };
}

/** Only the paths given, so the generated YAML holds no empty keys. */
function scaleOf(scale: ScaleSubresource): ScaleSubresource {
  const { specReplicasPath, statusReplicasPath, labelSelectorPath } = scale;
  return { specReplicasPath, statusReplicasPath, ...(labelSelectorPath ? { labelSelectorPath } : {}) };
}

export function allCrds(): KubeObject[] {
  return fleetKinds.map(crdFor);
}

const header = '# Generated from meta-cluster/api/v1alpha1 by `npx kok crds > meta-cluster/api/crds.yaml`. Do not edit.\n';

/** All CRDs as one multi-document YAML, keys sorted so the output is byte-stable. */
export function crdsYaml(): string {
  const docs = allCrds().map((crd) => stringify(crd, { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false }));
  return header + docs.map((d) => `---\n${d}`).join('');
}

/**
 * Creates kok's CRDs or brings them up to date; a CRD already as generated is left alone, so a
 * restart writes nothing (and bumps no resourceVersion). Returns the names it wrote.
 */
export function installCrds(api: Api): string[] {
  const r = api.registry.lookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
  if (!r) throw new Error('installCrds: the API server serves no apiextensions.k8s.io/v1 customresourcedefinitions');
  const written: string[] = [];
  for (const crd of allCrds()) {
    const name = crd.metadata.name!;
    const current = api.tryGet(r, '', name);
    if (!current) {
      api.create(r, '', crd, { fieldManager: 'kok' });
      written.push(name);
      continue;
    }
    const desired = { ...crd, metadata: { ...current.metadata, labels: { ...current.metadata.labels, ...crd.metadata.labels } } };
    // A dry run yields the spec as the server would store it (its defaults filled in), so the
    // comparison sees only real differences.
    const normalised = api.update(r, '', name, desired, { dryRun: true }).object;
    if (isDeepStrictEqual(normalised.spec, current.spec) && isDeepStrictEqual(normalised.metadata.labels, current.metadata.labels)) continue;
    api.update(r, '', name, desired, { fieldManager: 'kok' });
    written.push(name);
  }
  return written;
}
