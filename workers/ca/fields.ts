// Values every CA structure carries: serial numbers (RFC 5280 4.1.2.2) and times (4.1.2.5).
import crypto from 'node:crypto';
import type BN from 'bn.js';
import { invalid } from './errors.js';

/**
 * A certificate serial as lower-case hex of the integer's magnitude, even length, without a
 * sign byte: the form stored and compared everywhere (SPEC 5.7). Without input: 16 random
 * bytes, high bit cleared so the INTEGER is positive, first byte non-zero so the encoding is
 * minimal and every generated serial is 32 hex digits.
 */
export function normalizeSerialHex(serialHex?: string): string {
  if (serialHex === undefined) {
    for (;;) {
      const b = randomSerialBytes();
      b[0]! &= 0x7f;
      if (b[0] !== 0) return b.toString('hex');
    }
  }
  if (typeof serialHex !== 'string' || !/^[0-9a-fA-F]+$/.test(serialHex)) throw invalid('serial number must be hex');
  let hex = serialHex.toLowerCase().replace(/^0+/, '');
  if (hex.length === 0) throw invalid('serial number must be positive');
  if (hex.length % 2) hex = `0${hex}`;
  // At most 20 octets, counting the sign byte a high first bit needs.
  const octets = hex.length / 2 + (parseInt(hex.slice(0, 2), 16) & 0x80 ? 1 : 0);
  if (octets > 20) throw invalid('serial number is longer than 20 octets');
  return hex;
}

/**
 * A non-negative integer as asn1.js encodes an INTEGER from bytes: big-endian two's complement,
 * so a 00 byte in front of a magnitude whose high bit is set. (asn1.js turns a BN into bytes
 * about five times slower than this.)
 */
export function positiveInteger(magnitude: Buffer): Buffer {
  return magnitude.length && magnitude[0]! & 0x80 ? Buffer.concat([Buffer.alloc(1), magnitude]) : magnitude;
}

/** The magnitude of a decoded INTEGER (asn1.js reads every INTEGER as unsigned) as bytes. */
export function magnitudeOf(value: BN): Buffer {
  const hex = value.toString(16);
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
}

/** A non-negative safe integer as an INTEGER value (asn1.js encodes JS numbers with 32-bit shifts). */
export function safeInteger(n: number): Buffer {
  const hex = n.toString(16);
  return positiveInteger(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex'));
}

/** A normalised serial as the INTEGER value the schemas encode (always positive). */
export const serialInteger = (serialHex: string): Buffer => positiveInteger(Buffer.from(serialHex, 'hex'));

/** A decoded INTEGER's magnitude as the normalised serial hex. */
export const serialHexOf = (value: BN): string => magnitudeOf(value).toString('hex');

// Serials draw 16 bytes each from a block of the CSPRNG: one randomBytes call per 256 serials
// instead of one per certificate (a call costs about as much as the rest of the serial's work).
const RANDOM_BLOCK = 4096;
let randomBlock = Buffer.alloc(0);
let randomOffset = 0;

function randomSerialBytes(): Buffer {
  if (randomOffset + 16 > randomBlock.length) {
    randomBlock = crypto.randomBytes(RANDOM_BLOCK);
    randomOffset = 0;
  }
  const bytes = Buffer.from(randomBlock.subarray(randomOffset, randomOffset + 16));
  randomBlock.fill(0, randomOffset, randomOffset + 16);
  randomOffset += 16;
  return bytes;
}

/** rfc5280.Time's value: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
export function x509Time(date: Date): { type: 'utcTime' | 'genTime'; value: number } {
  const y = date.getUTCFullYear();
  if (y >= 1950 && y < 2050) return { type: 'utcTime', value: date.getTime() };
  if (y < 1000 || y > 9999) throw invalid('date is out of range');
  return { type: 'genTime', value: date.getTime() };
}

/** Whole seconds: what a certificate can hold, so the returned times match the DER exactly. */
export const wholeSeconds = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);

/** ISO 8601 UTC without milliseconds, like the service's other timestamps (SPEC 2). */
export const isoSeconds = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function toDate(value: Date | string | number, what: string): Date {
  const d = value instanceof Date ? new Date(value.getTime()) : new Date(value);
  if (Number.isNaN(d.getTime())) throw invalid(`${what} is not a valid date`);
  return d;
}
