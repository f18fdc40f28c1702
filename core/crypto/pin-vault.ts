// Stored server PINs: AES-256-GCM under a data key derived from the key ring version the PIN
// was sealed with, the card Uuid bound in as associated data.
//
// The data key is the key ring's dataKey (an SP 800-108 KDF of HMACs, which a token can run).
// PINs sealed before that were sealed under an HKDF of the master's bytes: a PIN that does not
// open under the current key is tried under that legacy key where the ring can make it (a key
// ring file; GCM's tag tells the two apart).

import type { PinVault } from '../domain/card-secrets.js';
import { CryptoError } from '../../workers/crypto/admin-key.js';
import { openPin, PIN_DATA_KEY_LABEL, sealPin } from '../../workers/crypto/pin-seal.js';
import type { MasterKeyRing } from './key-ring.js';

export class KeyRingPinVault implements PinVault {
  private readonly dataKeys = new Map<number, Buffer>();

  constructor(private readonly ring: MasterKeyRing) {}

  seal(keyVersion: number, cardUuid: string, pin: string): Buffer {
    return sealPin(this.dataKey(keyVersion), cardUuid, pin);
  }

  open(keyVersion: number, cardUuid: string, sealed: Buffer): string {
    try {
      return openPin(this.dataKey(keyVersion), cardUuid, sealed);
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

  private dataKey(version: number): Buffer {
    let key = this.dataKeys.get(version);
    if (!key) {
      key = this.ring.dataKey(version, PIN_DATA_KEY_LABEL);
      this.dataKeys.set(version, key);
    }
    return key;
  }
}
