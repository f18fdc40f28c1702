// Issue 4: the complete enrollment walkthrough of the MIM documentation, end to end, with a
// simulated card that holds its own key pairs; once with a 3DES template and RSA certificates,
// once with an AES template and an ECDSA P-256 certificate.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { certificatesFromPkcs7, SimulatedSmartcard } from '../support/simcard.js';
import { startStack, BASE } from '../support/stack.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { idOf, q } from '../support/api.js';
import { readCrl } from '../support/crl.js';
import { OcspClient } from '../support/ocsp.js';
import { hasPythonCryptography, readStrictly } from '../support/strict-der.js';

const SMARTCARD_LOGON = '1.3.6.1.4.1.311.20.2.2';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

const CASES = [
  {
    name: '3DES admin key, two RSA certificates',
    algorithm: '3DES' as const,
    defaultKey: '010203040506070801020304050607080102030405060708',
    certificateTemplates: [
      { TemplateCommonName: 'SmartcardLogon', KeyAlgorithmName: 'RSA', KeySize: 2048, KeyUsages: 2, SubjectTemplate: 'CN={name},O=Contoso' },
      { TemplateCommonName: 'Encryption', KeyAlgorithmName: 'RSA', KeySize: 2048, KeyUsages: 1, SubjectTemplate: 'CN={name}' },
    ],
  },
  {
    name: 'AES-256 admin key, one ECDSA P-256 certificate, its status over OCSP too',
    algorithm: 'AES256' as const,
    ocsp: true,
    defaultKey: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    certificateTemplates: [{ TemplateCommonName: 'SmartcardLogonEC', KeyAlgorithmName: 'ECDSA_P256', KeySize: 256, KeyUsages: 2, SubjectTemplate: 'CN={name}' }],
  },
];

for (const c of CASES) {
  t.test(`the enrollment walkthrough: ${c.name}`, async (t) => {
    const s = await startStack();
    t.teardown(() => s.close());
    const admin = await s.as(USERS.admin);
    const agent = await s.as(USERS.agent);
    const user = await s.as(USERS.user);
    const created = await s.http('POST', `${BASE}/profiletemplates`, {
      token: admin,
      body: restTemplate({ name: c.name, algorithm: c.algorithm, defaultKey: c.defaultKey, pinOption: 'ServerDistributed', certificateTemplates: c.certificateTemplates }),
    });
    t.equal(created.status, 201);

    // List templates -> read the enroll policy -> create the request -> read it (Approved).
    const list = await s.http('GET', `${BASE}/profiletemplates`, { token: user });
    const templateId = list.body.find((x: any) => x.Name === c.name).Uuid;
    const policy = await s.http('GET', `${BASE}/profiletemplates/${templateId}/policies/enroll`, { token: user });
    t.equal(policy.body.Enabled, true);
    t.equal(policy.body.SelfServiceEnabled, true);
    const req = await s.http('POST', `${BASE}/requests`, { token: user, body: { ProfileTemplateUuid: templateId, Type: 'Enroll', DataCollection: [] } });
    const requestId = idOf(req.body);
    t.equal((await s.http('GET', `${BASE}/requests/${requestId}`, { token: user })).body.Status, 3, 'Approved');

    // Read the smart card configuration -> bind the card -> read the diversified key.
    const config = (await s.http('GET', `${BASE}/profiletemplates/${templateId}/configuration/smartcards`, { token: user })).body;
    t.equal(config.AdminKeyAlgorithm, c.algorithm);
    const card = new SimulatedSmartcard({ adminKeyAlgorithm: c.algorithm, adminKeyHex: config.DefaultAdminKeyHex });
    const bound = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: card.cardId, atr: card.atr } });
    t.equal(bound.status, 201);
    const cardUuid = idOf(bound.body);
    const base = `${BASE}/requests/${requestId}/smartcards/${cardUuid}`;
    const key = Buffer.from((await s.http('GET', `${base}/diversifiedkey?${q({ cardid: card.cardId, atr: card.atr })}`, { token: user })).body, 'base64');
    t.equal(key.length, c.algorithm === '3DES' ? 24 : 32);

    // Default key -> switch to the diversified key -> diversified key -> set the PIN.
    const respond = async (diversified: boolean) => {
      const challenge = card.getChallenge();
      const res = await s.http('GET', `${base}/authenticationresponse?${q({ cardid: card.cardId, atr: card.atr, challenge: challenge.toString('base64'), diversified: String(diversified) })}`, { token: user });
      t.equal(res.status, 200);
      t.ok(card.authenticateAdmin(res.body), `the card accepts the ${diversified ? 'diversified' : 'default'}-key response`);
    };
    await respond(false);
    card.changeAdminKey(key.toString('hex'));
    await respond(true);
    const pin = await s.http('GET', `${BASE}/smartcards/${cardUuid}/serverproposedpin?${q({ cardid: card.cardId, atr: card.atr, challenge: card.getChallenge().toString('base64') })}`, { token: user });
    t.equal(pin.status, 200);
    await respond(true);
    card.setUserPin(pin.body);

    // Generation options -> CSRs built on the card -> upload.
    const options = (await s.http('GET', `${BASE}/requests/${requestId}/certificaterequestgenerationoptions`, { token: user })).body;
    t.equal(options.length, c.certificateTemplates.length);
    t.match(options[0], {
      Subject: /^CN=Jane Doe/,
      KeyAlgorithmName: c.certificateTemplates[0]!.KeyAlgorithmName,
      FriendlyName: c.certificateTemplates[0]!.TemplateCommonName,
      HashAlgorithmName: 'SHA256',
      KeyStorageProviderNames: ['Microsoft Smart Card Key Storage Provider'],
      Exportable: 0,
      KeyProtectionLevel: 0,
    });
    const csrs = options.map((o: any, slot: number) => {
      card.generateKeyPair(slot, { algorithm: o.KeyAlgorithmName, keySize: o.KeySize });
      return card.createCertificateRequest(slot, o.Subject);
    });
    const issued = await s.http('POST', `${BASE}/requests/${requestId}/certificatedata`, { token: user, body: { certificaterequests: csrs } });
    t.equal(issued.status, 200);
    t.equal(issued.body.length, c.certificateTemplates.length);

    // Verify every certificate and its chain with Node's own X509Certificate.
    let caCert: X509Certificate | undefined;
    const serials: string[] = [];
    const leafPems: string[] = [];
    issued.body.forEach((cert: any, slot: number) => {
      t.match(cert, { TemplateCommonName: c.certificateTemplates[slot]!.TemplateCommonName, UseLocalMachineStore: false, Error: null, Pfx: null, IsExternal: false, isServerGenerated: false, isPfx: false, isPkcs7: true, isKeyHistory: false });
      // A SET OF in DER order: the leaf is the one certificate that is not a CA.
      const inBundle = certificatesFromPkcs7(cert.Pkcs7).map((der) => new X509Certificate(der));
      t.equal(inBundle.length, 2, 'the certificate and the embedded CA');
      const leaf = inBundle.find((x) => !x.ca)!;
      caCert = inBundle.find((x) => x.ca)!;
      t.ok(leaf.verify(caCert.publicKey), 'signed by the CA');
      t.ok(leaf.checkIssued(caCert), 'issued by the CA');
      t.ok(caCert.verify(caCert.publicKey), 'the chain ends in the self-signed embedded CA');
      t.match(leaf.subject, /CN=Jane Doe/);
      t.ok(leaf.keyUsage?.includes(SMARTCARD_LOGON) && leaf.keyUsage?.includes(CLIENT_AUTH), 'smart card logon and client authentication');
      t.match(leaf.infoAccess ?? '', /CA Issuers - URI:http:\/\/127\.0\.0\.1:8080\/ca\.crt/);
      t.match(leaf.subjectAltName ?? '', /othername/i, 'the UPN is in the subject alternative name');
      t.equal(leaf.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'), card.publicKeyDer(slot).toString('hex'));
      card.storeCertificate(slot, cert.Pkcs7);
      t.ok(card.certificateMatchesKey(slot));
      serials.push(leaf.serialNumber.toLowerCase().replace(/^(00)+/, ''));
      leafPems.push(leaf.toString());
    });
    const second = await s.http('POST', `${BASE}/requests/${requestId}/certificatedata`, { token: user, body: { certificaterequests: csrs } });
    t.equal(second.status, 409, 'certificates are issued once per request');

    const crlNow = async () => {
      const res = await s.http('GET', '/crl');
      t.equal(res.headers.get('content-type'), 'application/pkix-crl');
      const crl = readCrl(res.raw, caCert!.publicKey);
      t.ok(crl.signatureValid, 'the CRL is signed by the CA');
      t.ok(crl.nextUpdate, 'the CRL has a nextUpdate');
      return new Map(crl.entries.map((e) => [e.serialHex, e.reason]));
    };
    // OCSP (SPEC 14) says what the CRL says, read by OpenSSL's client: POST with a nonce and the
    // signature verified against the CA, and an RFC 5019 GET of a request the test built.
    const ocsp = new OcspClient(s.url, caCert!.toString());
    t.teardown(() => ocsp.close());
    const ocspNow = async (expected: { status: string; reason?: string }, what: string) => {
      // One case is enough: the CA is the embedded one in both (openssl runs are slow on a busy machine).
      if (!('ocsp' in c)) return;
      for (const pem of leafPems) {
        const answer = await ocsp.post(pem);
        t.match(answer, { ...expected, verified: true }, `OCSP POST: ${what}`);
        t.ok(answer.nextUpdate! > answer.thisUpdate! && answer.nextUpdate!.getTime() - answer.thisUpdate!.getTime() <= 3_600_000, 'nextUpdate within the hour');
      }
    };
    for (const serial of serials) t.equal((await crlNow()).get(serial), 6, 'on hold until the request completes');
    await ocspNow({ status: 'revoked', reason: 'certificateHold' }, 'on hold until the request completes');
    if ('ocsp' in c) t.match(await ocsp.postSerial('0123456789abcdef'), { status: 'unknown', verified: true }, 'OCSP: a serial this CA never issued is unknown');
    const aia = await s.http('GET', '/ca.crt');
    t.equal(aia.headers.get('content-type'), 'application/pkix-cert');
    t.equal(new X509Certificate(aia.raw).fingerprint256, caCert!.fingerprint256, 'the AIA URL serves the issuing CA');

    // Complete -> Active, certificates valid.
    t.equal((await s.http('PUT', `${BASE}/requests/${requestId}`, { token: user, body: { status: 'Completed' } })).body.Status, 8);
    t.equal((await s.http('GET', `${BASE}/smartcards/${cardUuid}`, { token: user })).body.Status, 3, 'Active');
    const onCard = (await s.http('GET', `${BASE}/smartcards/${cardUuid}/certificates`, { token: user })).body;
    t.same(onCard.map((x: any) => x.SerialNumber).sort(), [...serials].sort());
    t.match(onCard[0], { IsKeyHistory: false, ArchivedOnCa: false, CertificateType: 1 });
    const mine = (await s.http('GET', `${BASE}/certificates`, { token: user })).body;
    t.same(mine.map((x: any) => x.Status), serials.map(() => 0), 'valid');
    t.equal((await crlNow()).size, 0, 'nothing on the CRL');
    await ocspNow({ status: 'good' }, 'valid once the request completed');
    const get = await s.http('GET', `/ocsp/${encodeURIComponent(ocsp.request(leafPems[0]!).toString('base64'))}`);
    t.equal(get.status, 200);
    t.equal(get.headers.get('content-type'), 'application/ocsp-response');
    if ('ocsp' in c) t.match(ocsp.read(get.raw, leafPems[0]!), { status: 'good', verified: true }, 'OCSP GET (RFC 5019)');
    if (hasPythonCryptography) t.match(readStrictly('ocsp', get.raw), { status: 'SUCCESSFUL', responses: [{ status: 'GOOD' }] }, 'strict DER');
    const garbage = await s.http('POST', '/ocsp', { rawBody: Buffer.from('not an OCSP request'), headers: { 'content-type': 'application/ocsp-request' } });
    t.equal(garbage.status, 200);
    t.equal(garbage.raw.toString('hex'), '30030a0101', 'malformedRequest');

    // Suspend and reinstate: on hold, then released.
    const reinstate = idOf((await s.http('POST', `${BASE}/requests`, { token: agent, body: { type: 'Reinstate', target: USERS.user.sub, smartcard: cardUuid } })).body);
    t.equal((await s.http('PUT', `${BASE}/requests/${reinstate}/smartcards/${cardUuid}`, { token: agent, body: { status: 'Suspended' } })).body.Status, 5);
    for (const serial of serials) t.equal((await crlNow()).get(serial), 6, 'certificateHold while suspended');
    await ocspNow({ status: 'revoked', reason: 'certificateHold' }, 'on hold while suspended');
    t.equal((await s.http('PUT', `${BASE}/requests/${reinstate}/smartcards/${cardUuid}`, { token: agent, body: { status: 'Active' } })).body.Status, 3);
    t.equal((await crlNow()).size, 0, 'released when reinstated');

    // Retire -> its certificates are in the CRL, and gone from the user's list.
    const retire = idOf((await s.http('POST', `${BASE}/requests`, { token: agent, body: { type: 'Retire', target: USERS.user.sub, smartcard: cardUuid } })).body);
    t.equal((await s.http('PUT', `${BASE}/requests/${retire}/smartcards/${cardUuid}`, { token: agent, body: { status: 'Retired' } })).body.Status, 6);
    const crl = await crlNow();
    for (const serial of serials) t.equal(crl.get(serial), 5, 'revoked: cessationOfOperation');
    await ocspNow({ status: 'revoked', reason: 'cessationOfOperation' }, 'revoked when retired');
    t.same((await s.http('GET', `${BASE}/certificates`, { token: user })).body, [], 'retired ones are left out');
  });
}
