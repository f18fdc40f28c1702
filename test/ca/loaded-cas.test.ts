// Pool jobs name their CA by id: a thread without the CA answers CA_NOT_LOADED, loads it from a
// job that carries the material, and signs with its own copy from then on. Through the pool
// (two threads) and inline, poolCertificateAuthority issues and signs CRLs as before.
import crypto from 'node:crypto';
import t from 'tap';
import { poolCertificateAuthority } from '../../core/ca/authority.js';
import { createSelfSignedCa, validateCa } from '../../core/ca/ca-store.js';
import { CryptoPool } from '../../core/crypto/pool.js';
import { certificateFacts } from '../../workers/ca/ca-certificate.js';
import type { IssueJob } from '../../workers/ca/jobs.js';
import { caIdOf } from '../../workers/ca/loaded-cas.js';
import { runBatch } from '../../workers/tasks.js';
import { readCrl } from '../support/crl.js';
import { subordinateCa } from './fixtures/ca.js';

/** A PKCS#10 request for a fresh RSA key, CN=`cn`, signed with SHA-256 (a few lines of DER). */
function csrFor(cn: string): string {
  const tlv = (tag: number, ...content: Buffer[]): Buffer => {
    const body = Buffer.concat(content);
    const len = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, body]);
  };
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const name = tlv(0x30, tlv(0x31, tlv(0x30, Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from(cn)))));
  const info = tlv(0x30, Buffer.from('020100', 'hex'), name, publicKey.export({ type: 'spki', format: 'der' }), Buffer.from('a000', 'hex'));
  const sigAlg = Buffer.from('300d06092a864886f70d01010b0500', 'hex');
  return tlv(0x30, info, sigAlg, tlv(0x03, Buffer.from([0]), crypto.sign('sha256', info, privateKey))).toString('base64');
}

const root = createSelfSignedCa({ commonName: 'Loaded Root CA' });
const sub = subordinateCa(root, 'CN=Loaded Issuing CA', 'rsa', { authorityKeyIdentifier: true });
const ca = validateCa(sub.certPem + root.certPem, sub.keyPem);
const template = { keyAlgorithmName: 'RSA', keySize: 2048, validityDays: 30, keyUsages: 3 };
const csr = csrFor('Jane');

const job = (over: Partial<IssueJob> = {}): IssueJob => ({
  caId: caIdOf(ca.certDer),
  csr,
  ...template,
  subjectDn: 'CN=Jane',
  upn: 'jane@contoso.com',
  publicUrl: 'https://cm.contoso.com',
  ...over,
});

t.test('a job names its CA by id; the material is needed once per thread', async (t) => {
  const [missing] = runBatch({ kind: 'issue', jobs: [job()] });
  t.same(missing, { ok: true, value: { caNotLoaded: true } }, 'no material, not loaded yet');

  const wrongId = runBatch({ kind: 'issue', jobs: [job({ caId: 'ab'.repeat(32), caCertPem: ca.certPem, caKeyPem: ca.keyPem })] })[0]!;
  t.same(wrongId, { ok: false, code: 'INTERNAL', message: 'the CA certificate does not match the CA id of the job' }, 'the material must match the id');

  const chainPem = sub.certPem + root.certPem;
  const [loaded] = runBatch({ kind: 'issue', jobs: [job({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, chainPem })] });
  t.ok(loaded?.ok && !('caNotLoaded' in loaded.value), 'issued with the material');

  const [again] = runBatch({ kind: 'issue', jobs: [job()] });
  if (!again?.ok || 'caNotLoaded' in again.value) throw new Error('expected a certificate');
  const facts = certificateFacts(again.value.der);
  t.equal(facts.issuerDn, 'CN=Loaded Issuing CA', 'then by id alone');
  t.equal(again.value.issuerDn, 'CN=Loaded Issuing CA');
  t.ok(new crypto.X509Certificate(again.value.der).verify(crypto.createPublicKey(ca.certPem)), 'signed by the CA');
  const p7 = Buffer.from(again.value.pkcs7Der);
  t.ok(p7.includes(ca.chainDer[0]!) && p7.includes(ca.chainDer[1]!), 'the PKCS#7 carries the chain the material named');

  const [crl] = runBatch({ kind: 'crl', jobs: [{ caId: caIdOf(ca.certDer), entriesJson: '[]', thisUpdate: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-02T00:00:00Z', crlNumber: 3 }] });
  t.ok(crl?.ok && crl.value instanceof Uint8Array, 'a CRL job by id alone');
});

for (const mode of ['pool', 'inline'] as const) {
  t.test(`poolCertificateAuthority (${mode}): each thread gets the CA once, results as before`, async (t) => {
    const fresh = createSelfSignedCa({ commonName: `Authority CA ${mode}` });
    const material = validateCa(fresh.certPem, fresh.keyPem);
    const pool = new CryptoPool({ threads: 2, mode });
    t.teardown(() => pool.close());
    // Count the jobs that carry the CA's key: the first batch each thread sees, and no other.
    let withMaterial = 0;
    const run = pool.run.bind(pool);
    pool.run = ((kind, job) => {
      if ('caKeyPem' in job && job.caKeyPem) withMaterial++;
      return run(kind, job);
    }) as typeof pool.run;
    const authority = poolCertificateAuthority({ ...material, created: false }, pool, 'https://cm.contoso.com');
    const csrs = Array.from({ length: 6 }, (_, i) => csrFor(`User ${i}`));
    for (let round = 0; round < 5; round++) {
      const issued = await Promise.all(csrs.map((c, i) => authority.issue({ csr: c, template: template as never, subjectDn: `CN=User ${i}`, upn: '' })));
      for (const [i, cert] of issued.entries()) {
        t.equal(cert.subjectDn, `CN=User ${i}`);
        t.ok(new crypto.X509Certificate(cert.der).verify(crypto.createPublicKey(fresh.certPem)), 'signed by the CA');
      }
    }
    t.ok(withMaterial >= csrs.length && withMaterial <= csrs.length * (mode === 'pool' ? 2 : 1), `the material went with ${withMaterial} jobs of ${csrs.length * 5}`);
    const crl = await authority.signCrl({ entries: [{ serialHex: '0a', revokedAt: '2026-01-01T00:00:00Z', reason: 6 }], crlNumber: 1, now: new Date() });
    const read = readCrl(crl, crypto.createPublicKey(fresh.certPem));
    t.ok(read.signatureValid);
    t.same(read.entries.map((e) => e.serialHex), ['0a']);
  });
}
