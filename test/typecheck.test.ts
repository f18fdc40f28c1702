// The tests are TypeScript too, but the build (tsconfig.json) leaves them out and tap runs them
// through a loader that does not check types: tsconfig.test.json type-checks them with the
// sources, under the same strict settings (unused names included), so that they cannot drift from
// the types they exercise.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { childEnv } from './support/core-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

t.test('tsc -p tsconfig.test.json: no errors in the tests or the sources', (t) => {
  const r = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.test.json'], { cwd: ROOT, env: childEnv(), encoding: 'utf8' });
  t.equal(r.status, 0, 'tsc exits 0');
  t.equal(`${r.stdout}${r.stderr}`.trim(), '', 'and reports nothing');
  t.end();
});
