// Issue 9 item 5: the batch stream lives no longer than what let it in. Every batch is
// authorised with the token as it is then (an expired one ends the stream UNAUTHENTICATED), an
// idle stream is ended after CM_STREAM_IDLE_SECONDS, and a caller holds at most
// CM_MAX_STREAMS_PER_CALLER open streams (RESOURCE_EXHAUSTED RATE_LIMITED beyond).
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { JWT_SECRET, metadataFor, mintToken, startTestCore } from '../support/core-harness.js';
import { USERS } from '../support/fixtures.js';

const BATCH = { items: [{ id: 'x', item: { requestUuid: 'not-a-guid', smartcardUuid: '', cardId: '', challenge: '', diversified: false, atr: '' } }] };

/** An open stream: send a batch and wait for its answer, or wait for the stream's end. */
function openStream(client: any, token: string) {
  const call = client.ComputeAuthenticationResponses(metadataFor(token));
  const answers: any[] = [];
  let waiting: ((v: any) => void) | undefined;
  const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
    call.on('error', (err: grpc.ServiceError) => resolve(err));
    call.on('end', () => resolve(undefined));
  });
  call.on('data', (m: any) => {
    answers.push(m);
    waiting?.(m);
  });
  return {
    call,
    answers,
    ended,
    send: () =>
      new Promise((resolve) => {
        waiting = resolve;
        call.write(BATCH);
      }),
  };
}

t.test('a batch sent after the token expired ends the stream UNAUTHENTICATED', async (t) => {
  const tc = await startTestCore();
  t.teardown(() => tc.close());
  // Valid for about 2 more seconds: exp is 58 s ago and the leeway is 60 s.
  const exp = Math.floor(Date.now() / 1000) - 58;
  const token = await new SignJWT({ groups: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject(USERS.agent.sub).setExpirationTime(exp).sign(Buffer.from(JWT_SECRET));
  const stream = openStream(tc.clients.smartcards, token);
  const first: any = await stream.send();
  t.equal(first.results[0].error.code, 'INVALID_ARGUMENT', 'the first batch is worked on');
  await new Promise((r) => setTimeout(r, 3500));
  stream.call.write(BATCH);
  const err = await stream.ended;
  t.equal(err?.code, grpc.status.UNAUTHENTICATED, 'the next batch ends the stream');
  t.equal(stream.answers.length, 1, 'and is not answered');
});

t.test('an idle stream is ended after CM_STREAM_IDLE_SECONDS', async (t) => {
  const tc = await startTestCore({ CM_STREAM_IDLE_SECONDS: '1' });
  t.teardown(() => tc.close());
  const stream = openStream(tc.clients.smartcards, await mintToken(USERS.agent));
  await stream.send();
  const err = await stream.ended;
  t.equal(err?.code, grpc.status.DEADLINE_EXCEEDED);
  t.match(err?.details, /idle/);
});

t.test('a caller holds at most CM_MAX_STREAMS_PER_CALLER open streams', async (t) => {
  const tc = await startTestCore({ CM_MAX_STREAMS_PER_CALLER: '2' });
  t.teardown(() => tc.close());
  const agent = await mintToken(USERS.agent);
  const agentAgain = await mintToken({ ...USERS.agent, name: 'same user, another token' });
  const a = openStream(tc.clients.smartcards, agent);
  const b = openStream(tc.clients.smartcards, agentAgain);
  await Promise.all([a.send(), b.send()]);
  const c = openStream(tc.clients.smartcards, agent);
  c.call.write(BATCH);
  const refused = await c.ended;
  t.equal(refused?.code, grpc.status.RESOURCE_EXHAUSTED, 'a third stream of the same user, whatever the token');
  t.same(refused?.metadata.get('cm-error-code'), ['RATE_LIMITED']);
  const other = openStream(tc.clients.smartcards, await mintToken(USERS.admin));
  t.ok(await other.send(), 'another caller is not affected');
  a.call.end();
  t.equal(await a.ended, undefined, 'a stream ends normally');
  const d = openStream(tc.clients.smartcards, agent);
  t.ok(await d.send(), 'a closed stream frees its place');
  for (const s of [b, d, other]) s.call.end();
  await Promise.all([b.ended, d.ended, other.ended]);
});
