// Reads V8 CPU profiles (`npm run bench -- --cpu-prof DIR` writes one per thread of every
// service process) and prints where the time went: the functions with the most self time, and
// the same time grouped by layer (our core, gateway and workers; each dependency; Node itself).
//   node dist/bench/profile-summary.js DIR-or-FILE... [--top N] [--last SECONDS] [--skip SECONDS] [--ops N]
// --last keeps only the final seconds of each profile (a process's last scenario, without its
// start-up and seeding); --skip S first drops the final S seconds (with --last: a window that ends
// S seconds before the profile does, an earlier scenario of the process); --ops adds microseconds per operation when N operations ran in that time.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Which part of the system a script belongs to. */
export function layerOf(url: string): string {
  if (!url) return '(native, GC, idle)';
  if (url.startsWith('node:')) return 'node (internals)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const ours = /\/(core|gateway|workers|proto|bench|bin)\/([^/]+)/.exec(url);
  if (ours) return ours[1] === 'core' || ours[1] === 'workers' ? `${ours[1]}/${ours[2]!.replace(/\.(js|ts)$/, '')}` : ours[1]!;
  return url;
}

function profilesIn(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path).flatMap((name) => profilesIn(join(path, name))).filter((p) => p.endsWith('.cpuprofile'));
}

interface Totals {
  self: Map<string, number>;
  layers: Map<string, number>;
  totalMs: number;
}

/**
 * Self time per function and per layer; with `lastSeconds`, only of the profile's final seconds,
 * and with `skipSeconds`, without the very last ones (the window ends that much earlier).
 */
export function summarize(profile: CpuProfile, lastSeconds?: number, skipSeconds = 0): Totals {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const layers = new Map<string, number>();
  let totalMs = 0;
  const to = profile.endTime - skipSeconds * 1e6;
  const from = lastSeconds === undefined ? -Infinity : to - lastSeconds * 1e6;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) return;
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    // Idle: V8's own marker, and piscina's worker threads blocked waiting for a task.
    if (functionName === '(idle)' || functionName === 'atomicsWaitLoop') return;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + ms);
    const layer = functionName === '(garbage collector)' ? '(garbage collector)' : functionName === '(program)' ? '(program: native)' : layerOf(url);
    layers.set(layer, (layers.get(layer) ?? 0) + ms);
    totalMs += ms;
  });
  return { self, layers, totalMs };
}

function top(map: Map<string, number>, n: number, totalMs: number, ops?: number): string {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, ms]) => `  ${ms.toFixed(0).padStart(7)} ms ${((ms / totalMs) * 100).toFixed(1).padStart(5)}%${ops ? ` ${((ms * 1000) / ops).toFixed(0).padStart(6)} us/op` : ''}  ${k}`)
    .join('\n');
}

function main(args: string[]): void {
  let n = 25;
  let lastSeconds: number | undefined;
  let ops: number | undefined;
  let skipSeconds = 0;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') n = Number(args[++i]);
    else if (args[i] === '--last') lastSeconds = Number(args[++i]);
    else if (args[i] === '--skip') skipSeconds = Number(args[++i]);
    else if (args[i] === '--ops') ops = Number(args[++i]);
    else paths.push(args[i]!);
  }
  if (paths.length === 0 || [n, lastSeconds ?? 1, ops ?? 1].some((v) => !(v > 0)) || !(skipSeconds >= 0)) {
    process.stderr.write('usage: node dist/bench/profile-summary.js DIR-or-FILE... [--top N] [--last SECONDS] [--skip SECONDS] [--ops N]\n');
    process.exit(2);
  }
  for (const file of paths.flatMap(profilesIn).sort()) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const totals = summarize(profile, lastSeconds, skipSeconds);
    if (totals.totalMs < 50) continue;
    const wallMs = Math.min((profile.endTime - profile.startTime) / 1000 - skipSeconds * 1000, lastSeconds === undefined ? Infinity : lastSeconds * 1000);
    process.stdout.write(`\n== ${file}\n   busy ${totals.totalMs.toFixed(0)} ms of ${wallMs.toFixed(0)} ms${lastSeconds === undefined ? '' : ' (the last ones)'}\n`);
    process.stdout.write(
      `-- by layer\n${top(totals.layers, 15, totals.totalMs, ops)}\n-- top self time\n${top(totals.self, n, totals.totalMs, ops)}\n`,
    );
  }
}

main(process.argv.slice(2));
