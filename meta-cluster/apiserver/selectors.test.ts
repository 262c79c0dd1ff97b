import { describe, expect, it } from 'vitest';

import { ApiError } from './errors.js';
import {
  EVERYTHING,
  NOTHING,
  fieldSelectorFields,
  fieldValue,
  formatLabelSelector,
  formatLabels,
  labelSelectorFromObject,
  labelSelectorFromSet,
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  selectsEverything,
} from './selectors.js';

function badRequestMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).code).toBe(400);
    expect((e as ApiError).reason).toBe('BadRequest');
    return (e as ApiError).message;
  }
  throw new Error('expected an ApiError, nothing was thrown');
}

describe('parseLabelSelector', () => {
  const web = { app: 'web', tier: 'front' };
  const db = { app: 'db' };
  const bare = {};

  it.each([
    // input, normalised form, [web, db, bare] matches
    ['', '', [true, true, true]],
    ['   ', '', [true, true, true]],
    ['app=web', 'app=web', [true, false, false]],
    ['app==web', 'app==web', [true, false, false]],
    ['app!=web', 'app!=web', [false, true, true]],
    ['app in (web,db)', 'app in (db,web)', [true, true, false]],
    ['app notin (web)', 'app notin (web)', [false, true, true]],
    ['tier', 'tier', [true, false, false]],
    ['!tier', '!tier', [false, true, true]],
    ['app=web,tier', 'app=web,tier', [true, false, false]],
    [' tier = front , app in ( web , db ) ', 'app in (db,web),tier=front', [true, false, false]],
    ['app in (in,notin)', 'app in (in,notin)', [false, false, false]],
    ['app=', 'app=', [false, false, false]],
    ['example.com/team', 'example.com/team', [false, false, false]],
  ] as const)('%j', (input, normalised, [mWeb, mDb, mBare]) => {
    const sel = parseLabelSelector(input);
    expect(formatLabelSelector(sel)).toBe(normalised);
    expect(matchesLabels(sel, web)).toBe(mWeb);
    expect(matchesLabels(sel, db)).toBe(mDb);
    expect(matchesLabels(sel, bare)).toBe(mBare);
  });

  it('treats an empty value list entry as the empty value', () => {
    const sel = parseLabelSelector('x in (a,)');
    expect(matchesLabels(sel, { x: '' })).toBe(true);
    expect(matchesLabels(sel, { x: 'a' })).toBe(true);
    expect(matchesLabels(sel, { x: 'b' })).toBe(false);
  });

  it('supports the integer comparisons gt/lt', () => {
    const sel = parseLabelSelector('gen>3');
    expect(matchesLabels(sel, { gen: '4' })).toBe(true);
    expect(matchesLabels(sel, { gen: '3' })).toBe(false);
    expect(matchesLabels(sel, { gen: 'x' })).toBe(false);
    expect(matchesLabels(parseLabelSelector('gen<3'), { gen: '2' })).toBe(true);
  });

  it.each([
    ['app=a/b', 'unable to parse requirement: values[0][app]: Invalid value: "a/b": a valid label must be an empty string'],
    ['-app=x', 'unable to parse requirement: <nil>: Invalid value: "-app": name part must consist of alphanumeric characters'],
    ['Example.com/app', 'unable to parse requirement: <nil>: Invalid value: "Example.com/app": prefix part a lowercase RFC 1123 subdomain'],
    ['a/b/c', 'unable to parse requirement: <nil>: Invalid value: "a/b/c": a qualified name must consist of'],
    [`${'k'.repeat(64)}`, 'name part must be no more than 63 characters'],
    [`app=${'v'.repeat(64)}`, 'must be no more than 63 characters'],
    ['app in web', "unable to parse requirement: found 'web' expected: '('"],
    ['app in (a', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['app b', "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"],
    ['app=a=b', "found '=', expected: ',' or 'end of string'"],
    ['!app=x', "found '=', expected: ',' or 'end of string'"],
    ['app,', "found '', expected: identifier after ','"],
    [',app', "found ',', expected: !, identifier, or 'end of string'"],
    ['gen>x', "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"],
  ])('rejects %j', (input, message) => {
    expect(badRequestMessage(() => parseLabelSelector(input))).toContain(message);
  });
});

describe('labelSelectorFromObject', () => {
  it('maps null to a selector that matches nothing and {} to one that matches everything', () => {
    expect(labelSelectorFromObject(null)).toBe(NOTHING);
    expect(labelSelectorFromObject(undefined)).toBe(NOTHING);
    expect(matchesLabels(labelSelectorFromObject(null), {})).toBe(false);
    expect(labelSelectorFromObject({})).toBe(EVERYTHING);
    expect(labelSelectorFromObject({ matchLabels: {}, matchExpressions: [] })).toBe(EVERYTHING);
    expect(selectsEverything(labelSelectorFromObject({}))).toBe(true);
    expect(matchesLabels(labelSelectorFromObject({}), { any: 'thing' })).toBe(true);
  });

  it('ANDs matchLabels and every operator', () => {
    const sel = labelSelectorFromObject({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['front', 'edge'] },
        { key: 'track', operator: 'NotIn', values: ['canary'] },
        { key: 'owner', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    expect(formatLabelSelector(sel)).toBe('app=web,!legacy,owner,tier in (edge,front),track notin (canary)');
    expect(matchesLabels(sel, { app: 'web', tier: 'edge', owner: 'x' })).toBe(true);
    expect(matchesLabels(sel, { app: 'web', tier: 'edge', owner: 'x', track: 'canary' })).toBe(false);
    expect(matchesLabels(sel, { app: 'web', tier: 'edge', owner: 'x', legacy: '' })).toBe(false);
    expect(matchesLabels(sel, { app: 'web', tier: 'back', owner: 'x' })).toBe(false);
    expect(matchesLabels(sel, { app: 'web', tier: 'edge' })).toBe(false);
  });

  it('rejects unknown operators and invalid keys', () => {
    expect(badRequestMessage(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }))).toBe(
      '"Gt" is not a valid label selector operator',
    );
    expect(badRequestMessage(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }))).toContain(
      "values set can't be empty",
    );
    expect(badRequestMessage(() => labelSelectorFromObject({ matchLabels: { 'bad key': 'x' } }))).toContain('key: Invalid value: "bad key"');
  });

  it('builds set selectors and formats label maps like the printers', () => {
    expect(matchesLabels(labelSelectorFromSet({ a: '1', b: '2' }), { a: '1', b: '2', c: '3' })).toBe(true);
    expect(matchesLabels(labelSelectorFromSet({ a: '1', b: '2' }), { a: '1' })).toBe(false);
    expect(selectsEverything(labelSelectorFromSet(undefined))).toBe(true);
    expect(formatLabels({ z: '1', a: '2' })).toBe('a=2,z=1');
    expect(formatLabels({})).toBe('<none>');
  });
});

describe('field selectors', () => {
  const podFields = fieldSelectorFields({ group: '', plural: 'pods' });

  it('lists metadata fields everywhere and extra fields per resource', () => {
    expect(fieldSelectorFields({ group: 'apps', plural: 'deployments' })).toEqual(['metadata.name', 'metadata.namespace']);
    expect(podFields).toEqual(expect.arrayContaining(['metadata.name', 'spec.nodeName', 'status.phase', 'status.podIP']));
    expect(fieldSelectorFields({ group: '', plural: 'events' })).toContain('involvedObject.uid');
    expect(fieldSelectorFields({ group: 'apps', plural: 'replicasets' })).toContain('status.replicas');
    expect(fieldSelectorFields({ group: '', plural: 'secrets' })).toContain('type');
    expect(fieldSelectorFields({ group: '', plural: 'nodes' })).toContain('spec.unschedulable');
    expect(fieldSelectorFields({ group: '', plural: 'namespaces' })).toContain('status.phase');
    // A same-named resource in another group gets only the common fields.
    expect(fieldSelectorFields({ group: 'example.com', plural: 'pods' })).toEqual(['metadata.name', 'metadata.namespace']);
  });

  it('rejects an unsupported field with the apiserver message', () => {
    expect(badRequestMessage(() => parseFieldSelector('spec.replicas=3', fieldSelectorFields({ group: 'apps', plural: 'deployments' })))).toBe(
      'field label not supported: spec.replicas',
    );
    expect(badRequestMessage(() => parseFieldSelector('metadata.name=a,spec.foo!=b', podFields))).toBe('field label not supported: spec.foo');
  });

  it('rejects malformed terms', () => {
    expect(badRequestMessage(() => parseFieldSelector('metadata.name', podFields))).toBe(
      "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
    );
    expect(badRequestMessage(() => parseFieldSelector('metadata.name=a\\x', podFields))).toContain('invalid escape sequence');
  });

  it('matches =, == and != on dotted paths, treating absent values as empty', () => {
    const scheduled = { metadata: { name: 'a', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
    const pending = { metadata: { name: 'b', namespace: 'ns' }, spec: {}, status: { phase: 'Pending' } };
    const unscheduled = parseFieldSelector('spec.nodeName=', podFields);
    expect(matchesFields(unscheduled, pending)).toBe(true);
    expect(matchesFields(unscheduled, scheduled)).toBe(false);
    const running = parseFieldSelector('status.phase==Running,metadata.namespace=ns', podFields);
    expect(matchesFields(running, scheduled)).toBe(true);
    expect(matchesFields(running, pending)).toBe(false);
    const notA = parseFieldSelector('metadata.name!=a', podFields);
    expect(matchesFields(notA, scheduled)).toBe(false);
    expect(matchesFields(notA, pending)).toBe(true);
    expect(matchesFields(parseFieldSelector('', podFields), pending)).toBe(true);
  });

  it('reads events.source from source.component and typed defaults like the apiserver', () => {
    const event = { metadata: { name: 'e' }, involvedObject: { kind: 'Pod', name: 'web-1' }, source: { component: 'kubelet' } };
    const eventFields = fieldSelectorFields({ group: '', plural: 'events' });
    expect(matchesFields(parseFieldSelector('source=kubelet,involvedObject.kind=Pod', eventFields), event)).toBe(true);
    expect(matchesFields(parseFieldSelector('involvedObject.name=web-2', eventFields), event)).toBe(false);
    expect(fieldValue({ metadata: {}, spec: {} }, 'spec.unschedulable')).toBe('false');
    expect(fieldValue({ metadata: {}, spec: { unschedulable: true } }, 'spec.unschedulable')).toBe('true');
    expect(fieldValue({ metadata: {}, status: {} }, 'status.replicas')).toBe('0');
    expect(fieldValue({ metadata: {}, status: { podIPs: [{ ip: '10.0.0.9' }], podIP: '10.0.0.9' } }, 'status.podIP')).toBe('10.0.0.9');
  });

  it('unescapes commas and equals signs in values', () => {
    const sel = parseFieldSelector('metadata.name=a\\,b\\=c', podFields);
    expect(sel.requirements).toEqual([{ field: 'metadata.name', operator: '=', value: 'a,b=c' }]);
  });
});
