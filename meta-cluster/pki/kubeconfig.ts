/**
 * Kubeconfig files for kok's API servers, and the bearer tokens they carry.
 *
 * The output is what `kubectl config view --raw` prints for one cluster: a single cluster, user
 * and context, the context named after the cluster and selected as current.
 */

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { stringify } from 'yaml';
import { PkiError } from './errors.js';

export interface KubeconfigTokenUser {
  readonly name: string;
  /** Bearer token sent as `Authorization: Bearer <token>`. */
  readonly token: string;
}

export interface KubeconfigCertificateUser {
  readonly name: string;
  /** Client certificate PEM; its CN is the user name, its O values the groups. */
  readonly certPem: string;
  /** PEM private key of the client certificate. */
  readonly keyPem: string;
}

export type KubeconfigUser = KubeconfigTokenUser | KubeconfigCertificateUser;

export interface BuildKubeconfigOptions {
  /** Names the cluster entry and the context. */
  readonly clusterName: string;
  /** `https://host:port` of the API server. */
  readonly server: string;
  /** PEM of the CA that signed the API server's serving certificate. */
  readonly caPem: string;
  readonly user: KubeconfigUser;
  /** Default namespace of the context. @default - none (clients use `default`) */
  readonly namespace?: string;
}

export interface KubeconfigCluster {
  name: string;
  cluster: { server: string; 'certificate-authority-data': string };
}

export interface KubeconfigUserEntry {
  name: string;
  user: { token?: string; 'client-certificate-data'?: string; 'client-key-data'?: string };
}

export interface KubeconfigContext {
  name: string;
  context: { cluster: string; user: string; namespace?: string };
}

/** A kubeconfig (`apiVersion: v1`, `kind: Config`) as kubectl and client-node read it. */
export interface Kubeconfig {
  apiVersion: 'v1';
  kind: 'Config';
  clusters: KubeconfigCluster[];
  users: KubeconfigUserEntry[];
  contexts: KubeconfigContext[];
  'current-context': string;
  preferences: Record<string, never>;
}

export function buildKubeconfig(options: BuildKubeconfigOptions): Kubeconfig {
  const clusterName = requireText(options.clusterName, 'clusterName');
  const server = requireHttpsUrl(options.server);
  const caPem = requirePem(options.caPem, 'caPem', 'CERTIFICATE');
  const userName = requireText(options.user?.name, 'user.name');

  let user: KubeconfigUserEntry['user'];
  if ('token' in options.user) {
    user = { token: requireText(options.user.token, 'user.token') };
  } else if ('certPem' in options.user) {
    user = {
      'client-certificate-data': base64(requirePem(options.user.certPem, 'user.certPem', 'CERTIFICATE')),
      'client-key-data': base64(requirePem(options.user.keyPem, 'user.keyPem', 'PRIVATE KEY')),
    };
  } else {
    throw new PkiError('InvalidOptions', 'buildKubeconfig: user needs either a token or a certPem and keyPem');
  }

  const context: KubeconfigContext['context'] = { cluster: clusterName, user: userName };
  if (options.namespace !== undefined) context.namespace = requireText(options.namespace, 'namespace');

  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: clusterName, cluster: { server, 'certificate-authority-data': base64(caPem) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: clusterName, context }],
    'current-context': clusterName,
    preferences: {},
  };
}

/**
 * The kubeconfig as YAML with keys sorted, as kubectl writes it, so the same input always gives
 * the same bytes.
 */
export function kubeconfigYaml(config: Kubeconfig): string {
  // lineWidth 0: never fold the long base64 values.
  return stringify(config, { sortMapEntries: true, lineWidth: 0 });
}

/** A bearer token: 32 random bytes, base64url without padding (43 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Compares a presented token with the expected one in time that does not depend on where they
 * differ, so a client cannot guess a token byte by byte. Tokens of different length are unequal.
 */
export function tokensEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function requireText(value: string | undefined, what: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new PkiError('InvalidOptions', `buildKubeconfig: ${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function requireHttpsUrl(server: string): string {
  requireText(server, 'server');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new PkiError('InvalidOptions', `buildKubeconfig: server "${server}" is not a URL; use https://host:port`);
  }
  if (url.protocol !== 'https:') {
    throw new PkiError(
      'InvalidOptions',
      `buildKubeconfig: server "${server}" must use https (client-node refuses plain http without insecure-skip-tls-verify)`,
    );
  }
  return server;
}

function requirePem(pem: string, what: string, label: string): string {
  requireText(pem, what);
  if (!new RegExp(`-----BEGIN (?:[A-Z]+ )?${label}-----`).test(pem)) {
    throw new PkiError('InvalidPem', `buildKubeconfig: ${what} must be PEM ("-----BEGIN ${label}-----")`);
  }
  return pem;
}
