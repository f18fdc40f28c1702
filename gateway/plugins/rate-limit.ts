// CM_RATE_LIMIT: requests per minute per caller on the key and PIN routes (config.secret). The
// caller is a hash of the bearer token (the gateway cannot verify it; the core does), so the
// token itself is never kept. A token bucket per caller: `limit` requests at once, refilled at
// `limit` per minute. 429 RATE_LIMITED with Retry-After when empty.
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { bearerToken } from './authentication.js';
import { sharedPlugin } from './define.js';
import './route-config.js';

const MINUTE_MS = 60_000;

export interface RateLimiter {
  /** Takes one request from the caller's bucket; the seconds to wait when it is empty. */
  take(caller: string, now?: number): { allowed: true } | { allowed: false; retryAfterSeconds: number };
  /** Forgets callers whose bucket is full again. */
  prune(now?: number): void;
}

export function createRateLimiter(limitPerMinute: number): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const refillPerMs = limitPerMinute / MINUTE_MS;
  const level = (bucket: { tokens: number; at: number }, now: number) =>
    Math.min(limitPerMinute, bucket.tokens + (now - bucket.at) * refillPerMs);
  return {
    take(caller, now = Date.now()) {
      const bucket = buckets.get(caller) ?? { tokens: limitPerMinute, at: now };
      bucket.tokens = level(bucket, now);
      bucket.at = now;
      buckets.set(caller, bucket);
      if (bucket.tokens < 1) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / refillPerMs / 1000)) };
      }
      bucket.tokens -= 1;
      return { allowed: true };
    },
    prune(now = Date.now()) {
      for (const [caller, bucket] of buckets) {
        if (level(bucket, now) >= limitPerMinute) buckets.delete(caller);
      }
    },
  };
}

export default sharedPlugin<{ limitPerMinute?: number }>(
  'rate-limit',
  async (fastify, options) => {
    const limit = options.limitPerMinute;
    if (limit === undefined || limit <= 0) return;
    const limiter = createRateLimiter(limit);
    const pruning = setInterval(() => limiter.prune(), MINUTE_MS).unref();
    fastify.addHook('onClose', async () => clearInterval(pruning));
    fastify.addHook('onRequest', async (request) => {
      if (!request.routeOptions.config.secret) return;
      const token = bearerToken(request.headers.authorization) ?? '';
      const caller = createHash('sha256').update(token).digest('base64url');
      const verdict = limiter.take(caller);
      if (!verdict.allowed) {
        throw new GatewayError('RATE_LIMITED', undefined, { 'retry-after': String(verdict.retryAfterSeconds) });
      }
    });
  },
  ['authentication'],
);
