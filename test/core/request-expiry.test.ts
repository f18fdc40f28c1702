// SPEC 3: Approved or Executing requests older than CM_REQUEST_TTL_HOURS are abandoned by the
// service, and a card bound to one that never became Active is retired with it.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { makeCaller } from '../../core/auth/caller.js';
import { SqliteStore } from '../../core/storage/sqlite.js';
import { throwawayVault } from '../../core/crypto/pin-vault.js';
import { RequestService, NO_EFFECTS } from '../../core/domain/requests.js';
import { SmartcardService } from '../../core/domain/smartcards.js';
import { ProfileTemplateService } from '../../core/domain/templates.js';
import { USERS } from '../support/fixtures.js';

/** A store in a temp folder, the services on a clock the test moves (TTL 72 h), and a self-service Enroll template. */
async function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'cm-ttl-'));
  const store = new SqliteStore(join(dir, 'cm.sqlite'), throwawayVault());
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const clock = { at: new Date('2026-01-01T00:00:00Z'), now: () => clock.at };
  const requests = new RequestService(store, clock, 72, NO_EFFECTS);
  const cards = new SmartcardService(store, clock, () => 1, NO_EFFECTS, requests);
  const templates = new ProfileTemplateService(store, clock);
  const admin = { caller: makeCaller({ userUuid: USERS.admin.sub, groups: ['cm-admins'] }, 'cm-admins'), correlationId: 'c' };
  const user = { caller: makeCaller({ userUuid: USERS.user.sub, name: 'Jane' }, 'cm-admins'), correlationId: 'c' };
  const template = await templates.create(admin, { name: 'T', policies: { Enroll: { enabled: true, selfServiceEnabled: true } } });
  const enroll = () => requests.create(user, { profileTemplateUuid: template.uuid, type: 1, target: '', dataCollection: [], comment: '', priority: 0, smartcard: '' });
  return { store, clock, requests, cards, user, enroll };
}

t.test('open requests expire after the TTL', async (t) => {
  const { store, clock, requests, cards, user, enroll } = await setup(t);

  const bound = await enroll();
  const { card } = await cards.assign(user, { requestId: bound.uuid, cardId: randomUUID(), atr: '' });
  clock.at = new Date('2026-01-03T23:59:00Z');
  const unbound = await enroll();
  t.equal((await requests.get(user, bound.uuid)).status, 4, 'still Executing just before the TTL');

  clock.at = new Date('2026-01-04T00:00:01Z');
  t.equal((await requests.get(user, bound.uuid)).status, 7, 'Abandoned once older than 72 hours');
  t.equal((await cards.get(user, card.uuid)).status, 6, 'its never-activated card is Retired');
  t.equal((await requests.get(user, unbound.uuid)).status, 3, 'a younger request stays Approved');
  clock.at = new Date('2026-01-07T00:00:00Z');
  t.equal(await requests.abandonExpired(), 1, 'the periodic sweep abandons the rest');
  const rows = await store.read.audit.list({ limit: 10 });
  t.equal(rows.filter((r) => r.action === 'AbandonExpiredRequest').length, 2);
});

t.test('binding a card to a request past its TTL abandons the request and answers 409', async (t) => {
  const { store, clock, cards, user, enroll } = await setup(t);
  const request = await enroll();

  clock.at = new Date('2026-01-04T00:00:01Z');
  await t.rejects(cards.assign(user, { requestId: request.uuid, cardId: randomUUID(), atr: '' }), { code: 'WRONG_STATE' });
  const stored = await store.read.requests.get(request.uuid);
  t.equal(stored?.status, 7, 'the request was abandoned');
  t.equal(stored?.newSmartcardUuid, '00000000-0000-0000-0000-000000000000', 'and no card was bound');
});
