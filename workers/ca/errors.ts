// The CA's coded error. Messages are written for a person and never carry key material; the pool
// task (workers/tasks.ts) turns INVALID_ARGUMENT into a 400 and anything else into INTERNAL.

import type { ErrorCode } from '../../core/errors.js';

/** Rows of the service's one error table (core/errors.ts). */
export type CaErrorCode = Extract<ErrorCode, 'INVALID_ARGUMENT' | 'CA_CONFIG_INVALID' | 'INTERNAL'>;

export class CaError extends Error {
  readonly code: CaErrorCode;
  constructor(code: CaErrorCode, message: string) {
    super(message);
    this.name = 'CaError';
    this.code = code;
  }
}

export const invalid = (message: string): CaError => new CaError('INVALID_ARGUMENT', message);

export const configError = (message: string): CaError => new CaError('CA_CONFIG_INVALID', message);
