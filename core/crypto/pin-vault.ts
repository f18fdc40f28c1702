// Stored server PINs: AES-256-GCM under a data key derived from the key ring version the PIN
// was sealed with, the card Uuid bound in as associated data.

import type { PinVault } from '../domain/card-secrets.js';
import { derivePinDataKey, openPin, sealPin } from '../../workers/crypto/pin-seal.js';
import type { KeyRing } from './key-ring.js';

export class KeyRingPinVault implements PinVault {
  private readonly dataKeys = new Map<number, Buffer>();

  constructor(private readonly ring: KeyRing) {}

  seal(keyVersion: number, cardUuid: string, pin: string): Buffer {
    return sealPin(this.dataKey(keyVersion), cardUuid, pin);
  }

  open(keyVersion: number, cardUuid: string, sealed: Buffer): string {
    return openPin(this.dataKey(keyVersion), cardUuid, sealed);
  }

  private dataKey(version: number): Buffer {
    let key = this.dataKeys.get(version);
    if (!key) {
      const master = this.ring.get(version);
      key = derivePinDataKey(master);
      master.fill(0);
      this.dataKeys.set(version, key);
    }
    return key;
  }
}
