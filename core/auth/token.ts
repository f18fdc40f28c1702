// Bearer token verification (SPEC 3) with jose: HS256 with a shared secret, RS256/ES256 with a
// PEM public key; exp with 60 s leeway; iss/aud when configured. Verified tokens are cached
// until they expire, so a busy caller pays for one signature check, not one per call.

import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { jwtVerify, type JWTPayload } from 'jose';
import { unauthenticated } from '../errors.js';
import { parseGuid, uuidV5FromUrl } from '../domain/ids.js';
import { makeCaller, type Caller } from './caller.js';

export interface TokenConfig {
  secret?: string;
  publicKeyPem?: string;
  issuer?: string;
  audience?: string;
  userClaim: string;
  groupsClaim: string;
  adminGroup: string;
}

const LEEWAY_SECONDS = 60;
const CACHE_LIMIT = 10_000;

export class TokenVerifier {
  private readonly keys: { key: KeyObject; algorithms: string[] }[] = [];
  private readonly cache = new Map<string, { caller: Caller; expiresAt: number }>();

  constructor(private readonly config: TokenConfig) {
    if (config.secret) this.keys.push({ key: createSecretKey(Buffer.from(config.secret, 'utf8')), algorithms: ['HS256'] });
    if (config.publicKeyPem) this.keys.push({ key: createPublicKey(config.publicKeyPem), algorithms: ['RS256', 'ES256'] });
    if (this.keys.length === 0) throw new Error('token verification needs CM_JWT_SECRET or CM_JWT_PUBLIC_KEY');
  }

  /** `authorization` is the raw header or metadata value. */
  async verify(authorization: string | undefined): Promise<Caller> {
    if (!authorization) throw unauthenticated();
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!m) throw unauthenticated('The Authorization header must be "Bearer <token>".');
    const token = m[1]!;
    const now = Date.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.expiresAt > now) return hit.caller;
      this.cache.delete(token);
    }
    const payload = await this.verifySignature(token);
    const caller = this.callerFrom(payload);
    const expiresAt = typeof payload.exp === 'number' ? (payload.exp + LEEWAY_SECONDS) * 1000 : now + 60_000;
    if (this.cache.size >= CACHE_LIMIT) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(token, { caller, expiresAt: Math.min(expiresAt, now + 300_000) });
    return caller;
  }

  private async verifySignature(token: string): Promise<JWTPayload> {
    for (const { key, algorithms } of this.keys) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms,
          clockTolerance: LEEWAY_SECONDS,
          issuer: this.config.issuer,
          audience: this.config.audience,
          requiredClaims: ['exp'],
        });
        return payload;
      } catch {
        // Try the next key; the message below says nothing about which check failed.
      }
    }
    throw unauthenticated('The bearer token is invalid or expired.');
  }

  private callerFrom(payload: JWTPayload): Caller {
    const sub = payload[this.config.userClaim];
    if (typeof sub !== 'string' || sub === '') throw unauthenticated('The bearer token names no user.');
    const groups = payload[this.config.groupsClaim];
    return makeCaller(
      {
        userUuid: parseGuid(sub) ?? uuidV5FromUrl(sub),
        name: typeof payload.name === 'string' ? payload.name : '',
        upn: typeof payload.upn === 'string' ? payload.upn : '',
        groups: Array.isArray(groups) ? groups.filter((g): g is string => typeof g === 'string') : [],
      },
      this.config.adminGroup,
    );
  }
}
