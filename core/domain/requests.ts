// Requests (SPEC 5.2, 6): creation under the template's workflow policy, approval by distinct
// approvers, and the request state machine, with the card effects completion and abandonment have.

import type { Caller } from '../auth/caller.js';
import { CmError, forbidden, invalidArgument, invalidTransition, notFound, wrongState } from '../errors.js';
import type { Repositories, Store } from '../storage/repository.js';
import { auditEntry, type CallContext, type Clock } from './context.js';
import {
  CARD_ISSUING_TYPES,
  CARD_REFERENCING_TYPES,
  FINAL_REQUEST_STATUSES,
  isOpenForExecution,
  isRequestType,
  RequestFlags,
  RequestStatus,
  SmartcardStatus,
} from './enums.js';
import { newUuid, parseGuid, requireGuid } from './ids.js';
import { operationsAllowedOn } from './lifecycle.js';
import { mayApprove, mayExecute, mayInitiate, maySeeRequest, maySeeTemplate, policyFor } from './policy.js';
import { maySeeCard } from './smartcards.js';
import type { DataCollectionValue, ProfileTemplate, Request, RequestRecord, SmartcardRecord } from './types.js';
import { NIL_UUID, UNSET_TIMESTAMP } from './types.js';

export interface CreateRequestInput {
  profileTemplateUuid: string;
  type: number;
  target: string;
  dataCollection: DataCollectionValue[];
  comment: string;
  priority: number;
  smartcard: string;
}

export interface RequestEffects {
  /** Called in the transaction that makes a request final, so dependent state goes with it. */
  onFinal(tx: Repositories, request: RequestRecord): Promise<void>;
  /** Called in the transaction that completes a card-issuing request and activates its card. */
  onCardActivated(tx: Repositories, cardUuid: string): Promise<void>;
  /** Called in the transaction that changes a card's status otherwise (suspend, disable, retire). */
  onCardStatusChanged(tx: Repositories, cardUuid: string, status: number): Promise<void>;
}

export const NO_EFFECTS: RequestEffects = {
  onFinal: async () => undefined,
  onCardActivated: async () => undefined,
  onCardStatusChanged: async () => undefined,
};

export function publicRequest(r: RequestRecord): Request {
  const {
    profileTemplateVersion: _v,
    originatorName: _o,
    targetName: _n,
    targetUpn: _u,
    responsesIssued: _r,
    ...rest
  } = r;
  return {
    ...rest,
    isSmartcard: (r.flags & RequestFlags.Smartcard) !== 0,
    isEnrollmentAgent: (r.flags & RequestFlags.EnrollmentAgent) !== 0,
    isDataCollectionComplete: true,
  };
}

export class RequestService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly requestTtlHours: number,
    private readonly effects: RequestEffects = NO_EFFECTS,
  ) {}

  async create(ctx: CallContext, input: CreateRequestInput): Promise<RequestRecord> {
    const { caller } = ctx;
    if (!isRequestType(input.type)) throw invalidArgument('type must be a request type such as Enroll.');
    const target = input.target ? parseGuid(input.target) : caller.userUuid;
    if (!target) throw invalidArgument('target must be a GUID.');
    const templateId = input.profileTemplateUuid ? requireGuid(input.profileTemplateUuid, 'profiletemplateuuid') : '';
    const cardId = input.smartcard ? requireGuid(input.smartcard, 'smartcard') : '';
    if (!Number.isInteger(input.priority)) throw invalidArgument('priority must be a whole number.');

    return this.store.transaction(async (tx) => {
      let templateUuid = templateId;
      if (CARD_REFERENCING_TYPES.has(input.type) && !cardId) {
        throw invalidArgument('smartcard is required for this request type: name the card it acts on.');
      }
      let card;
      if (cardId) {
        // Shared: the card's status, checked below, holds until the request is committed.
        card = await tx.smartcards.get(cardId, 'share');
        // A card the caller may neither see nor act on is answered as one that does not exist
        // (issue 9): the answer must not tell whose card it is.
        if (!card || card.assignedUserUuid !== target || !(await this.mayNameCard(tx, caller, card, input.type))) {
          throw invalidArgument('smartcard must be a card assigned to the target user.');
        }
        if (templateUuid && templateUuid !== card.profileTemplateUuid) {
          throw invalidArgument("profiletemplateuuid does not match the card's profile template.");
        }
        templateUuid = card.profileTemplateUuid;
      }
      if (!templateUuid) throw invalidArgument('profiletemplateuuid is required.');
      // Kept from deletion until the request that refers to it is committed.
      const template = await tx.templates.get(templateUuid, 'keyShare');
      if (!template) throw notFound('The profile template');
      if (!maySeeTemplate(caller, template)) throw notFound('The profile template');
      if (!mayInitiate(caller, template, input.type, target)) {
        throw forbidden('The profile template does not let you initiate this request.');
      }
      if (card && !operationsAllowedOn(card.status).includes(input.type)) {
        throw wrongState('The card is not in a state this request type can act on.');
      }
      const policy = policyFor(template, input.type);
      if (policy.collectComments && !input.comment.trim()) throw invalidArgument('This request type needs a comment.');
      const dataCollection = checkDataCollection(input.dataCollection, policy.dataCollection);

      const now = this.clock.now().toISOString();
      const request: RequestRecord = {
        uuid: newUuid(),
        requestType: input.type,
        status: policy.approvalsNeeded === 0 ? RequestStatus.Approved : RequestStatus.Pending,
        flags: RequestFlags.Smartcard | (target !== caller.userUuid ? RequestFlags.EnrollmentAgent : 0),
        dataCollection,
        originatorUserUuid: caller.userUuid,
        targetUserUuid: target,
        submitted: now,
        completed: UNSET_TIMESTAMP,
        newSmartcardUuid: NIL_UUID,
        oldSmartcardUuid: card?.uuid ?? NIL_UUID,
        newProfileUuid: NIL_UUID,
        oldProfileUuid: NIL_UUID,
        priority: input.priority,
        comment: input.comment,
        profileTemplateUuid: template.uuid,
        profileTemplateVersion: template.version,
        originatorName: caller.name,
        // The display name of someone else is not in our token; a data item may carry it.
        targetName: target === caller.userUuid ? caller.name : displayNameFrom(dataCollection) ?? '',
        targetUpn: target === caller.userUuid ? caller.upn : upnFrom(dataCollection) ?? '',
        responsesIssued: 0,
        approvals: [],
      };
      await tx.requests.insert(request);
      await tx.audit.append(
        auditEntry(ctx, this.clock.now(), 'CreateRequest', 'Succeeded', { requestUuid: request.uuid, smartcardUuid: card?.uuid }, {
          type: input.type,
          status: request.status,
        }),
      );
      return request;
    });
  }

  async get(ctx: CallContext, uuid: string): Promise<RequestRecord> {
    const id = requireGuid(uuid, 'The request id');
    await this.expireIfDue(id);
    const request = await this.store.read.requests.get(id);
    if (!request) throw notFound('The request');
    const template = await this.store.read.templates.get(request.profileTemplateUuid);
    if (!maySeeRequest(ctx.caller, template, request)) throw notFound('The request');
    return request;
  }

  /** `targetUser` is "current", a GUID, or "" for every request the caller may see. */
  async list(ctx: CallContext, targetUser: string, status: number): Promise<RequestRecord[]> {
    let target: string | undefined;
    if (targetUser) {
      target = targetUser.toLowerCase() === 'current' ? ctx.caller.userUuid : parseGuid(targetUser);
      if (!target) throw invalidArgument('targetuser must be "current" or a GUID.');
    }
    if (status !== 0 && !Object.values(RequestStatus).includes(status as RequestStatus)) {
      throw invalidArgument('status is not a request status.');
    }
    await this.abandonExpired();
    const requests = await this.store.read.requests.list({ targetUserUuid: target, status: status || undefined });
    const templates = new Map<string, ProfileTemplate | undefined>();
    const visible: RequestRecord[] = [];
    for (const r of requests) {
      if (!templates.has(r.profileTemplateUuid)) {
        templates.set(r.profileTemplateUuid, await this.store.read.templates.get(r.profileTemplateUuid));
      }
      if (maySeeRequest(ctx.caller, templates.get(r.profileTemplateUuid), r)) visible.push(r);
    }
    return visible;
  }

  async updateStatus(ctx: CallContext, uuid: string, status: number, comment: string): Promise<RequestRecord> {
    const id = requireGuid(uuid, 'The request id');
    const wanted = [
      RequestStatus.Approved,
      RequestStatus.Denied,
      RequestStatus.Completed,
      RequestStatus.Canceled,
      RequestStatus.Abandoned,
    ] as number[];
    if (!wanted.includes(status)) {
      throw invalidArgument('status must be Approved, Denied, Completed, Canceled or Abandoned.');
    }
    await this.expireIfDue(id);
    let failure: CmError | undefined;
    const result = await this.store.transaction(async (tx) => {
      // Locked: approvals are counted from the rows read here, and no other decision lands in between.
      const request = await tx.requests.get(id, true, 'update');
      if (!request) throw notFound('The request');
      const template = await tx.templates.get(request.profileTemplateUuid);
      if (!template || !maySeeRequest(ctx.caller, template, request)) throw notFound('The request');
      const now = this.clock.now();

      switch (status) {
        case RequestStatus.Approved:
        case RequestStatus.Denied: {
          if (!mayApprove(ctx.caller, template, request)) throw forbidden('You may not approve or deny this request.');
          if (request.status !== RequestStatus.Pending) throw invalidTransition('Only a Pending request can be approved or denied.');
          const approved = status === RequestStatus.Approved;
          const earlier = request.approvals.find((a) => a.approverUuid === ctx.caller.userUuid);
          // Each approver decides once: the same decision again is a retry (no change), another one is refused.
          if (earlier) {
            if (earlier.approved !== approved) throw invalidTransition('You have already decided on this request.');
            return request;
          }
          const approval = { approverUuid: ctx.caller.userUuid, approved, comment, at: now.toISOString() };
          await tx.requests.addApproval(request.uuid, approval);
          request.approvals.push(approval);
          const approvals = request.approvals.filter((a) => a.approved).length;
          if (!approved) request.status = RequestStatus.Denied;
          else if (approvals >= policyFor(template, request.requestType).approvalsNeeded) request.status = RequestStatus.Approved;
          break;
        }
        case RequestStatus.Canceled:
          if (ctx.caller.userUuid !== request.originatorUserUuid && ctx.caller.userUuid !== request.targetUserUuid) {
            throw forbidden('Only the initiator or the target may cancel a request.');
          }
          if (request.status !== RequestStatus.Pending && request.status !== RequestStatus.Approved) {
            throw invalidTransition('Only a Pending or Approved request can be canceled.');
          }
          request.status = RequestStatus.Canceled;
          break;
        case RequestStatus.Abandoned:
          if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor may abandon a request.');
          if (request.status !== RequestStatus.Executing) throw invalidTransition('Only an Executing request can be abandoned.');
          await this.abandonIn(tx, request);
          break;
        case RequestStatus.Completed:
          if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor may complete a request.');
          failure = await this.completeIn(tx, request);
          break;
      }
      if (FINAL_REQUEST_STATUSES.has(request.status)) {
        request.completed = now.toISOString();
        await this.effects.onFinal(tx, request);
      }
      await tx.requests.patch(request.uuid, { status: request.status, completed: request.completed });
      await tx.audit.append(
        auditEntry(ctx, now, 'UpdateRequestStatus', failure ? 'Refused' : 'Succeeded', { requestUuid: request.uuid }, {
          status: request.status,
          ...(failure ? { code: failure.code } : {}),
        }),
      );
      return request;
    });
    // A completion refused because the card was retired still commits the request as Failed.
    if (failure) throw failure;
    return result;
  }

  /** Whether the caller may see the card, or may initiate this request type on its template for its user. */
  private async mayNameCard(tx: Repositories, caller: Caller, card: SmartcardRecord, type: number): Promise<boolean> {
    if (await maySeeCard(tx, caller, card)) return true;
    const template = await tx.templates.get(card.profileTemplateUuid);
    return template !== undefined && mayInitiate(caller, template, type, card.assignedUserUuid);
  }

  /** Moves the request to Completed, or returns why not after marking it Failed. */
  private async completeIn(tx: Repositories, request: RequestRecord): Promise<CmError | undefined> {
    const issuesCard = CARD_ISSUING_TYPES.has(request.requestType);
    const from = issuesCard ? [RequestStatus.Executing] : [RequestStatus.Approved, RequestStatus.Executing];
    if (!(from as number[]).includes(request.status)) {
      throw invalidTransition(issuesCard ? 'Only an Executing request can be completed.' : 'Only an Approved or Executing request can be completed.');
    }
    if (issuesCard) {
      if (request.newSmartcardUuid === NIL_UUID) throw wrongState('Bind a smart card to the request before completing it.');
      const card = await tx.smartcards.get(request.newSmartcardUuid, 'update');
      if (!card || card.status !== SmartcardStatus.Assigned) {
        request.status = RequestStatus.Failed;
        return wrongState('The bound smart card was retired before completion; the request has failed.');
      }
      await tx.smartcards.updateStatus(card.uuid, SmartcardStatus.Active);
      await this.effects.onCardActivated(tx, card.uuid);
    }
    request.status = RequestStatus.Completed;
    return undefined;
  }

  /** Executing -> Abandoned; a bound card that never became Active is retired with it. */
  private async abandonIn(tx: Repositories, request: RequestRecord): Promise<void> {
    request.status = RequestStatus.Abandoned;
    if (request.newSmartcardUuid === NIL_UUID) return;
    const card = await tx.smartcards.get(request.newSmartcardUuid, 'update');
    if (card && card.status === SmartcardStatus.Assigned) {
      await tx.smartcards.updateStatus(card.uuid, SmartcardStatus.Retired);
      await this.effects.onCardStatusChanged(tx, card.uuid, SmartcardStatus.Retired);
    }
  }

  private ttlCutoff(): string {
    return new Date(this.clock.now().getTime() - this.requestTtlHours * 3_600_000).toISOString();
  }

  /** Whether the request is open and older than CM_REQUEST_TTL_HOURS: due to be abandoned. */
  isDue(request: RequestRecord): boolean {
    return isOpenForExecution(request.status) && request.submitted < this.ttlCutoff();
  }

  /** Abandons one request if it is due. */
  async expireIfDue(uuid: string): Promise<void> {
    const request = await this.store.read.requests.get(uuid, false);
    if (request && this.isDue(request)) await this.abandonExpired();
  }

  /** SPEC 3: Approved or Executing requests older than the TTL are abandoned by the service. */
  async abandonExpired(): Promise<number> {
    const cutoff = this.ttlCutoff();
    const due = await this.store.read.requests.listOpenSubmittedBefore(cutoff);
    if (due.length === 0) return 0;
    return this.store.transaction(async (tx) => {
      let count = 0;
      // In uuid order, as units that lock several requests take them (the storage contract).
      const candidates = (await tx.requests.listOpenSubmittedBefore(cutoff)).sort((a, b) => (a.uuid < b.uuid ? -1 : 1));
      for (const candidate of candidates) {
        const completed = this.clock.now().toISOString();
        // Abandoned once: only while it is still in the status read (another sweep may have won).
        if (!(await tx.requests.patchIf(candidate.uuid, candidate.status, { status: RequestStatus.Abandoned, completed }))) continue;
        // Read again now that the row is locked: a card may have been bound since the list was read.
        const stale = (await tx.requests.get(candidate.uuid, false))!;
        await this.abandonIn(tx, stale);
        await this.effects.onFinal(tx, stale);
        await tx.audit.append({
          at: stale.completed,
          correlationId: '',
          callerUuid: NIL_UUID,
          action: 'AbandonExpiredRequest',
          requestUuid: stale.uuid,
          smartcardUuid: stale.newSmartcardUuid === NIL_UUID ? '' : stale.newSmartcardUuid,
          outcome: 'Succeeded',
          detail: JSON.stringify({ ttlHours: this.requestTtlHours }),
        });
        count++;
      }
      return count;
    });
  }
}

function checkDataCollection(values: DataCollectionValue[], wanted: { name: string; required: boolean }[]): DataCollectionValue[] {
  const byName = new Map(values.map((v) => [v.name.toLowerCase(), v]));
  for (const item of wanted) {
    if (item.required && !byName.get(item.name.toLowerCase())?.value) {
      throw invalidArgument(`datacollection needs a value for "${item.name}".`);
    }
  }
  return values.map((v) => ({ name: v.name, value: v.value }));
}

function dataValue(values: DataCollectionValue[], names: string[]): string | undefined {
  return values.find((v) => names.includes(v.name.toLowerCase()))?.value || undefined;
}

const displayNameFrom = (values: DataCollectionValue[]) => dataValue(values, ['name', 'displayname']);
const upnFrom = (values: DataCollectionValue[]) => dataValue(values, ['upn', 'userprincipalname']);
