// The gRPC twins beyond the seed flow: the batch challenge-response stream of issuance lines,
// certificate requests refused with nothing stored, and request expiry.
import t from 'tap';
import { DbSnapshots } from '../support/db-snapshot.js';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import forge from 'node-forge';
import { metadataFor, mintToken, rpc, errorCodeOf, startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';
import { answerChallenge, SimulatedSmartcard } from '../support/simcard.js';

/** Sends the batches on one stream and collects every answer message until the stream ends. */
async function runBatches(stream: grpc.ClientDuplexStream<any, any>, batches: object[][]): Promise<any[]> {
  const answers: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (r) => answers.push(r));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  for (const items of batches) stream.write({ items });
  stream.end();
  await done;
  return answers;
}

t.test('ComputeAuthenticationResponses answers each item of a batch or its own error, and audits each', async (t) => {
  const tc = await startTestCore({ CM_MAX_RESPONSES_PER_REQUEST: '3' });
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
  const item = (id: string, c: (typeof cards)[number], challenge: Buffer, extra: object = {}) => ({
    id,
    item: { ...c, challenge: challenge.toString('base64'), diversified: false, atr: '', ...extra },
  });
  const challenges = new Map<string, Buffer>();
  const first = cards.map((c, i) => {
    challenges.set(String(i), Buffer.alloc(16, i));
    return item(String(i), c, challenges.get(String(i))!);
  });
  first.push(item('mismatch', cards[0]!, Buffer.alloc(8), { cardId: randomUUID() }));
  first.push(item('malformed', { ...cards[0]!, requestUuid: 'not-a-guid' }, Buffer.alloc(8)));
  first.push(item('short', cards[0]!, Buffer.alloc(4)));
  // The limit is 3 per request: card 1's request gets 3 more answers here, the rest are refused.
  const second = Array.from({ length: 5 }, (_, i) => item(`again-${i}`, cards[1]!, Buffer.alloc(8, i)));
  const answers = await runBatches((smartcards as any).ComputeAuthenticationResponses(metadataFor(agent)), [first, second]);

  t.equal(answers.length, 2, 'one answer message per batch');
  const [a, b] = answers[0].results.length === first.length ? answers : [answers[1], answers[0]];
  t.same(a.results.map((r: any) => r.id), first.map((i) => i.id), 'results in the batch order');
  const byId = new Map([...a.results, ...b.results].map((r: any) => [r.id, r]));
  // The two batches are worked on at once: card 1's item in the first batch is answered, unless
  // the second batch took the last of card 1's answers first (which one commits first is not fixed).
  for (const [id, challenge] of challenges) {
    if (id === '1' && byId.get(id).error?.code === 'LIMIT_EXCEEDED') continue;
    t.equal(byId.get(id).response, answerChallenge('3DES', '00'.repeat(24), challenge).toString('base64'), `item ${id}`);
  }
  t.match(byId.get('mismatch'), { result: 'error', error: { code: 'CARD_MISMATCH', status: grpc.status.FAILED_PRECONDITION } });
  t.match(byId.get('malformed'), { result: 'error', error: { code: 'INVALID_ARGUMENT', status: grpc.status.INVALID_ARGUMENT } });
  t.match(byId.get('short'), { result: 'error', error: { code: 'INVALID_ARGUMENT' } });
  // Card 1 gets 3 answers in all (its item in the first batch and the second batch together); in
  // the second batch they go in item order, then LIMIT_EXCEEDED.
  const firstAnswered = byId.get('1').response ? 1 : 0;
  t.same(
    b.results.map((r: any) => r.response ? 'ok' : r.error.code),
    ['ok', 'ok', 'ok', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED'].map((v, i) => (i === 2 && firstAnswered ? 'LIMIT_EXCEEDED' : v)),
  );
  t.equal(byId.get('again-0').response, answerChallenge('3DES', '00'.repeat(24), Buffer.alloc(8, 0)).toString('base64'));

  // State left behind: counts and statuses of the requests, one audit row per item.
  const db = await DbSnapshots.open(tc.database);
  t.teardown(() => db.close());
  const counted = (uuid: string) => db.row('SELECT status, responses_issued AS n FROM requests WHERE uuid = ?', uuid);
  t.same(await counted(cards[1]!.requestUuid), { status: 4, n: 3 }, 'limit reached, Executing');
  t.same(await counted(cards[2]!.requestUuid), { status: 4, n: 1 });
  const audit = await db.rows<{ outcome: string; detail: string }>(
    "SELECT outcome, detail FROM audit_log WHERE action = 'GetAuthenticationResponse' ORDER BY id",
  );
  t.equal(audit.filter((r) => r.outcome === 'Succeeded').length, 42, '40 + 2 answers audited');
  t.same(
    audit.filter((r) => r.outcome === 'Refused').map((r) => JSON.parse(r.detail).code).sort(),
    ['CARD_MISMATCH', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED', 'LIMIT_EXCEEDED'],
  );
  t.notMatch(JSON.stringify(audit), /response|[A-Za-z0-9+/]{22}==/, 'no response in the audit rows');
});

t.test('ComputeAuthenticationResponses refuses an unauthenticated stream and an oversized batch', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const { smartcards } = tc.clients;
  const agent = await mintToken(USERS.agent);
  const unauthenticated = runBatches((smartcards as any).ComputeAuthenticationResponses(metadataFor()), [[]]);
  await t.rejects(unauthenticated, { code: grpc.status.UNAUTHENTICATED });

  const oversized = Array.from({ length: 1025 }, (_, i) => ({ id: String(i), item: {} }));
  await t.rejects(runBatches((smartcards as any).ComputeAuthenticationResponses(metadataFor(agent)), [oversized]), {
    code: grpc.status.INVALID_ARGUMENT,
    details: /at most 1024 items/,
  });
  const db = await DbSnapshots.open(tc.database);
  t.teardown(() => db.close());
  t.same(await db.row('SELECT count(*) AS n FROM audit_log'), { n: 0 }, 'nothing of the oversized batch was worked on');
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
  const db = await DbSnapshots.open(tc.database);
  const stored = async () => (await db.row<{ n: number }>('SELECT count(*) AS n FROM certificates'))?.n;
  t.equal(await stored(), 0, 'nothing stored');
  const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${rsa.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  const ok = await submit([pem, ec.replace(/(.{76})/g, '$1\r\n')]);
  t.equal(ok.certificates?.length, 2, 'PEM armour and line breaks are accepted');
  t.equal(await stored(), 2);
  await db.close();
});
