// The two profiles of the bench: the full run (`npm run bench`, a few minutes) and the smoke run
// (`--smoke`, seconds: every scenario once, tiny, so that CI notices when the bench rots).

export interface Profile {
  name: 'full' | 'smoke';
  /** Unmeasured load before each duration-based scenario, for the JIT and the caches. */
  warmupSeconds: number;
  /** The measured window of each duration-based scenario. */
  seconds: number;
  /** HTTP connections, unary calls in flight. */
  connections: number;
  /** Cards in the database for the first bind and read scenarios, and for the scale ones. */
  smallCards: number;
  largeCards: number;
  /** Card uuids the read scenarios spread their reads over. */
  readSample: number;
  /** Open requests (each with a bound card) the challenge-response and PIN scenarios rotate over. */
  openRequests: number;
  /** Binds per bind scenario (each needs a fresh Approved request, created beforehand). */
  binds: number;
  /** Certificates issued by the certificatedata scenario (each needs a request, a card and a CSR). */
  certificates: number;
  /** RSA key pairs the CSRs are made from. */
  csrKeys: number;
  rawSignSeconds: number;
  /** Turns of the pool-versus-inline comparison (each variant gets seconds / turns per turn). */
  interleavedRounds: number;
  /** Batch stream: streams, items per message, and messages in flight per stream. */
  stream: { streams: number; batchSize: number; batches: number };
}

export const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    warmupSeconds: 2,
    seconds: 10,
    connections: 64,
    smallCards: 1_000,
    largeCards: 1_000_000,
    readSample: 20_000,
    openRequests: 64,
    binds: 6_000,
    certificates: 1_000,
    csrKeys: 4,
    rawSignSeconds: 3,
    interleavedRounds: 5,
    stream: { streams: 2, batchSize: 256, batches: 4 },
  },
  smoke: {
    name: 'smoke',
    warmupSeconds: 0.2,
    seconds: 1,
    connections: 16,
    smallCards: 100,
    largeCards: 1_000,
    readSample: 100,
    openRequests: 8,
    binds: 100,
    certificates: 20,
    csrKeys: 1,
    rawSignSeconds: 0.5,
    interleavedRounds: 2,
    stream: { streams: 2, batchSize: 16, batches: 2 },
  },
};

export interface Options {
  profile: Profile;
  /** Write every figure as JSON here. */
  jsonFile?: string;
  /** Run the service processes under --cpu-prof, writing the profiles here. */
  cpuProfileDir?: string;
  /** Have every server process write a heap snapshot here before it stops. */
  heapSnapshotDir?: string;
  /** CM_LOG_LEVEL of the service (warn by default: the baselines log nothing either). */
  logLevel: string;
  /** Keep the temp folder (database, logs) instead of deleting it. */
  keep: boolean;
  /** Measure only these rows (for profiling one route); the table then shows the rest as not run. */
  only?: Set<string>;
}

export const USAGE = `usage: node dist/bench/run.js [--smoke] [--seconds N] [--only ROW,...] [--json FILE]
         [--cpu-prof DIR] [--heap-snapshot DIR] [--log-level LEVEL] [--keep]
  --smoke         a few seconds: every scenario, tiny (what CI runs)
  --seconds N     the measured window of each timed scenario (default 10, smoke 1)
  --only ROWS     measure only these rows, e.g. auth,bindSmall (ids: hello noop grpcNoop sign1 sign2
                  auditRows auth authInline authToken pin bindSmall readSmall cert certToken grpcUnary grpcStream bindLarge readLarge
                  pgAuth1 pgBind1 pgRead1 pgAuth2 pgBind2 pgRead2: PostgreSQL, one core and two cores)
  --json FILE     also write every figure to FILE as JSON
  --cpu-prof DIR  run the server processes with node --cpu-prof, profiles into DIR
  --heap-snapshot DIR  each server process writes a heap snapshot into DIR before it stops
  --log-level L   CM_LOG_LEVEL of the service (default warn)
  --keep          keep the temp folder (database, service logs)`;

export class HelpRequested extends Error {
  constructor() {
    super(USAGE);
    this.name = 'HelpRequested';
  }
}

export function parseOptions(argv: readonly string[]): Options {
  const options: Options = { profile: PROFILES.full, logLevel: 'warn', keep: false };
  let seconds: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--help' || arg === '-h') throw new HelpRequested();
    if (arg === '--smoke') options.profile = PROFILES.smoke;
    else if (arg === '--seconds') {
      seconds = Number(value());
      if (!(seconds > 0)) throw new Error(`--seconds needs a positive number\n${USAGE}`);
    } else if (arg === '--only') options.only = new Set(value().split(','));
    else if (arg === '--json') options.jsonFile = value();
    else if (arg === '--cpu-prof') options.cpuProfileDir = value();
    else if (arg === '--heap-snapshot') options.heapSnapshotDir = value();
    else if (arg === '--log-level') options.logLevel = value();
    else if (arg === '--keep') options.keep = true;
    else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  if (seconds !== undefined) options.profile = { ...options.profile, seconds };
  return options;
}
