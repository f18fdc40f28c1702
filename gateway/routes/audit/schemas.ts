// JSON schemas of the audit route (SPEC 8, an extension).
import { guidSchema } from '../../schemas.js';

export const auditRecordSchema = {
  type: 'object',
  properties: {
    Id: { type: 'integer' },
    At: { type: 'string' },
    CorrelationId: { type: 'string' },
    CallerUuid: { type: 'string' },
    Action: { type: 'string' },
    RequestUuid: { type: 'string' },
    SmartcardUuid: { type: 'string' },
    Outcome: { type: 'string', description: 'Succeeded or Refused' },
    Detail: { type: 'string' },
  },
} as const;

export const auditQuery = {
  type: 'object',
  properties: {
    requestid: guidSchema,
    smartcardid: guidSchema,
    limit: { type: 'integer', minimum: 0, description: 'Rows, newest first: default 100, at most 1000' },
  },
} as const;
