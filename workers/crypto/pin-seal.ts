// Encryption of stored server-distributed PINs (SPEC section 8): AES-256-GCM under a data key
// derived from a master key, bound to the card so a sealed PIN cannot be replayed for another.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CryptoError, guidToBytes, wipe } from './admin-key.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
/** The label of the key ring's data key that seals PINs (MasterKeyRing.dataKey). */
export const PIN_DATA_KEY_LABEL = 'MIMCM-PIN-SEAL';
/** The label of the key ring's data key that seals templates' default admin keys (issue 9). */
export const ADMIN_KEY_DATA_KEY_LABEL = 'MIMCM-ADMINKEY-SEAL';
// The HKDF info of the data key PINs were sealed under before keys could live on a token.
const LEGACY_PIN_DATA_KEY_INFO = 'MIMCM-PIN-SEAL';

function assertKeyLength(key: Uint8Array, what: string): void {
  if (key.length !== KEY_BYTES) throw new CryptoError('INVALID_KEY', `${what} must be ${KEY_BYTES} bytes`);
}

/**
 * The legacy PIN data key (HKDF-SHA256, empty salt), which needs the master key's bytes; the
 * key ring's dataKey replaced it, and it remains to open what was sealed under it.
 */
export function derivePinDataKey(masterKey32: Uint8Array): Buffer {
  assertKeyLength(masterKey32, 'a master key');
  return Buffer.from(hkdfSync('sha256', masterKey32, Buffer.alloc(0), LEGACY_PIN_DATA_KEY_INFO, KEY_BYTES));
}

/** nonce (12) || ciphertext || tag (16). A fresh random nonce per seal. Any text (a PIN, a key's hex) bound to a GUID. */
export function sealPin(dataKey: Uint8Array, cardUuid: string, pin: string): Buffer {
  assertKeyLength(dataKey, 'a PIN data key');
  // The card's 16 GUID bytes rather than its text, so case and braces cannot change the binding.
  const aad = guidToBytes(cardUuid);
  const nonce = randomBytes(NONCE_BYTES);
  const plain = Buffer.from(pin, 'utf8');
  const cipher = createCipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const sealed = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  wipe(plain);
  return sealed;
}

export function openPin(dataKey: Uint8Array, cardUuid: string, sealed: Uint8Array): string {
  assertKeyLength(dataKey, 'a PIN data key');
  const aad = guidToBytes(cardUuid);
  if (sealed.length < NONCE_BYTES + TAG_BYTES) {
    throw new CryptoError('SEAL_INVALID', 'the sealed PIN is too short');
  }
  const nonce = sealed.subarray(0, NONCE_BYTES);
  const body = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', dataKey, nonce, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  // GCM hands out plaintext before the tag is checked: it is used only once final() passes.
  const plain = decipher.update(body);
  try {
    decipher.final();
  } catch {
    wipe(plain);
    // OpenSSL's reason adds nothing for the caller; all that matters is that it did not verify.
    throw new CryptoError('SEAL_INVALID', 'the sealed PIN does not verify for this card and key');
  }
  const pin = plain.toString('utf8');
  wipe(plain);
  return pin;
}
