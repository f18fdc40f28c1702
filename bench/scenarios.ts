// The scenarios: what each one sends, built from the data the bench seeded. Every HTTP scenario
// goes through the gateway as a CM client would (Authorization header, the SPEC's paths and query
// names); the gRPC ones call the core directly with the same token in the metadata.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { AutocannonRequest } from 'autocannon';
import { loadCmProto } from '../proto/load.js';
import { BASE_PATH, BENCH_ATR, type BoundCard } from './api.js';
import { runUnaryLoad, runStreamLoad, type StreamLoad } from './grpc-load.js';
import type { HttpLoad } from './http-load.js';
import type { LoadResult } from './load-result.js';

export interface HttpTarget {
  url: string;
  token: string;
  connections: number;
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every other card answers with the diversified key, the rest with the template's default key. */
const diversifiedFor = (i: number) => i % 2 === 0;

/**
 * GETs of `paths` in turn across all connections: the calls in flight are on different paths
 * (not every connection walking the same list in step).
 */
function getInTurn(paths: readonly string[]): AutocannonRequest[] {
  let next = 0;
  return [{ method: 'GET', setupRequest: (request: AutocannonRequest) => ({ ...request, path: paths[next++ % paths.length] }) }];
}

/**
 * Each call goes to the next card (`getInTurn`), as the read and bind loads do: the calls in flight are on
 * different cards, as those of issuance clients each working on its own card are. (A fixed list
 * of requests is walked by every connection in step: 64 calls on one card at a time, a convoy on
 * its request row that a store with row locks, PostgreSQL, serialises.)
 */
export function authenticationResponseLoad(target: HttpTarget, cards: readonly BoundCard[], challenge: string): Omit<HttpLoad, 'durationSeconds' | 'amount'> {
  const paths = cards.map(
    (card, i) =>
      `${BASE_PATH}/requests/${card.requestUuid}/smartcards/${card.smartcardUuid}/authenticationresponse?` +
      `cardid=${card.cardId}&challenge=${encodeURIComponent(challenge)}&diversified=${diversifiedFor(i)}&atr=${BENCH_ATR}`,
  );
  return { url: target.url, connections: target.connections, headers: auth(target.token), requests: getInTurn(paths) };
}

/** serverproposedpin, each call on the next card (see `authenticationResponseLoad`). */
export function serverProposedPinLoad(target: HttpTarget, cards: readonly BoundCard[], challenge: string): Omit<HttpLoad, 'durationSeconds' | 'amount'> {
  const paths = cards.map(
    (card) =>
      `${BASE_PATH}/requests/${card.requestUuid}/smartcards/${card.smartcardUuid}/serverproposedpin?cardid=${card.cardId}&challenge=${encodeURIComponent(challenge)}&atr=${BENCH_ATR}`,
  );
  return { url: target.url, connections: target.connections, headers: auth(target.token), requests: getInTurn(paths) };
}

/** Reads spread over `cardUuids` in turn (`getInTurn`). */
export function readCardLoad(target: HttpTarget, cardUuids: readonly string[]): Omit<HttpLoad, 'durationSeconds' | 'amount'> {
  const paths = cardUuids.map((uuid) => `${BASE_PATH}/smartcards/${uuid}`);
  return { url: target.url, connections: target.connections, headers: auth(target.token), requests: getInTurn(paths) };
}

/** One bind per fresh Approved request, each with a new cardid; `requestUuids.length` binds at most. */
export function bindCardLoad(target: HttpTarget, requestUuids: readonly string[]): Omit<HttpLoad, 'durationSeconds'> & { amount: number } {
  let next = 0;
  return {
    url: target.url,
    connections: target.connections,
    amount: requestUuids.length,
    headers: { ...auth(target.token), 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: `${BASE_PATH}/smartcards`,
        setupRequest: (request: AutocannonRequest) => ({
          ...request,
          body: JSON.stringify({ requestid: requestUuids[next++ % requestUuids.length], cardid: randomUUID(), atr: BENCH_ATR }),
        }),
      },
    ],
  };
}

/** One issuance per Executing request with an Assigned card, each with its own CSR. */
export function certificateDataLoad(target: HttpTarget, cards: readonly BoundCard[], csrs: readonly string[]): Omit<HttpLoad, 'durationSeconds'> & { amount: number } {
  if (csrs.length < cards.length) throw new Error('one CSR per certificatedata call is needed');
  let next = 0;
  return {
    url: target.url,
    connections: target.connections,
    amount: cards.length,
    headers: { ...auth(target.token), 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        setupRequest: (request: AutocannonRequest) => {
          const i = next++ % cards.length;
          return {
            ...request,
            path: `${BASE_PATH}/requests/${cards[i]!.requestUuid}/certificatedata`,
            body: JSON.stringify({ certificaterequests: [csrs[i]] }),
          };
        },
      },
    ],
  };
}

// ---- gRPC ----

type AnyClient = grpc.Client & Record<string, (...args: never[]) => unknown>;

export function smartcardClient(address: string): AnyClient {
  const v1 = loadCmProto().proto.cm.v1;
  return new v1.SmartcardService(address, grpc.credentials.createInsecure()) as unknown as AnyClient;
}

export function bearer(token: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

function authenticationItem(cards: readonly BoundCard[], challenge: string, i: number) {
  const card = cards[i % cards.length]!;
  return {
    requestUuid: card.requestUuid,
    smartcardUuid: card.smartcardUuid,
    cardId: card.cardId,
    challenge,
    diversified: diversifiedFor(i % cards.length),
    atr: BENCH_ATR,
  };
}

export function grpcUnaryAuthentication(
  client: AnyClient,
  token: string,
  cards: readonly BoundCard[],
  challenge: string,
  concurrency: number,
  durationSeconds: number,
): Promise<LoadResult> {
  const method = client.GetAuthenticationResponse as unknown as (...args: unknown[]) => unknown;
  return runUnaryLoad({
    call: (request, metadata, callback) => method.call(client, request, metadata, callback),
    request: (i) => authenticationItem(cards, challenge, i),
    metadata: bearer(token),
    concurrency,
    durationSeconds,
  });
}

export function grpcStreamAuthentication(
  client: AnyClient,
  token: string,
  cards: readonly BoundCard[],
  challenge: string,
  shape: { streams: number; batchSize: number; batches: number },
  durationSeconds: number,
): Promise<LoadResult> {
  const open = client.ComputeAuthenticationResponses as unknown as StreamLoad['open'];
  return runStreamLoad({
    open: (metadata) => open.call(client, metadata),
    item: (i) => ({ item: authenticationItem(cards, challenge, i) }),
    metadata: bearer(token),
    ...shape,
    durationSeconds,
  });
}
