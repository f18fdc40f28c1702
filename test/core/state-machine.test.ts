// Every pair of card statuses through PUT-smartcard-status (via its gRPC twin), for the request
// types of SPEC 6's table. The expected changes are written out here from the SPEC, not taken
// from the code under test.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { errorCodeOf, mintToken, rpc, startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';

const S = { None: 0, New: 1, Assigned: 2, Active: 3, Disabled: 4, Suspended: 5, Retired: 6 };
const T = { Enroll: 1, Unblock: 5, Retire: 8, Revoke: 9, Reinstate: 10 };
const NAMES = Object.fromEntries(Object.entries(S).map(([k, v]) => [v, k]));

/** SPEC 6: from -> to changes each request type may make. */
const ALLOWED: Record<number, [number, number][]> = {
  [T.Enroll]: [[S.Assigned, S.Retired]],
  [T.Reinstate]: [[S.Active, S.Suspended], [S.Suspended, S.Active]],
  [T.Revoke]: [[S.Active, S.Disabled], [S.Suspended, S.Disabled]],
  [T.Retire]: [[S.Assigned, S.Retired], [S.Active, S.Retired], [S.Suspended, S.Retired], [S.Disabled, S.Retired]],
  [T.Unblock]: [],
};

t.test('card status changes follow the SPEC 6 table for every pair', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const { templates, requests, smartcards } = tc.clients;
  const admin = await mintToken(USERS.admin);
  const user = await mintToken(USERS.user);
  const agent = await mintToken(USERS.agent);
  const { uuid: templateUuid } = await rpc(templates, 'CreateProfileTemplate', { template: grpcTemplate() }, admin);

  async function cardIn(status: number): Promise<{ card: string; enroll: string }> {
    const { uuid: enroll } = await rpc(requests, 'CreateRequest', { profileTemplateUuid: templateUuid, type: T.Enroll }, user);
    const { uuid: card } = await rpc(smartcards, 'AssignSmartcard', { requestId: enroll, cardId: randomUUID() }, user);
    if (status === S.Assigned) return { card, enroll };
    await rpc(requests, 'UpdateRequestStatus', { uuid: enroll, status: 8 }, user);
    const via = async (type: number, to: number) => {
      const { uuid } = await rpc(requests, 'CreateRequest', { type, target: USERS.user.sub, smartcard: card }, agent);
      await rpc(smartcards, 'UpdateSmartcardStatus', { requestUuid: uuid, smartcardUuid: card, status: to }, agent);
    };
    if (status === S.Suspended) await via(T.Reinstate, S.Suspended);
    if (status === S.Disabled) await via(T.Revoke, S.Disabled);
    if (status === S.Retired) await via(T.Retire, S.Retired);
    return { card, enroll };
  }

  let checked = 0;
  for (const from of [S.Assigned, S.Active, S.Suspended, S.Disabled, S.Retired]) {
    for (const [typeName, type] of Object.entries(T)) {
      for (const to of Object.values(S)) {
        const { card, enroll } = await cardIn(from);
        t.equal((await rpc(smartcards, 'GetSmartcard', { uuid: card }, admin)).status, from, `set up ${NAMES[from]}`);
        let requestUuid: string;
        if (type === T.Enroll) {
          requestUuid = enroll;
          if (from !== S.Assigned) continue; // the Enroll request is Completed once its card is Active
        } else {
          const created = await rpc(requests, 'CreateRequest', { type, target: USERS.user.sub, smartcard: card }, agent).catch((e) => e);
          if (created.code !== undefined) {
            t.equal(errorCodeOf(created), 'WRONG_STATE', `${typeName} cannot be requested on a ${NAMES[from]} card`);
            t.ok(from === S.Retired || (type === T.Unblock && from !== S.Active) || (type === T.Reinstate && from === S.Disabled) || (type === T.Revoke && from === S.Disabled) || (type === T.Reinstate && from === S.Assigned) || (type === T.Revoke && from === S.Assigned) || (type === T.Unblock && from === S.Assigned));
            continue;
          }
          requestUuid = created.uuid;
        }
        const label = `${typeName}: ${NAMES[from]} -> ${NAMES[to]}`;
        const result = await rpc(smartcards, 'UpdateSmartcardStatus', { requestUuid, smartcardUuid: card, status: to }, type === T.Enroll ? user : agent).catch((e) => e);
        const allowed = to === from || ALLOWED[type]!.some(([f, x]) => f === from && x === to);
        if (allowed) {
          t.equal(result.status, to, `${label} is allowed`);
        } else {
          t.equal(errorCodeOf(result), 'INVALID_TRANSITION', `${label} is refused`);
        }
        t.equal((await rpc(smartcards, 'GetSmartcard', { uuid: card }, admin)).status, allowed ? to : from, `${label}: state left behind`);
        checked++;
      }
    }
  }
  t.ok(checked > 60, `${checked} pairs checked`);
});

t.test('20 concurrent binds of one cardid to 20 requests: exactly one wins', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  const { templates, requests, smartcards } = tc.clients;
  const admin = await mintToken(USERS.admin);
  const agent = await mintToken(USERS.agent);
  const { uuid: templateUuid } = await rpc(templates, 'CreateProfileTemplate', { template: grpcTemplate() }, admin);
  const targets = Array.from({ length: 20 }, () => randomUUID());
  const reqs = await Promise.all(
    targets.map((target) => rpc(requests, 'CreateRequest', { profileTemplateUuid: templateUuid, type: T.Enroll, target }, agent)),
  );
  const cardId = randomUUID();
  const results = await Promise.all(
    reqs.map((r) => rpc(smartcards, 'AssignSmartcard', { requestId: r.uuid, cardId }, agent).then((x) => x, (e) => e)),
  );
  const winners = results.filter((r) => r.created === true);
  t.equal(winners.length, 1, 'one bind created a card');
  t.same(
    results.filter((r) => r.code !== undefined).map((e) => errorCodeOf(e)),
    Array(19).fill('CARD_IN_USE'),
  );
  const found = await rpc(smartcards, 'FindSmartcard', { cardId }, admin);
  t.equal(found.uuid, winners[0].uuid);
});
