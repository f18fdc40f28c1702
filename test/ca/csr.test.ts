import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import t, { type Test } from 'tap';
import forge from 'node-forge';
import { parseCertificateRequest } from '../../workers/ca/csr.js';
import { checkKeyFitsTemplate, describeSpki, keyUsageFlags } from '../../workers/ca/keys.js';
import { escapeDnValue } from '../../workers/ca/names.js';
import { decodeBase64Strict, toPem } from '../../workers/ca/pem.js';
import { asn1, hasOpenssl, tempDir, U } from './fixtures/ca.js';

/** An RSA CSR signed by node-forge (the key itself comes from node:crypto: forge's keygen is slow). */
function rsaCsr(bits = 2048, md: forge.md.MessageDigest = forge.md.sha256.create()): { der: Buffer; spki: Buffer } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: bits });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  csr.setSubject([
    { name: 'commonName', value: 'Jane Doe' },
    { name: 'organizationName', value: 'Contoso' },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), md);
  const der = Buffer.from(asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'latin1');
  return { der, spki: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** An EC CSR built with forge.asn1 and signed by node:crypto (forge cannot do EC). */
function ecCsr(
  curve = 'P-256',
  sigOid = '1.2.840.10045.4.3.2',
  hash = 'sha256',
): { der: Buffer; spki: Buffer; cri: Buffer } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: curve });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const cri = asn1.create(U, asn1.Type.SEQUENCE, true, [
    asn1.create(U, asn1.Type.INTEGER, false, '\x00'),
    asn1.create(U, asn1.Type.SEQUENCE, true, [
      asn1.create(U, asn1.Type.SET, true, [
        asn1.create(U, asn1.Type.SEQUENCE, true, [
          asn1.create(U, asn1.Type.OID, false, asn1.oidToDer('2.5.4.3').getBytes()),
          asn1.create(U, asn1.Type.UTF8, false, 'EC User'),
        ]),
      ]),
    ]),
    asn1.fromDer(spki.toString('latin1')),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  const criDer = Buffer.from(asn1.toDer(cri).getBytes(), 'latin1');
  const sig = crypto.sign(hash, criDer, privateKey);
  const csr = asn1.create(U, asn1.Type.SEQUENCE, true, [
    asn1.fromDer(criDer.toString('latin1')),
    asn1.create(U, asn1.Type.SEQUENCE, true, [asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(sigOid).getBytes())]),
    asn1.create(U, asn1.Type.BITSTRING, false, `\x00${sig.toString('latin1')}`),
  ]);
  return { der: Buffer.from(asn1.toDer(csr).getBytes(), 'latin1'), spki, cri: criDer };
}

const rsa = rsaCsr();
const ec = ecCsr();
const b64 = (der: Buffer): string => der.toString('base64');
const wrapped = (der: Buffer, eol = '\r\n'): string => (b64(der).match(/.{1,64}/g) ?? []).join(eol) + eol;

t.test('RSA CSR from node-forge: base64, line breaks, PEM armours', async (t) => {
  for (const text of [
    b64(rsa.der),
    wrapped(rsa.der),
    wrapped(rsa.der, '\n'),
    ` \t${b64(rsa.der).replace(/=+$/, '')}\n`, // padding is optional (SPEC 2)
    toPem('CERTIFICATE REQUEST', rsa.der),
    toPem('NEW CERTIFICATE REQUEST', rsa.der).replace(/\n/g, '\r\n'),
  ]) {
    const parsed = parseCertificateRequest(text);
    t.equal(parsed.keyAlgorithm, 'RSA');
    t.equal(parsed.keySize, 2048);
    t.ok(parsed.spkiDer.equals(rsa.spki), 'SPKI is the key of the request');
    t.equal(parsed.subjectDn, 'O=Contoso,CN=Jane Doe');
    t.equal(parsed.signatureAlgorithm, 'sha256WithRSAEncryption');
  }
});

t.test('EC P-256 CSR built by hand and signed with ecdsa-with-SHA256', async (t) => {
  const parsed = parseCertificateRequest(wrapped(ec.der));
  t.equal(parsed.keyAlgorithm, 'ECDSA_P256');
  t.equal(parsed.keySize, 256);
  t.ok(parsed.spkiDer.equals(ec.spki));
  t.equal(parsed.subjectDn, 'CN=EC User');
  t.equal(parsed.signatureAlgorithm, 'ecdsa-with-SHA256');
});

t.test('CSRs made by openssl req', { skip: !hasOpenssl && 'openssl is not on PATH' }, async (t) => {
  const dir = tempDir(t, 'csr-');
  const req = (keyArgs: string[]): string =>
    execFileSync('openssl', ['req', '-new', ...keyArgs, '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/O=Fabrikam/CN=Op User', '-sha256'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  const ecPem = req(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const ecParsed = parseCertificateRequest(ecPem);
  t.equal(ecParsed.keyAlgorithm, 'ECDSA_P256');
  t.equal(ecParsed.subjectDn, 'CN=Op User,O=Fabrikam');
  const rsaPem = req(['-newkey', 'rsa:3072']);
  const rsaParsed = parseCertificateRequest(rsaPem);
  t.equal(rsaParsed.keyAlgorithm, 'RSA');
  t.equal(rsaParsed.keySize, 3072);
});

const refused = (t: Test, text: string, message: RegExp, name: string): void => {
  t.throws(() => parseCertificateRequest(text), { code: 'INVALID_ARGUMENT', message }, name);
};

t.test('malformed input is INVALID_ARGUMENT', async (t) => {
  refused(t, '', /empty/, 'empty');
  refused(t, b64(rsa.der).replace(/A/, '$'), /base64/, 'junk character');
  refused(t, b64(rsa.der).replace(/\+/g, '-').replace(/\//g, '_') + '-_', /base64/, 'base64url');
  refused(t, 'QUJDR', /base64/, 'bad length');
  refused(t, 'QQ==QQ==', /base64/, 'padding in the middle');
  refused(t, b64(rsa.der.subarray(0, rsa.der.length - 10)), /truncated|DER/, 'truncated DER');
  refused(t, b64(Buffer.concat([rsa.der, Buffer.from([0])])), /DER/, 'trailing byte');
  refused(t, b64(Buffer.from('hello world')), /DER|truncated/, 'not ASN.1');
  refused(t, toPem('CERTIFICATE', rsa.der), /CERTIFICATE REQUEST/, 'wrong PEM label');
  refused(t, toPem('CERTIFICATE REQUEST', rsa.der).replace('END CERTIFICATE REQUEST', 'END NEW CERTIFICATE REQUEST'), /CERTIFICATE REQUEST|malformed/, 'mismatched armour');
  refused(t, `junk\n${toPem('CERTIFICATE REQUEST', rsa.der)}`, /base64/, 'text before the armour');
  refused(t, 'A'.repeat(70_000), /too large/, 'too large');
  t.throws(() => parseCertificateRequest(42 as unknown as string), { code: 'INVALID_ARGUMENT' }, 'not a string');
});

t.test('a forged or tampered signature is refused', async (t) => {
  const flipLast = (der: Buffer): Buffer => {
    const copy = Buffer.from(der);
    copy[copy.length - 1] ^= 0x01;
    return copy;
  };
  refused(t, b64(flipLast(rsa.der)), /signature does not verify/, 'RSA signature byte flipped');
  // Change the subject inside the signed part: "Jane" -> "Jone".
  const i = rsa.der.indexOf(Buffer.from('Jane'));
  const swapped = Buffer.from(rsa.der);
  swapped[i + 1] = 'o'.charCodeAt(0);
  refused(t, b64(swapped), /signature does not verify/, 'RSA subject changed');
  const ecTampered = Buffer.from(ec.der);
  ecTampered[ec.der.indexOf(Buffer.from('EC User'))] = 'X'.charCodeAt(0);
  refused(t, b64(ecTampered), /signature does not verify/, 'EC subject changed');
  // ECDSA signature bytes flipped inside the DER-encoded (r, s): may break the encoding or the maths.
  refused(t, b64(flipLast(ec.der)), /signature does not verify/, 'EC signature byte flipped');
});

t.test('unsupported algorithms are refused', async (t) => {
  refused(t, b64(rsaCsr(2048, forge.md.sha1.create()).der), /1\.2\.840\.113549\.1\.1\.5.*not supported/, 'sha1WithRSA');
  refused(t, b64(ecCsr('P-384', '1.2.840.10045.4.3.3', 'sha384').der), /secp384r1.*not supported/, 'P-384 key');
  refused(t, b64(ecCsr('P-256', '1.2.840.113549.1.1.11').der), /signed with sha256WithRSAEncryption but holds an ECDSA_P256 key/, 'EC key with an RSA signature OID');
  const ed = crypto.generateKeyPairSync('ed25519');
  t.throws(() => describeSpki(ed.publicKey.export({ type: 'spki', format: 'der' })), { code: 'INVALID_ARGUMENT', message: /ed25519/ });
  t.throws(() => describeSpki(Buffer.from([0x30, 0x00])), { code: 'INVALID_ARGUMENT', message: /malformed/ });
  refused(t, b64(rsaCsr(512).der), /RSA keys of 512 bits are not supported/, 'RSA 512');
});

t.test('checkKeyFitsTemplate', async (t) => {
  const rsaParsed = parseCertificateRequest(b64(rsa.der));
  const ecParsed = parseCertificateRequest(b64(ec.der));
  t.doesNotThrow(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'RSA', keySize: 2048 }));
  t.doesNotThrow(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'rsa', keySize: 1024 }), 'a bigger key than the minimum');
  t.doesNotThrow(() => checkKeyFitsTemplate(ecParsed, { keyAlgorithmName: 'ECDSA_P256', keySize: 256, keyUsages: 5 }));
  t.doesNotThrow(() => checkKeyFitsTemplate(ecParsed, { keyAlgorithmName: 'ECDSA_P256', keySize: 0 }));
  t.throws(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'RSA', keySize: 4096 }), {
    code: 'INVALID_ARGUMENT',
    message: /2048-bit RSA key; the certificate template requires 4096 bits/,
  });
  t.throws(() => checkKeyFitsTemplate(ecParsed, { keyAlgorithmName: 'RSA', keySize: 2048 }), { code: 'INVALID_ARGUMENT', message: /requires RSA/ });
  t.throws(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'ECDSA_P256', keySize: 256 }), { code: 'INVALID_ARGUMENT', message: /requires ECDSA_P256/ });
  t.throws(() => checkKeyFitsTemplate(ecParsed, { keyAlgorithmName: 'ECDSA_P256', keySize: 384 }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'DSA', keySize: 2048 }), { code: 'INVALID_ARGUMENT', message: /not supported/ });
  t.throws(() => checkKeyFitsTemplate(rsaParsed, { keyAlgorithmName: 'RSA', keySize: 2048, keyUsages: 4 }), {
    code: 'INVALID_ARGUMENT',
    message: /KeyAgreement/,
  });
});

t.test('keyUsageFlags maps EnrollKeyUsages bits', async (t) => {
  t.same(keyUsageFlags(3, 'RSA'), { digitalSignature: true, keyEncipherment: true, keyAgreement: false });
  t.same(keyUsageFlags(1, 'ECDSA_P256'), { digitalSignature: false, keyEncipherment: false, keyAgreement: true });
  t.same(keyUsageFlags(6, 'ECDSA_P256'), { digitalSignature: true, keyEncipherment: false, keyAgreement: true });
  for (const bad of [0, 8, -1, 1.5, NaN]) t.throws(() => keyUsageFlags(bad, 'RSA'), { code: 'INVALID_ARGUMENT' });
});

t.test('base64 and escaping helpers', async (t) => {
  t.same(decodeBase64Strict('QUJD', 'x'), Buffer.from('ABC'));
  t.same(decodeBase64Strict('QUI', 'x'), Buffer.from('AB'));
  t.same(decodeBase64Strict('Q U\nI=', 'x'), Buffer.from('AB'));
  t.throws(() => decodeBase64Strict('QUI==', 'x'), { code: 'INVALID_ARGUMENT' });
  t.equal(escapeDnValue('Doe, Jane'), 'Doe\\, Jane');
  t.equal(escapeDnValue(' #a+b;c<d>"e"\\ '), '\\ #a\\+b\\;c\\<d\\>\\"e\\"\\\\\\ ');
  t.equal(escapeDnValue('#x'), '\\#x');
});

t.test('describeSpki canonicalises and checks keys', async (t) => {
  const derOf = (node: forge.asn1.Asn1): Buffer => Buffer.from(asn1.toDer(node).getBytes(), 'latin1');
  const seq = (...items: forge.asn1.Asn1[]): forge.asn1.Asn1 => asn1.create(U, asn1.Type.SEQUENCE, true, items);
  const oid = (o: string): forge.asn1.Asn1 => asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(o).getBytes());
  const bitString = (b: Buffer): forge.asn1.Asn1 => asn1.create(U, asn1.Type.BITSTRING, false, `\x00${b.toString('latin1')}`);
  const int = (b: Buffer): forge.asn1.Asn1 => asn1.create(U, asn1.Type.INTEGER, false, b.toString('latin1'));
  const rsaAlg = seq(oid('1.2.840.113549.1.1.1'), asn1.create(U, asn1.Type.NULL, false, ''));
  const ecAlg = seq(oid('1.2.840.10045.2.1'), oid('1.2.840.10045.3.1.7'));

  // EC: a compressed point is accepted and written uncompressed, as Node exports it.
  const ecKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const nodeEc = ecKey.export({ type: 'spki', format: 'der' });
  const point = nodeEc.subarray(nodeEc.length - 65);
  const compressed = crypto.ECDH.convertKey(point, 'prime256v1', undefined, undefined, 'compressed') as Buffer;
  const fromCompressed = describeSpki(derOf(seq(ecAlg, bitString(compressed))));
  t.ok(fromCompressed.spkiDer.equals(nodeEc), 'compressed point -> canonical uncompressed SPKI');
  t.same(crypto.createPublicKey({ key: fromCompressed.jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' }), nodeEc, 'the JWK is the same key');
  const offCurve = Buffer.from(point);
  offCurve[64] ^= 1;
  t.throws(() => describeSpki(derOf(seq(ecAlg, bitString(offCurve)))), { code: 'INVALID_ARGUMENT', message: /not a valid P-256 point/ });
  t.throws(() => describeSpki(derOf(seq(seq(oid('1.2.840.10045.2.1'), seq()), bitString(point)))), { code: 'INVALID_ARGUMENT', message: /explicit parameters/ });

  // RSA: a non-minimal modulus is re-encoded; e = 1 and even exponents are refused.
  const rsaKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const nodeRsa = rsaKey.export({ type: 'spki', format: 'der' });
  const jwk = rsaKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n!, 'base64url');
  const rsaSpki = (modulus: Buffer, e: Buffer, alg = rsaAlg): Buffer => derOf(seq(alg, bitString(derOf(seq(int(modulus), int(e))))));
  const padded = describeSpki(rsaSpki(Buffer.concat([Buffer.from([0, 0, 0]), n]), Buffer.from([0, 1, 0, 1])));
  t.ok(padded.spkiDer.equals(nodeRsa), 'non-minimal integers -> canonical SPKI');
  t.equal(padded.keySize, 2048);
  t.ok(describeSpki(rsaSpki(Buffer.concat([Buffer.from([0]), n]), Buffer.from([1, 0, 1]), seq(oid('1.2.840.113549.1.1.1')))).spkiDer.equals(nodeRsa), 'absent NULL parameters');
  t.throws(() => describeSpki(rsaSpki(Buffer.concat([Buffer.from([0]), n]), Buffer.from([1]))), { code: 'INVALID_ARGUMENT', message: /exponent/ });
  t.throws(() => describeSpki(rsaSpki(Buffer.concat([Buffer.from([0]), n]), Buffer.from([1, 0, 0]))), { code: 'INVALID_ARGUMENT', message: /exponent/ });
  t.throws(() => describeSpki(rsaSpki(n, Buffer.from([1, 0, 1]))), { code: 'INVALID_ARGUMENT', message: /malformed/ }, 'a negative modulus');
  t.throws(() => describeSpki(derOf(seq(rsaAlg, bitString(Buffer.from('junk'))))), { code: 'INVALID_ARGUMENT', message: /malformed/ });
  t.throws(() => describeSpki(Buffer.from('not der')), { code: 'INVALID_ARGUMENT', message: /malformed/ });
});

t.test('escapeDnValue of a lone space', async (t) => {
  t.equal(escapeDnValue(' '), '\\ ');
  t.equal(escapeDnValue('a '), 'a\\ ');
  t.equal(escapeDnValue('nul\u0000'), 'nul\\00');
});
