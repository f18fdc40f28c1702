// The one table `npm run bench` prints (a Markdown table, so a run can be pasted into the
// README as is), the targets of issue 5 (and issue 3's pool-versus-inline check) evaluated on the
// figures of this run, and the latency histograms.
import { formatHistogram } from './latency.js';
import { perSecond, type LoadResult } from './load-result.js';

export type RowId =
  | 'hello'
  | 'noop'
  | 'grpcNoop'
  | 'sign1'
  | 'sign2'
  | 'auditRows'
  | 'auth'
  | 'authInline'
  | 'authToken'
  | 'pin'
  | 'bindSmall'
  | 'readSmall'
  | 'cert'
  | 'certToken'
  | 'grpcUnary'
  | 'grpcStream'
  | 'bindLarge'
  | 'readLarge'
  | 'pgAuth1'
  | 'pgBind1'
  | 'pgRead1'
  | 'pgAuth2'
  | 'pgBind2'
  | 'pgRead2';

export interface Measurement {
  result: LoadResult;
  /** Peak VmRSS of the server process while the scenario ran; none for local measurements. */
  peakRssBytes?: number;
  /** CPU that other processes on the machine used meanwhile, in cores (noise). */
  otherCpu?: number;
  /** CPU seconds the server process used in the window, all its threads. */
  serverCpuSeconds?: number;
}

export interface RowLabels {
  smallCards: number;
  largeCards: number;
}

export function rowLabels(n: RowLabels): Record<RowId, string> {
  const cards = (count: number) => `${count.toLocaleString('en-US')} cards`;
  return {
    hello: 'baseline: Fastify hello-world',
    noop: 'baseline: Fastify -> grpc-js unary no-op',
    grpcNoop: 'grpc-js unary no-op, direct (no HTTP)',
    sign1: 'raw RSA-2048 signatures, CA key, 1 thread',
    sign2: 'raw RSA-2048 signatures, CA key, 2 threads',
    auditRows: 'SQLite audit rows (random cards), a stream batch per commit',
    auth: 'REST authenticationresponse',
    authInline: 'REST authenticationresponse, inline crypto',
    authToken: 'REST authenticationresponse, master key on SoftHSM2',
    pin: 'REST serverproposedpin (Randomized)',
    bindSmall: `REST bind a card, ${cards(n.smallCards)}`,
    readSmall: `REST read a card, ${cards(n.smallCards)}`,
    cert: 'REST certificatedata (1 RSA-2048 CSR)',
    certToken: 'REST certificatedata, CA key on SoftHSM2',
    grpcUnary: 'gRPC GetAuthenticationResponse, unary',
    grpcStream: 'gRPC ComputeAuthenticationResponses, stream items',
    bindLarge: `REST bind a card, ${cards(n.largeCards)}`,
    readLarge: `REST read a card, ${cards(n.largeCards)}`,
    pgAuth1: 'PostgreSQL, 1 core: REST authenticationresponse',
    pgBind1: 'PostgreSQL, 1 core: REST bind a card',
    pgRead1: 'PostgreSQL, 1 core: REST read a card',
    pgAuth2: 'PostgreSQL, 2 cores, 1 gateway: REST authenticationresponse',
    pgBind2: 'PostgreSQL, 2 cores, 1 gateway: REST bind a card',
    pgRead2: 'PostgreSQL, 2 cores, 1 gateway: REST read a card',
  };
}

export const ROW_ORDER: readonly RowId[] = [
  'hello',
  'noop',
  'grpcNoop',
  'sign1',
  'sign2',
  'auditRows',
  'auth',
  'authInline',
  'authToken',
  'pin',
  'bindSmall',
  'readSmall',
  'cert',
  'certToken',
  'grpcUnary',
  'grpcStream',
  'bindLarge',
  'readLarge',
  'pgAuth1',
  'pgBind1',
  'pgRead1',
  'pgAuth2',
  'pgBind2',
  'pgRead2',
];

/** Rows that are not requests to a server, so a ratio to the HTTP baselines means nothing. */
const LOCAL_ROWS: ReadonlySet<RowId> = new Set(['sign1', 'sign2', 'auditRows']);

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) : '-');
const fmtRatio = (n: number) => (Number.isFinite(n) ? `${n < 10 ? n.toFixed(2) : n.toFixed(1)}x` : '-');
const fmtMb = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1048576).toFixed(0));

export function formatTable(rows: Map<RowId, Measurement>, labels: Record<RowId, string>): string {
  const hello = rows.get('hello');
  const noop = rows.get('noop');
  const header = ['scenario', 'in flight', 'ops/s', 'p50 ms', 'p99 ms', 'errors', 'peak RSS MB', 'server CPU us/op', 'vs hello-world', 'vs REST->gRPC no-op', 'other procs CPU %'];
  const lines = [header, header.map((h, i) => (i === 0 ? '---' : '---:'))];
  for (const id of ROW_ORDER) {
    const m = rows.get(id);
    if (!m) {
      lines.push([labels[id], '', 'not run', '', '', '', '', '', '', '', '']);
      continue;
    }
    const rate = perSecond(m.result);
    const local = LOCAL_ROWS.has(id);
    lines.push([
      labels[id],
      String(m.result.concurrency),
      fmtInt(rate),
      fmtMs(m.result.latency.p50),
      fmtMs(m.result.latency.p99),
      String(m.result.errors),
      fmtMb(m.peakRssBytes),
      m.serverCpuSeconds === undefined || m.result.ok === 0 ? '-' : fmtInt((m.serverCpuSeconds * 1e6) / m.result.ok),
      local || !hello ? '-' : fmtRatio(rate / perSecond(hello.result)),
      local || !noop ? '-' : fmtRatio(rate / perSecond(noop.result)),
      m.otherCpu === undefined ? '-' : (m.otherCpu * 100).toFixed(0),
    ]);
  }
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export interface Target {
  name: string;
  /** The measured figure, as text. */
  measured: string;
  required: string;
  met: boolean | undefined;
}

export function evaluateTargets(rows: Map<RowId, Measurement>): Target[] {
  const rate = (id: RowId) => {
    const m = rows.get(id);
    return m ? perSecond(m.result) : NaN;
  };
  const p99 = (id: RowId) => rows.get(id)?.result.latency.p99 ?? NaN;
  const ratioTarget = (name: string, a: number, b: number, min: number, what = ''): Target => {
    const r = a / b;
    return { name, measured: `${fmtRatio(r)}${what ? ` (${what})` : ''}`, required: `>= ${min}x`, met: Number.isFinite(r) ? r >= min : undefined };
  };
  const peakRss = Math.max(
    ...[...rows.entries()].filter(([id]) => !LOCAL_ROWS.has(id) && !id.startsWith('hello') && id !== 'noop' && id !== 'grpcNoop').map(([, m]) => m.peakRssBytes ?? 0),
  );
  return [
    ratioTarget('REST authenticationresponse req/s vs REST->gRPC no-op', rate('auth'), rate('noop'), 0.85, `${fmtInt(rate('auth'))} vs ${fmtInt(rate('noop'))}`),
    {
      name: 'REST authenticationresponse p99 vs REST->gRPC no-op p99',
      measured: `${fmtRatio(p99('auth') / p99('noop'))} (${fmtMs(p99('auth'))} vs ${fmtMs(p99('noop'))} ms)`,
      required: '<= 2x',
      met: Number.isFinite(p99('auth') / p99('noop')) ? p99('auth') <= 2 * p99('noop') : undefined,
    },
    ratioTarget('REST bind a card req/s vs REST->gRPC no-op', rate('bindSmall'), rate('noop'), 0.6, `${fmtInt(rate('bindSmall'))} vs ${fmtInt(rate('noop'))}`),
    ratioTarget('gRPC stream challenge-responses/s vs REST->gRPC no-op calls/s', rate('grpcStream'), rate('noop'), 15, `${fmtInt(rate('grpcStream'))} vs ${fmtInt(rate('noop'))}`),
    ratioTarget('(same, against direct grpc-js no-op calls/s)', rate('grpcStream'), rate('grpcNoop'), 15, `${fmtInt(rate('grpcStream'))} vs ${fmtInt(rate('grpcNoop'))}`),
    ratioTarget('certificates issued/s vs raw CA-key signatures/s (1 thread)', rate('cert'), rate('sign1'), 0.5, `${fmtInt(rate('cert'))} vs ${fmtInt(rate('sign1'))}`),
    ratioTarget('bind a card req/s, large vs small database', rate('bindLarge'), rate('bindSmall'), 0.9, `${fmtInt(rate('bindLarge'))} vs ${fmtInt(rate('bindSmall'))}`),
    ratioTarget('read a card req/s, large vs small database', rate('readLarge'), rate('readSmall'), 0.9, `${fmtInt(rate('readLarge'))} vs ${fmtInt(rate('readSmall'))}`),
    {
      name: 'peak RSS of the service under load',
      measured: `${fmtMb(peakRss || undefined)} MB`,
      required: '< 300 MB',
      met: peakRss > 0 ? peakRss < 300 * 1048576 : undefined,
    },
    ratioTarget('issue 3: authenticationresponse req/s, pool vs inline', rate('auth'), rate('authInline'), 0.9, `${fmtInt(rate('auth'))} vs ${fmtInt(rate('authInline'))}`),
  ];
}

export function formatTargets(targets: Target[]): string {
  const width = Math.max(...targets.map((t) => t.name.length));
  return targets
    .map((t) => `${t.met === undefined ? '[n/a]   ' : t.met ? '[met]   ' : '[MISSED]'} ${t.name.padEnd(width)}  ${t.measured}, target ${t.required}`)
    .join('\n');
}

export function formatHistograms(rows: Map<RowId, Measurement>, labels: Record<RowId, string>): string {
  const width = Math.max(...ROW_ORDER.map((id) => labels[id].length));
  return ROW_ORDER.filter((id) => rows.has(id))
    .map((id) => `${labels[id].padEnd(width)}  ${formatHistogram(rows.get(id)!.result.histogram)}`)
    .join('\n');
}

/** The baselines measured at the start and again at the end: how much the machine drifted. */
export function formatDrift(start: Map<RowId, Measurement>, end: Map<RowId, Measurement>, labels: Record<RowId, string>): string {
  const parts: string[] = [];
  let drifted = false;
  for (const id of ['hello', 'noop'] as const) {
    const a = start.get(id);
    const b = end.get(id);
    if (!a || !b) continue;
    const change = perSecond(b.result) / perSecond(a.result) - 1;
    drifted ||= Math.abs(change) > 0.1;
    parts.push(`${labels[id].replace(/^baseline: /, '')} ${fmtInt(perSecond(a.result))} -> ${fmtInt(perSecond(b.result))}/s (${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}%)`);
  }
  if (parts.length === 0) return '';
  return `Baselines measured again at the end of the run: ${parts.join(', ')}.${
    drifted ? ' More than 10% apart: the machine changed speed during the run, so ratios between early and late rows are unreliable.' : ''
  }`;
}

export interface ProcessMemory {
  name: string;
  startBytes?: number;
  peakBytes?: number;
  endUsage?: NodeJS.MemoryUsage;
}

/** Where each server process's memory went: to explain the RSS column. */
export function formatMemory(memory: readonly ProcessMemory[]): string {
  const mb = (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1048576).toFixed(0));
  return [
    'Memory of each server process (MB): RSS after start-up, peak RSS over its life (VmHWM, seeding included),',
    "and at the end the main thread's V8 heap and the memory outside it (buffers, SQLite, worker threads are in RSS only):",
    ...memory.map((m) => {
      const u = m.endUsage;
      const end = u ? `; end: rss ${mb(u.rss)}, heap ${mb(u.heapUsed)} used of ${mb(u.heapTotal)}, external ${mb(u.external)} (array buffers ${mb(u.arrayBuffers)})` : '';
      return `  ${m.name.padEnd(20)} start ${mb(m.startBytes)}, peak ${mb(m.peakBytes)}${end}`;
    }),
  ].join('\n');
}
