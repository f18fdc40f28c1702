// Server-proposed PINs (SPEC section 8): uniform over the character set, from the OS random
// source, with trivially guessable PINs drawn again.
import { randomBytes } from 'node:crypto';
import { CryptoError, wipe } from './admin-key.js';

/** SPEC section 4 PinCharacterSet: Numeric 0, Alphanumeric 1, AsciiPrintable 2. */
export type PinCharacterSet = 0 | 1 | 2;

export interface PinPolicy {
  length: number;
  characterSet: PinCharacterSet;
}

/** Draws `size` bytes from a cryptographic source. Injectable only so tests can steer draws. */
export type RandomSource = (size: number) => Uint8Array;

function range(from: number, to: number): string {
  let s = '';
  for (let c = from; c <= to; c++) s += String.fromCharCode(c);
  return s;
}

export const PIN_ALPHABETS: Readonly<Record<PinCharacterSet, string>> = {
  0: '0123456789',
  1: '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  2: range(0x21, 0x7e), // printable ASCII without the space
};

// A 1-character PIN is always "all characters equal" and could never be drawn; 127 is the
// largest MaxLength a template may set.
export const MIN_PIN_LENGTH = 2;
export const MAX_PIN_LENGTH = 127;

// Past a weak draw the chance of another is at most 28% (two numeric digits), so this many
// weak draws in a row means the random source is broken, not unlucky.
const MAX_ATTEMPTS = 1000;

/** True when every character is the same, or the codes form a straight run up or down by one. */
export function isWeakPin(pin: string): boolean {
  if (pin.length < 2) return true;
  const step = pin.charCodeAt(1) - pin.charCodeAt(0);
  if (step < -1 || step > 1) return false;
  for (let i = 2; i < pin.length; i++) {
    if (pin.charCodeAt(i) - pin.charCodeAt(i - 1) !== step) return false;
  }
  return true;
}

function alphabetOf(policy: PinPolicy): string {
  const { length, characterSet } = policy;
  if (!Number.isInteger(length) || length < MIN_PIN_LENGTH || length > MAX_PIN_LENGTH) {
    throw new CryptoError('INVALID_ARGUMENT', `PIN length must be ${MIN_PIN_LENGTH} to ${MAX_PIN_LENGTH}`);
  }
  if (!Object.hasOwn(PIN_ALPHABETS, characterSet)) {
    throw new CryptoError('INVALID_ARGUMENT', 'unknown PIN character set');
  }
  return PIN_ALPHABETS[characterSet];
}

/**
 * One uniform draw of `length` characters. Bytes at or above the largest multiple of the
 * alphabet size are rejected, so `byte % size` has no modulo bias.
 */
function drawOnce(alphabet: string, length: number, random: RandomSource): string {
  const size = alphabet.length;
  const limit = 256 - (256 % size);
  let pin = '';
  while (pin.length < length) {
    // Ask for enough bytes to finish in one go on average; rejected bytes make us loop.
    const want = Math.ceil(((length - pin.length) * 256) / limit) + 4;
    const bytes = random(want);
    if (bytes.length === 0) throw new CryptoError('INTERNAL', 'the random source returned no bytes');
    for (let i = 0; i < bytes.length && pin.length < length; i++) {
      if (bytes[i] < limit) pin += alphabet[bytes[i] % size];
    }
    wipe(bytes);
  }
  return pin;
}

export function generatePin(policy: PinPolicy, random: RandomSource = randomBytes): string {
  const alphabet = alphabetOf(policy);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pin = drawOnce(alphabet, policy.length, random);
    if (!isWeakPin(pin)) return pin;
  }
  throw new CryptoError('INTERNAL', 'the random source keeps producing weak PINs');
}
