// What the CA produces, read by parsers we did not write: Python's strict DER reader (warnings
// are errors: a BER fallback fails the test) and node:crypto. Names keep every character.
import crypto from 'node:crypto';
import t from 'tap';
import forge from 'node-forge';
import { createSelfSignedCa, validateCa } from '../../core/ca/ca-store.js';
import { issueCertificate } from '../../workers/ca/certificate.js';
import { buildCrl } from '../../workers/ca/crl.js';
import { escapeDnValue, splitDistinguishedName } from '../../workers/ca/names.js';
import { hasPythonCryptography, readStrictly } from '../support/strict-der.js';
import { asn1, subordinateCa } from './fixtures/ca.js';

const root = createSelfSignedCa({ commonName: 'Zoë Root CA' });
const rsaCa = validateCa(root.certPem, root.keyPem);
const ecSub = subordinateCa(root, 'CN=Åberg EC Issuing CA,O=Contoso', 'ec', { authorityKeyIdentifier: true });
const ecCa = validateCa(ecSub.certPem + root.certPem, ecSub.keyPem);
const spki = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });

const DISPLAY_NAME = 'Zoë Åberg 👩‍💻 "quoted", plus+sign';
// RFC 4514 specials: a leading '#' and space, a trailing space, and each of , + " \ < > ; =
const SPECIALS = '# lead, a+b;c<d>e"f\\g=h ';
const UTF8STRING = 12;

const issue = (ca: typeof rsaCa, subjectDn: string, upn = 'zoë.åberg@contoso.com') =>
  issueCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, chainDer: ca.chainDer, spkiDer: spki, subjectDn, validityDays: 30, keyUsages: 3, upn, publicUrl: 'https://cm.contoso.com' });

t.test('names keep every Unicode character and RFC 4514 special, as UTF8String', async (t) => {
  for (const [label, ca] of [['RSA CA', rsaCa], ['EC issuing CA', ecCa]] as const) {
    const out = issue(ca, `CN=${escapeDnValue(DISPLAY_NAME)}+UID=${escapeDnValue(SPECIALS)},O=Contoso`);
    t.same(splitDistinguishedName(out.subjectDn).map((rdn) => rdn.sort()), [[['CN', DISPLAY_NAME], ['UID', SPECIALS]], [['O', 'Contoso']]], `${label}: subjectDn reads back to the same values`);
    const x = new crypto.X509Certificate(out.der);
    t.ok(x.verify(new crypto.X509Certificate(ca.certDer).publicKey), `${label}: node:crypto verifies it`);
    t.ok(x.subject.includes('Zoë Åberg 👩‍💻'), `${label}: node:crypto reads the emoji intact`);
    if (!hasPythonCryptography) continue;
    const facts = readStrictly('certificate', out.der);
    const attributes = facts.subject.flat();
    t.same(
      attributes.map((a: { oid: string; value: string; type: number }) => [a.oid, a.value, a.type]).sort(),
      [
        ['2.5.4.10', 'Contoso', UTF8STRING],
        ['2.5.4.3', DISPLAY_NAME, UTF8STRING],
        ['0.9.2342.19200300.100.1.1', SPECIALS, UTF8STRING],
      ].sort(),
      `${label}: strict DER; every character intact; UTF8String`,
    );
    t.same(facts.upn, [Buffer.from('0c' + Buffer.from([Buffer.byteLength('zoë.åberg@contoso.com')]).toString('hex') + Buffer.from('zoë.åberg@contoso.com').toString('hex'), 'hex').toString('hex')], `${label}: UPN otherName, UTF8String`);
  }
});

t.test('a multi-valued RDN is a SET OF in DER order', async (t) => {
  const out = issue(rsaCa, 'UID=zzz+CN=aaa+SN=mmm');
  const tbs = (asn1.fromDer(out.der.toString('latin1')).value as forge.asn1.Asn1[])[0]!;
  const subject = (tbs.value as forge.asn1.Asn1[])[5]!;
  const members = ((subject.value as forge.asn1.Asn1[])[0]!.value as forge.asn1.Asn1[]).map((m) => Buffer.from(asn1.toDer(m).getBytes(), 'latin1'));
  t.equal(members.length, 3);
  t.same(members.map((m) => m.toString('hex')), [...members].sort(Buffer.compare).map((m) => m.toString('hex')), 'members sorted by their encodings');
});

t.test('the smart card logon profile (SPEC 5.6), read strictly', { skip: !hasPythonCryptography && 'python3 cryptography is not installed' }, async (t) => {
  const out = issue(rsaCa, 'CN=Jane Doe');
  const facts = readStrictly('certificate', out.der);
  const ext = facts.extensions as Record<string, { critical: boolean }>;
  t.equal(ext['2.5.29.15']?.critical, true, 'keyUsage, critical');
  t.same(facts.eku, ['1.3.6.1.4.1.311.20.2.2', '1.3.6.1.5.5.7.3.2'], 'EKU smart card logon + client authentication');
  t.ok(ext['2.5.29.17'], 'SAN with the UPN');
  t.ok(ext['2.5.29.14'] && ext['2.5.29.35'], 'SKI and AKI');
  t.ok(ext['2.5.29.31'], 'CRL distribution point');
  t.same(facts.aia, [
    ['1.3.6.1.5.5.7.48.1', 'https://cm.contoso.com/ocsp'],
    ['1.3.6.1.5.5.7.48.2', 'https://cm.contoso.com/ca.crt'],
  ], 'AIA: OCSP and CA issuer');
  t.equal(facts.serial, out.serialHex.replace(/^0+/, ''), 'a positive serial');
  t.ok(out.serialHex.length <= 40, 'at most 20 octets');
});

t.test('PKCS#7 and CRL parse as strict DER', { skip: !hasPythonCryptography && 'python3 cryptography is not installed' }, async (t) => {
  for (const ca of [rsaCa, ecCa]) {
    const out = issue(ca, 'CN=Jane Doe');
    const bundle = readStrictly<unknown[]>('pkcs7', out.pkcs7Der);
    t.equal(bundle.length, ca.chainDer.length + 1, 'the certificate and its chain, no BER fallback');
    const crl = buildCrl({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      entries: [
        { serialHex: out.serialHex, revokedAt: '2026-01-01T00:00:00Z', reason: 6 },
        { serialHex: 'ff01', revokedAt: '2026-01-02T00:00:00Z', reason: 0 },
      ],
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + 3_600_000),
      crlNumber: 2 ** 40 + 1,
    });
    t.same(readStrictly('crl', crl).entries.sort(), [out.serialHex.replace(/^0+/, ''), 'ff01'].sort());
  }
});
