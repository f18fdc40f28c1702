// Issue 9 item 4: CM_RATE_LIMIT counts verified callers (the user GUID), not token strings. The
// same user with several tokens, or one token spelled several ways, shares one budget; a bad
// token never reaches the limiter; another user keeps their own budget; refusals are 429
// RATE_LIMITED with Retry-After and counted in cm_rate_limited_total.
import t from 'tap';
import { randomUUID } from 'node:crypto';
import { register } from 'prom-client';
import { apiFor, q } from '../support/api.js';
import { mintToken } from '../support/core-harness.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { BASE, startStack } from '../support/stack.js';

const LIMIT = 4;

/** The same token with the last base64url character's unused low bits changed: another string, the same signature bytes. */
function respelled(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(token.at(-1)!);
  return token.slice(0, -1) + alphabet[last ^ 1];
}

async function refusals(): Promise<number> {
  const metric = await register.getSingleMetric('cm_rate_limited_total')?.get();
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

t.test('the rate limit counts verified callers', async (t) => {
  const s = await startStack({ CM_RATE_LIMIT: String(LIMIT) });
  t.teardown(() => s.close());
  const api = await apiFor(s);
  const template = await api.createTemplate(restTemplate({ diversify: false }));
  const request = await api.createRequest(api.tokens.user, { type: 'Enroll', profiletemplateuuid: template });
  const cardId = randomUUID();
  const card = await api.bind(api.tokens.user, request, cardId);
  const path = `${BASE}/requests/${request}/smartcards/${card}/authenticationresponse?${q({ cardid: cardId, challenge: '1hFD+cz/0so=', diversified: 'false' })}`;
  const before = await refusals();

  // Five tokens of the same user, and the first one spelled another way.
  const tokens = [api.tokens.user];
  for (let i = 0; i < 4; i++) tokens.push(await mintToken({ ...USERS.user, name: `token ${i}` }));
  const respelledToken = respelled(tokens[0]!);
  const first = await s.http('GET', path, { token: respelledToken });
  t.equal(first.status, 200, `the respelled token verifies: ${JSON.stringify(first.body)}`);
  const statuses: number[] = [];
  for (const token of [...tokens, respelledToken]) statuses.push((await s.http('GET', path, { token })).status);
  t.same(statuses.filter((x) => x === 200).length, LIMIT - 1, 'one budget for every token and spelling of the user');
  const refused = await s.http('GET', path, { token: tokens[3] });
  t.equal(refused.status, 429);
  t.match(refused.body, { Code: 'RATE_LIMITED', CorrelationId: String });
  t.match(refused.headers.get('retry-after'), /^\d+$/, 'Retry-After');
  t.ok((await refusals()) - before >= 1, 'refusals are counted in cm_rate_limited_total');

  const garbage = await s.http('GET', path, { token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.' });
  t.equal(garbage.status, 401, 'an unsigned token is refused before the limiter');
  const agentCard = await api.createRequest(api.tokens.agent, { type: 'Enroll', profiletemplateuuid: template, target: USERS.other.sub });
  const agentCardId = randomUUID();
  const agentScid = await api.bind(api.tokens.agent, agentCard, agentCardId);
  const agentPath = `${BASE}/requests/${agentCard}/smartcards/${agentScid}/authenticationresponse?${q({ cardid: agentCardId, challenge: '1hFD+cz/0so=', diversified: 'false' })}`;
  t.equal((await s.http('GET', agentPath, { token: api.tokens.agent })).status, 200, 'another caller has a budget of their own');
  t.equal((await s.http('GET', `${BASE}/smartcards/${card}`, { token: api.tokens.user })).status, 200, 'routes that hand out no secret are not limited');
});
