/**
 * Failures of certificate, key and kubeconfig handling. Each has a stable `code` so callers
 * (the API server at start-up, the cluster operator's PKI phase) can tell a bad input — which no
 * retry fixes — from a broken data directory that a person must repair.
 */

export type PkiErrorCode =
  /** An option is missing or malformed (empty common name, bad IP address, non-https server). */
  | 'InvalidOptions'
  /** A PEM string does not hold what it should (not a certificate, not a private key). */
  | 'InvalidPem'
  /** The certificate given as a CA is not one (basicConstraints CA:false or missing). */
  | 'NotACertificateAuthority'
  /** A private key does not belong to the certificate it is paired with. */
  | 'KeyMismatch'
  /** A key algorithm kok cannot sign with. */
  | 'UnsupportedKey'
  /** Files in a data directory are in a state kok will not repair on its own. */
  | 'CorruptDataDir';

export class PkiError extends Error {
  constructor(
    readonly code: PkiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PkiError';
  }
}
