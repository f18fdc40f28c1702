// Smart cards (SPEC 5.1, 6, 7): binding a card to a request, reading it, and moving it through
// its life by the requests that may do so.

import type { Caller } from '../auth/caller.js';
import { CmError, forbidden, invalidArgument, invalidTransition, notFound, wrongState } from '../errors.js';
import type { Repositories, RowLock, Store } from '../storage/repository.js';
import { auditEntry, type CallContext, type Clock } from './context.js';
import {
  CARD_ISSUING_TYPES,
  isOpenForExecution,
  LIVE_CARD_STATUSES,
  RequestStatus,
  RequestType,
  SmartcardFlags,
  SmartcardStatus,
} from './enums.js';
import { cardIdGuid, cardIdHex, newUuid, requireGuid, requireHex } from './ids.js';
import { operationsAllowedOn, requestMayChangeCard } from './lifecycle.js';
import { mayExecute, mayInitiate, maySeeRequest } from './policy.js';
import type { RequestEffects } from './requests.js';
import type { ProfileTemplate, RequestRecord, Smartcard, SmartcardRecord } from './types.js';
import { NIL_UUID } from './types.js';

export const DEFAULT_MIDDLEWARE = 'MSBaseCSP';

/** What a transaction answers when its request turned out to be due for abandonment. */
const DUE = Symbol('due for abandonment');

export function publicSmartcard(c: SmartcardRecord): Smartcard {
  return {
    uuid: c.uuid,
    status: c.status,
    flags: c.flags,
    parentSmartcardUuid: c.parentSmartcardUuid,
    primarySmartcardUuid: c.primarySmartcardUuid,
    permanentSmartcardUuid: c.permanentSmartcardUuid,
    assignedUserUuid: c.assignedUserUuid,
    profileTemplateUuid: c.profileTemplateUuid,
    profileTemplateVersion: c.profileTemplateVersion,
    comment: c.comment,
    serialNumber: `{${cardIdGuid(c.cardId)}}`,
    middleware: c.middleware,
    atr: c.atr,
  };
}

/** A request with its template, loaded for an operation on it. */
export interface LoadedRequest {
  request: RequestRecord;
  template: ProfileTemplate;
}

/** Loads a request the caller may see (its approvals not loaded), or 404; `lock` in a transaction. */
export async function visibleRequest(tx: Repositories, ctx: CallContext, requestUuid: string, lock?: RowLock): Promise<LoadedRequest> {
  const { request, template } = await tx.requests.getWithTemplateAndCard(requestUuid, undefined, lock);
  return requireVisible(ctx, request, template);
}

/**
 * `visibleRequest` and then `cardOfRequest`, read together (one statement when the template is
 * cached): the same checks in the same order, the request's 404 before the card's. Outside
 * transactions (it takes no lock).
 */
export async function visibleRequestAndCard(repos: Repositories, ctx: CallContext, requestUuid: string, cardUuid: string): Promise<LoadedRequest & { card: SmartcardRecord }> {
  const { request, template, card } = await repos.requests.getWithTemplateAndCard(requestUuid, cardUuid);
  const loaded = requireVisible(ctx, request, template);
  return { ...loaded, card: requireCardOfRequest(loaded.request, card) };
}

/** The request with its template when the caller may see it; 404 otherwise (or when there is none). */
function requireVisible(ctx: CallContext, request: RequestRecord | undefined, template: ProfileTemplate | undefined): LoadedRequest {
  if (!request || !template || !maySeeRequest(ctx.caller, template, request)) throw notFound('The request');
  return { request, template };
}

/** A card is visible to its user, administrators, and whoever may see a request naming it. */
export async function maySeeCard(repos: Repositories, caller: Caller, card: SmartcardRecord): Promise<boolean> {
  if (caller.isAdmin || card.assignedUserUuid === caller.userUuid) return true;
  const template = await repos.templates.get(card.profileTemplateUuid);
  const requests = await repos.requests.listByCard(card.uuid);
  return requests.some((r) => maySeeRequest(caller, template, r));
}

/** The card named by `cardUuid`, when it is the request's new or old card; 404 otherwise. `lock` in a transaction. */
export async function cardOfRequest(tx: Repositories, request: RequestRecord, cardUuid: string, lock?: RowLock): Promise<SmartcardRecord> {
  return requireCardOfRequest(request, cardUuid === NIL_UUID ? undefined : await tx.smartcards.get(cardUuid, lock));
}

function requireCardOfRequest(request: RequestRecord, card: SmartcardRecord | undefined): SmartcardRecord {
  if (!card || (request.newSmartcardUuid !== card.uuid && request.oldSmartcardUuid !== card.uuid)) {
    throw notFound('The smart card of this request');
  }
  return card;
}

function flagsFor(requestType: number): number {
  switch (requestType) {
    case RequestType.Duplicate:
      return SmartcardFlags.Duplicate;
    case RequestType.TemporaryCards:
      return SmartcardFlags.Temporary;
    default:
      return SmartcardFlags.Primary;
  }
}

function middlewareFor(template: ProfileTemplate, atr: string): string {
  let best: { atrPrefixHex: string; middleware: string } | undefined;
  for (const m of template.smartcardConfiguration.atrMiddleware) {
    if (atr.startsWith(m.atrPrefixHex) && (!best || m.atrPrefixHex.length > best.atrPrefixHex.length)) best = m;
  }
  return best?.middleware ?? DEFAULT_MIDDLEWARE;
}

export interface AssignInput {
  requestId: string;
  cardId: string;
  atr: string;
}

export class SmartcardService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** The master key version that diversifies new cards' admin keys. */
    private readonly currentKeyVersion: () => number,
    private readonly effects: RequestEffects,
    /** SPEC 3's TTL: requests open for too long are abandoned before anything is done with them. */
    private readonly expiry: { isDue(request: RequestRecord): boolean; abandonExpired(): Promise<number> },
  ) {}

  /**
   * Runs `work` in a transaction on the request once it is known not to be due for abandonment.
   * The check is on the row the transaction reads (no read of its own beforehand), which it locks
   * (`work` writes the request and what hangs off it: the storage contract's lock order); a due
   * request is abandoned in a transaction of its own and `work` runs again on what that left, so
   * the caller gets exactly the answer that an abandoned request gets.
   */
  private async onLiveRequest<T>(ctx: CallContext, requestUuid: string, work: (tx: Repositories, loaded: LoadedRequest) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.store.transaction(async (tx) => {
        const loaded = await visibleRequest(tx, ctx, requestUuid, 'update');
        if (attempt === 0 && this.expiry.isDue(loaded.request)) return DUE;
        return work(tx, loaded);
      });
      if (outcome !== DUE) return outcome as T;
      await this.expiry.abandonExpired();
    }
  }

  /** Binds a card to a card-issuing request. `created` is false for an idempotent retry. */
  async assign(ctx: CallContext, input: AssignInput): Promise<{ card: SmartcardRecord; created: boolean }> {
    const requestUuid = requireGuid(input.requestId, 'requestid');
    const cardId = cardIdHex(requireGuid(input.cardId, 'cardid'));
    const atr = input.atr ? requireHex(input.atr, 'atr', 2, 33) : '';

    return this.onLiveRequest(ctx, requestUuid, async (tx, { request, template }) => {
      if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor of the request may bind a card to it.');
      if (!CARD_ISSUING_TYPES.has(request.requestType)) throw wrongState('This request type does not issue a card.');
      if (!isOpenForExecution(request.status)) throw wrongState('The request is not Approved or Executing.');

      if (request.newSmartcardUuid !== NIL_UUID) {
        const bound = await tx.smartcards.get(request.newSmartcardUuid);
        if (bound && bound.cardId === cardId && (!atr || atr === bound.atr)) return { card: bound, created: false };
        throw new CmError('REQUEST_ALREADY_BOUND', 'The request is already bound to another smart card.');
      }
      // Two binds of one cardid never both win: the cardid is locked from this check to the commit.
      await tx.smartcards.lockCardId(cardId);
      const earlier = await tx.smartcards.statusesByCardId(cardId);
      if (earlier.some((status) => LIVE_CARD_STATUSES.has(status)) && !template.smartcardConfiguration.allowSmartcardReuse) {
        throw new CmError('CARD_IN_USE', 'Another live smart card record holds this cardid.');
      }
      const reused = earlier.length > 0;
      const old = request.oldSmartcardUuid;
      const now = this.clock.now();
      const card: SmartcardRecord = {
        uuid: newUuid(),
        cardId,
        status: SmartcardStatus.Assigned,
        flags: flagsFor(request.requestType) | (reused ? SmartcardFlags.Reused : 0),
        parentSmartcardUuid: old,
        primarySmartcardUuid: request.requestType === RequestType.Duplicate || request.requestType === RequestType.TemporaryCards ? old : NIL_UUID,
        permanentSmartcardUuid: request.requestType === RequestType.TemporaryCards ? old : NIL_UUID,
        assignedUserUuid: request.targetUserUuid,
        profileTemplateUuid: template.uuid,
        profileTemplateVersion: template.version,
        comment: '',
        middleware: middlewareFor(template, atr),
        atr,
        keyVersion: template.smartcardConfiguration.diversifyAdminKey ? this.currentKeyVersion() : 0,
        requestUuid: request.uuid,
        createdAt: now.toISOString(),
      };
      // Binding a card is an execute operation: Approved -> Executing (SPEC 6). Conditional on the
      // request still being open and unbound, so two binds of one request never both win.
      const entry = auditEntry(ctx, now, 'AssignSmartcard', 'Succeeded', { requestUuid: request.uuid, smartcardUuid: card.uuid }, { keyVersion: card.keyVersion });
      if (!(await tx.requests.bindNewCard(card, entry))) {
        throw new CmError('REQUEST_ALREADY_BOUND', 'The request is already bound to another smart card.');
      }
      return { card, created: true };
    });
  }

  async get(ctx: CallContext, uuid: string): Promise<SmartcardRecord> {
    const card = await this.store.read.smartcards.get(requireGuid(uuid, 'The smart card id'));
    if (!card || !(await maySeeCard(this.store.read, ctx.caller, card))) throw notFound('The smart card');
    return card;
  }

  /** The newest card record with this cardid. */
  async find(ctx: CallContext, cardIdText: string): Promise<SmartcardRecord> {
    const card = await this.store.read.smartcards.findNewestByCardId(cardIdHex(requireGuid(cardIdText, 'cardid')));
    if (!card || !(await maySeeCard(this.store.read, ctx.caller, card))) throw notFound('The smart card');
    return card;
  }

  async updateStatus(ctx: CallContext, requestUuidText: string, cardUuidText: string, status: number): Promise<SmartcardRecord> {
    const requestUuid = requireGuid(requestUuidText, 'The request id');
    const cardUuid = requireGuid(cardUuidText, 'The smart card id');
    if (!Object.values(SmartcardStatus).includes(status as SmartcardStatus)) throw invalidArgument('status is not a smart card status.');
    return this.onLiveRequest(ctx, requestUuid, async (tx, { request, template }) => {
      // Locked before its status is checked: a concurrent change through another request waits.
      const card = await cardOfRequest(tx, request, cardUuid, 'update');
      if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor of the request may change its card.');
      if (!isOpenForExecution(request.status)) throw wrongState('The request is not Approved or Executing.');
      if (card.status === status) return card;
      if (!requestMayChangeCard(request.requestType, card.status, status)) {
        throw invalidTransition('This request cannot make that change to the smart card.');
      }
      const from = card.status;
      await tx.smartcards.updateStatus(card.uuid, status);
      await this.effects.onCardStatusChanged(tx, card.uuid, status);
      if (request.status === RequestStatus.Approved) await tx.requests.patch(request.uuid, { status: RequestStatus.Executing });
      await tx.audit.append(
        auditEntry(ctx, this.clock.now(), 'UpdateSmartcardStatus', 'Succeeded', { requestUuid, smartcardUuid: card.uuid }, {
          from,
          to: status,
        }),
      );
      return { ...card, status };
    });
  }

  /** Request types the caller could initiate now on this card (SPEC 7 operations). */
  async operations(ctx: CallContext, uuid: string): Promise<number[]> {
    const card = await this.get(ctx, uuid);
    const template = await this.store.read.templates.get(card.profileTemplateUuid);
    if (!template) return [];
    return operationsAllowedOn(card.status).filter((t) => mayInitiate(ctx.caller, template, t, card.assignedUserUuid));
  }
}
