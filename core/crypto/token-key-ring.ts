// The master key ring on a PKCS#11 token (SPEC 13): the secret keys labelled cm-master-v<N>.
// Every derivation is an HMAC-SHA256 run on the token (CKM_SHA256_HMAC); a master key never
// enters this process. The versions are read once at start-up: a key added later (cm-admin
// keyring add) is used after a restart, as with a key ring file.

import { randomBytes } from 'node:crypto';
import { CryptoError } from '../../workers/crypto/admin-key.js';
import type { Pkcs11Token } from '../../workers/crypto/pkcs11-token.js';
import { CmError } from '../errors.js';
import { HmacKeyRing, KeyRingError, type CardKeySource } from './key-ring.js';

const LABEL_PREFIX = 'cm-master-v';
const LABEL = /^cm-master-v([1-9]\d{0,9})$/;

export function masterKeyLabel(version: number): string {
  return `${LABEL_PREFIX}${version}`;
}

/** The versions of the cm-master-v<N> keys on the token, ascending. */
export function tokenKeyVersions(token: Pkcs11Token): number[] {
  return token
    .secretKeyLabels(LABEL_PREFIX)
    .map((label) => LABEL.exec(label)?.[1])
    .filter((v): v is string => v !== undefined && Number(v) <= 2 ** 31 - 1)
    .map(Number)
    .sort((a, b) => a - b);
}

/** Additions that keep meeting another one give up after this many tries. */
const ADD_ATTEMPTS = 10;

/**
 * `cm-admin keyring add` on a token: generates the next version there (a generic secret of 32
 * bytes, sensitive, never extractable) and answers its number. Running services use it after a
 * restart; cards keep the version they were diversified with.
 *
 * PKCS#11 cannot create an object only if its label is free, so two additions at once (two
 * operators, two hosts on one network HSM) may both pick version N. Each key is generated with a
 * random CKA_ID and then counted: an addition that finds its label on one key keeps it; one that
 * finds two destroys its own and tries the next number after a short random pause. Two additions
 * cannot both find themselves alone (each counts after it generated), so a version is never kept
 * twice; they may both step back, and then try again.
 */
export function addTokenKeyVersion(token: Pkcs11Token): number {
  for (let attempt = 1; ; attempt++) {
    const versions = tokenKeyVersions(token);
    const next = versions.length ? versions[versions.length - 1] + 1 : 1;
    const label = masterKeyLabel(next);
    const id = randomBytes(16);
    token.generateHmacKey(label, id);
    if (token.secretKeyIds(label).length === 1) return next;
    token.destroySecretKey(label, id);
    if (attempt >= ADD_ATTEMPTS) {
      throw new KeyRingError('KEY_RING_INVALID', `another addition kept taking version ${next} on the token: try again`);
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.floor(Math.random() * 90));
  }
}

export class TokenKeyRing extends HmacKeyRing {
  readonly #token: Pkcs11Token;
  readonly #versions: number[];
  readonly newestVersion: number;

  constructor(token: Pkcs11Token, tokenLabel: string) {
    super();
    this.#token = token;
    this.#versions = tokenKeyVersions(token);
    if (this.#versions.length === 0) {
      throw new KeyRingError('KEY_RING_INVALID', `token "${tokenLabel}" holds no ${LABEL_PREFIX}<N> keys: create one with cm-admin keyring add`);
    }
    this.newestVersion = this.#versions[this.#versions.length - 1];
  }

  versions(): number[] {
    return [...this.#versions];
  }

  hmac(version: number, data: Uint8Array): Buffer {
    if (!this.has(version)) throw this.missing(version);
    try {
      return this.#token.hmacSha256(masterKeyLabel(version), data);
    } catch (err) {
      if (err instanceof CryptoError && err.code === 'UNAVAILABLE') throw new CmError('UNAVAILABLE', 'The key store is unavailable; try again.', { cause: err });
      throw err;
    }
  }

  /** What was sealed under the HKDF derivation needs the key's bytes, which a token never gives. */
  legacyPinDataKey(): undefined {
    return undefined;
  }

  cardKeySource(version: number): CardKeySource {
    if (!this.has(version)) throw this.missing(version);
    return { tokenKey: masterKeyLabel(version) };
  }

  destroy(): void {
    this.#token.close();
  }
}
