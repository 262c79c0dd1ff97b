/**
 * A throwaway HTTPS server and client for the PKI tests: real Node TLS on a free port, so the
 * tests check what a client actually accepts rather than what the certificate claims.
 */

import type { RequestListener } from 'node:http';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  readonly port: number;
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  close(): Promise<void>;
}

export interface TestServerTls {
  certPem: string;
  keyPem: string;
  /** CA that verifies client certificates; with it the server asks clients for one but never insists. */
  clientCaPem?: string;
}

export async function startHttpsServer(tls: TestServerTls, handler: RequestListener): Promise<TestServer> {
  const server = createServer(
    {
      cert: tls.certPem,
      key: tls.keyPem,
      ...(tls.clientCaPem ? { ca: tls.clientCaPem, requestCert: true, rejectUnauthorized: false } : {}),
    },
    handler,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface HttpsGetOptions {
  caPem: string;
  certPem?: string;
  keyPem?: string;
  headers?: Record<string, string>;
}

export interface HttpsGetResult {
  status: number;
  body: string;
}

/** GET with TLS verification on (the default) against `caPem` only. */
export function httpsGet(url: string, options: HttpsGetOptions): Promise<HttpsGetResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca: options.caPem,
        ...(options.certPem ? { cert: options.certPem } : {}),
        ...(options.keyPem ? { key: options.keyPem } : {}),
        headers: options.headers ?? {},
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
