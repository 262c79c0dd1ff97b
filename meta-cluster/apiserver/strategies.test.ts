import { describe, expect, it } from 'vitest';
import { applyBuiltinDefaults, validateBuiltin } from './strategies.js';
import type { KubeObject } from './types.js';

function deployment(rollingUpdate?: Record<string, unknown>): KubeObject {
  const d = {
    metadata: { name: 'web', namespace: 'default' },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } },
      strategy: { type: 'RollingUpdate', rollingUpdate },
    },
  } as KubeObject;
  applyBuiltinDefaults('deployments', d);
  return d;
}

const messages = (o: KubeObject) => validateBuiltin('deployments', o).map((c) => `${c.field}: ${c.message}`);

describe('Deployment rolling update validation (ValidateRollingUpdateDeployment)', () => {
  it('accepts the defaults and any non-zero combination', () => {
    expect(messages(deployment())).toEqual([]);
    expect(messages(deployment({ maxSurge: 0, maxUnavailable: 1 }))).toEqual([]);
    expect(messages(deployment({ maxSurge: '50%', maxUnavailable: 0 }))).toEqual([]);
  });

  it.each([
    [{ maxSurge: 0, maxUnavailable: 0 }, 'spec.strategy.rollingUpdate.maxUnavailable', 'may not be 0 when `maxSurge` is 0'],
    [{ maxSurge: '0%', maxUnavailable: '0%' }, 'spec.strategy.rollingUpdate.maxUnavailable', 'may not be 0 when `maxSurge` is 0'],
    [{ maxSurge: 1, maxUnavailable: '120%' }, 'spec.strategy.rollingUpdate.maxUnavailable', 'must not be greater than 100%'],
    [{ maxSurge: -1, maxUnavailable: 1 }, 'spec.strategy.rollingUpdate.maxSurge', 'must be greater than or equal to 0'],
    [{ maxSurge: 'lots', maxUnavailable: 1 }, 'spec.strategy.rollingUpdate.maxSurge', "a valid percent string must be a numeric string followed by an ending '%'"],
  ])('rejects %o', (ru, field, message) => {
    const found = messages(deployment(ru));
    expect(found.some((m) => m.startsWith(`${field}: `) && m.includes(message))).toBe(true);
  });
});
