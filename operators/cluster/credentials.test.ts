import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../meta-cluster/api/v1alpha1/cluster.js';
import { certificateInfo, type CertificateAndKey } from '../../meta-cluster/pki/pki.js';
import { caOf, credentialPlan, credentialProblem, generateCredential, renewalDue, type Credential, type SecretData } from './credentials.js';

const cluster: Cluster = {
  apiVersion: 'fleet.kok.dev/v1alpha1',
  kind: 'Cluster',
  metadata: { namespace: 'fleet', name: 'pay' },
  spec: { version: '1.31', controlPlane: { replicas: 3, datastore: { type: 'etcd', replicas: 3 } } },
};
const now = new Date('2026-11-21T10:00:00Z');
const endpoint = { host: '127.0.0.1', url: 'https://127.0.0.1:40001' };

/** Generates every credential of the plan in order, as the reconciler does. */
async function issueAll(plan: Credential[], at = now) {
  const cas = new Map<string, CertificateAndKey>();
  const stored = new Map<string, SecretData>();
  for (const c of plan) {
    const { data } = await generateCredential(c, cas, at);
    stored.set(c.secret, data);
    if (c.kind === 'ca') cas.set(c.secret, caOf(data));
  }
  return { cas, stored };
}

describe('credentialPlan', () => {
  it('puts CAs first and waits for the endpoint before the admin kubeconfig', () => {
    const without = credentialPlan({ cluster, namespace: 'kcp-fleet-pay', adminSecret: 'pay-kubeconfig' });
    expect(without.slice(0, 3).every((c) => c.kind === 'ca')).toBe(true);
    expect(without.find((c) => c.secret === 'pay-kubeconfig')).toBeUndefined();
    const withEndpoint = credentialPlan({ cluster, namespace: 'kcp-fleet-pay', adminSecret: 'pay-kubeconfig', endpoint });
    expect(withEndpoint.at(-1)).toMatchObject({ kind: 'kubeconfig', secret: 'pay-kubeconfig', namespace: 'fleet', server: endpoint.url, organizations: ['system:masters'] });
  });
});

describe('credentials', () => {
  const plan = credentialPlan({ cluster, namespace: 'kcp-fleet-pay', adminSecret: 'pay-kubeconfig', endpoint });

  it('fresh credentials have no problem; the serving certificate carries the API names', async () => {
    const { cas, stored } = await issueAll(plan);
    for (const c of plan) expect(credentialProblem(c, stored.get(c.secret), cas, now), c.secret).toBeUndefined();
    const serving = certificateInfo(stored.get('apiserver-certs')!['tls.crt']!);
    expect(serving.dnsNames).toContain('kube-apiserver.kcp-fleet-pay.svc');
    expect(serving.ipAddresses).toContain('127.0.0.1');
    expect(stored.get('pay-kubeconfig')!['value']).toContain('server: https://127.0.0.1:40001');
  });

  it('finds missing, expiring, foreign-signed and stale credentials', async () => {
    const { cas, stored } = await issueAll(plan);
    const byName = (n: string) => plan.find((c) => c.secret === n)!;
    expect(credentialProblem(byName('ca'), undefined, cas, now)).toBe('missing');
    // A year on, leaves are inside their renewal window.
    expect(credentialProblem(byName('apiserver-certs'), stored.get('apiserver-certs'), cas, new Date(now.getTime() + 340 * 86_400_000))).toMatch(/^expires /);
    // A new cluster CA: everything it signed must be reissued.
    const other = await issueAll(plan);
    expect(credentialProblem(byName('apiserver-certs'), stored.get('apiserver-certs'), other.cas, now)).toBe('not signed by the current CA');
    // A new endpoint: the admin kubeconfig must point at it.
    const moved = credentialPlan({ cluster, namespace: 'kcp-fleet-pay', adminSecret: 'pay-kubeconfig', endpoint: { host: '10.0.0.9', url: 'https://10.0.0.9:6443' } });
    expect(credentialProblem(moved.at(-1)!, stored.get('pay-kubeconfig'), cas, now)).toBe('server is not https://10.0.0.9:6443');
    expect(credentialProblem(moved.find((c) => c.secret === 'apiserver-certs')!, stored.get('apiserver-certs'), cas, now)).toBe('lacks names 10.0.0.9');
    expect(credentialProblem(byName('sa'), { 'sa.key': 'x' }, cas, now)).toMatch(/sa.pub/);
  });

  it('renewalDue is 30 days before expiry', async () => {
    const { stored } = await issueAll(plan);
    const c = plan.find((x) => x.secret === 'front-proxy-client')!;
    const due = renewalDue(c, stored.get(c.secret)!)!;
    const notAfter = certificateInfo(stored.get(c.secret)!['tls.crt']!).notAfter;
    expect(notAfter.getTime() - due.getTime()).toBe(30 * 86_400_000);
  });
});
