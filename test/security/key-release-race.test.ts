// Issue 9 item 1, SPEC 3 and 12: a key, a challenge-response or a PIN is never committed for a
// card whose status changed first. The card is retired while single calls of each kind and a
// stream batch are in flight, round after round at varied moments; in the audit log (in
// insertion order) no Succeeded answer for the card may follow the retirement's own row.
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { makeCaller } from '../../core/auth/caller.js';
import { startTestCore } from '../support/core-harness.js';
import { grpcTemplate, USERS } from '../support/fixtures.js';

const ROUNDS = 40;
const KEY_ACTIONS = new Set(['GetAuthenticationResponse', 'GetDiversifiedKey', 'GetServerProposedPin']);

t.test('no key, response or PIN is committed after the card was retired', async (t) => {
  const tc = await startTestCore({ CM_MAX_RESPONSES_PER_REQUEST: '0' });
  t.teardown(() => tc.close());
  const { domain, store } = tc.core;
  const ctx = (u: Pick<typeof USERS.user, 'sub' | 'name' | 'groups'>) => ({ caller: makeCaller({ userUuid: u.sub, name: u.name, groups: u.groups }, 'cm-admins'), correlationId: randomUUID() });
  const template = await domain.templates.create(ctx(USERS.admin), grpcTemplate());
  const user = ctx(USERS.user);

  let violations = 0;
  let refusedAfter = 0;
  let succeeded = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const request = await domain.requests.create(user, { profileTemplateUuid: template.uuid, type: 1, target: '', dataCollection: [], comment: '', priority: 0, smartcard: '' });
    const cardId = randomUUID();
    const { card } = await domain.smartcards.assign(user, { requestId: request.uuid, cardId, atr: '' });
    const ref = { requestUuid: request.uuid, smartcardUuid: card.uuid, cardId, atr: '' };
    const challenge = () => randomBytes(8).toString('base64');

    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 10; i++) {
      calls.push(domain.cardSecrets.authenticationResponse(user, { ...ref, challenge: challenge(), diversified: i % 2 === 0 }));
      calls.push(domain.cardSecrets.diversifiedKey(user, ref));
      calls.push(domain.cardSecrets.serverProposedPin(user, { ...ref, challenge: challenge() }));
    }
    calls.push(domain.cardSecrets.authenticationResponses(user, Array.from({ length: 32 }, (_, i) => ({ ...ref, challenge: challenge(), diversified: i % 2 === 1 }))));
    // The retirement lands at a different moment each round: at once, after some event-loop turns, or later.
    const retire = (async () => {
      const wait = round % 4 === 0 ? 0 : (round * 7) % 25;
      for (let i = 0; i < wait; i++) await new Promise((r) => setImmediate(r));
      if (round % 5 === 4) await new Promise((r) => setTimeout(r, round % 3));
      await domain.smartcards.updateStatus(user, request.uuid, card.uuid, 6);
    })();
    await Promise.allSettled([...calls, retire]);
    await retire;

    const rows = (await store.read.audit.list({ smartcardUuid: card.uuid, limit: 10_000 })).sort((a, b) => a.id - b.id);
    const retiredAt = rows.findIndex((r) => r.action === 'UpdateSmartcardStatus');
    t.ok(retiredAt >= 0, 'the retirement is audited');
    const after = rows.slice(retiredAt + 1).filter((r) => KEY_ACTIONS.has(r.action));
    violations += after.filter((r) => r.outcome === 'Succeeded').length;
    refusedAfter += after.filter((r) => r.outcome === 'Refused').length;
    succeeded += rows.slice(0, retiredAt).filter((r) => KEY_ACTIONS.has(r.action) && r.outcome === 'Succeeded').length;
  }
  t.equal(violations, 0, 'no Succeeded key, response or PIN audit row after a retirement');
  t.ok(succeeded > 0, `answers were committed before retirements (${succeeded})`);
  t.ok(refusedAfter > 0, `calls in flight at a retirement were refused and audited as refused (${refusedAfter})`);
});
