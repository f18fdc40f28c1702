// JSON schemas of the smart card routes. Input names are lower case (bodies and query names are
// lower-cased before validation); output names are the PascalCase of SPEC 5.1.
import { enumSchema, guidParams, guidSchema } from '../../schemas.js';

export const smartcardSchema = {
  type: 'object',
  description: 'A smart card record (SPEC 5.1)',
  properties: {
    Uuid: { type: 'string' },
    Status: { type: 'integer', description: 'SmartcardStatus: None 0, New 1, Assigned 2, Active 3, Disabled 4, Suspended 5, Retired 6' },
    Flags: { type: 'integer', description: 'Primary 1, Duplicate 2, Temporary 4, Reused 8, Superseded 16, KeyEscrow 32' },
    ParentSmartcardUuid: { type: 'string' },
    PrimarySmartcardUuid: { type: 'string' },
    PermanentSmartcardUuid: { type: 'string' },
    AssignedUserUuid: { type: 'string' },
    ProfileTemplateUuid: { type: 'string' },
    ProfileTemplateVersion: { type: 'integer' },
    Comment: { type: 'string' },
    SerialNumber: { type: 'string' },
    Middleware: { type: 'string' },
    Atr: { type: 'string' },
  },
} as const;

export const assignBody = {
  type: 'object',
  properties: {
    requestid: { ...guidSchema, description: 'The request the card is bound to' },
    cardid: { type: 'string', format: 'cardid', description: 'The card id (a GUID)' },
    atr: { type: 'string', format: 'atr', description: 'The answer-to-reset, hex' },
  },
  required: ['requestid', 'cardid'],
} as const;

export const statusBody = {
  type: 'object',
  properties: {
    status: enumSchema('SmartcardStatus', 'A SmartcardStatus name or number'),
  },
  required: ['status'],
} as const;

export const findQuery = {
  type: 'object',
  properties: { cardid: { type: 'string', format: 'cardid' } },
  required: ['cardid'],
} as const;

const cardQueryProperties = {
  cardid: { type: 'string', format: 'cardid', description: 'Must match the card record' },
  atr: { type: 'string', format: 'atr', description: 'Checked against the card record when given' },
  challenge: { type: 'string', format: 'base64', description: "The card's challenge, base64" },
} as const;

export const pinQuery = {
  type: 'object',
  properties: cardQueryProperties,
  required: ['cardid', 'challenge'],
} as const;

export const authenticationResponseQuery = {
  type: 'object',
  properties: {
    ...cardQueryProperties,
    diversified: { type: 'string', format: 'boolean', description: 'true: the diversified key; false: the default admin key' },
  },
  required: ['cardid', 'challenge', 'diversified'],
} as const;

export const diversifiedKeyQuery = {
  type: 'object',
  properties: { cardid: cardQueryProperties.cardid, atr: cardQueryProperties.atr },
  required: ['cardid'],
} as const;

export const cardParams = guidParams('id');
export const requestCardParams = guidParams('reqid', 'scid');
export const secretSchema = { type: 'string', description: 'The bare value, a JSON string' } as const;

export const operationsSchema = {
  type: 'array',
  description: 'Lower-case request type names the caller could initiate now for this card',
  items: { type: 'string' },
} as const;
