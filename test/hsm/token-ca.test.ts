// SPEC 13: the CA key on the token (CM_CA_KEY=pkcs11:object=<label>). Certificates and CRLs are
// signed on the token, RSA PKCS#1 v1.5 SHA-256 and ECDSA P-256 (hash here, CKM_ECDSA, r||s to
// DER), and OpenSSL verifies them with the CA certificate; so are OCSP answers.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateCa } from '../../core/ca/ca-store.js';
import { ecdsaRawToDer, tokenKeyLabel } from '../../workers/ca/ca-signer.js';
import { buildCrl } from '../../workers/ca/crl.js';
import { Pkcs11Token } from '../../workers/crypto/pkcs11-token.js';
import { useThreadToken } from '../../workers/crypto/thread-token.js';
import { MASTER_KEY_V1 } from '../support/core-harness.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { idOf, q } from '../support/api.js';
import { OcspClient } from '../support/ocsp.js';
import { certificatesFromPkcs7, SimulatedSmartcard, type CardKeyAlgorithm } from '../support/simcard.js';
import { importMasterKeys, softHsm, SOFTHSM_MODULE } from '../support/softhsm.js';
import { BASE, startStack } from '../support/stack.js';

const hsm = softHsm(t);
const token = hsm.createToken('cm-ca');
importMasterKeys(token, { 1: MASTER_KEY_V1 });

/** A self-signed CA made by openssl, its private key moved onto the token (and its file removed). */
function caOnToken(kind: 'rsa' | 'ec', label: string): { certPath: string; certPem: string } {
  const keyPath = join(hsm.dir, `${label}.key`);
  const certPath = join(hsm.dir, `${label}.crt`);
  const newkey = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '30', '-subj', `/O=Contoso/CN=Token ${kind} CA`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  execFileSync('pkcs11-tool', ['--module', SOFTHSM_MODULE, '--token-label', token.tokenLabel, '--login', '--pin', token.pin,
    '--write-object', keyPath, '--type', 'privkey', '--label', label, '--usage-sign'], { env: { ...process.env, SOFTHSM2_CONF: hsm.conf }, stdio: 'ignore' });
  execFileSync('rm', [keyPath]);
  return { certPath, certPem: execFileSync('openssl', ['x509', '-in', certPath]).toString() };
}
const rsa = caOnToken('rsa', 'cm-ca-rsa');
const ec = caOnToken('ec', 'cm-ca-ec');

const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

t.test('the pkcs11: URI of CM_CA_KEY', async (t) => {
  t.equal(tokenKeyLabel('/etc/cm/ca.key'), undefined);
  t.equal(tokenKeyLabel('pkcs11:object=cm-ca'), 'cm-ca');
  t.equal(tokenKeyLabel('pkcs11:token=cm;object=CM%20CA%20key;type=private'), 'CM CA key');
  t.throws(() => tokenKeyLabel('pkcs11:token=cm'), { code: 'CA_CONFIG_INVALID' });
  t.throws(() => tokenKeyLabel('pkcs11:object=x;type=cert'), { code: 'CA_CONFIG_INVALID' });
  t.throws(() => tokenKeyLabel('pkcs11:object=%zz'), { code: 'CA_CONFIG_INVALID' });
});

t.test('r||s becomes a DER Ecdsa-Sig-Value: leading zeros dropped, a zero before a high bit', async (t) => {
  const r = Buffer.alloc(32, 0);
  r[31] = 0x7f;
  const s = Buffer.alloc(32, 0xff);
  t.equal(ecdsaRawToDer(Buffer.concat([r, s])).toString('hex'), `302602017f022100${'ff'.repeat(32)}`);
  t.throws(() => ecdsaRawToDer(Buffer.alloc(63)), { code: 'CA_CONFIG_INVALID' });
});

t.test('a CA key on the token is checked against the certificate and signs CRLs OpenSSL verifies', async (t) => {
  const session = Pkcs11Token.open(token);
  useThreadToken(session);
  t.teardown(() => session.close());
  for (const [ca, label] of [[rsa, 'cm-ca-rsa'], [ec, 'cm-ca-ec']] as const) {
    const material = validateCa(ca.certPem, `pkcs11:object=${label}`, { certPath: ca.certPath, keyPath: `pkcs11:object=${label}` });
    t.equal(material.keyPem, `pkcs11:object=${label}`, 'only the URI travels, never a key');
    t.equal(material.keyAlgorithm, label === 'cm-ca-rsa' ? 'RSA' : 'ECDSA_P256');
    const crl = buildCrl({
      caCertPem: ca.certPem,
      caKeyPem: `pkcs11:object=${label}`,
      crlNumber: 7,
      thisUpdate: new Date(),
      nextUpdate: new Date(Date.now() + 3_600_000),
      entries: [{ serialHex: '2a3b', revokedAt: new Date().toISOString(), reason: 1 }],
    });
    const crlPath = join(hsm.dir, `${label}.crl`);
    writeFileSync(crlPath, crl);
    const checked = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-CAfile', ca.certPath, '-noout'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.ok(checked !== undefined, `${label}: openssl crl verifies the signature`);
  }
  t.throws(() => validateCa(rsa.certPem, 'pkcs11:object=cm-ca-ec', { certPath: rsa.certPath, keyPath: 'pkcs11:object=cm-ca-ec' }), { message: /does not match the CA certificate/ });
  t.throws(() => validateCa(rsa.certPem, 'pkcs11:object=nothing', { certPath: rsa.certPath, keyPath: 'pkcs11:object=nothing' }), { message: /no key labelled "nothing"/ });
});

for (const [name, ca, label] of [['RSA', rsa, 'cm-ca-rsa'], ['ECDSA P-256', ec, 'cm-ca-ec']] as const) {
  t.test(`a card's certificates and the CRL signed on the token (${name}), through the API`, async (t) => {
    const s = await startStack({ ...hsm.env(token), CM_MASTER_KEYS: '', CM_WORKERS: '2', CM_CA_CERT: ca.certPath, CM_CA_KEY: `pkcs11:object=${label}` });
    t.teardown(() => s.close());
    const admin = await s.as(USERS.admin);
    const templateId = idOf((await s.http('POST', `${BASE}/profiletemplates`, { token: admin, body: restTemplate() })).body);
    const user = await s.as(USERS.user);
    const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: '00'.repeat(24) });
    const requestId = idOf((await s.http('POST', `${BASE}/requests`, { token: user, body: { profiletemplateuuid: templateId, type: 'Enroll' } })).body);
    const bound = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: card.cardId, atr: card.atr } });
    t.equal(bound.status, 201);
    // The pool threads' first job waits for them to start, which on a loaded machine may outlast
    // the gateway's deadline (504): a challenge-response (repeatable) until they answer.
    const warmUp = `${BASE}/requests/${requestId}/smartcards/${idOf(bound.body)}/authenticationresponse?${q({ cardid: card.cardId, challenge: card.getChallenge().toString('base64'), diversified: 'false' })}`;
    for (let i = 0; i < 10 && (await s.http('GET', warmUp, { token: user })).status === 504; i++);
    const options = (await s.http('GET', `${BASE}/requests/${requestId}/certificaterequestgenerationoptions`, { token: user })).body;
    const csrs = options.map((o: { KeyAlgorithmName: CardKeyAlgorithm; KeySize: number; Subject: string }, slot: number) => {
      card.generateKeyPair(slot, { algorithm: o.KeyAlgorithmName, keySize: o.KeySize });
      return card.createCertificateRequest(slot, o.Subject);
    });
    const issued = await s.http('POST', `${BASE}/requests/${requestId}/certificatedata`, { token: user, body: { certificaterequests: csrs } });
    t.equal(issued.status, 200);
    const caCert = new X509Certificate(ca.certPem);
    const leaves = issued.body.map((cert: { Pkcs7: string }) => {
      // The bundle is a DER SET OF (the CA and the card's certificate in byte order): the leaf is
      // the one that is not the CA.
      const certs = certificatesFromPkcs7(cert.Pkcs7).map((der) => new X509Certificate(der));
      const others = certs.filter((c) => c.fingerprint256 !== caCert.fingerprint256);
      t.equal(others.length, 1, 'the bundle holds the CA and one certificate');
      return others[0]!;
    });
    leaves.forEach((leaf: X509Certificate, slot: number) => {
      t.notOk(leaf.ca, 'a card certificate, not the CA');
      t.ok(leaf.verify(caCert.publicKey), 'node verifies the certificate with the CA certificate');
      t.equal(leaf.issuer, caCert.subject);
      const leafPath = join(hsm.dir, `${label}-leaf-${slot}.pem`);
      writeFileSync(leafPath, leaf.toString());
      t.match(openssl('verify', '-CAfile', ca.certPath, leafPath), /: OK/, 'openssl verify accepts it');
      t.match(openssl('x509', '-in', leafPath, '-noout', '-text'), name === 'RSA' ? /sha256WithRSAEncryption/ : /ecdsa-with-SHA256/);
    });
    const crl = await s.http('GET', '/crl');
    t.equal(crl.status, 200);
    const crlPath = join(hsm.dir, `${label}-service.crl`);
    writeFileSync(crlPath, crl.raw);
    execFileSync('openssl', ['crl', '-inform', 'DER', '-in', crlPath, '-CAfile', ca.certPath, '-noout'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.pass('openssl verifies the CRL the service signed on the token');

    // OCSP answers are signed on the token too: openssl ocsp checks the signature with the CA.
    const ocsp = new OcspClient(s.url, ca.certPem);
    t.teardown(() => ocsp.close());
    const answer = await ocsp.post(leaves[0].toString());
    t.match(answer, { status: 'revoked', reason: 'certificateHold' }, 'on hold until the request completes');
    t.ok(answer.verified, 'openssl verifies the OCSP answer signed on the token');
  });
}

t.test('CM_CA_KEY on a token without CM_PKCS11_* is a configuration error', async (t) => {
  const { loadCoreConfig } = await import('../../core/config.js');
  t.throws(() => loadCoreConfig({ CM_CA_CERT: rsa.certPath, CM_CA_KEY: 'pkcs11:object=cm-ca-rsa' }, { embedded: true }), { message: /CM_CA_KEY: names a key on a token/ });
});
