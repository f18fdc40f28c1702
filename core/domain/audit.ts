// Reading the audit log (SPEC 7 extension): administrators only, newest first.

import { forbidden, invalidArgument } from '../errors.js';
import type { Store } from '../storage/repository.js';
import type { CallContext } from './context.js';
import { requireGuid } from './ids.js';
import type { AuditRecord } from './types.js';

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

export class AuditService {
  constructor(private readonly store: Store) {}

  async list(ctx: CallContext, filter: { requestUuid: string; smartcardUuid: string; limit: number }): Promise<AuditRecord[]> {
    if (!ctx.caller.isAdmin) throw forbidden('Only administrators read the audit log.');
    const limit = filter.limit || DEFAULT_AUDIT_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) {
      throw invalidArgument(`limit must be 1 to ${MAX_AUDIT_LIMIT}.`);
    }
    return this.store.read.audit.list({
      requestUuid: filter.requestUuid ? requireGuid(filter.requestUuid, 'requestid') : undefined,
      smartcardUuid: filter.smartcardUuid ? requireGuid(filter.smartcardUuid, 'smartcardid') : undefined,
      limit,
    });
  }
}
