// CM_HEAP_GROWING_PERCENT (common/heap.ts): the service's processes collect their old generation
// sooner than V8's own heuristic would, which is what holds the service's peak RSS under load
// (issue 14). Measured here on a load made for it, in a child process of its own (the flag is
// process-wide): 30 MB of live objects, and 6 million short-lived objects that each survive two
// young collections (held in a ring while "in flight", as a request's objects are) and die in the
// old generation. The peak heap is compared with and without the setting, both on a 4 GiB heap
// limit (V8's own factor depends on the limit, which Node derives from the host's memory); the
// figures on this machine: 336 MB with V8's heuristic, 138 MB at 25 %.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { DEFAULT_HEAP_GROWING_PERCENT, heapGrowingPercent } from '../../common/heap.js';
import { childEnv } from '../support/core-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const CHURN = `
import { applyHeapGrowingPercent } from './dist/common/heap.js';
applyHeapGrowingPercent(Number(process.argv[1]));
const live = [];
for (let i = 0; i < 300_000; i++) live.push({ a: i, b: 'x' + i, c: [i, i + 1] });
const ring = new Array(200_000);
let peak = 0;
for (let i = 0; i < 6_000_000; i++) {
  ring[i % ring.length] = { i, s: 'y' + (i & 1023), arr: [i] };
  if ((i & 0xffff) === 0) peak = Math.max(peak, process.memoryUsage().heapTotal);
}
process.stdout.write(String(Math.round(peak / 1048576) + live.length * 0));
`;

function peakHeapMb(percent: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-old-space-size=4096', '--input-type=module', '-e', CHURN, String(percent)], { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(Number(out)) : reject(new Error(`the churn exited ${code}`))));
  });
}

t.test('a growing percent holds the heap of a churning process far below what V8 lets it reach', async (t) => {
  const heuristic = await peakHeapMb(0);
  const tight = await peakHeapMb(25);
  t.ok(heuristic > 0 && tight > 0, `peaks measured: ${heuristic} MB with V8's heuristic, ${tight} MB at 25 %`);
  t.ok(tight < heuristic * 0.6, `at 25 % the peak is under 60 % of the heuristic's (${tight} < ${Math.round(heuristic * 0.6)})`);
});

t.test('the percent set: the configured one, else the default on a heap limit of 2 GiB or more and nothing below', async (t) => {
  const GiB = 1024 ** 3;
  t.equal(heapGrowingPercent(undefined, 4 * GiB), DEFAULT_HEAP_GROWING_PERCENT);
  t.equal(heapGrowingPercent(undefined, 2 * GiB), DEFAULT_HEAP_GROWING_PERCENT);
  t.equal(heapGrowingPercent(undefined, 2 * GiB - 1), 0, "below: V8's own factor is at most 2 already");
  t.equal(heapGrowingPercent(0, 4 * GiB), 0, '0: nothing set');
  t.equal(heapGrowingPercent(250, 512 * 1024 ** 2), 250, 'a configured percent, whatever the limit');
});
