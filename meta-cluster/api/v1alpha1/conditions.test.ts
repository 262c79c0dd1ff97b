import { describe, expect, it } from 'vitest';
import { ClusterConditions, ClusterReasons, setCondition, type Condition, type ConditionUpdate } from './conditions.js';

const earlier = '2025-01-01T00:00:00Z';
const now = new Date('2025-06-01T12:00:00.123Z');
const nowText = '2025-06-01T12:00:00Z';

const ready = (status: Condition['status'], reason: string, extra: Partial<Condition> = {}): Condition => ({
  type: ClusterConditions.Ready,
  status,
  reason,
  lastTransitionTime: earlier,
  ...extra,
});

describe('setCondition', () => {
  const cases: { name: string; before: Condition[] | undefined; next: ConditionUpdate; after: Condition[] }[] = [
    {
      name: 'adds a condition to no conditions, stamped now',
      before: undefined,
      next: { type: 'Ready', status: 'False', reason: ClusterReasons.Provisioning, observedGeneration: 1 },
      after: [{ type: 'Ready', status: 'False', reason: 'Provisioning', lastTransitionTime: nowText, observedGeneration: 1 }],
    },
    {
      name: 'same status keeps the transition time but takes the new reason, message and generation',
      before: [ready('False', 'Provisioning', { message: 'old', observedGeneration: 1 })],
      next: { type: 'Ready', status: 'False', reason: ClusterReasons.WaitingForDatastore, message: 'new', observedGeneration: 2 },
      after: [ready('False', 'WaitingForDatastore', { message: 'new', observedGeneration: 2 })],
    },
    {
      name: 'a status flip moves the transition time',
      before: [ready('False', 'Provisioning')],
      next: { type: 'Ready', status: 'True', reason: ClusterReasons.AsExpected },
      after: [{ type: 'Ready', status: 'True', reason: 'AsExpected', lastTransitionTime: nowText }],
    },
    {
      name: 'Unknown to False is a flip too',
      before: [ready('Unknown', 'Provisioning')],
      next: { type: 'Ready', status: 'False', reason: ClusterReasons.UpgradeRefused, message: '1.29 -> 1.31 skips a minor' },
      after: [{ type: 'Ready', status: 'False', reason: 'UpgradeRefused', message: '1.29 -> 1.31 skips a minor', lastTransitionTime: nowText }],
    },
    {
      name: 'a new type is appended, others are kept in order',
      before: [ready('True', 'AsExpected')],
      next: { type: ClusterConditions.PKIReady, status: 'True', reason: ClusterReasons.AsExpected },
      after: [ready('True', 'AsExpected'), { type: 'PKIReady', status: 'True', reason: 'AsExpected', lastTransitionTime: nowText }],
    },
  ];
  it.each(cases)('$name', ({ before, next, after }) => {
    const snapshot = structuredClone(before);
    expect(setCondition(before, next, now)).toEqual(after);
    expect(before).toEqual(snapshot); // pure: the input is not changed
  });

  it('refuses a condition without a reason', () => {
    expect(() => setCondition([], { type: 'Ready', status: 'True', reason: '' }, now)).toThrow(/reason is required/);
  });
});
