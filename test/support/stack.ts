// The whole service for end-to-end tests: a real core and a real gateway on loopback port 0,
// called over HTTP as a CM client would.

import type { FastifyInstance } from 'fastify';
import { buildGateway } from '../../gateway/app.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { mintToken, startTestCore, type Claims, type TestCore, type TestCoreOptions } from './core-harness.js';

export const BASE = '/CertificateManagement/api/v1.0';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else the text; undefined when empty. */
  body: any;
  raw: Buffer;
}

export interface Stack {
  core: TestCore;
  gateway: FastifyInstance;
  url: string;
  http(method: string, path: string, options?: { token?: string; body?: unknown; rawBody?: string | Buffer; headers?: Record<string, string> }): Promise<HttpAnswer>;
  as(who: Claims): Promise<string>;
  close(): Promise<void>;
}

export type HttpCall = Stack['http'];

/** HTTP calls to a gateway at `url`, answers parsed as a CM client would. */
export function httpCaller(url: string): HttpCall {
  return async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | Buffer | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(url + path, { method, headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
    const raw = Buffer.from(await res.arrayBuffer());
    let parsed: unknown;
    if (raw.length > 0) {
      const text = raw.toString('utf8');
      parsed = (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    }
    return { status: res.status, headers: res.headers, body: parsed, raw };
  };
}

export async function startStack(extraEnv: Record<string, string> = {}, options: TestCoreOptions = {}): Promise<Stack> {
  const core = await startTestCore(extraEnv, options);
  const config = loadGatewayConfig({ CM_HTTP_HOST: '127.0.0.1', CM_HTTP_PORT: '0', CM_CORE_ADDRESS: core.address, CM_LOG_LEVEL: 'silent', ...extraEnv });
  const gateway = await buildGateway({ config, logger: options.log });
  await gateway.listen({ host: '127.0.0.1', port: 0 });
  const address = gateway.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    core,
    gateway,
    url,
    http: httpCaller(url),
    as: (who) => mintToken(who),
    async close() {
      await gateway.close();
      await core.close();
    },
  };
}
