/**
 * ServiceAccount tokens as kube-apiserver issues and checks them (bound tokens, KEP-1205):
 *
 * - `POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token` with an authentication.k8s.io/v1
 *   TokenRequest answers it with `status.token`, a JWT signed with the server's service-account
 *   key (ES256 for a P-256 key, RS256 for RSA), and `status.expirationTimestamp`. The claims are
 *   kube-apiserver's: iss, sub `system:serviceaccount:<ns>:<name>`, aud (`spec.audiences`, by
 *   default the server's own), iat, nbf, exp (`spec.expirationSeconds`, default 3600, at least
 *   600), jti, and `kubernetes.io` {namespace, serviceaccount {name, uid}, pod|secret {name, uid}}.
 * - As a bearer token it stands for `system:serviceaccount:<ns>:<name>` in the groups
 *   `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`, while its
 *   signature is good, it names one of the server's audiences, it has not expired (a minute of
 *   clock skew allowed, as kube-apiserver's leeway) and the ServiceAccount — and the Pod or Secret
 *   it is bound to — still exists with the uid it was issued for.
 *
 * Checking a signature is the costly part (and asynchronous), so a verified token's claims are
 * remembered for `cacheMs`; whether its ServiceAccount still exists is read on every request (a
 * point read), so deleting the ServiceAccount revokes its tokens at once.
 */
import { createHash, createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import { importPKCS8, importSPKI, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { rfc3339 } from '../../operators/runtime/time.js';
import type { Api } from './api.js';
import { ApiError, badRequest, cause, invalid, notFound } from './errors.js';
import type { ServedResource } from './registry.js';
import type { KubeObject } from './types.js';

export const SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';
export const DEFAULT_SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc';
const AUTHENTICATED_GROUP = 'system:authenticated';
const DEFAULT_EXPIRATION_SECONDS = 3600;
const MIN_EXPIRATION_SECONDS = 600;
const MAX_EXPIRATION_SECONDS = 2 ** 32;
/** kube-apiserver's jwt.DefaultLeeway, for exp/nbf and for objects whose deletion started. */
const LEEWAY_SECONDS = 60;
const EXTRA_CREDENTIAL_ID = 'authentication.kubernetes.io/credential-id';

/** The user a token authenticates, as the HTTP server's authenticators return it. */
export interface ServiceAccountUser {
  user: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export interface ServiceAccountTokensOptions {
  /** PKCS#8 PEM of the signing key: ECDSA P-256 (ES256) or RSA (RS256). */
  readonly privateKeyPem: string;
  /** SPKI PEM of its public key. */
  readonly publicKeyPem: string;
  /** The `iss` of issued tokens; only tokens with it are accepted. @default 'https://kubernetes.default.svc' */
  readonly issuer?: string;
  /** What this server answers to (`--api-audiences`): a token must name one. @default - [issuer] */
  readonly audiences?: readonly string[];
  /** How long a verified signature is trusted without checking it again. @default 10_000 */
  readonly cacheMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** The `kubernetes.io` claim. */
interface KubernetesClaim {
  namespace: string;
  serviceaccount: { name: string; uid: string };
  pod?: { name: string; uid: string };
  secret?: { name: string; uid: string };
}

/** What a verified token stands for, remembered until `until`. */
interface Verified {
  claim: KubernetesClaim;
  jti: string | undefined;
  /** Milliseconds after which the token is expired even with leeway. */
  expiresAt: number;
  until: number;
}

type Obj = Record<string, any>;
type Key = Awaited<ReturnType<typeof importPKCS8>>;

/** Kinds a token may be bound to (`spec.boundObjectRef`), with their resources. */
const bindable: Record<string, string> = { Pod: 'pods', Secret: 'secrets' };

/** Issues TokenRequests for the server's ServiceAccounts and authenticates the tokens. */
export class ServiceAccountTokens {
  private readonly cache = new Map<string, Verified>();
  private readonly issuer: string;
  private readonly audiences: string[];
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly serviceAccounts: ServedResource;

  private constructor(
    private readonly api: Api,
    private readonly alg: 'ES256' | 'RS256',
    private readonly kid: string,
    private readonly signingKey: Key,
    private readonly verifyingKey: Key,
    opts: ServiceAccountTokensOptions,
  ) {
    this.issuer = opts.issuer ?? DEFAULT_SERVICE_ACCOUNT_ISSUER;
    this.audiences = [...(opts.audiences ?? [this.issuer])];
    this.cacheMs = opts.cacheMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    const sa = api.registry.lookup('', 'v1', 'serviceaccounts');
    if (!sa) throw new Error('service-account tokens: the API serves no core/v1 serviceaccounts');
    this.serviceAccounts = sa;
  }

  static async create(api: Api, opts: ServiceAccountTokensOptions): Promise<ServiceAccountTokens> {
    const privateKey = createPrivateKey(opts.privateKeyPem);
    const publicKey = createPublicKey(opts.publicKeyPem);
    if (createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) !== publicKey.export({ type: 'spki', format: 'pem' })) {
      throw new Error('service-account tokens: the public key is not the signing key\'s');
    }
    let alg: 'ES256' | 'RS256';
    if (privateKey.asymmetricKeyType === 'rsa') alg = 'RS256';
    else if (privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = 'ES256';
    else throw new Error(`service-account tokens: unsupported signing key (${privateKey.asymmetricKeyType}); use ECDSA P-256 or RSA`);
    // kube-apiserver's key id: the SHA-256 of the DER public key, base64url.
    const kid = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url');
    const [signingKey, verifyingKey] = await Promise.all([importPKCS8(opts.privateKeyPem, alg), importSPKI(opts.publicKeyPem, alg)]);
    return new ServiceAccountTokens(api, alg, kid, signingKey, verifyingKey, opts);
  }

  /** Answers `POST …/serviceaccounts/{name}/token`: the TokenRequest with its token filled in. */
  async request(namespace: string, name: string, body: unknown): Promise<Obj> {
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the body of the request is not a JSON object');
    const tr = body as Obj;
    if (tr.kind !== undefined && tr.kind !== 'TokenRequest') {
      throw badRequest(`the kind in the data (${String(tr.kind)}) does not match the expected kind (TokenRequest)`);
    }
    if (tr.apiVersion !== undefined && tr.apiVersion !== 'authentication.k8s.io/v1') {
      throw badRequest(`the API version in the data (${String(tr.apiVersion)}) does not match the expected API version (authentication.k8s.io/v1)`);
    }
    if (tr.metadata?.name && tr.metadata.name !== name) throw badRequest('name in URL does not match name in TokenRequest body');
    if (tr.metadata?.namespace && tr.metadata.namespace !== namespace) throw badRequest('namespace in URL does not match namespace in TokenRequest body');
    const spec: Obj = tr.spec && typeof tr.spec === 'object' ? tr.spec : {};

    const expirationSeconds = spec.expirationSeconds ?? DEFAULT_EXPIRATION_SECONDS;
    if (!Number.isSafeInteger(expirationSeconds)) {
      throw badRequest(`spec.expirationSeconds: ${JSON.stringify(expirationSeconds)} is not an integer number of seconds`);
    }
    if (expirationSeconds < MIN_EXPIRATION_SECONDS) {
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        cause.invalid('spec.expirationSeconds', expirationSeconds, 'may not specify a duration less than 10 minutes'),
      ]);
    }
    if (expirationSeconds > MAX_EXPIRATION_SECONDS) {
      throw invalid('TokenRequest', 'authentication.k8s.io', name, [
        cause.invalid('spec.expirationSeconds', expirationSeconds, 'may not specify a duration larger than 2^32 seconds'),
      ]);
    }
    const audiences: string[] = Array.isArray(spec.audiences) && spec.audiences.length ? spec.audiences.map(String) : [...this.audiences];

    const sa = this.api.get(this.serviceAccounts, namespace, name);
    const claim: KubernetesClaim = { namespace, serviceaccount: { name, uid: sa.metadata.uid! } };
    const bound = spec.boundObjectRef ? this.bind(namespace, sa, spec.boundObjectRef as Obj, claim) : null;

    const iat = Math.floor(this.now() / 1000);
    const exp = iat + expirationSeconds;
    const jti = randomUUID();
    const token = await new SignJWT({ 'kubernetes.io': claim as unknown as JWTPayload[string] })
      .setProtectedHeader({ alg: this.alg, kid: this.kid })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${namespace}:${name}`)
      .setAudience(audiences)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(exp)
      .setJti(jti)
      .sign(this.signingKey);
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, creationTimestamp: null },
      spec: { audiences, expirationSeconds, boundObjectRef: bound },
      status: { token, expirationTimestamp: rfc3339(exp * 1000) },
    };
  }

  /** Checks `spec.boundObjectRef` and adds the object to the claim; returns the reference with its uid. */
  private bind(namespace: string, sa: KubeObject, ref: Obj, claim: KubernetesClaim): Obj {
    const kind = String(ref.kind ?? '');
    const apiVersion = String(ref.apiVersion ?? 'v1');
    const plural = bindable[kind];
    if (!plural || apiVersion !== 'v1') throw badRequest(`cannot bind token for object of type ${apiVersion}, Kind=${kind}`);
    if (!ref.name) throw badRequest('spec.boundObjectRef.name: Required value');
    const o = this.api.tryGet(this.api.registry.lookup('', 'v1', plural)!, namespace, String(ref.name));
    if (!o) throw notFound('', plural, String(ref.name));
    if (ref.uid && ref.uid !== o.metadata.uid) {
      throw new ApiError(
        'Conflict',
        `the UID in the bound object reference (${String(ref.uid)}) does not match the UID in record. The object might have been deleted and then recreated`,
        { name: String(ref.name), kind: plural },
      );
    }
    if (kind === 'Pod') {
      const podSa = (o as Obj).spec?.serviceAccountName || 'default';
      if (podSa !== sa.metadata.name) {
        throw badRequest(`cannot bind token for serviceaccount "${sa.metadata.name}" to pod running with different serviceaccount name.`);
      }
      claim.pod = { name: o.metadata.name!, uid: o.metadata.uid! };
    } else {
      claim.secret = { name: o.metadata.name!, uid: o.metadata.uid! };
    }
    return { kind, apiVersion, name: o.metadata.name, uid: o.metadata.uid };
  }

  /**
   * A bearer-token authenticator (chain it with the others): the user of a valid token, undefined
   * for anything else. Synchronous for tokens that are no JWT or whose signature is remembered.
   */
  readonly authenticate = (token: string): ServiceAccountUser | undefined | Promise<ServiceAccountUser | undefined> => {
    // A compact JWS whose header is a JSON object: three base64url parts, the first `{"…`.
    if (!token.startsWith('eyJ') || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) return undefined;
    const t = this.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.until > t && hit.expiresAt > t) return this.userOf(hit);
      this.cache.delete(token);
    }
    return this.verify(token, t).then((verified) => {
      if (!verified) return undefined;
      if (this.cache.size >= 10_000) for (const [k, v] of this.cache) if (v.until <= t || v.expiresAt <= t) this.cache.delete(k);
      if (this.cache.size >= 10_000) this.cache.clear();
      this.cache.set(token, verified);
      return this.userOf(verified);
    });
  };

  /** Signature, issuer, audience, times and claim shape; undefined when any is wrong. */
  private async verify(token: string, t: number): Promise<Verified | undefined> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.verifyingKey, {
        algorithms: [this.alg],
        issuer: this.issuer,
        audience: this.audiences,
        clockTolerance: LEEWAY_SECONDS,
        currentDate: new Date(t),
        requiredClaims: ['exp', 'sub'],
      }));
    } catch {
      return undefined;
    }
    const claim = payload['kubernetes.io'] as KubernetesClaim | undefined;
    const sa = claim?.serviceaccount;
    if (typeof claim?.namespace !== 'string' || typeof sa?.name !== 'string' || typeof sa.uid !== 'string') return undefined;
    if (payload.sub !== `system:serviceaccount:${claim.namespace}:${sa.name}`) return undefined;
    return { claim, jti: payload.jti, expiresAt: (payload.exp! + LEEWAY_SECONDS) * 1000, until: t + this.cacheMs };
  }

  /** The user of a verified token, if its ServiceAccount (and bound object) still stand. */
  private userOf({ claim, jti }: Verified): ServiceAccountUser | undefined {
    const { namespace, serviceaccount: sa, pod, secret } = claim;
    if (!this.stands(this.serviceAccounts, namespace, sa)) return undefined;
    const extra: Record<string, string[]> = {};
    if (pod) {
      if (!this.stands(this.api.registry.lookup('', 'v1', 'pods')!, namespace, pod)) return undefined;
      extra['authentication.kubernetes.io/pod-name'] = [pod.name];
      extra['authentication.kubernetes.io/pod-uid'] = [pod.uid];
    }
    if (secret && !this.stands(this.api.registry.lookup('', 'v1', 'secrets')!, namespace, secret)) return undefined;
    if (jti) extra[EXTRA_CREDENTIAL_ID] = [`JTI=${jti}`];
    return {
      user: `system:serviceaccount:${namespace}:${sa.name}`,
      uid: sa.uid,
      groups: [SERVICE_ACCOUNTS_GROUP, `${SERVICE_ACCOUNTS_GROUP}:${namespace}`, AUTHENTICATED_GROUP],
      extra,
    };
  }

  /** The object exists with this uid and its deletion, if any, started less than the leeway ago. */
  private stands(r: ServedResource, namespace: string, ref: { name: string; uid: string }): boolean {
    const o = this.api.tryGet(r, namespace, ref.name);
    if (!o || o.metadata.uid !== ref.uid) return false;
    const deleting = o.metadata.deletionTimestamp;
    return !deleting || Date.parse(deleting) > this.now() - LEEWAY_SECONDS * 1000;
  }
}
