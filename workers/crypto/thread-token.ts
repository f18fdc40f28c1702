// This thread's session with the token (SPEC 13), opened on first use. Pool threads find the
// token's settings in piscina's workerData; the core's main thread (which also runs the inline
// crypto mode) hands over the token it opened at start-up. One session per thread, used by one
// synchronous call at a time.
import { workerData } from 'piscina';
import { CryptoError } from './admin-key.js';
import { Pkcs11Token, shareTokenSessionEpoch, type TokenConfig } from './pkcs11-token.js';

/** What a pool thread is given: the token's settings, when keys are on a token. */
export interface CryptoWorkerData {
  pkcs11?: TokenConfig;
  /** The main thread's session epoch (see pkcs11-token.ts). */
  tokenSessionEpoch?: Int32Array;
}

let token: Pkcs11Token | undefined;

export function useThreadToken(opened: Pkcs11Token): void {
  token = opened;
}

export function threadToken(): Pkcs11Token {
  if (token) return token;
  const data = workerData as CryptoWorkerData | undefined;
  const config = data?.pkcs11;
  if (!config) throw new CryptoError('INTERNAL', 'a job names a token key but no token is configured');
  if (data.tokenSessionEpoch) shareTokenSessionEpoch(data.tokenSessionEpoch);
  try {
    token = Pkcs11Token.open(config);
  } catch (err) {
    throw new CryptoError('UNAVAILABLE', `the token cannot be opened: ${(err as Error).message}`);
  }
  return token;
}
