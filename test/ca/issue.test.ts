import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import forge from 'node-forge';
import { createSelfSignedCa, validateCa } from '../../core/ca/ca-store.js';
import { certificateFacts } from '../../workers/ca/ca-certificate.js';
import { issueCertificate, publicBaseUrl, type IssueCertificateInput } from '../../workers/ca/certificate.js';
import { normalizeSerialHex } from '../../workers/ca/fields.js';
import { subjectKeyIdentifier } from '../../workers/ca/keys.js';
import { splitDistinguishedName } from '../../workers/ca/names.js';
import { asn1, hasOpenssl, pemToDer, subordinateCa, tempDir } from './fixtures/ca.js';

// An RSA root (self-signed, as the embedded default makes it) ...
const root = createSelfSignedCa({ commonName: 'Contoso Root CA' });
const rsaCa = validateCa(root.certPem, root.keyPem);
// ... and an EC issuing CA under it: a 3-certificate chain for what it issues.
const ecSub = subordinateCa(root, 'CN=Contoso EC Issuing CA,O=Contoso', 'ec', { authorityKeyIdentifier: true });
const ecCa = validateCa(ecSub.certPem + root.certPem, ecSub.keyPem);

const rsaSubject = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' });
const ecSubject = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

const input = (ca: typeof rsaCa, over: Partial<IssueCertificateInput> = {}): IssueCertificateInput => ({
  caCertPem: ca.certPem,
  caKeyPem: ca.keyPem,
  chainDer: ca.chainDer,
  spkiDer: rsaSubject,
  subjectDn: 'CN=Jane Doe,O=Contoso',
  validityDays: 365,
  keyUsages: 3,
  upn: 'jane.doe@contoso.com',
  publicUrl: 'https://cm.contoso.com/pki/',
  ...over,
});

/** The OCTET STRING contents of an extension of a certificate. */
const ext = (der: Buffer, oid: string): { critical: boolean; value: Buffer } | undefined => certificateFacts(der).extensions.get(oid);

/** DER read by forge.asn1: a reader independent of the one that wrote it. */
const fromDer = (der: Buffer): forge.asn1.Asn1 => asn1.fromDer(der.toString('latin1'));

/** The certificates inside a certs-only PKCS#7, read with forge.asn1 (works for EC too), in their order. */
function pkcs7Certificates(p7: Buffer): Buffer[] {
  const contentInfo = fromDer(p7);
  const [oid, explicit] = contentInfo.value as forge.asn1.Asn1[];
  if (asn1.derToOid(oid.value as string) !== '1.2.840.113549.1.7.2') throw new Error('not SignedData');
  const signedData = (explicit.value as forge.asn1.Asn1[])[0];
  const certs = (signedData.value as forge.asn1.Asn1[]).find((n) => n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 0);
  return ((certs?.value ?? []) as forge.asn1.Asn1[]).map((c) => Buffer.from(asn1.toDer(c).getBytes(), 'latin1'));
}

const cases = [
  { name: 'RSA subject, RSA CA', ca: rsaCa, spki: rsaSubject, keyUsages: 3, ku: '030205a0', chain: 2 },
  { name: 'EC subject, RSA CA', ca: rsaCa, spki: ecSubject, keyUsages: 3, ku: '03020388', chain: 2 },
  { name: 'RSA subject, EC issuing CA under an RSA root', ca: ecCa, spki: rsaSubject, keyUsages: 2, ku: '03020780', chain: 3 },
  { name: 'EC subject, EC issuing CA under an RSA root', ca: ecCa, spki: ecSubject, keyUsages: 5, ku: '03020308', chain: 3 },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const before = Date.now();
    const out = issueCertificate(input(c.ca, { spkiDer: c.spki, keyUsages: c.keyUsages }));
    const x = new crypto.X509Certificate(out.der);
    const caX = new crypto.X509Certificate(c.ca.certDer);
    t.ok(x.verify(caX.publicKey), 'signature verifies with the CA key');
    t.ok(x.checkIssued(caX), 'checkIssued');
    t.notOk(x.ca, 'not a CA');
    t.equal(x.subject, 'O=Contoso\nCN=Jane Doe');
    t.equal(out.subjectDn, 'CN=Jane Doe,O=Contoso');
    t.equal(x.issuer, caX.subject);
    t.equal(out.issuerDn, c.ca.subjectDn);
    t.equal(x.serialNumber.toLowerCase(), out.serialHex);
    t.match(out.serialHex, /^[0-7][0-9a-f]{31}$/, '16 random bytes, high bit clear');
    t.equal(out.thumbprintHex, crypto.createHash('sha1').update(out.der).digest('hex'));
    t.equal(x.fingerprint.replace(/:/g, '').toLowerCase(), out.thumbprintHex);
    t.ok(x.publicKey.export({ type: 'spki', format: 'der' }).equals(c.spki), 'the subject key is the request key');
    t.same(x.keyUsage, ['1.3.6.1.4.1.311.20.2.2', '1.3.6.1.5.5.7.3.2'], 'EKU: smart card logon, client auth');
    t.equal(x.infoAccess?.trim(), 'OCSP - URI:https://cm.contoso.com/pki/ocsp\nCA Issuers - URI:https://cm.contoso.com/pki/ca.crt');
    t.equal(x.subjectAltName, 'othername:UPN:jane.doe@contoso.com');

    const ku = ext(out.der, '2.5.29.15');
    t.equal(ku?.critical, true, 'keyUsage is critical');
    t.equal(ku?.value.toString('hex'), c.ku, 'keyUsage bits');
    t.ok(ext(out.der, '2.5.29.31')?.value.includes(Buffer.from('https://cm.contoso.com/pki/crl')), 'CRL distribution point');
    t.equal(ext(out.der, '2.5.29.19')?.value.toString('hex'), '3000', 'basicConstraints CA:false');
    t.ok(ext(out.der, '2.5.29.14')?.value.subarray(2).equals(subjectKeyIdentifier(c.spki)), 'subjectKeyIdentifier');
    t.ok(
      ext(out.der, '2.5.29.35')?.value.subarray(4).equals(certificateFacts(c.ca.certDer).keyIdentifier),
      'authorityKeyIdentifier is the CA key id',
    );

    // The UPN, byte for byte: otherName [0] { OID 1.3.6.1.4.1.311.20.2.3, [0] EXPLICIT UTF8String }.
    const san = fromDer(ext(out.der, '2.5.29.17')!.value);
    const other = (san.value as forge.asn1.Asn1[])[0];
    t.equal(other.tagClass, asn1.Class.CONTEXT_SPECIFIC);
    t.equal(other.type, 0);
    const [typeId, explicit] = other.value as forge.asn1.Asn1[];
    t.equal(asn1.derToOid(typeId.value as string), '1.3.6.1.4.1.311.20.2.3');
    t.equal(explicit.tagClass, asn1.Class.CONTEXT_SPECIFIC);
    t.ok(explicit.constructed, '[0] EXPLICIT');
    const utf8 = (explicit.value as forge.asn1.Asn1[])[0];
    t.equal(utf8.type, asn1.Type.UTF8);
    t.equal(utf8.value, 'jane.doe@contoso.com');
    t.equal(ext(out.der, '2.5.29.17')?.critical, false);

    const nb = new Date(out.notBefore).getTime();
    const na = new Date(out.notAfter).getTime();
    t.match(out.notBefore, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.ok(Math.abs(nb - (before - 600_000)) < 5_000, 'notBefore is 10 minutes back');
    t.ok(Math.abs(na - (before + 365 * 86_400_000)) < 5_000, 'notAfter is validityDays from now');
    t.equal(new Date(x.validFrom).getTime(), nb);
    t.equal(new Date(x.validTo).getTime(), na);

    const inP7 = pkcs7Certificates(out.pkcs7Der);
    t.equal(inP7.length, c.chain, 'the certificate and its chain');
    t.same(inP7.map((d) => d.toString('hex')), [out.der, ...c.ca.chainDer].map((d) => d.toString('hex')).sort(), 'the certificate and its chain, a SET OF in DER order');
  });
}

t.test('PKCS#7 parses with forge.pkcs7 (RSA-only chain)', async (t) => {
  const out = issueCertificate(input(rsaCa));
  const msg = forge.pkcs7.messageFromAsn1(asn1.fromDer(out.pkcs7Der.toString('latin1'))) as forge.pkcs7.PkcsSignedData;
  t.equal(msg.certificates.length, 2);
  const ders = msg.certificates.map((c) => Buffer.from(asn1.toDer(forge.pki.certificateToAsn1(c)).getBytes(), 'latin1').toString('hex'));
  t.same(ders.sort(), [out.der, rsaCa.certDer].map((d) => d.toString('hex')).sort());
  t.ok(msg.certificates.some((c) => c.serialNumber === out.serialHex));
});

t.test('openssl agrees', { skip: !hasOpenssl && 'openssl is not on PATH' }, async (t) => {
  const dir = tempDir(t, 'issue-');
  const out = issueCertificate(input(ecCa, { spkiDer: ecSubject, subjectDn: 'CN=Doe\\, Jane+UID=jdoe,OU=Users,O=Contoso,C=se' }));
  fs.writeFileSync(path.join(dir, 'leaf.der'), out.der);
  fs.writeFileSync(path.join(dir, 'leaf.p7b'), out.pkcs7Der);
  fs.writeFileSync(path.join(dir, 'root.pem'), root.certPem);
  fs.writeFileSync(path.join(dir, 'sub.pem'), ecCa.certPem);
  const leafPem = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', path.join(dir, 'leaf.der')], { encoding: 'utf8' });
  fs.writeFileSync(path.join(dir, 'leaf.pem'), leafPem);
  const text = execFileSync('openssl', ['x509', '-in', path.join(dir, 'leaf.pem'), '-noout', '-text', '-nameopt', 'RFC2253'], { encoding: 'utf8' });
  // RFC2253 output is most specific first, like our subjectDn (OpenSSL also reverses the values
  // inside a multi-valued RDN; we print them in their DER-sorted encoded order).
  t.match(text, 'Subject: UID=jdoe+CN=Doe\\, Jane,OU=Users,O=Contoso,C=SE\n');
  t.equal(out.subjectDn, 'CN=Doe\\, Jane+UID=jdoe,OU=Users,O=Contoso,C=SE');
  t.match(text, /othername: ?UPN:+jane\.doe@contoso\.com/);
  t.match(text, /Microsoft Smartcard Login, TLS Web Client Authentication/);
  t.match(text, /URI:https:\/\/cm\.contoso\.com\/pki\/crl/);
  t.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  const verify = execFileSync(
    'openssl',
    ['verify', '-purpose', 'sslclient', '-CAfile', path.join(dir, 'root.pem'), '-untrusted', path.join(dir, 'sub.pem'), path.join(dir, 'leaf.pem')],
    { encoding: 'utf8' },
  );
  t.match(verify, /leaf\.pem: OK/);
  const p7 = execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', path.join(dir, 'leaf.p7b'), '-print_certs', '-noout'], { encoding: 'utf8' });
  t.equal((p7.match(/^subject=/gm) ?? []).length, 3);
});

t.test('serial numbers', async (t) => {
  const a = issueCertificate(input(rsaCa, { serialHex: 'FF01' }));
  t.equal(a.serialHex, 'ff01');
  t.equal(new crypto.X509Certificate(a.der).serialNumber, 'FF01', 'a high first bit gets a sign byte, not a negative serial');
  const b = issueCertificate(input(rsaCa, { serialHex: '000abc' }));
  t.equal(b.serialHex, '0abc');
  t.equal(new crypto.X509Certificate(b.der).serialNumber, '0ABC');
  t.equal(normalizeSerialHex('7f'.padEnd(40, '0')).length, 40, '20 octets fit');
  for (const bad of ['', 'xyz', '00', '0', '80'.padEnd(40, '0'), '1'.padEnd(42, '0')]) {
    t.throws(() => normalizeSerialHex(bad), { code: 'INVALID_ARGUMENT' }, `serial "${bad}"`);
  }
  const many = new Set(Array.from({ length: 200 }, () => normalizeSerialHex()));
  t.equal(many.size, 200);
  for (const s of many) t.match(s, /^[0-7][0-9a-f]{31}$/);
});

t.test('validity', async (t) => {
  const out = issueCertificate(input(rsaCa, { notBefore: new Date('2030-05-01T12:00:00.789Z'), validityDays: 30 }));
  t.equal(out.notBefore, '2030-05-01T12:00:00Z');
  t.equal(out.notAfter, '2030-05-31T12:00:00Z');
  const longCa = createSelfSignedCa({ validityDays: 40 * 365 });
  const late = issueCertificate(input(validateCa(longCa.certPem, longCa.keyPem), { notBefore: '2049-12-31T00:00:00Z', validityDays: 2 }));
  t.equal(late.notAfter, '2050-01-02T00:00:00Z', 'GeneralizedTime from 2050');
  t.equal(new Date(new crypto.X509Certificate(late.der).validTo).toISOString(), '2050-01-02T00:00:00.000Z');

  const shortCa = createSelfSignedCa({ validityDays: 30 });
  const clamped = issueCertificate(input(validateCa(shortCa.certPem, shortCa.keyPem), { validityDays: 365 }));
  t.equal(clamped.notAfter, isoOf(shortCa.certPem), 'clamped to the CA certificate notAfter');
  t.throws(() => issueCertificate(input(rsaCa, { notBefore: '2040-01-01T00:00:00Z' })), { code: 'CA_CONFIG_INVALID' }, 'starts after the CA expires');
  for (const days of [0, -1, 1.5, 40_000]) t.throws(() => issueCertificate(input(rsaCa, { validityDays: days })), { code: 'INVALID_ARGUMENT' });
  t.throws(() => issueCertificate(input(rsaCa, { notBefore: 'yesterday' })), { code: 'INVALID_ARGUMENT' });
});

function isoOf(pem: string): string {
  return new Date(new crypto.X509Certificate(pemToDer(pem)).validTo).toISOString().replace('.000Z', 'Z');
}

t.test('subject names', async (t) => {
  t.same(splitDistinguishedName('CN=Doe\\, Jane+UID=jdoe, OU = Users ,O="Contoso, Ltd",C=se'), [
    [
      ['CN', 'Doe, Jane'],
      ['UID', 'jdoe'],
    ],
    [['OU', 'Users']],
    [['O', 'Contoso, Ltd']],
    [['C', 'se']],
  ]);
  t.same(splitDistinguishedName('CN=J\\C3\\B6rg \\2B Co\\ '), [[['CN', 'Jörg + Co ']]]);
  t.same(splitDistinguishedName(''), []);
  const out = issueCertificate(input(rsaCa, { subjectDn: 'CN=Jörg Ström,OU=R&D,DC=contoso,DC=com,E=jorg@contoso.com,OID.2.5.4.5=1234' }));
  t.equal(out.subjectDn, 'CN=Jörg Ström,OU=R&D,DC=contoso,DC=com,E=jorg@contoso.com,SERIALNUMBER=1234');
  t.equal(new crypto.X509Certificate(out.der).subject.split('\n').reverse()[0], 'CN=Jörg Ström');

  // An empty subject is allowed with a UPN, which then goes in a critical SAN (RFC 5280 4.2.1.6).
  const empty = issueCertificate(input(rsaCa, { subjectDn: '' }));
  t.equal(ext(empty.der, '2.5.29.17')?.critical, true);
  t.notOk(new crypto.X509Certificate(empty.der).subject, 'no subject');
  t.throws(() => issueCertificate(input(rsaCa, { subjectDn: '', upn: undefined })), { code: 'INVALID_ARGUMENT', message: /empty/ });

  const noUpn = issueCertificate(input(rsaCa, { upn: undefined }));
  t.equal(ext(noUpn.der, '2.5.29.17'), undefined, 'no SAN without a UPN');

  for (const bad of ['CN', 'Jane Doe', 'CN=', 'XX=foo', 'CN=a\\q', 'CN=a,', 'CN="open', 'CN="a"b', 'CN=a"b', 'C=Sweden', 'CN=#0403', 'CN=a\u0001b', 'DC=café', 'CN=\\ff', ',CN=a', `CN=${'x'.repeat(300)}`]) {
    t.throws(() => issueCertificate(input(rsaCa, { subjectDn: bad })), { code: 'INVALID_ARGUMENT' }, `subject ${JSON.stringify(bad)}`);
  }
});

t.test('bad input is INVALID_ARGUMENT; a bad CA is CA_CONFIG_INVALID', async (t) => {
  const bad: Array<[string, Partial<IssueCertificateInput>]> = [
    ['key usages 0', { keyUsages: 0 }],
    ['key usages 8', { keyUsages: 8 }],
    ['KeyAgreement on RSA', { keyUsages: 4 }],
    ['ftp URL', { publicUrl: 'ftp://cm.contoso.com' }],
    ['not a URL', { publicUrl: 'cm.contoso.com' }],
    ['URL with a query', { publicUrl: 'https://cm.contoso.com/?x=1' }],
    ['malformed SPKI', { spkiDer: Buffer.from('3000', 'hex') }],
    ['empty UPN', { upn: '' }],
    ['UPN with a newline', { upn: 'a@b\nc' }],
  ];
  for (const [name, over] of bad) t.throws(() => issueCertificate(input(rsaCa, over)), { code: 'INVALID_ARGUMENT' }, name);
  t.throws(() => issueCertificate(input(rsaCa, { caKeyPem: ecCa.keyPem })), { code: 'CA_CONFIG_INVALID', message: /does not match/ });
  t.throws(() => issueCertificate(input(rsaCa, { caKeyPem: 'nope' })), { code: 'CA_CONFIG_INVALID', message: /cannot be read/ });
  t.throws(() => issueCertificate(input(rsaCa, { caCertPem: 'nope' })), { code: 'CA_CONFIG_INVALID', message: /no certificate/ });
  t.equal(publicBaseUrl('http://127.0.0.1:8080'), 'http://127.0.0.1:8080');
  t.equal(publicBaseUrl('https://CM.Contoso.com/a b/'), 'https://cm.contoso.com/a%20b');
});

t.test('chainDer without the issuing CA gets it added; results are structured-clone safe', async (t) => {
  const out = issueCertificate(input(rsaCa, { chainDer: [] }));
  const certs = pkcs7Certificates(out.pkcs7Der);
  t.equal(certs.length, 2);
  t.ok(certs.some((c) => c.equals(rsaCa.certDer)));
  const cloned = structuredClone(out);
  t.same(Buffer.from(cloned.der), out.der);
  t.equal(cloned.serialHex, out.serialHex);
  // Inputs that crossed a worker boundary arrive as Uint8Array, not Buffer.
  const viaClone = structuredClone(input(ecCa, { spkiDer: ecSubject }));
  const again = issueCertificate(viaClone);
  t.ok(new crypto.X509Certificate(again.der).verify(new crypto.X509Certificate(ecCa.certDer).publicKey));
  t.equal(pkcs7Certificates(again.pkcs7Der).length, 3);
});
