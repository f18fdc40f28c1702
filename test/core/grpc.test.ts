import t from 'tap';
import { randomUUID } from 'node:crypto';
import { errorCodeOf, mintToken, rpc, startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';

t.test('the core answers the seed flow over grpc-js with a token in metadata', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const admin = await mintToken(USERS.admin);
  const user = await mintToken(USERS.user);
  const other = await mintToken(USERS.other);
  const { templates, requests, smartcards, audit } = tc.clients;

  const created = await rpc(templates, 'CreateProfileTemplate', { template: grpcTemplate() }, admin);
  t.match(created.uri, /^api\/v1\.0\/profiletemplates\/[0-9a-f-]{36}$/);
  const list = await rpc(templates, 'ListProfileTemplates', {}, user);
  t.equal(list.profileTemplates.length, 1);

  await t.rejects(rpc(templates, 'CreateProfileTemplate', { template: grpcTemplate() }, user), { code: 7 });
  await t.rejects(rpc(templates, 'ListProfileTemplates', {}), { code: 16 });

  const req = await rpc(requests, 'CreateRequest', { profileTemplateUuid: created.uuid, type: 1 }, user);
  const request = await rpc(requests, 'GetRequest', { uuid: req.uuid }, user);
  t.equal(request.status, 3, 'approved at creation');
  t.equal(request.requestType, 1);
  await t.rejects(rpc(requests, 'GetRequest', { uuid: req.uuid }, other), { code: 5 });

  const cardId = randomUUID();
  const bound = await rpc(smartcards, 'AssignSmartcard', { requestId: req.uuid, cardId, atr: '3B8D0180FBA000000397425446590301C8' }, user);
  t.equal(bound.created, true);
  const again = await rpc(smartcards, 'AssignSmartcard', { requestId: req.uuid, cardId: cardId.toUpperCase() }, user);
  t.equal(again.created, false, 'idempotent retry');
  t.equal(again.uuid, bound.uuid);
  const card = await rpc(smartcards, 'GetSmartcard', { uuid: bound.uuid }, user);
  t.equal(card.status, 2);
  t.equal(card.serialNumber, `{${cardId}}`);
  t.equal(card.atr, '3b8d0180fba000000397425446590301c8');
  t.equal(card.flags, 1);
  t.equal((await rpc(requests, 'GetRequest', { uuid: req.uuid }, user)).status, 4, 'executing after bind');

  const done = await rpc(requests, 'UpdateRequestStatus', { uuid: req.uuid, status: 8 }, user);
  t.equal(done.status, 8);
  t.equal((await rpc(smartcards, 'GetSmartcard', { uuid: bound.uuid }, user)).status, 3, 'active after completion');

  const err = await rpc(smartcards, 'AssignSmartcard', { requestId: randomUUID(), cardId }, user).catch((e) => e);
  t.equal(err.code, 5);
  t.equal(errorCodeOf(err), 'NOT_FOUND');

  const rows = await rpc(audit, 'ListAuditRecords', { requestUuid: req.uuid }, admin);
  t.same(rows.records.map((r: any) => r.action).sort(), ['AssignSmartcard', 'CreateRequest', 'UpdateRequestStatus']);
});
