import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import forge from 'node-forge';
import { EMBEDDED_CA_COMMON_NAME, createSelfSignedCa, loadOrCreateCa, validateCa } from '../../core/ca/ca-store.js';
import { certificateFacts } from '../../workers/ca/ca-certificate.js';
import { issueCertificate } from '../../workers/ca/certificate.js';
import { subjectKeyIdentifier } from '../../workers/ca/keys.js';
import { toPem } from '../../workers/ca/pem.js';
import { asn1, hasOpenssl, pemToDer, subordinateCa, tempDir } from './fixtures/ca.js';

const tmp = tempDir(t, 'ca-store-');
const write = (name: string, content: string | Buffer): string => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, content);
  return file;
};
const mode = (file: string): number => fs.statSync(file).mode & 0o777;

t.test('embedded default: created on first start, then reloaded', async (t) => {
  const dir = path.join(tmp, 'data', 'nested');
  const ca = await loadOrCreateCa({ dir });
  t.equal(ca.created, true);
  t.equal(ca.certPath, path.join(dir, 'ca.crt'));
  t.equal(ca.keyPath, path.join(dir, 'ca.key'));
  t.equal(mode(ca.keyPath), 0o600, 'key file 0600');
  t.equal(mode(ca.certPath), 0o644, 'certificate file 0644');
  t.equal(fs.readdirSync(dir).sort().join(','), 'ca.crt,ca.key', 'no temporary files left behind');
  t.equal(ca.subjectDn, `CN=${EMBEDDED_CA_COMMON_NAME}`);
  t.equal(ca.keyAlgorithm, 'RSA');
  t.equal(ca.keySize, 2048);
  t.equal(ca.chainDer.length, 1);
  t.ok(ca.certDer.equals(ca.chainDer[0]));
  t.equal(ca.certPem, fs.readFileSync(ca.certPath, 'utf8'));
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);

  const x = new crypto.X509Certificate(ca.certDer);
  t.ok(x.ca, 'basicConstraints CA:TRUE');
  t.ok(x.verify(x.publicKey), 'self-signed, signature verifies');
  t.ok(x.checkIssued(x));
  t.equal(x.subject, `CN=${EMBEDDED_CA_COMMON_NAME}`);
  t.equal(x.serialNumber.toLowerCase(), ca.serialHex);
  const years = (new Date(x.validTo).getTime() - Date.now()) / (365.25 * 86_400_000);
  t.ok(years > 9.9 && years < 10.1, `valid 10 years (${years.toFixed(2)})`);
  const facts = certificateFacts(ca.certDer);
  t.same(facts.extensions.get('2.5.29.19'), { critical: true, value: Buffer.from('30030101ff', 'hex') });
  t.same(facts.extensions.get('2.5.29.15'), { critical: true, value: Buffer.from('03020106', 'hex') }, 'keyCertSign + cRLSign');
  t.ok(facts.extensions.get('2.5.29.14')?.value.subarray(2).equals(subjectKeyIdentifier(x.publicKey.export({ type: 'spki', format: 'der' }))));
  t.equal(ca.thumbprintHex, crypto.createHash('sha1').update(ca.certDer).digest('hex'));

  const again = await loadOrCreateCa({ dir });
  t.equal(again.created, false);
  t.equal(again.certPem, ca.certPem);
  t.equal(again.keyPem, ca.keyPem);
  t.equal(again.thumbprintHex, ca.thumbprintHex);

  // It signs what it should.
  const leaf = issueCertificate({
    caCertPem: again.certPem,
    caKeyPem: again.keyPem,
    chainDer: again.chainDer,
    spkiDer: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }),
    subjectDn: 'CN=x',
    validityDays: 1,
    keyUsages: 2,
    publicUrl: 'http://127.0.0.1:8080',
  });
  t.ok(new crypto.X509Certificate(leaf.der).verify(x.publicKey));
});

t.test('two processes starting at once end up with one CA', async (t) => {
  const dir = path.join(tmp, 'race');
  const [a, b, c] = await Promise.all([loadOrCreateCa({ dir }), loadOrCreateCa({ dir }), loadOrCreateCa({ dir })]);
  t.equal(a.thumbprintHex, b.thumbprintHex);
  t.equal(b.thumbprintHex, c.thumbprintHex);
  t.equal([a, b, c].filter((m) => m.created).length, 1, 'exactly one created it');
  t.equal(fs.readdirSync(dir).sort().join(','), 'ca.crt,ca.key');
});

t.test('half a CA is never overwritten', async (t) => {
  const dir = path.join(tmp, 'half');
  const ca = await loadOrCreateCa({ dir });
  fs.rmSync(ca.certPath);
  await t.rejects(loadOrCreateCa({ dir, settleMs: 200 }), {
    code: 'CA_CONFIG_INVALID',
    message: /found .*ca\.key but not .*ca\.crt; restore it/,
  });
  t.equal(fs.readFileSync(ca.keyPath, 'utf8').length > 0, true, 'key kept');
});

t.test('CM_CA_CERT / CM_CA_KEY with a chain: root and issuing CA', async (t) => {
  const root = createSelfSignedCa({ commonName: 'Contoso Root CA' });
  const issuing = subordinateCa(root, 'CN=Contoso Issuing CA 1,O=Contoso,C=SE', 'rsa', { keyEncoding: 'pkcs1' });
  const certPath = write('chain.pem', issuing.certPem + '\n' + root.certPem);
  const keyPath = write('issuing.key', issuing.keyPem);
  const ca = await loadOrCreateCa({ certPath, keyPath });
  t.equal(ca.created, false);
  t.equal(ca.chainDer.length, 2);
  t.ok(ca.chainDer[0].equals(pemToDer(issuing.certPem)), 'issuing CA first');
  t.ok(ca.chainDer[1].equals(pemToDer(root.certPem)), 'then the root');
  t.equal(ca.certPem, issuing.certPem, 'certPem is the issuing CA alone');
  t.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/, 'a PKCS#1 key comes back as PKCS#8');
  t.equal(ca.subjectDn, 'CN=Contoso Issuing CA 1,O=Contoso,C=SE');
  t.equal(ca.keyAlgorithm, 'RSA');

  // What it issues carries the whole chain.
  const leaf = issueCertificate({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    chainDer: ca.chainDer,
    spkiDer: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }),
    subjectDn: 'CN=Jane',
    validityDays: 10,
    keyUsages: 3,
    publicUrl: 'http://cm.contoso.com',
  });
  const p7 = forge.pkcs7.messageFromAsn1(asn1.fromDer(leaf.pkcs7Der.toString('latin1'))) as forge.pkcs7.PkcsSignedData;
  t.equal(p7.certificates.length, 3);
  t.equal(leaf.issuerDn, ca.subjectDn);
});

t.test('EC P-256 CA key (SEC1 PEM) under an RSA root', async (t) => {
  const root = createSelfSignedCa({ commonName: 'Contoso Root CA' });
  const issuing = subordinateCa(root, 'CN=Contoso EC CA', 'ec', { keyEncoding: 'sec1' });
  t.match(issuing.keyPem, /BEGIN EC PRIVATE KEY/);
  const ca = await loadOrCreateCa({ certPath: write('ec-chain.pem', issuing.certPem + root.certPem), keyPath: write('ec.key', issuing.keyPem) });
  t.equal(ca.keyAlgorithm, 'ECDSA_P256');
  t.equal(ca.keySize, 256);
  t.equal(ca.chainDer.length, 2);
});

t.test('a single DER certificate and a DER PKCS#8 key are read too', async (t) => {
  const own = createSelfSignedCa();
  const keyDer = crypto.createPrivateKey(own.keyPem).export({ type: 'pkcs8', format: 'der' });
  const ca = await loadOrCreateCa({ certPath: write('own.der', pemToDer(own.certPem)), keyPath: write('own.key.der', keyDer) });
  t.equal(ca.chainDer.length, 1);
  t.equal(ca.certPem, own.certPem);
});

t.test('refusals, with clear messages and no key material', async (t) => {
  const root = createSelfSignedCa({ commonName: 'Contoso Root CA' });
  const issuing = subordinateCa(root, 'CN=Contoso Issuing CA', 'rsa');
  const other = createSelfSignedCa({ commonName: 'Somebody Else' });
  const keyBody = issuing.keyPem.split('\n')[5];

  const refuse = async (name: string, certContent: string | Buffer, keyContent: string | Buffer, message: RegExp): Promise<void> => {
    const certPath = write(`${name}.crt`, certContent);
    const keyPath = write(`${name}.key`, keyContent);
    const err = (await loadOrCreateCa({ certPath, keyPath }).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; message?: string } | undefined;
    t.equal(err?.code, 'CA_CONFIG_INVALID', `${name}: CA_CONFIG_INVALID`);
    t.match(err?.message ?? '', message, `${name}: ${err?.message}`);
    t.notMatch(err?.message ?? '', /PRIVATE KEY|MII/, `${name}: no key material`);
    t.notOk((err?.message ?? '').includes(keyBody), `${name}: no key material`);
  };

  await refuse('mismatch', issuing.certPem + root.certPem, other.keyPem, /does not match the first certificate .*Contoso Issuing CA/);
  await refuse('root-first', root.certPem + issuing.certPem, issuing.keyPem, /does not match/);
  await refuse('wrong-issuer', issuing.certPem + other.certPem, issuing.keyPem, /certificate #2 did not issue certificate #1/);
  await refuse('garbage-key', issuing.certPem, `-----BEGIN PRIVATE KEY-----\n${keyBody}\n-----END PRIVATE KEY-----\n`, /does not hold a readable private key/);
  await refuse('no-cert', 'hello', issuing.keyPem, /cannot be parsed/);
  await refuse('key-as-cert', issuing.keyPem, issuing.keyPem, /holds no "CERTIFICATE" PEM block/);
  const encrypted = crypto.createPrivateKey(issuing.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' });
  await refuse('encrypted', issuing.certPem, encrypted as string, /encrypted key/);

  // An end-entity certificate is not a CA.
  const leafKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const leaf = issueCertificate({
    caCertPem: root.certPem,
    caKeyPem: root.keyPem,
    chainDer: [],
    spkiDer: leafKey.publicKey.export({ type: 'spki', format: 'der' }),
    subjectDn: 'CN=Not A CA',
    validityDays: 10,
    keyUsages: 3,
    publicUrl: 'http://x',
  });
  await refuse('not-a-ca', toPem('CERTIFICATE', leaf.der), leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, /is not a CA certificate/);

  // A CA that may sign certificates but not CRLs cannot serve GET /crl.
  const noCrl = subordinateCa(root, 'CN=No CRL CA', 'rsa', { keyUsageBits: [5] });
  await refuse('no-crlsign', noCrl.certPem, noCrl.keyPem, /keyCertSign and cRLSign/);

  const expired = createSelfSignedCa({ now: new Date(Date.now() - 2 * 365 * 86_400_000), validityDays: 365 });
  await refuse('expired', expired.certPem, expired.keyPem, /expired on/);

  await t.rejects(loadOrCreateCa({ certPath: path.join(tmp, 'missing.crt'), keyPath: path.join(tmp, 'missing.key') }), {
    code: 'CA_CONFIG_INVALID',
    message: /cannot read the CA certificate .*missing\.crt \(ENOENT\)/,
  });
});

t.test('a CA key on an unsupported curve is refused', { skip: !hasOpenssl && 'openssl is not on PATH' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(tmp, 'p384-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', path.join(dir, 'k'), '-out', path.join(dir, 'c'), '-days', '5', '-subj', '/CN=P384 CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    { stdio: 'ignore' },
  );
  await t.rejects(loadOrCreateCa({ certPath: path.join(dir, 'c'), keyPath: path.join(dir, 'k') }), {
    code: 'CA_CONFIG_INVALID',
    message: /only P-256/,
  });
});

t.test('validateCa is pure and its result is structured-clone safe', async (t) => {
  const own = createSelfSignedCa();
  const v = validateCa(own.certPem, own.keyPem);
  const cloned = structuredClone(v);
  t.equal(cloned.certPem, v.certPem);
  t.same(Buffer.from(cloned.chainDer[0]), v.chainDer[0]);
});
