// The master key ring of SPEC sections 8 and 11: versioned 32-byte keys from which card admin
// keys and the PIN data key are derived. Error messages name entries by position or version,
// never by content, because a malformed entry may still be mostly key material.
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { inspect } from 'node:util';
import type { ErrorCode } from '../errors.js';
import { kbkdfHmacSha256 } from '../../workers/crypto/admin-key.js';
import { derivePinDataKey } from '../../workers/crypto/pin-seal.js';

/** Rows of the core's error table (core/errors.ts). */
export type KeyRingErrorCode = Extract<ErrorCode, 'KEY_RING_INVALID' | 'KEY_VERSION_MISSING'>;

export class KeyRingError extends Error {
  readonly code: KeyRingErrorCode;
  constructor(code: KeyRingErrorCode, message: string) {
    super(message);
    this.name = 'KeyRingError';
    this.code = code;
  }
}

const KEY_BYTES = 32;
// Versions are stored in card records as a database integer.
const MAX_VERSION = 2 ** 31 - 1;

/** SPEC 12: a key check value is the first 8 bytes of HMAC-SHA256(master key, "MIMCM-KCV"). */
const KCV_MESSAGE = Buffer.from('MIMCM-KCV', 'ascii');
const KCV_BYTES = 8;

/**
 * Where a pool job finds a card's master key: its bytes (a key ring file), or the label of the
 * token key the worker thread HMACs with on its own session (SPEC 13).
 */
export type CardKeySource = { master: Uint8Array } | { tokenKey: string };

/**
 * What the service may do with the master key of each version. Everything is an HMAC-SHA256
 * under that key, so a token that never lets the key out can answer all of it.
 */
export interface MasterKeyRing {
  readonly newestVersion: number;
  /** Ascending. */
  versions(): number[];
  has(version: number): boolean;
  hmac(version: number, data: Uint8Array): Buffer;
  /** SPEC 12's key check value of one version: shows which key it is without revealing it. */
  keyCheckValue(version: number): Buffer;
  /**
   * A 32-byte data key for one purpose (sealing PINs, template admin keys): the SP 800-108
   * counter-mode KDF of SPEC 8 with `label` and no context, so it runs on a token too.
   */
  dataKey(version: number, label: string): Buffer;
  /**
   * The PIN data key as derived before keys could live on a token (HKDF-SHA256 of the master's
   * bytes), to open PINs sealed then; undefined where the bytes cannot be read (a token).
   */
  legacyPinDataKey(version: number): Buffer | undefined;
  cardKeySource(version: number): CardKeySource;
  /** Releases what the ring holds (key bytes wiped, sessions closed); unusable afterwards. */
  destroy(): void;
}

/** The parts every key ring shares: all derivations are HMACs under a version's key. */
export abstract class HmacKeyRing implements MasterKeyRing {
  abstract readonly newestVersion: number;
  abstract versions(): number[];
  abstract hmac(version: number, data: Uint8Array): Buffer;
  abstract legacyPinDataKey(version: number): Buffer | undefined;
  abstract cardKeySource(version: number): CardKeySource;
  abstract destroy(): void;

  has(version: number): boolean {
    return this.versions().includes(version);
  }

  protected missing(version: number): KeyRingError {
    return new KeyRingError('KEY_VERSION_MISSING', `the key ring has no key version ${version}`);
  }

  keyCheckValue(version: number): Buffer {
    return this.hmac(version, KCV_MESSAGE).subarray(0, KCV_BYTES);
  }

  dataKey(version: number, label: string): Buffer {
    if (!this.has(version)) throw this.missing(version);
    return kbkdfHmacSha256((data) => this.hmac(version, data), label, Buffer.alloc(0), KEY_BYTES * 8);
  }

  // The ring travels through config objects that get logged or serialised; only the shape shows.
  toJSON(): { versions: number[]; newestVersion: number } {
    return { versions: this.versions(), newestVersion: this.newestVersion };
  }

  [inspect.custom](): string {
    return `${this.constructor.name} { versions: [${this.versions().join(', ')}], newestVersion: ${this.newestVersion} }`;
  }

  toString(): string {
    return this[inspect.custom]();
  }
}

/** A key ring whose keys are in this process's memory (CM_MASTER_KEYS, a file, the embedded default). */
export class KeyRing extends HmacKeyRing {
  readonly #keys: ReadonlyMap<number, Buffer>;
  readonly newestVersion: number;

  /** Copies the keys in; prefer parseKeyRing. */
  constructor(keys: ReadonlyMap<number, Uint8Array>) {
    super();
    if (keys.size === 0) throw new KeyRingError('KEY_RING_INVALID', 'the key ring holds no keys');
    const own = new Map<number, Buffer>();
    for (const [version, key] of keys) {
      if (!Number.isInteger(version) || version < 1 || version > MAX_VERSION) {
        throw new KeyRingError('KEY_RING_INVALID', `key version ${version} is not a positive integer`);
      }
      if (key.length !== KEY_BYTES) {
        throw new KeyRingError('KEY_RING_INVALID', `key version ${version} is not ${KEY_BYTES} bytes`);
      }
      own.set(version, Buffer.from(key));
    }
    this.#keys = own;
    this.newestVersion = Math.max(...own.keys());
  }

  versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  override has(version: number): boolean {
    return this.#keys.has(version);
  }

  #key(version: number): Buffer {
    const key = this.#keys.get(version);
    if (!key) throw this.missing(version);
    return key;
  }

  /** A fresh copy, so the caller may wipe it when done without harming the ring. */
  get(version: number): Buffer {
    return Buffer.from(this.#key(version));
  }

  hmac(version: number, data: Uint8Array): Buffer {
    return createHmac('sha256', this.#key(version)).update(data).digest();
  }

  legacyPinDataKey(version: number): Buffer {
    return derivePinDataKey(this.#key(version));
  }

  /** The ring's own bytes: a pool job copies them in, and the worker wipes its copy. */
  cardKeySource(version: number): CardKeySource {
    return { master: this.#key(version) };
  }

  /** Clears the key material; the ring is unusable afterwards. */
  destroy(): void {
    for (const key of this.#keys.values()) key.fill(0);
  }
}

/**
 * Parses `"1:<64 hex>,2:<64 hex>"`. Entries may be separated by commas and/or any whitespace
 * (a file holds one per line); `#` starts a comment to the end of the line.
 */
export function parseKeyRing(text: string): KeyRing {
  const entries = text
    .replace(/#[^\n]*/g, '')
    .split(/[\s,]+/)
    .filter((e) => e !== '');
  if (entries.length === 0) throw new KeyRingError('KEY_RING_INVALID', 'the key ring holds no keys');

  const keys = new Map<number, Buffer>();
  try {
    entries.forEach((entry, i) => {
      const [version, key] = parseEntry(entry, i + 1);
      if (keys.has(version)) {
        key.fill(0);
        throw new KeyRingError('KEY_RING_INVALID', `key version ${version} appears more than once`);
      }
      keys.set(version, key);
    });
    return new KeyRing(keys);
  } finally {
    for (const key of keys.values()) key.fill(0);
  }
}

function parseEntry(entry: string, position: number): [number, Buffer] {
  const colon = entry.indexOf(':');
  if (colon < 0) {
    throw new KeyRingError('KEY_RING_INVALID', `key ring entry ${position} is not <version>:<64 hex digits>`);
  }
  const versionText = entry.slice(0, colon);
  const hex = entry.slice(colon + 1);
  if (!/^\d{1,10}$/.test(versionText) || Number(versionText) < 1 || Number(versionText) > MAX_VERSION) {
    throw new KeyRingError(
      'KEY_RING_INVALID',
      `key ring entry ${position}: the version must be an integer from 1 to ${MAX_VERSION}`,
    );
  }
  const version = Number(versionText);
  if (!/^[0-9a-fA-F]*$/.test(hex)) {
    throw new KeyRingError('KEY_RING_INVALID', `key version ${version}: the key must be hex digits only`);
  }
  if (hex.length !== KEY_BYTES * 2) {
    throw new KeyRingError(
      'KEY_RING_INVALID',
      `key version ${version}: the key must be exactly ${KEY_BYTES * 2} hex digits, found ${hex.length}`,
    );
  }
  return [version, Buffer.from(hex, 'hex')];
}

/** A new ring of one key (version 1), as text ready for a file or CM_MASTER_KEYS. */
export function generateKeyRingText(): string {
  const key = randomBytes(KEY_BYTES);
  const text = `# master key ring: <version>:<64 hex digits> per line; the highest version is used for new cards\n1:${key.toString('hex')}\n`;
  key.fill(0);
  return text;
}

/** The file's text, or undefined when it does not exist. */
function readKeyRingText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new KeyRingError('KEY_RING_INVALID', `cannot read the key ring file ${path}: ${code ?? 'unknown error'}`);
  }
}

/** For CM_MASTER_KEYS_FILE: the file must exist. */
export function loadKeyRingFile(path: string): KeyRing {
  const text = readKeyRingText(path);
  if (text === undefined) throw new KeyRingError('KEY_RING_INVALID', `the key ring file ${path} does not exist`);
  return parseKeyRing(text);
}

/**
 * The embedded default: reads the ring at `path`, or creates one there (mode 0600) on first start.
 * The new file is written under a temporary name and hard-linked into place, so a crash never
 * leaves a half-written ring and two processes starting together end up with the same keys.
 */
export function loadOrCreateKeyRingFile(path: string): KeyRing {
  const existing = readKeyRingText(path);
  if (existing !== undefined) return parseKeyRing(existing);

  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, generateKeyRingText());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } catch (err) {
    // EEXIST: another process created it first, and its ring wins.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(temp);
  }
  return loadKeyRingFile(path);
}

/**
 * `cm-admin keyring add`: appends a new key, one version above the newest, to the ring file.
 * The file is rewritten under a temporary name (mode 0600, synced) and renamed into place, so a
 * crash leaves the old ring or the new one, never half of it; a lock file keeps two additions
 * from both taking the same version. Returns the new version; the key itself never leaves here.
 */
export function addKeyToRingFile(path: string): number {
  const lock = `${path}.lock`;
  let lockFd: number;
  try {
    lockFd = openSync(lock, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new KeyRingError('KEY_RING_INVALID', `${lock} exists: another key is being added (remove it if no cm-admin is running)`);
    }
    throw new KeyRingError('KEY_RING_INVALID', `cannot lock the key ring file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const text = readKeyRingText(path);
    if (text === undefined) throw new KeyRingError('KEY_RING_INVALID', `the key ring file ${path} does not exist`);
    const ring = parseKeyRing(text);
    const version = ring.newestVersion + 1;
    ring.destroy();
    if (version > MAX_VERSION) throw new KeyRingError('KEY_RING_INVALID', `the key ring already holds version ${MAX_VERSION}`);
    const key = randomBytes(KEY_BYTES);
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${text.replace(/\n?$/, '\n')}${version}:${key.toString('hex')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      key.fill(0);
    }
    renameSync(temp, path);
    return version;
  } finally {
    closeSync(lockFd);
    unlinkSync(lock);
  }
}
