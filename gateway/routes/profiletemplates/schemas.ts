// JSON schemas of the profile template routes (SPEC 5.3 to 5.6): output in PascalCase, input in
// lower case (body keys are lower-cased before validation).
import { enumSchema, guidSchema } from '../../schemas.js';

const principals = { type: 'array', items: { type: 'string' }, description: 'user:<guid> or group:<name>' } as const;

export const workflowPolicySchema = {
  type: 'object',
  description: 'The workflow policy of one request type (SPEC 5.4)',
  properties: {
    Enabled: { type: 'boolean' },
    SelfServiceEnabled: { type: 'boolean' },
    EnrollAgentRequired: { type: 'boolean' },
    ApprovalsNeeded: { type: 'integer' },
    AuthorizedInitiators: principals,
    AuthorizedApprovers: principals,
    AuthorizedEnrollmentAgents: principals,
    CollectComments: { type: 'boolean' },
    DataCollection: {
      type: 'array',
      items: { type: 'object', properties: { Name: { type: 'string' }, Required: { type: 'boolean' } } },
    },
  },
} as const;

export const smartcardConfigurationSchema = {
  type: 'object',
  description: 'Smart card configuration (SPEC 5.5)',
  properties: {
    DefaultAdminKeyHex: { type: ['string', 'null'], description: 'null unless the caller may see it' },
    DiversifyAdminKey: { type: 'boolean' },
    UserPinOption: { type: 'integer', description: 'None 0, UserProvided 1, ServerDistributed 2, Randomized 3' },
    UserPinPolicy: {
      type: ['object', 'null'],
      properties: {
        MinLength: { type: 'integer' },
        MaxLength: { type: 'integer' },
        CharacterSet: { type: 'integer', description: 'Numeric 0, Alphanumeric 1, AsciiPrintable 2' },
        ServerPinLength: { type: 'integer' },
      },
    },
    AllowSmartcardReuse: { type: 'boolean' },
    MaxNumberOfCertificates: { type: 'integer' },
    AtrMiddleware: {
      type: 'array',
      items: { type: 'object', properties: { AtrPrefixHex: { type: 'string' }, Middleware: { type: 'string' } } },
    },
    AdminKeyAlgorithm: { type: 'string', description: '3DES, AES128, AES192 or AES256' },
  },
} as const;

export const certificateTemplateSchema = {
  type: 'object',
  description: 'A certificate template entry (SPEC 5.6)',
  properties: {
    TemplateCommonName: { type: 'string' },
    KeyAlgorithmName: { type: 'string' },
    KeySize: { type: 'integer' },
    HashAlgorithmName: { type: 'string' },
    KeyUsages: { type: 'integer', description: 'Decryption 1, Signing 2, KeyAgreement 4' },
    SubjectTemplate: { type: 'string' },
    ValidityDays: { type: 'integer' },
  },
} as const;

export const profileTemplateSchema = {
  type: 'object',
  description: 'A profile template (SPEC 5.3)',
  properties: {
    Uuid: { type: 'string' },
    Name: { type: 'string' },
    Description: { type: 'string' },
    Version: { type: 'integer' },
    IsSmartcardProfileTemplate: { type: 'boolean' },
    IsVirtualSmartcardProfileTemplate: { type: 'boolean' },
    Policies: { type: 'object', additionalProperties: workflowPolicySchema, description: 'Keyed by request type name' },
    SmartcardConfiguration: { ...smartcardConfigurationSchema, type: ['object', 'null'] },
    CertificateTemplates: { type: 'array', items: certificateTemplateSchema },
  },
} as const;

export const profileTemplateSummarySchema = {
  type: 'object',
  description: 'The limited view of a profile template',
  properties: {
    Name: { type: 'string' },
    Description: { type: 'string' },
    Uuid: { type: 'string' },
    IsSmartcardProfileTemplate: { type: 'boolean' },
    IsVirtualSmartcardProfileTemplate: { type: 'boolean' },
  },
} as const;

// ---- input ----

const principalsInput = { type: 'array', items: { type: 'string' } } as const;

const workflowPolicyInput = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean' },
    selfserviceenabled: { type: 'boolean' },
    enrollagentrequired: { type: 'boolean' },
    approvalsneeded: { type: 'integer', minimum: 0 },
    authorizedinitiators: principalsInput,
    authorizedapprovers: principalsInput,
    authorizedenrollmentagents: principalsInput,
    collectcomments: { type: 'boolean' },
    datacollection: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, required: { type: 'boolean' } },
        required: ['name'],
      },
    },
  },
} as const;

const smartcardConfigurationInput = {
  type: 'object',
  properties: {
    defaultadminkeyhex: { type: ['string', 'null'], format: 'hex' },
    diversifyadminkey: { type: 'boolean' },
    userpinoption: enumSchema('UserPinOption'),
    userpinpolicy: {
      type: 'object',
      properties: {
        minlength: { type: 'integer', minimum: 0 },
        maxlength: { type: 'integer', minimum: 0 },
        characterset: enumSchema('PinCharacterSet'),
        serverpinlength: { type: 'integer', minimum: 0 },
      },
    },
    allowsmartcardreuse: { type: 'boolean' },
    maxnumberofcertificates: { type: 'integer', minimum: 0 },
    atrmiddleware: {
      type: 'array',
      items: {
        type: 'object',
        properties: { atrprefixhex: { type: 'string', format: 'hex' }, middleware: { type: 'string' } },
        required: ['atrprefixhex', 'middleware'],
      },
    },
    adminkeyalgorithm: { type: 'string', format: 'adminkeyalgorithm' },
  },
} as const;

const certificateTemplateInput = {
  type: 'object',
  properties: {
    templatecommonname: { type: 'string' },
    keyalgorithmname: { type: 'string' },
    keysize: { type: 'integer', minimum: 0 },
    hashalgorithmname: { type: 'string' },
    keyusages: { type: 'integer', minimum: 0 },
    subjecttemplate: { type: 'string' },
    validitydays: { type: 'integer', minimum: 0 },
  },
} as const;

/** A full template as POST and PUT take it; Uuid and Version are the service's and ignored. */
export const profileTemplateBody = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    description: { type: 'string' },
    issmartcardprofiletemplate: { type: 'boolean' },
    isvirtualsmartcardprofiletemplate: { type: 'boolean' },
    policies: {
      type: 'object',
      propertyNames: { format: 'RequestType' },
      additionalProperties: workflowPolicyInput,
      description: 'Keyed by request type name; a type left out is not enabled',
    },
    smartcardconfiguration: smartcardConfigurationInput,
    certificatetemplates: { type: 'array', items: certificateTemplateInput },
  },
  required: ['name'],
} as const;

export const templateParams = {
  type: 'object',
  properties: { id: guidSchema },
  required: ['id'],
} as const;

export const policyParams = {
  type: 'object',
  properties: { id: guidSchema, type: { type: 'string', format: 'RequestType' } },
  required: ['id', 'type'],
} as const;
