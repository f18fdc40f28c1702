// The CAs a thread signs for, parsed once per thread. A pool job names its CA by id (the SHA-256
// of the CA certificate's DER) and carries the CA's PEM material only when the thread answered
// that it does not have it yet: the material then crosses to each thread once instead of with
// every job, and nothing is parsed per job. The key stays in this thread's memory as a KeyObject
// for the life of the thread, as the CA's key does in the core's own.
import crypto from 'node:crypto';
import { signingCaFromPem, type SigningCa } from './ca-certificate.js';
import { configError } from './errors.js';
import { pemBlocks } from './pem.js';

/** What a job says about its CA: always the id; the material only on a second try. */
export interface CaReference {
  caId: string;
  caCertPem?: string;
  caKeyPem?: string;
  /** The issuing CA and its issuers, concatenated PEM. */
  chainPem?: string;
}

export interface LoadedCa {
  signing: SigningCa;
  /** The issuing CA's certificate and its issuers', DER: what a PKCS#7 carries beside a new certificate. */
  chainDer: Buffer[];
}

/** The reply of a job whose thread does not have the CA (and was not sent its material). */
export interface CaNotLoaded {
  caNotLoaded: true;
}

export const CA_NOT_LOADED: CaNotLoaded = Object.freeze({ caNotLoaded: true });

export function isCaNotLoaded(value: unknown): value is CaNotLoaded {
  return typeof value === 'object' && value !== null && (value as CaNotLoaded).caNotLoaded === true;
}

/** A CA's id: lower-case hex SHA-256 of its certificate's DER. */
export function caIdOf(certDer: Uint8Array): string {
  return crypto.createHash('sha256').update(certDer).digest('hex');
}

const LOADED = new Map<string, LoadedCa>();
// A service signs for one CA; a few more only in tests. Bounded all the same.
const MAX_LOADED = 8;

/** The CA the job names: this thread's copy, or loaded from the job's material; undefined when neither. */
export function loadedCa(ref: CaReference): LoadedCa | undefined {
  const hit = LOADED.get(ref.caId);
  if (hit) return hit;
  if (ref.caCertPem === undefined || ref.caKeyPem === undefined) return undefined;
  const signing = signingCaFromPem(ref.caCertPem, ref.caKeyPem);
  if (caIdOf(signing.cert.der) !== ref.caId) throw configError('the CA certificate does not match the CA id of the job');
  const chain = pemBlocks(ref.chainPem ?? '', ['CERTIFICATE']);
  const chainDer = chain.length && chain[0]!.equals(signing.cert.der) ? chain : [signing.cert.der, ...chain];
  if (LOADED.size >= MAX_LOADED) LOADED.delete(LOADED.keys().next().value as string);
  const loaded = { signing, chainDer };
  LOADED.set(ref.caId, loaded);
  return loaded;
}
