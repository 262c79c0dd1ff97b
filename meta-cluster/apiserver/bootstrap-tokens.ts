/**
 * Bootstrap-token authentication, as kube-apiserver's `--enable-bootstrap-token-auth`: a bearer
 * token `<id>.<secret>` (`[a-z0-9]{6}.[a-z0-9]{16}`) is valid while the Secret
 * `kube-system/bootstrap-token-<id>` of type `bootstrap.kubernetes.io/token` holds the same
 * `token-secret`, says `usage-bootstrap-authentication: "true"` and has not reached its
 * `expiration`. The user is `system:bootstrap:<id>` in group `system:bootstrappers` plus the
 * Secret's `auth-extra-groups` (each must start with `system:bootstrappers:`).
 * See https://kubernetes.io/docs/reference/access-authn-authz/bootstrap-tokens/.
 *
 * Machines joining a cluster carry such a token in their user-data: it is how kok's Machine
 * operator lets a new node register without handing it an admin credential.
 */
import { tokensEqual } from '../pki/kubeconfig.js';
import type { Api } from './api.js';

export const BOOTSTRAP_TOKEN_SECRET_TYPE = 'bootstrap.kubernetes.io/token';
export const BOOTSTRAP_TOKEN_NAMESPACE = 'kube-system';
export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers';
const TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;

export interface TokenUser {
  user: string;
  groups: string[];
}

const decode = (data: Record<string, string> | undefined, key: string): string | undefined => {
  const v = data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
};

/**
 * Returns an authenticator over `api`'s Secrets. A valid token is remembered for `cacheMs` (one
 * deleted or expired stops working within that time), so a node heartbeating with its token does
 * not read the Secret on every request; a refused one is looked up again next time, so a token
 * works as soon as its Secret exists.
 */
export function bootstrapTokenAuthenticator(api: Api, opts: { cacheMs?: number; now?: () => number } = {}): (token: string) => TokenUser | undefined {
  const secrets = api.registry.lookup('', 'v1', 'secrets');
  if (!secrets) throw new Error('bootstrap-token authentication: the API serves no core/v1 secrets');
  const cacheMs = opts.cacheMs ?? 10_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { user: TokenUser; until: number }>();

  const lookup = (token: string): TokenUser | undefined => {
    const m = TOKEN.exec(token);
    if (!m) return undefined;
    const [, id, secret] = m as unknown as [string, string, string];
    const s = api.tryGet(secrets, BOOTSTRAP_TOKEN_NAMESPACE, `bootstrap-token-${id}`);
    if (!s || s.type !== BOOTSTRAP_TOKEN_SECRET_TYPE || s.metadata.deletionTimestamp) return undefined;
    const data = s.data as Record<string, string> | undefined;
    if (decode(data, 'token-id') !== id) return undefined;
    const stored = decode(data, 'token-secret');
    if (stored === undefined || !tokensEqual(stored, secret)) return undefined;
    if (decode(data, 'usage-bootstrap-authentication') !== 'true') return undefined;
    const expiration = decode(data, 'expiration');
    if (expiration !== undefined && !(Date.parse(expiration) > now())) return undefined;
    const extra = (decode(data, 'auth-extra-groups') ?? '')
      .split(',')
      .map((g) => g.trim())
      .filter((g) => g.startsWith(`${BOOTSTRAPPERS_GROUP}:`));
    return { user: `system:bootstrap:${id}`, groups: [BOOTSTRAPPERS_GROUP, ...extra, 'system:authenticated'] };
  };

  return (token) => {
    const t = now();
    const hit = cache.get(token);
    if (hit && hit.until > t) return hit.user;
    if (cache.size > 10_000) for (const [k, v] of cache) if (v.until <= t) cache.delete(k);
    const user = lookup(token);
    if (user) cache.set(token, { user, until: t + cacheMs });
    else cache.delete(token);
    return user;
  };
}
