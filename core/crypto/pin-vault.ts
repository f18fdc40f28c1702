// Secrets at rest (SPEC 8, issue 9): server PINs and templates' default admin keys, sealed with
// AES-256-GCM under data keys derived from the key ring version the secret was sealed with, the
// owner's Uuid (card, template) bound in as associated data. The one place that derives the
// data keys from the ring: a key ring held elsewhere (an HSM) replaces `dataKey` alone.

import type { PinVault } from '../domain/card-secrets.js';
import type { SealedSecret, TemplateSecrets } from '../storage/repository.js';
import { deriveDataKey, openPin, sealPin, type SealPurpose } from '../../workers/crypto/pin-seal.js';
import { randomBytes } from 'node:crypto';
import { KeyRing } from './key-ring.js';

export class KeyRingVault implements PinVault, TemplateSecrets {
  private readonly dataKeys = new Map<string, Buffer>();

  constructor(private readonly ring: KeyRing) {}

  seal(keyVersion: number, cardUuid: string, pin: string): Buffer {
    return sealPin(this.dataKey('pin', keyVersion), cardUuid, pin);
  }

  open(keyVersion: number, cardUuid: string, sealed: Buffer): string {
    return openPin(this.dataKey('pin', keyVersion), cardUuid, sealed);
  }

  sealAdminKey(templateUuid: string, keyHex: string): SealedSecret {
    const keyVersion = this.ring.newestVersion;
    return { keyVersion, sealed: sealPin(this.dataKey('adminKey', keyVersion), templateUuid, keyHex).toString('base64') };
  }

  openAdminKey(templateUuid: string, secret: SealedSecret): string {
    return openPin(this.dataKey('adminKey', secret.keyVersion), templateUuid, Buffer.from(secret.sealed, 'base64'));
  }

  private dataKey(purpose: SealPurpose, version: number): Buffer {
    let key = this.dataKeys.get(`${purpose}:${version}`);
    if (!key) {
      const master = this.ring.get(version);
      key = deriveDataKey(master, purpose);
      master.fill(0);
      this.dataKeys.set(`${purpose}:${version}`, key);
    }
    return key;
  }
}

/** A vault over a random one-version ring, for tools that open a store but seal nothing they keep (benchmarks, tests). */
export function throwawayVault(): KeyRingVault {
  return new KeyRingVault(new KeyRing(new Map([[1, randomBytes(32)]])));
}
