import { describe, expect, it } from 'vitest';
import { ApiMetrics } from './metrics.js';

const sample = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('ApiMetrics', () => {
  it('counts requests by verb, resource and code, and keeps the totals across scrapes', async () => {
    const m = new ApiMetrics(() => 42);
    m.observe('create', 'core/configmaps', 201, 0.002);
    m.observe('create', 'core/configmaps', 201, 0.002);
    m.observe('create', 'core/configmaps', 409, 0.002);
    const first = (await m.render()).body;
    expect(sample(first, 'apiserver_request_total{verb="create",resource="core/configmaps",code="201"}')).toBe(2);
    expect(sample(first, 'apiserver_request_total{verb="create",resource="core/configmaps",code="409"}')).toBe(1);
    m.observe('create', 'core/configmaps', 201, 0.002);
    const second = (await m.render()).body;
    expect(sample(second, 'apiserver_request_total{verb="create",resource="core/configmaps",code="201"}')).toBe(3);
    expect(sample(second, 'apiserver_storage_revision')).toBe(42);
  });

  it('renders request durations as a cumulative Prometheus histogram; watches are not timed', async () => {
    const m = new ApiMetrics(() => 0);
    for (const s of [0.0005, 0.002, 0.002, 0.3, 7]) m.observe('get', 'apps/deployments', 200, s);
    m.observe('watch', 'core/pods', 200, 100);
    const text = (await m.render()).body;
    expect(text).toContain('# TYPE apiserver_request_duration_seconds histogram');
    const bucket = (le: string) => sample(text, `apiserver_request_duration_seconds_bucket{verb="get",resource="apps/deployments",le="${le}"}`);
    expect([bucket('0.001'), bucket('0.0025'), bucket('0.25'), bucket('0.5'), bucket('2.5'), bucket('+Inf')]).toEqual([1, 3, 3, 4, 4, 5]);
    expect(sample(text, 'apiserver_request_duration_seconds_count{verb="get",resource="apps/deployments"}')).toBe(5);
    expect(sample(text, 'apiserver_request_duration_seconds_sum{verb="get",resource="apps/deployments"}')).toBeCloseTo(7.3045);
    expect(text).not.toContain('apiserver_request_duration_seconds_count{verb="watch"');
    expect(sample(text, 'apiserver_request_total{verb="watch",resource="core/pods",code="200"}')).toBe(1);
  });
});
