// Issue 9 item 8: internals never leak on gRPC. An error answered with a server-side status
// (INTERNAL, UNAVAILABLE) reaches the client with a generic message, whatever its own says, and
// the log keeps its cause with the correlation id; a fault of ours that has a code of its own
// (a crypto, CA or key-ring code) is answered with the public code INTERNAL.
import t from 'tap';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { CmError } from '../../core/errors.js';
import { createLogger } from '../../core/log.js';
import { publicError, toServiceError } from '../../core/grpc/status.js';

function capturedLog() {
  const lines: any[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, log: createLogger('info', 'cm-core-test', sink).child({ correlationId: 'corr-1234' }) };
}

t.test('an INTERNAL coded error: generic message, cause in the log with the correlation id', async (t) => {
  const { lines, log } = capturedLog();
  const err = new CmError('INTERNAL', 'the crypto worker failed at /opt/cm/workers/tasks.js', { cause: new Error('worker exited with code 134') });
  const answer = toServiceError(err, log);
  t.equal(answer.code, grpc.status.INTERNAL);
  t.equal(answer.details, 'Internal error.', 'the message the client sees is generic');
  t.same(answer.metadata?.get('cm-error-code'), ['INTERNAL']);
  await new Promise((r) => setImmediate(r));
  const logged = lines.find((l) => l.msg === 'internal error');
  t.ok(logged, 'logged');
  t.equal(logged.correlationId, 'corr-1234', 'with the correlation id');
  t.match(JSON.stringify(logged), /worker exited with code 134/, 'with the cause');
  t.match(JSON.stringify(logged), /the crypto worker failed/, 'and the message itself');
});

t.test('every server-side status is generic; faults with codes of their own answer INTERNAL', async (t) => {
  const { log } = capturedLog();
  for (const code of ['INVALID_KEY', 'SEAL_INVALID', 'CA_CONFIG_INVALID', 'KEY_RING_INVALID', 'KEY_VERSION_MISSING', 'WEAK_KEY'] as const) {
    const answer = toServiceError(new CmError(code, `detail of ${code} with internals`), log);
    t.equal(answer.code, grpc.status.INTERNAL, `${code} is INTERNAL`);
    t.equal(answer.details, 'Internal error.', `${code}: generic message`);
    t.same(answer.metadata?.get('cm-error-code'), [code === 'WEAK_KEY' ? 'WEAK_KEY' : 'INTERNAL'], `${code}: public code`);
  }
  const unavailable = toServiceError(new CmError('UNAVAILABLE', 'database at /var/lib/cm/cm.sqlite is locked'), log);
  t.equal(unavailable.code, grpc.status.UNAVAILABLE);
  t.notMatch(String(unavailable.details), /sqlite/, 'UNAVAILABLE does not show its cause either');
  const plain = toServiceError(new Error('TypeError at line 12'), log);
  t.equal(plain.details, 'Internal error.', 'a bare Error is generic');
  const client = publicError(new CmError('WRONG_STATE', 'The request is not Approved or Executing.'));
  t.equal(client.message, 'The request is not Approved or Executing.', 'a 4xx keeps its message');
  t.notOk(client.internal);
});
