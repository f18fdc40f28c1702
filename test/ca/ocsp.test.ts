// OCSP messages (workers/ca/ocsp.ts): requests made by OpenSSL's client, answers read back by
// OpenSSL (signature checked) and by Python's strict DER reader.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { createSelfSignedCa, validateCa } from '../../core/ca/ca-store.js';
import { signingCa } from '../../workers/ca/ca-certificate.js';
import { issueCertificate } from '../../workers/ca/certificate.js';
import { MALFORMED_REQUEST, buildOcspResponse, ocspIssuerOf, parseOcspRequest } from '../../workers/ca/ocsp.js';
import { toPem } from '../../workers/ca/pem.js';
import { hasPythonCryptography, readStrictly } from '../support/strict-der.js';
import { hasOpenssl, subordinateCa, tempDir } from './fixtures/ca.js';

const root = createSelfSignedCa({ commonName: 'OCSP Test CA' });
const rsaCa = validateCa(root.certPem, root.keyPem);
const ecSub = subordinateCa(root, 'CN=OCSP EC CA', 'ec');
const ecCa = validateCa(ecSub.certPem + root.certPem, ecSub.keyPem);
const other = createSelfSignedCa({ commonName: 'Someone Else' });
const spki = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
const leafOf = (ca: typeof rsaCa) =>
  issueCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, chainDer: ca.chainDer, spkiDer: spki, subjectDn: 'CN=Leaf', validityDays: 5, keyUsages: 2, upn: 'l@c', publicUrl: 'http://cm.test' });

t.test('requests from OpenSSL; answers OpenSSL and Python read', { skip: !hasOpenssl && 'openssl is not on PATH' }, async (t) => {
  const dir = tempDir(t, 'ocsp-unit-');
  const file = (name: string, content: string | Buffer) => {
    fs.writeFileSync(path.join(dir, name), content);
    return path.join(dir, name);
  };
  for (const [label, ca] of [['RSA CA', rsaCa], ['EC CA', ecCa]] as const) {
    const signing = signingCa(ca.certPem, ca.keyPem);
    const issuer = ocspIssuerOf(signing.cert);
    const a = leafOf(ca);
    const b = leafOf(ca);
    const caFile = file('ca.pem', ca.certPem);
    const rootFile = file('root.pem', root.certPem);
    const aFile = file('a.pem', toPem('CERTIFICATE', a.der));
    const bFile = file('b.pem', toPem('CERTIFICATE', b.der));
    const reqFile = path.join(dir, 'req.der');
    execFileSync('openssl', ['ocsp', '-issuer', caFile, '-sha256', '-cert', aFile, '-cert', bFile, '-serial', '0x0badc0de', '-reqout', reqFile, '-nonce']);
    const request = parseOcspRequest(fs.readFileSync(reqFile), issuer);
    t.same(request.queries.map((q) => q.serialHex), [a.serialHex, b.serialHex, '0badc0de'], `${label}: SHA-256 CertIDs, three certificates`);
    t.ok(request.nonce && request.nonce.length > 2, 'the nonce');

    const now = new Date();
    const answer = buildOcspResponse(signing, {
      answers: [
        { certIdDer: request.queries[0]!.certIdDer, status: 'good' },
        { certIdDer: request.queries[1]!.certIdDer, status: 'revoked', revokedAt: '2026-01-02T03:04:05.678Z', reason: 0 },
        { certIdDer: request.queries[2]!.certIdDer, status: 'unknown' },
      ],
      nonce: request.nonce!,
      now,
      nextUpdate: new Date(now.getTime() + 3_600_000),
    });
    const respFile = file('resp.der', answer);
    const text = execFileSync('openssl', ['ocsp', '-reqin', reqFile, '-respin', respFile, '-CAfile', rootFile, '-verify_other', caFile, '-resp_text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    t.match(text, /Cert Status: good[\s\S]*Cert Status: revoked[\s\S]*Revocation Reason: unspecified[\s\S]*Cert Status: unknown/, `${label}: the three statuses`);
    const verify = execFileSync('sh', ['-c', `openssl ocsp -reqin ${reqFile} -respin ${respFile} -CAfile ${rootFile} -verify_other ${caFile} 2>&1`], { encoding: 'utf8' });
    t.match(verify, /Response verify OK/, `${label}: signature and nonce verify`);
    if (hasPythonCryptography) {
      const read = readStrictly('ocsp', answer);
      t.same(read.responses.map((r: { status: string }) => r.status), ['GOOD', 'REVOKED', 'UNKNOWN'], `${label}: strict DER`);
      t.same(read.nonce.length, 1);
    }

    // A CertID for another CA's certificate is not ours: unknown, whatever its serial.
    const otherFile = file('other.pem', other.certPem);
    execFileSync('openssl', ['ocsp', '-issuer', otherFile, '-serial', `0x${a.serialHex}`, '-reqout', reqFile, '-no_nonce']);
    t.same(parseOcspRequest(fs.readFileSync(reqFile), issuer).queries.map((q) => q.serialHex), [undefined], `${label}: another issuer's CertID`);
  }
});

t.test('malformed requests and answers', async (t) => {
  const signing = signingCa(rsaCa.certPem, rsaCa.keyPem);
  const issuer = ocspIssuerOf(signing.cert);
  for (const [name, der] of [
    ['empty', Buffer.alloc(0)],
    ['junk', Buffer.from('hello')],
    ['an empty SEQUENCE', Buffer.from('3000', 'hex')],
    ['too large', Buffer.alloc(20_000, 0x30)],
  ] as const) {
    t.throws(() => parseOcspRequest(der, issuer), { code: 'INVALID_ARGUMENT' }, name);
  }
  t.equal(MALFORMED_REQUEST.toString('hex'), '30030a0101', 'malformedRequest, unsigned');
  t.throws(() => buildOcspResponse(signing, { answers: [], now: new Date(), nextUpdate: new Date(Date.now() - 1000) }), { code: 'INVALID_ARGUMENT' });
  t.throws(
    () => buildOcspResponse(signing, { answers: [{ certIdDer: Buffer.from('3000', 'hex'), status: 'revoked', revokedAt: 'never', reason: 1 }], now: new Date(), nextUpdate: new Date(Date.now() + 1000) }),
    { code: 'INVALID_ARGUMENT' },
  );
  t.throws(
    () => buildOcspResponse(signing, { answers: [{ certIdDer: Buffer.from('3000', 'hex'), status: 'revoked', revokedAt: new Date().toISOString(), reason: 7 }], now: new Date(), nextUpdate: new Date(Date.now() + 1000) }),
    { code: 'INVALID_ARGUMENT' },
    'reason 7 is not a CRLReason',
  );
});
