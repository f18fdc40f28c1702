// The smart card state machine of SPEC 6 and which request type may drive which change.

import { RequestType, SmartcardStatus } from './enums.js';

const S = SmartcardStatus;
const T = RequestType;

/** Changes the state machine allows at all: from -> to. */
const CARD_TRANSITIONS: ReadonlyMap<number, readonly number[]> = new Map([
  [S.Assigned, [S.Active, S.Retired]],
  [S.Active, [S.Suspended, S.Disabled, S.Retired]],
  [S.Suspended, [S.Active, S.Disabled, S.Retired]],
  [S.Disabled, [S.Retired]],
]);

/** SPEC 6 table: the changes each request type may make through PUT .../smartcards/{scid}. */
type Change = readonly [from: number, to: number];
const GIVE_UP_INITIALISATION: Change[] = [[S.Assigned, S.Retired]];
const CHANGES_BY_REQUEST_TYPE = new Map<number, readonly Change[]>([
  [T.Enroll, GIVE_UP_INITIALISATION],
  [T.Duplicate, GIVE_UP_INITIALISATION],
  [T.Renew, GIVE_UP_INITIALISATION],
  [T.Recover, GIVE_UP_INITIALISATION],
  [T.TemporaryCards, GIVE_UP_INITIALISATION],
  [T.Reinstate, [[S.Active, S.Suspended], [S.Suspended, S.Active]]],
  [T.Revoke, [[S.Active, S.Disabled], [S.Suspended, S.Disabled]]],
  [T.Retire, [[S.Assigned, S.Retired], [S.Active, S.Retired], [S.Suspended, S.Retired], [S.Disabled, S.Retired]]],
]);

export function requestMayChangeCard(requestType: number, from: number, to: number): boolean {
  if (!CARD_TRANSITIONS.get(from)?.includes(to)) return false;
  return (CHANGES_BY_REQUEST_TYPE.get(requestType) ?? []).some(([f, t]) => f === from && t === to);
}

/**
 * Request types that can act on a card in the given status, in the order
 * GET /smartcards/{id}/operations lists them (the SPEC's example order).
 */
const OPERATIONS_BY_STATUS: ReadonlyMap<number, readonly number[]> = new Map([
  [S.Assigned, [T.Retire]],
  [
    S.Active,
    [T.Renew, T.Duplicate, T.Recover, T.TemporaryCards, T.Unblock, T.OfflineUnblock, T.OnlineUpdate, T.RecoverOnBehalf, T.Reinstate, T.Revoke, T.Retire],
  ],
  [S.Suspended, [T.Recover, T.Reinstate, T.Revoke, T.Retire]],
  [S.Disabled, [T.Recover, T.Retire]],
]);

export function operationsAllowedOn(cardStatus: number): readonly number[] {
  return OPERATIONS_BY_STATUS.get(cardStatus) ?? [];
}
