// What every domain operation receives: the verified caller and the call's correlation id,
// plus the audit row builder that keeps secrets out by construction (it takes only the
// fields of SPEC 8 and a detail built from non-secret facts).

import type { Caller } from '../auth/caller.js';
import type { AuditEntry } from './types.js';

export interface CallContext {
  caller: Caller;
  correlationId: string;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function auditEntry(
  ctx: CallContext,
  at: Date,
  action: string,
  outcome: AuditEntry['outcome'],
  refs: { requestUuid?: string; smartcardUuid?: string },
  detail: Record<string, string | number | boolean> = {},
): AuditEntry {
  return {
    at: at.toISOString(),
    correlationId: ctx.correlationId,
    callerUuid: ctx.caller.userUuid,
    action,
    requestUuid: refs.requestUuid ?? '',
    smartcardUuid: refs.smartcardUuid ?? '',
    outcome,
    detail: Object.keys(detail).length ? JSON.stringify(detail) : '',
  };
}
