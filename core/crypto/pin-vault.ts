// Secrets at rest (SPEC 8, issue 9): server PINs and templates' default admin keys, sealed with
// AES-256-GCM under data keys the key ring derives for each purpose (by label) from the version
// the secret was sealed with, the owner's Uuid (card, template) bound in as associated data.
//
// The data key is the key ring's dataKey (an SP 800-108 KDF of HMACs, which a token can run).
// PINs sealed before that were sealed under an HKDF of the master's bytes: a PIN that does not
// open under the current key is tried under that legacy key where the ring can make it (a key
// ring file; GCM's tag tells the two apart).

import { randomBytes } from 'node:crypto';
import type { PinVault } from '../domain/card-secrets.js';
import type { SealedSecret, TemplateSecrets } from '../storage/repository.js';
import { CryptoError } from '../../workers/crypto/admin-key.js';
import { ADMIN_KEY_DATA_KEY_LABEL, openPin, PIN_DATA_KEY_LABEL, sealPin } from '../../workers/crypto/pin-seal.js';
import { parseKeyRing, type MasterKeyRing } from './key-ring.js';

export class KeyRingVault implements PinVault, TemplateSecrets {
  /** By `label:version`. */
  private readonly dataKeys = new Map<string, Buffer>();

  constructor(private readonly ring: MasterKeyRing) {}

  seal(keyVersion: number, cardUuid: string, pin: string): Buffer {
    return sealPin(this.dataKey(PIN_DATA_KEY_LABEL, keyVersion), cardUuid, pin);
  }

  open(keyVersion: number, cardUuid: string, sealed: Buffer): string {
    try {
      return openPin(this.dataKey(PIN_DATA_KEY_LABEL, keyVersion), cardUuid, sealed);
    } catch (err) {
      if (!(err instanceof CryptoError && err.code === 'SEAL_INVALID')) throw err;
      const legacy = this.ring.legacyPinDataKey(keyVersion);
      if (!legacy) throw err;
      try {
        return openPin(legacy, cardUuid, sealed);
      } finally {
        legacy.fill(0);
      }
    }
  }

  sealAdminKey(templateUuid: string, keyHex: string): SealedSecret {
    const keyVersion = this.ring.newestVersion;
    return { keyVersion, sealed: sealPin(this.dataKey(ADMIN_KEY_DATA_KEY_LABEL, keyVersion), templateUuid, keyHex).toString('base64') };
  }

  openAdminKey(templateUuid: string, secret: SealedSecret): string {
    return openPin(this.dataKey(ADMIN_KEY_DATA_KEY_LABEL, secret.keyVersion), templateUuid, Buffer.from(secret.sealed, 'base64'));
  }

  private dataKey(label: string, version: number): Buffer {
    let key = this.dataKeys.get(`${label}:${version}`);
    if (!key) {
      key = this.ring.dataKey(version, label);
      this.dataKeys.set(`${label}:${version}`, key);
    }
    return key;
  }
}

/** A vault over a random one-version ring, for tools that open a store but keep nothing sealed (benchmarks, tests). */
export function throwawayVault(): KeyRingVault {
  return new KeyRingVault(parseKeyRing(`1:${randomBytes(32).toString('hex')}`));
}
