import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import forge from 'node-forge';
import { createSelfSignedCa, validateCa } from '../../core/ca/ca-store.js';
import { toPem } from '../../workers/ca/pem.js';
import { buildCrl, CRL_REASONS, type BuildCrlInput } from '../../workers/ca/crl.js';
import { certificateFacts } from '../../workers/ca/ca-certificate.js';
import { asn1, hasOpenssl, tempDir } from './fixtures/ca.js';

const rsaPair = createSelfSignedCa({ commonName: 'CRL Test RSA CA' });
const rsaCa = validateCa(rsaPair.certPem, rsaPair.keyPem);

/** A self-signed EC P-256 CA made by openssl (the embedded default only makes RSA CAs). */
function opensslEcCa(dir: string): { certPem: string; keyPem: string } {
  const key = path.join(dir, 'ec.key');
  const crt = path.join(dir, 'ec.crt');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '30', '-subj', '/O=Contoso/CN=CRL Test EC CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    { stdio: 'ignore' },
  );
  return { certPem: fs.readFileSync(crt, 'utf8'), keyPem: fs.readFileSync(key, 'utf8') };
}

const thisUpdate = new Date('2026-03-01T10:00:00.456Z');
const nextUpdate = new Date('2026-03-08T10:00:00Z');
const entries = [
  { serialHex: '2a3b4c5d6e7f8091a2b3c4d5e6f70812', revokedAt: '2026-02-01T08:00:00Z', reason: CRL_REASONS.keyCompromise },
  { serialHex: 'ff01', revokedAt: '2026-02-02T08:00:00Z', reason: CRL_REASONS.superseded },
  { serialHex: '0abc', revokedAt: '2026-02-03T08:00:00Z', reason: CRL_REASONS.cessationOfOperation },
  { serialHex: '11', revokedAt: '2026-02-04T08:00:00.999Z', reason: CRL_REASONS.certificateHold },
  { serialHex: '22', revokedAt: '2026-02-05T08:00:00Z', reason: CRL_REASONS.unspecified },
];
const input = (ca: { certPem: string; keyPem: string }, over: Partial<BuildCrlInput> = {}): BuildCrlInput => ({
  caCertPem: ca.certPem,
  caKeyPem: ca.keyPem,
  entries,
  thisUpdate,
  nextUpdate,
  crlNumber: 7,
  ...over,
});

/** DER read by forge.asn1, strictly: a reader independent of the one that wrote it. */
const fromDer = (der: Buffer): forge.asn1.Asn1 =>
  asn1.fromDer(forge.util.createBuffer(der.toString('latin1')), { strict: true, parseAllBytes: true, decodeBitStrings: false } as unknown as boolean);

/** Checks the signature with node:crypto over the TBSCertList bytes (forge re-encodes them as read). */
function signatureVerifies(crl: Buffer, caCertPem: string): boolean {
  const [tbs, , sig] = fromDer(crl).value as forge.asn1.Asn1[];
  const tbsDer = Buffer.from(asn1.toDer(tbs!).getBytes(), 'latin1');
  if (!crl.includes(tbsDer)) return false;
  const caKey = new crypto.X509Certificate(caCertPem).publicKey;
  return crypto.verify('sha256', tbsDer, caKey, Buffer.from((sig!.value as string).slice(1), 'latin1'));
}

type Node = forge.asn1.Asn1;
const kids = (n: Node): Node[] => n.value as Node[];

t.test('structure, read back with forge.asn1', async (t) => {
  const der = buildCrl(input(rsaPair));
  t.ok(signatureVerifies(der, rsaPair.certPem), 'signature verifies (node:crypto)');
  const [tbs, alg] = kids(fromDer(der));
  const [version, sigAlg, issuer, tu, nu, revoked, exts] = kids(tbs);
  t.equal(version.value, '\x01', 'v2');
  t.same(sigAlg, alg, 'inner and outer algorithm agree');
  t.equal(asn1.derToOid(kids(alg)[0].value as string), '1.2.840.113549.1.1.11');
  t.ok(Buffer.from(asn1.toDer(issuer).getBytes(), 'latin1').equals(certificateFacts(rsaCa.certDer).subjectDer), 'issuer = CA subject');
  t.equal(tu.type, asn1.Type.UTCTIME);
  t.equal(tu.value, '260301100000Z', 'thisUpdate in whole seconds');
  t.equal(nu.value, '260308100000Z');
  t.equal(kids(revoked).length, 5);
  const first = kids(kids(revoked)[0]);
  t.equal(Buffer.from(first[0].value as string, 'latin1').toString('hex'), entries[0].serialHex);
  const second = kids(kids(revoked)[1]);
  t.equal(Buffer.from(second[0].value as string, 'latin1').toString('hex'), '00ff01', 'sign byte for a high first bit');
  t.equal(kids(kids(revoked)[3])[1].value, '260204080000Z');
  t.equal(kids(kids(revoked)[4]).length, 2, 'no reasonCode for unspecified (RFC 5280 5.3.1)');
  const reasonExt = kids(kids(kids(revoked)[0])[2])[0];
  t.equal(asn1.derToOid(kids(reasonExt)[0].value as string), '2.5.29.21');
  t.same(fromDer(Buffer.from(kids(reasonExt)[1].value as string, 'latin1')), asn1.create(asn1.Class.UNIVERSAL, asn1.Type.ENUMERATED, false, '\x01'));
  t.equal(exts.tagClass, asn1.Class.CONTEXT_SPECIFIC);
  const extOids = kids(kids(exts)[0]).map((e) => asn1.derToOid(kids(e)[0].value as string));
  t.same(extOids, ['2.5.29.35', '2.5.29.20']);
});

t.test('an empty CRL leaves revokedCertificates out', async (t) => {
  const der = buildCrl(input(rsaPair, { entries: [] }));
  t.ok(signatureVerifies(der, rsaPair.certPem));
  const fields = kids(kids(fromDer(der))[0]);
  t.equal(fields.length, 6, 'version, algorithm, issuer, thisUpdate, nextUpdate, extensions');
  t.equal(fields[5].tagClass, asn1.Class.CONTEXT_SPECIFIC);
});

t.test('openssl reads and verifies it', { skip: !hasOpenssl && 'openssl is not on PATH' }, async (t) => {
  const dir = tempDir(t, 'crl-');
  const ecPair = opensslEcCa(dir);
  for (const [name, pair, alg] of [
    ['RSA CA', rsaPair, 'sha256WithRSAEncryption'],
    ['EC CA', ecPair, 'ecdsa-with-SHA256'],
  ] as const) {
    const crlPath = path.join(dir, `${name}.crl`);
    const caPath = path.join(dir, `${name}.pem`);
    fs.writeFileSync(crlPath, buildCrl(input(pair, { crlNumber: 2 ** 40 + 1 })));
    fs.writeFileSync(caPath, pair.certPem);
    const run = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text', '-CAfile', caPath], { encoding: 'utf8' });
    t.equal(run.status, 0, `${name}: openssl exits 0`);
    const out = run.stdout + run.stderr;
    t.match(out, /verify OK/, `${name}: signature verifies`);
    t.match(out, `Signature Algorithm: ${alg}`);
    t.match(out, /Version 2/);
    t.match(out, /X509v3 CRL Number: *\n *1099511627777/);
    const aki = certificateFacts(Buffer.from(pair.certPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')).keyIdentifier;
    t.match(out, aki.toString('hex').toUpperCase().match(/../g)!.join(':'), `${name}: authorityKeyIdentifier`);
    t.match(out, /Last Update: Mar  1 10:00:00 2026 GMT/);
    t.match(out, /Next Update: Mar  8 10:00:00 2026 GMT/);
    // Serial -> reason, as openssl prints them.
    const listed = [...out.matchAll(/Serial Number: ([0-9A-F]+)\n\s+Revocation Date: ([^\n]+)\n(?:\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code:\s*\n\s+([^\n]+)\n)?/g)].map((m) => [
      m[1],
      m[3]?.trim() ?? null,
    ]);
    t.same(listed, [
      ['2A3B4C5D6E7F8091A2B3C4D5E6F70812', 'Key Compromise'],
      ['FF01', 'Superseded'],
      ['0ABC', 'Cessation Of Operation'],
      ['11', 'Certificate Hold'],
      ['22', null],
    ]);
  }
  // A CRL checked against the wrong CA fails.
  const wrong = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', path.join(dir, 'RSA CA.crl'), '-noout', '-CAfile', path.join(dir, 'EC CA.pem')], { encoding: 'utf8' });
  t.notMatch(wrong.stdout + wrong.stderr, /verify OK/, 'the wrong CA does not verify it');
});

t.test('bad input is refused', async (t) => {
  const bad: Array<[string, Partial<BuildCrlInput>]> = [
    ['reason 7', { entries: [{ serialHex: '01', revokedAt: '2026-01-01T00:00:00Z', reason: 7 }] }],
    ['reason 8 (removeFromCRL, delta CRLs only)', { entries: [{ serialHex: '01', revokedAt: '2026-01-01T00:00:00Z', reason: 8 }] }],
    ['reason 11', { entries: [{ serialHex: '01', revokedAt: '2026-01-01T00:00:00Z', reason: 11 }] }],
    ['bad serial', { entries: [{ serialHex: 'zz', revokedAt: '2026-01-01T00:00:00Z', reason: 1 }] }],
    ['bad date', { entries: [{ serialHex: '01', revokedAt: 'soon', reason: 1 }] }],
    ['duplicate serial', { entries: [
      { serialHex: '0a', revokedAt: '2026-01-01T00:00:00Z', reason: 1 },
      { serialHex: '000A', revokedAt: '2026-01-02T00:00:00Z', reason: 4 },
    ] }],
    ['nextUpdate before thisUpdate', { nextUpdate: new Date(thisUpdate.getTime() - 1000) }],
    ['negative CRL number', { crlNumber: -1 }],
    ['fractional CRL number', { crlNumber: 1.5 }],
    ['entries not an array', { entries: 'x' as never }],
  ];
  for (const [name, over] of bad) t.throws(() => buildCrl(input(rsaPair, over)), { code: 'INVALID_ARGUMENT' }, name);
  const other = createSelfSignedCa();
  t.throws(() => buildCrl(input({ certPem: rsaPair.certPem, keyPem: other.keyPem })), { code: 'CA_CONFIG_INVALID' });
});

t.test('works on structured-cloned input (as a piscina worker receives it)', async (t) => {
  const cloned = structuredClone(input(rsaPair, { thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString() }));
  const der = buildCrl(cloned);
  t.ok(signatureVerifies(der, rsaPair.certPem));
  t.same(der, buildCrl(input(rsaPair)), 'RSA PKCS#1 v1.5 signatures are deterministic: same input, same CRL');
  t.equal(toPem('X509 CRL', der).split('\n')[0], '-----BEGIN X509 CRL-----');
});
