// GUID and hex handling of SPEC section 2: lower-case 8-4-4-4-12 out; upper case and braces in.

import { createHash, randomFillSync } from 'node:crypto';
import { isBase64, parseGuid } from '../../common/formats.js';
import { invalidArgument } from '../errors.js';

export { parseGuid };

export function requireGuid(text: string, what: string): string {
  const guid = parseGuid(text);
  if (!guid) throw invalidArgument(`${what} must be a GUID.`);
  return guid;
}

// New ids are UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix milliseconds, then 74 random bits.
// Still a GUID to every client, but time-ordered, so each new request, card and audit row lands at
// the right-hand edge of the primary-key and foreign-key indexes instead of on a random page of
// them (with a million cards, random v4 ids made every bind dirty pages all over the file).
// The 12 bits after the version are a counter within one millisecond (RFC 9562 method 1), so the
// ids of one process only ever go up.
let lastMs = 0;
let sequence = 0;
const entropy = Buffer.alloc(8 * 256);
let entropyAt = entropy.length;

export function newUuid(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    // 4,096 ids in one millisecond: borrow the next millisecond rather than go backwards.
    lastMs++;
    sequence = 0;
  }
  ms = lastMs;
  if (entropyAt === entropy.length) {
    randomFillSync(entropy);
    entropyAt = 0;
  }
  const random = entropy.subarray(entropyAt, (entropyAt += 8));
  random[0] = (random[0]! & 0x3f) | 0x80; // the RFC 9562 variant
  const hex = ms.toString(16).padStart(12, '0') + (0x7000 | sequence).toString(16) + random.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const HEX = /^(?:[0-9a-fA-F]{2})+$/;

export function requireHex(text: string, what: string, minBytes: number, maxBytes: number): string {
  if (!HEX.test(text) || text.length / 2 < minBytes || text.length / 2 > maxBytes) {
    throw invalidArgument(`${what} must be ${minBytes} to ${maxBytes} bytes of hex.`);
  }
  return text.toLowerCase();
}

/** A cardid as sent (a GUID) -> its 32 hex digits in RFC 4122 order. */
export function cardIdHex(guid: string): string {
  return guid.replace(/-/g, '');
}

/** 32 hex digits -> the cardid GUID form. */
export function cardIdGuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const URL_NAMESPACE = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');

/** RFC 4122 UUIDv5 of `name` in the URL namespace: how a non-GUID `sub` becomes a user GUID. */
export function uuidV5FromUrl(name: string): string {
  const hash = createHash('sha1').update(URL_NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return cardIdGuid(hex);
}

/** Standard base64, padding optional. */
export function requireBase64(text: string, what: string): Buffer {
  if (!isBase64(text)) throw invalidArgument(`${what} must be base64.`);
  return Buffer.from(text, 'base64');
}
