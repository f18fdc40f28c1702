// A throwaway SoftHSM2 token for a test file: its own folder and SOFTHSM2_CONF, removed on
// teardown. SoftHSM2 reads SOFTHSM2_CONF and finds its tokens when the library is first
// initialised in the process, so a test file sets up one SoftHSM folder (see softHsm below) and
// creates all its tokens before it opens any.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pkcs11Token, type TokenConfig } from '../../workers/crypto/pkcs11-token.js';

export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const TOKEN_PIN = '1234';
const SO_PIN = '12345678';

/** Whether SoftHSM2 and OpenSC are installed (.ci/run installs them). */
export function softHsmInstalled(): boolean {
  return existsSync(SOFTHSM_MODULE) && existsSync('/usr/bin/softhsm2-util') && existsSync('/usr/bin/pkcs11-tool');
}

export interface SoftHsm {
  dir: string;
  /** The SOFTHSM2_CONF of this folder (also set in this process's environment). */
  conf: string;
  /** A new, empty token; returns where it is. */
  createToken(label: string): TokenConfig;
  /** Environment variables that point a child process at this folder and a token. */
  env(token: TokenConfig): Record<string, string>;
  remove(): void;
}

/** A SoftHSM2 folder for this process; pass `t` to remove it when the test ends. */
export function softHsm(t?: { teardown(fn: () => void): void }): SoftHsm {
  const dir = mkdtempSync(join(tmpdir(), 'cm-softhsm-'));
  const tokens = join(dir, 'tokens');
  mkdirSync(tokens, { mode: 0o700 });
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${tokens}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  const hsm: SoftHsm = {
    dir,
    conf,
    createToken(label) {
      execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', SO_PIN, '--pin', TOKEN_PIN], {
        env: { ...process.env, SOFTHSM2_CONF: conf },
        stdio: 'ignore',
      });
      return { module: SOFTHSM_MODULE, tokenLabel: label, pin: TOKEN_PIN };
    },
    env(token) {
      return { SOFTHSM2_CONF: conf, CM_PKCS11_MODULE: token.module, CM_PKCS11_TOKEN_LABEL: token.tokenLabel, CM_PKCS11_PIN: token.pin };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  t?.teardown(() => hsm.remove());
  return hsm;
}

/** Imports `1:<hex>,2:<hex>` master keys onto the token as cm-master-v<N> (as an operator would). */
export function importMasterKeys(token: TokenConfig, keys: Record<number, string>): void {
  const session = Pkcs11Token.open(token);
  try {
    for (const [version, hex] of Object.entries(keys)) session.importHmacKey(`cm-master-v${version}`, Buffer.from(hex, 'hex'));
  } finally {
    session.close();
  }
}
