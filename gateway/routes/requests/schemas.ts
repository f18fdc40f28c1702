// JSON schemas of the request routes (SPEC 5.2, 7).
import { enumSchema, guidParams, guidSchema } from '../../schemas.js';

export const requestSchema = {
  type: 'object',
  description: 'A request (SPEC 5.2)',
  properties: {
    Uuid: { type: 'string' },
    RequestType: { type: 'integer', description: 'RequestType number (SPEC 4)' },
    Status: { type: 'integer', description: 'RequestStatus number (SPEC 4)' },
    Flags: { type: 'integer', description: 'EnrollmentAgent 1, Smartcard 2' },
    DataCollection: {
      type: 'array',
      items: { type: 'object', properties: { Name: { type: 'string' }, Value: { type: 'string' } } },
    },
    OriginatorUserUuid: { type: 'string' },
    TargetUserUuid: { type: 'string' },
    Submitted: { type: 'string' },
    Completed: { type: 'string' },
    NewSmartcardUuid: { type: 'string' },
    OldSmartcardUuid: { type: 'string' },
    NewProfileUuid: { type: 'string' },
    OldProfileUuid: { type: 'string' },
    Priority: { type: 'integer' },
    Comment: { type: 'string' },
    ProfileTemplateUuid: { type: 'string' },
    IsSmartcard: { type: 'boolean' },
    IsEnrollmentAgent: { type: 'boolean' },
    IsDataCollectionComplete: { type: 'boolean' },
    Approvals: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          ApproverUuid: { type: 'string' },
          Approved: { type: 'boolean' },
          Comment: { type: 'string' },
          At: { type: 'string' },
        },
      },
    },
  },
} as const;

export const createBody = {
  type: 'object',
  properties: {
    profiletemplateuuid: { ...guidSchema, description: "The template; may be left out when smartcard is given (the card's template)" },
    type: enumSchema('RequestType', 'A RequestType name (Enroll, Unblock, ...) or number'),
    target: { ...guidSchema, description: 'The target user; the caller when absent' },
    datacollection: {
      description:
        'An array of {"Name","Value"}, an array of one-key objects ([{"city":"seattle"}]), or a string holding JSON of either',
    },
    comment: { type: 'string' },
    priority: { type: ['integer', 'string'], format: 'wholenumber', minimum: -2147483648, maximum: 2147483647, description: 'A number or numeric string' },
    smartcard: { ...guidSchema, description: 'The Uuid of the card the request acts on' },
  },
  required: ['type'],
} as const;

export const listQuery = {
  type: 'object',
  properties: {
    targetuser: { type: 'string', description: '"current" or a user GUID' },
    status: { type: 'string', format: 'RequestStatus', description: 'A RequestStatus name or number' },
  },
} as const;

export const updateBody = {
  type: 'object',
  properties: {
    status: enumSchema('RequestStatus', 'Approved, Denied, Completed, Canceled or Abandoned'),
    comment: { type: 'string' },
  },
  required: ['status'],
} as const;

export const requestParams = guidParams('id');
