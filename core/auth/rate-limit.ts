// CM_RATE_LIMIT (SPEC 11, issue 9): key and PIN calls per minute per verified caller. Enforced in
// the core, after the token is verified, on the user GUID: one user with many tokens, or one
// token spelled many ways, shares one budget, and a call with a bad token never reaches the
// limiter. rate-limiter-flexible's memory store keeps one counter per caller seen in the current
// minute (each removed when its minute ends), so memory grows with verified callers only. Each
// core counts its own calls: with several cores behind a balancing gateway a caller gets up to
// the limit from each (see README); the library's PostgreSQL store could make it cluster-wide.

import { Counter } from 'prom-client';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { CmError } from '../errors.js';
import type { Caller } from './caller.js';

/** Refusals, by RPC: for the operations metrics. */
export const rateLimitedTotal = new Counter({
  name: 'cm_rate_limited_total',
  help: 'Key and PIN calls refused by CM_RATE_LIMIT, by RPC',
  labelNames: ['method'] as const,
});

export class CallerRateLimit {
  private readonly limiter: RateLimiterMemory | undefined;

  /** `perMinute` 0: no limit. */
  constructor(perMinute: number) {
    this.limiter = perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: 60 }) : undefined;
  }

  /** Takes `cost` calls from the caller's minute; RATE_LIMITED (RESOURCE_EXHAUSTED, 429) when they are not left. */
  async take(caller: Caller, method: string, cost = 1): Promise<void> {
    if (!this.limiter) return;
    try {
      await this.limiter.consume(caller.userUuid, cost);
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      rateLimitedTotal.inc({ method });
      const retryAfterSeconds = Math.max(1, Math.ceil(refusal.msBeforeNext / 1000));
      throw new CmError('RATE_LIMITED', `Too many key and PIN calls; retry in ${retryAfterSeconds} s.`, { retryAfterSeconds });
    }
  }
}
