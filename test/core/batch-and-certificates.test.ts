// The gRPC twins beyond the seed flow: the batch challenge-response stream of issuance lines,
// certificate requests refused with nothing stored, and request expiry.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import { metadataFor, mintToken, rpc, errorCodeOf, startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';
import { answerChallenge, SimulatedSmartcard } from '../support/simcard.js';

t.test('ComputeAuthenticationResponses answers each item or its own error', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const { templates, requests, smartcards } = tc.clients;
  const admin = await mintToken(USERS.admin);
  const agent = await mintToken(USERS.agent);
  const { uuid: templateUuid } = await rpc(templates, 'CreateProfileTemplate', { template: grpcTemplate({ diversify: false }) }, admin);
  const cards = await Promise.all(
    Array.from({ length: 40 }, async () => {
      const { uuid: requestUuid } = await rpc(requests, 'CreateRequest', { profileTemplateUuid: templateUuid, type: 1, target: randomUUID() }, agent);
      const cardId = randomUUID();
      const { uuid: smartcardUuid } = await rpc(smartcards, 'AssignSmartcard', { requestId: requestUuid, cardId }, agent);
      return { requestUuid, smartcardUuid, cardId };
    }),
  );
  const stream = (smartcards as any).ComputeAuthenticationResponses(metadataFor(agent)) as grpc.ClientDuplexStream<any, any>;
  const results: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (r) => results.push(r));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const challenges = new Map<string, Buffer>();
  cards.forEach((c, i) => {
    const challenge = Buffer.alloc(16, i);
    challenges.set(String(i), challenge);
    stream.write({ id: String(i), item: { ...c, challenge: challenge.toString('base64'), diversified: false, atr: '' } });
  });
  stream.write({ id: 'mismatch', item: { ...cards[0], cardId: randomUUID(), challenge: 'AAAAAAAAAAA=', diversified: false } });
  stream.write({ id: 'malformed', item: { ...cards[0], challenge: 'AAAA', diversified: false } });
  stream.end();
  await done;
  t.equal(results.length, 42, 'one answer per item');
  const byId = new Map(results.map((r) => [r.id, r]));
  for (const [id, challenge] of challenges) {
    const expected = answerChallenge('3DES', '00'.repeat(24), challenge).toString('base64');
    t.equal(byId.get(id).response, expected, `item ${id}`);
  }
  t.match(byId.get('mismatch'), { result: 'error', error: { code: 'CARD_MISMATCH', status: grpc.status.FAILED_PRECONDITION } });
  t.match(byId.get('malformed'), { result: 'error', error: { code: 'INVALID_ARGUMENT', status: grpc.status.INVALID_ARGUMENT } });

  const unauthenticated = (smartcards as any).ComputeAuthenticationResponses(metadataFor()) as grpc.ClientDuplexStream<any, any>;
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    unauthenticated.on('error', resolve);
    unauthenticated.on('data', () => undefined);
    unauthenticated.end();
  });
  t.equal(err.code, grpc.status.UNAUTHENTICATED);
});

t.test('certificate requests that are wrong in any way are refused with nothing stored', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const { templates, requests, smartcards, certificates } = tc.clients;
  const admin = await mintToken(USERS.admin);
  const user = await mintToken(USERS.user);
  const certificateTemplates = [
    { templateCommonName: 'Logon', keyAlgorithmName: 'RSA', keySize: 2048, keyUsages: 2 },
    { templateCommonName: 'Ec', keyAlgorithmName: 'ECDSA_P256', keySize: 256, keyUsages: 2 },
  ];
  const { uuid: templateUuid } = await rpc(templates, 'CreateProfileTemplate', { template: { ...grpcTemplate(), certificateTemplates } }, admin);
  const { uuid: requestUuid } = await rpc(requests, 'CreateRequest', { profileTemplateUuid: templateUuid, type: 1 }, user);
  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: '00'.repeat(24) });

  const submit = (csrs: string[]) => rpc(certificates, 'SubmitCertificateRequests', { requestUuid, certificateRequests: csrs }, user).catch((e) => e);
  card.generateKeyPair(0, { algorithm: 'RSA', keySize: 2048 });
  card.generateKeyPair(1, { algorithm: 'ECDSA_P256' });
  const rsa = card.createCertificateRequest(0, 'CN=Jane');
  const ec = card.createCertificateRequest(1, 'CN=Jane');
  t.equal(errorCodeOf(await submit([rsa, ec])), 'WRONG_STATE', 'no card bound yet');
  await rpc(smartcards, 'AssignSmartcard', { requestId: requestUuid, cardId: card.cardId }, user);

  const forged = Buffer.from(rsa, 'base64');
  forged[forged.length - 5] ^= 1;
  const rsa1024 = (() => {
    const keys = forge.pki.rsa.generateKeyPair(1024);
    const csr = forge.pki.createCertificationRequest();
    csr.publicKey = keys.publicKey;
    csr.setSubject([{ name: 'commonName', value: 'x' }]);
    csr.sign(keys.privateKey, forge.md.sha256.create());
    return Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary').toString('base64');
  })();
  const cases: [string, string[]][] = [
    ['one request too few', [rsa]],
    ['one too many', [rsa, ec, ec]],
    ['not base64', ['!!!', ec]],
    ['truncated DER', [rsa.slice(0, 200), ec]],
    ['forged signature', [forged.toString('base64'), ec]],
    ['key of the wrong algorithm', [ec, rsa]],
    ['RSA key too small', [rsa1024, ec]],
  ];
  for (const [label, csrs] of cases) {
    const err = await submit(csrs);
    t.equal(err.code, grpc.status.INVALID_ARGUMENT, label);
    t.ok(err.details.length > 0, `${label}: says why`);
  }
  const db = new Database(join(tc.dir, 'cm.sqlite'), { readonly: true });
  t.equal((db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n, 0, 'nothing stored');
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${rsa.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  const ok = await submit([pem, ec.replace(/(.{76})/g, '$1\r\n')]);
  t.equal(ok.certificates?.length, 2, 'PEM armour and line breaks are accepted');
  t.equal((db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n, 2);
  db.close();
});
