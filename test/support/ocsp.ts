// OCSP as relying parties do it, with OpenSSL's client: POST with a nonce and the signature
// checked against the CA, and an RFC 5019 GET whose request the test builds itself.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface OcspStatus {
  status: 'good' | 'revoked' | 'unknown';
  reason?: string;
  /** OpenSSL printed "Response verify OK" (signature, signer, nonce). */
  verified: boolean;
  nextUpdate?: Date;
  thisUpdate?: Date;
}

/** openssl's output, stdout and stderr together ("Response verify OK" goes to stderr). */
function run(args: string[]): string {
  const res = spawnSync('openssl', args, { encoding: 'utf8' });
  const text = `${res.stdout ?? ''}${res.stderr ?? ''}`;
  if (res.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${res.status}): ${text}`);
  return text;
}

/** run, without blocking the event loop: the service under test may be in this very process. */
function runAsync(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const text = `${stdout ?? ''}${stderr ?? ''}`;
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${err.message} ${text}`));
      else resolve(text);
    });
  });
}

function statusOf(text: string, name: string): OcspStatus {
  const verified = /^Response verify OK$/m.test(text);
  const line = new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (good|revoked|unknown)$`, 'm').exec(text);
  if (!line) throw new Error(`no status for ${name} in:\n${text}`);
  const reason = /^\s+Reason: (\w+)$/m.exec(text)?.[1];
  const thisUpdate = /^\s+This Update: (.+)$/m.exec(text)?.[1];
  const nextUpdate = /^\s+Next Update: (.+)$/m.exec(text)?.[1];
  return {
    status: line[1] as OcspStatus['status'],
    ...(reason ? { reason } : {}),
    verified,
    ...(thisUpdate ? { thisUpdate: new Date(thisUpdate) } : {}),
    ...(nextUpdate ? { nextUpdate: new Date(nextUpdate) } : {}),
  };
}

export class OcspClient {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocsp-'));
  readonly caFile = path.join(this.dir, 'ca.pem');
  private n = 0;

  constructor(
    private readonly baseUrl: string,
    caPem: string,
  ) {
    fs.writeFileSync(this.caFile, caPem);
  }

  /** `openssl ocsp` POST with a nonce, verifying the answer against the CA. */
  async post(certPem: string): Promise<OcspStatus> {
    const cert = this.file(certPem);
    const out = await runAsync(['ocsp', '-issuer', this.caFile, '-cert', cert, '-url', `${this.baseUrl}/ocsp`, '-CAfile', this.caFile, '-verify_other', this.caFile, '-nonce']);
    return statusOf(out, cert);
  }

  /** The same for a serial (hex) the CA never issued. */
  async postSerial(serialHex: string): Promise<OcspStatus> {
    const out = await runAsync(['ocsp', '-issuer', this.caFile, '-serial', `0x${serialHex}`, '-url', `${this.baseUrl}/ocsp`, '-CAfile', this.caFile, '-verify_other', this.caFile, '-nonce']);
    return statusOf(out, `0x${serialHex}`);
  }

  /** A request built for `certPem` (no nonce: RFC 5019 GETs are cacheable), DER. */
  request(certPem: string): Buffer {
    const out = path.join(this.dir, `req-${++this.n}.der`);
    run(['ocsp', '-issuer', this.caFile, '-cert', this.file(certPem), '-reqout', out, '-no_nonce']);
    return fs.readFileSync(out);
  }

  /** OpenSSL's reading of an answer (DER) about `certPem`, its signature checked. */
  read(answer: Buffer, certPem: string): OcspStatus {
    const resp = path.join(this.dir, `resp-${++this.n}.der`);
    fs.writeFileSync(resp, answer);
    const cert = this.file(certPem);
    const out = run(['ocsp', '-respin', resp, '-issuer', this.caFile, '-cert', cert, '-CAfile', this.caFile, '-verify_other', this.caFile, '-no_nonce']);
    return statusOf(out, cert);
  }

  close(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private file(pem: string): string {
    const file = path.join(this.dir, `cert-${++this.n}.pem`);
    fs.writeFileSync(file, pem);
    return file;
  }
}
