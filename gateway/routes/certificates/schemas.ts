// JSON schemas of the certificate routes (SPEC 5.7).
import { guidParams } from '../../schemas.js';

const cardCertificateProperties = {
  IsKeyHistory: { type: 'boolean' },
  ArchivedOnCa: { type: 'boolean' },
  CertificateType: { type: 'integer' },
  TemplateCommonName: { type: 'string' },
  SerialNumber: { type: 'string', description: 'Lower-case hex, no separators' },
  Thumbprint: { type: 'string', description: 'Lower-case hex SHA-1 of the DER' },
} as const;

/** A certificate on a card. */
export const cardCertificateSchema = { type: 'object', properties: cardCertificateProperties } as const;

/** A certificate of the caller (GET /certificates). */
export const userCertificateSchema = {
  type: 'object',
  properties: {
    ...cardCertificateProperties,
    NotBefore: { type: 'string' },
    NotAfter: { type: 'string' },
    Issuer: { type: 'string' },
    RequesterName: { type: 'string' },
    Status: { type: 'integer', description: '0 valid, 1 revoked, 2 on hold' },
  },
} as const;

export const generationOptionsSchema = {
  type: 'object',
  properties: {
    Subject: { type: 'string' },
    KeyAlgorithmName: { type: 'string' },
    KeySize: { type: 'integer' },
    FriendlyName: { type: 'string' },
    HashAlgorithmName: { type: 'string' },
    KeyStorageProviderNames: { type: 'array', items: { type: 'string' } },
    Exportable: { type: 'integer' },
    KeyProtectionLevel: { type: 'integer' },
    KeyUsages: { type: 'integer' },
  },
} as const;

/** An issued certificate, with the MIM page's casing. */
export const issuedCertificateSchema = {
  type: 'object',
  properties: {
    TemplateCommonName: { type: 'string' },
    CertificateId: { type: 'string' },
    Flags: { type: 'integer' },
    UseLocalMachineStore: { type: 'boolean' },
    Error: { type: 'null' },
    Pkcs7: { type: 'string', description: 'Base64 DER PKCS#7 holding the certificate and its chain' },
    Pfx: { type: 'null' },
    IsExternal: { type: 'boolean' },
    isServerGenerated: { type: 'boolean' },
    isPfx: { type: 'boolean' },
    isPkcs7: { type: 'boolean' },
    isKeyHistory: { type: 'boolean' },
  },
} as const;

export const certificateDataBody = {
  type: 'object',
  properties: {
    certificaterequests: {
      type: 'array',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      description: 'Base64 DER PKCS#10, one per certificate template (PEM armour allowed)',
    },
    pfxpassword: { type: 'string' },
    comments: { type: 'string' },
  },
  required: ['certificaterequests'],
} as const;

export const requestParams = guidParams('id');
