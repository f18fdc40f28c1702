// The gateway's only way to the core: grpc-js clients for the five cm.v1 services and the
// standard health service, all sharing one channel. Every call carries a deadline, the caller's
// `authorization` header and the correlation id as metadata.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import { service as healthServiceDefinition } from 'grpc-health-check';
import { loadCmProto } from '../proto/load.js';
import type { AuditServiceDefinition } from '../proto/gen/cm/v1/AuditService.js';
import type { CertificateServiceDefinition } from '../proto/gen/cm/v1/CertificateService.js';
import type { ProfileTemplateServiceDefinition } from '../proto/gen/cm/v1/ProfileTemplateService.js';
import type { RequestServiceDefinition } from '../proto/gen/cm/v1/RequestService.js';
import type { SmartcardServiceDefinition } from '../proto/gen/cm/v1/SmartcardService.js';

interface CoreServiceDefinitions {
  ProfileTemplateService: ProfileTemplateServiceDefinition;
  RequestService: RequestServiceDefinition;
  SmartcardService: SmartcardServiceDefinition;
  CertificateService: CertificateServiceDefinition;
  AuditService: AuditServiceDefinition;
}

export type CoreServiceName = keyof CoreServiceDefinitions;

export const CORE_SERVICES: readonly CoreServiceName[] = [
  'ProfileTemplateService',
  'RequestService',
  'SmartcardService',
  'CertificateService',
  'AuditService',
];

/** The declared keys of T, without the index signature grpc.ServiceDefinition brings along. */
type DeclaredKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };

/** The unary RPCs of a service (the gateway makes no streaming calls). */
export type UnaryRpc<S extends CoreServiceName> = Exclude<
  DeclaredKeys<CoreServiceDefinitions[S]> & string,
  'ComputeAuthenticationResponses'
>;

type MethodOf<S extends CoreServiceName, M extends UnaryRpc<S>> = CoreServiceDefinitions[S][M & keyof CoreServiceDefinitions[S]];

/* eslint-disable @typescript-eslint/no-explicit-any -- `any` is needed to match MethodDefinition's function-typed fields in both directions */
export type RpcRequest<S extends CoreServiceName, M extends UnaryRpc<S>> =
  MethodOf<S, M> extends MethodDefinition<infer Request, any, any, any> ? Request : never;

export type RpcResponse<S extends CoreServiceName, M extends UnaryRpc<S>> =
  MethodOf<S, M> extends MethodDefinition<any, any, any, infer Response> ? Response : never;
/* eslint-enable @typescript-eslint/no-explicit-any */

/** What a call forwards from the HTTP request. */
export interface CallContext {
  /** The caller's `Authorization` header, forwarded unchanged; absent on public routes. */
  authorization?: string;
  correlationId: string;
  /**
   * Whether a call answered UNAVAILABLE is made once more within what is left of its deadline;
   * round robin picks the next core for it (GETs, SPEC 12). A retry that runs out of time
   * answers the first UNAVAILABLE.
   */
  retryUnavailable?: boolean;
}

export type ServingStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

export interface CoreClient {
  call<S extends CoreServiceName, M extends UnaryRpc<S>>(
    service: S,
    rpc: M,
    request: RpcRequest<S, M>,
    context: CallContext,
  ): Promise<RpcResponse<S, M>>;
  /** grpc.health.v1.Health/Check for the whole server (service ""). */
  checkHealth(context: CallContext, deadlineMs?: number): Promise<ServingStatus>;
  /** Closes the channel; calls in flight fail with CANCELLED. */
  close(): void;
}

export interface CoreTlsOptions {
  /** Trusted roots for the core's certificate; the system roots when absent. */
  ca?: Buffer;
  /** Client certificate and key, presented when the core asks (mutual TLS). */
  cert?: Buffer;
  key?: Buffer;
}

export interface CoreClientOptions {
  /** CM_CORE_ADDRESS syntax: `host:port`, `a:p,b:p` (IP addresses), `dns:name:port`, or a grpc-js target. */
  address: string;
  /** TLS towards the core; plaintext when absent. */
  tls?: CoreTlsOptions;
  /** Overrides `tls`, e.g. for an in-process core with its own credentials. */
  credentials?: grpc.ChannelCredentials;
  /** Per-call deadline; 10 s when absent. */
  deadlineMs?: number;
}

export interface CoreTarget {
  target: string;
  loadBalancing: 'pick_first' | 'round_robin';
}

const DEFAULT_DEADLINE_MS = 10_000;
const HEALTH_DEADLINE_MS = 2_000;

/**
 * Turns CM_CORE_ADDRESS into a grpc-js target. A comma list of IP addresses becomes the
 * `ipv4:`/`ipv6:` multi-address syntax, balanced round robin, as is a `dns:` name (every address
 * it resolves to). Throws an Error with a readable message on anything else.
 */
export function resolveCoreTarget(address: string): CoreTarget {
  const text = address.trim();
  if (text === '') throw new Error('the core address is empty');
  if (/^(dns|ipv4|ipv6):/i.test(text)) {
    if (text.length <= 5) throw new Error(`"${address}" names no host`);
    return { target: text, loadBalancing: 'round_robin' };
  }
  if (/^unix:/i.test(text)) return { target: text, loadBalancing: 'pick_first' };
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.length === 1) {
    splitHostPort(entries[0], address);
    return { target: entries[0], loadBalancing: 'pick_first' };
  }
  const families = new Set(
    entries.map((entry) => {
      const { host } = splitHostPort(entry, address);
      if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return 'ipv4';
      if (entry.startsWith('[')) return 'ipv6';
      throw new Error(`"${entry}" in a comma list must be an IP address with a port (use a dns: name to balance over a host name)`);
    }),
  );
  if (families.size > 1) throw new Error('a comma list must hold only IPv4 or only IPv6 addresses');
  const [family] = families;
  return { target: `${family}:${entries.join(',')}`, loadBalancing: 'round_robin' };
}

function splitHostPort(entry: string, address: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(entry);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 1 && port <= 65535)) {
    throw new Error(`"${entry}" in "${address}" is not host:port`);
  }
  return { host: match[1], port };
}

function channelCredentials(options: CoreClientOptions): grpc.ChannelCredentials {
  if (options.credentials) return options.credentials;
  const tls = options.tls;
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca ?? null, tls.key ?? null, tls.cert ?? null);
}

type UnaryInvoker = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: unknown) => void,
) => grpc.ClientUnaryCall;

/** Creates the clients of the core over one shared channel. */
export function createCoreClient(options: CoreClientOptions): CoreClient {
  const { target, loadBalancing } = resolveCoreTarget(options.address);
  const credentials = channelCredentials(options);
  const channelOptions: grpc.ChannelOptions = {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ [loadBalancing]: {} }] }),
    'grpc.keepalive_time_ms': 30_000,
    // A core that was down gets calls again within 5 s of coming back (grpc-js's default lets the
    // reconnection attempts to a long-dead core drift 2 minutes apart).
    'grpc.max_reconnect_backoff_ms': 5_000,
  };
  const channel = new grpc.Channel(target, credentials, channelOptions);
  const clientOptions = { channelOverride: channel };
  const { proto } = loadCmProto();
  const v1 = proto.cm.v1;
  const clients: Record<CoreServiceName, grpc.Client> = {
    ProfileTemplateService: new v1.ProfileTemplateService(target, credentials, clientOptions),
    RequestService: new v1.RequestService(target, credentials, clientOptions),
    SmartcardService: new v1.SmartcardService(target, credentials, clientOptions),
    CertificateService: new v1.CertificateService(target, credentials, clientOptions),
    AuditService: new v1.AuditService(target, credentials, clientOptions),
  };
  const HealthClient = grpc.makeGenericClientConstructor(healthServiceDefinition, 'Health');
  const health = new HealthClient(target, credentials, clientOptions) as grpc.Client & Record<string, UnaryInvoker>;
  const deadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;

  function invoke(invoker: UnaryInvoker, request: unknown, context: CallContext, timeoutMs: number): Promise<unknown> {
    const metadata = new grpc.Metadata();
    if (context.authorization) metadata.set('authorization', context.authorization);
    metadata.set('x-correlation-id', context.correlationId);
    return new Promise((resolve, reject) => {
      invoker(request, metadata, { deadline: Date.now() + timeoutMs }, (error, response) => {
        if (error) reject(error);
        else resolve(response);
      });
    });
  }

  // The invokers bound once, by service and RPC name: not a bind per call.
  const invokers = new Map<string, UnaryInvoker>();
  function invokerOf(service: CoreServiceName, rpc: string): UnaryInvoker {
    const key = `${service}/${rpc}`;
    let invoker = invokers.get(key);
    if (!invoker) {
      const client = clients[service] as unknown as Record<string, UnaryInvoker>;
      if (typeof client[rpc] !== 'function') throw new Error(`${service} has no RPC ${rpc}`);
      invokers.set(key, (invoker = client[rpc].bind(client)));
    }
    return invoker;
  }

  return {
    async call(service, rpc, request, context) {
      const invoker = invokerOf(service, rpc);
      const started = Date.now();
      try {
        return (await invoke(invoker, request, context, deadlineMs)) as never;
      } catch (error) {
        const left = deadlineMs - (Date.now() - started);
        if (!context.retryUnavailable || (error as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || left <= 0) throw error;
        try {
          return (await invoke(invoker, request, context, left)) as never;
        } catch (second) {
          // The retry only had what was left of the deadline: running out of it says nothing
          // new, so the caller hears the first answer (503, worth retrying), not a 504.
          throw (second as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED ? error : second;
        }
      }
    },
    async checkHealth(context, timeoutMs = HEALTH_DEADLINE_MS) {
      const answer = (await invoke(health.Check.bind(health), { service: '' }, context, timeoutMs)) as { status?: string };
      return (answer.status ?? 'UNKNOWN') as ServingStatus;
    },
    close() {
      for (const client of Object.values(clients)) client.close();
      health.close();
      channel.close();
    },
  };
}
