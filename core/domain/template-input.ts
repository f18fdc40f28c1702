// Turns an administrator's template (as it arrives, proto defaults filled in) into a complete,
// valid one: SPEC 5.3 to 5.6 defaults for what is missing, 400 for what is wrong.

import { invalidArgument } from '../errors.js';
import { requestTypeFromName, REQUEST_TYPE_NAMES, PinCharacterSet, UserPinOption } from './enums.js';
import { parseGuid, requireHex } from './ids.js';
import { keyLengthOf, parseAdminKeyAlgorithm } from '../../workers/crypto/admin-key.js';
import type {
  CertificateTemplate,
  ProfileTemplate,
  SmartcardConfiguration,
  WorkflowPolicy,
} from './types.js';

/** Fields of a template as they may arrive: anything may be missing or zero. */
export interface TemplateInput {
  name?: string;
  description?: string;
  isSmartcardProfileTemplate?: boolean;
  isVirtualSmartcardProfileTemplate?: boolean;
  policies?: Record<string, Partial<WorkflowPolicy> | null | undefined>;
  smartcardConfiguration?: Partial<Omit<SmartcardConfiguration, 'userPinPolicy' | 'adminKeyAlgorithm'>> & {
    userPinPolicy?: Partial<SmartcardConfiguration['userPinPolicy']> | null;
    adminKeyAlgorithm?: string;
  } | null;
  certificateTemplates?: Partial<CertificateTemplate>[];
}

function principal(text: string): string {
  const m = /^(user|group):(.+)$/i.exec(text.trim());
  if (m) {
    const kind = m[1]!.toLowerCase();
    if (kind === 'group' && m[2]!.trim() !== '') return `group:${m[2]!.trim()}`;
    const guid = kind === 'user' ? parseGuid(m[2]!.trim()) : undefined;
    if (guid) return `user:${guid}`;
  }
  throw invalidArgument(`"${text}" is not a principal: write user:<guid> or group:<name>.`);
}

function policy(input: Partial<WorkflowPolicy>, typeName: string): WorkflowPolicy {
  const approvalsNeeded = input.approvalsNeeded ?? 0;
  if (!Number.isInteger(approvalsNeeded) || approvalsNeeded < 0 || approvalsNeeded > 100) {
    throw invalidArgument(`Policies.${typeName}.ApprovalsNeeded must be 0 to 100.`);
  }
  const names = new Set<string>();
  const dataCollection = (input.dataCollection ?? []).map((item) => {
    const name = (item.name ?? '').trim();
    if (!name) throw invalidArgument(`Policies.${typeName}.DataCollection items need a Name.`);
    if (names.has(name.toLowerCase())) throw invalidArgument(`Policies.${typeName}.DataCollection names "${name}" twice.`);
    names.add(name.toLowerCase());
    return { name, required: Boolean(item.required) };
  });
  return {
    enabled: Boolean(input.enabled),
    selfServiceEnabled: Boolean(input.selfServiceEnabled),
    enrollAgentRequired: Boolean(input.enrollAgentRequired),
    approvalsNeeded,
    authorizedInitiators: (input.authorizedInitiators ?? []).map(principal),
    authorizedApprovers: (input.authorizedApprovers ?? []).map(principal),
    authorizedEnrollmentAgents: (input.authorizedEnrollmentAgents ?? []).map(principal),
    collectComments: Boolean(input.collectComments),
    dataCollection,
  };
}

function configuration(input: NonNullable<TemplateInput['smartcardConfiguration']> | undefined): ProfileTemplate['smartcardConfiguration'] {
  const c = input ?? {};
  const algorithm = c.adminKeyAlgorithm ? parseAdminKeyAlgorithm(c.adminKeyAlgorithm) : '3DES';
  if (!algorithm) throw invalidArgument('SmartcardConfiguration.AdminKeyAlgorithm must be 3DES, AES128, AES192 or AES256.');
  const keyLength = keyLengthOf(algorithm);
  const defaultAdminKeyHex =
    c.defaultAdminKeyHex === undefined || c.defaultAdminKeyHex === ''
      ? '00'.repeat(keyLength)
      : requireHex(c.defaultAdminKeyHex, 'SmartcardConfiguration.DefaultAdminKeyHex', keyLength, keyLength);

  const pin = c.userPinPolicy ?? {};
  const minLength = pin.minLength || 6;
  const maxLength = pin.maxLength || 127;
  const serverPinLength = pin.serverPinLength || 8;
  const characterSet = pin.characterSet ?? PinCharacterSet.Numeric;
  if (minLength < 1 || maxLength > 127 || minLength > maxLength) {
    throw invalidArgument('UserPinPolicy needs 1 <= MinLength <= MaxLength <= 127.');
  }
  if (serverPinLength < minLength || serverPinLength > maxLength) {
    throw invalidArgument('UserPinPolicy.ServerPinLength must lie between MinLength and MaxLength.');
  }
  if (![0, 1, 2].includes(characterSet)) throw invalidArgument('UserPinPolicy.CharacterSet is not a PinCharacterSet.');
  const userPinOption = c.userPinOption ?? UserPinOption.None;
  if (![0, 1, 2, 3].includes(userPinOption)) throw invalidArgument('UserPinOption is not a UserPinOption.');
  const maxNumberOfCertificates = c.maxNumberOfCertificates ?? 0;
  if (!Number.isInteger(maxNumberOfCertificates) || maxNumberOfCertificates < 0) {
    throw invalidArgument('MaxNumberOfCertificates must be 0 or more.');
  }
  return {
    defaultAdminKeyHex,
    diversifyAdminKey: Boolean(c.diversifyAdminKey),
    userPinOption,
    userPinPolicy: { minLength, maxLength, characterSet, serverPinLength },
    allowSmartcardReuse: Boolean(c.allowSmartcardReuse),
    maxNumberOfCertificates,
    atrMiddleware: (c.atrMiddleware ?? []).map((m) => ({
      atrPrefixHex: requireHex(m.atrPrefixHex ?? '', 'AtrMiddleware.AtrPrefixHex', 1, 33),
      middleware: (m.middleware ?? '').trim() || failMiddleware(),
    })),
    adminKeyAlgorithm: algorithm,
  };
}

function failMiddleware(): never {
  throw invalidArgument('AtrMiddleware items need a Middleware name.');
}

const KEY_SIZES: Record<string, number[]> = { RSA: [2048, 3072, 4096], ECDSA_P256: [256] };

function certificateTemplate(input: Partial<CertificateTemplate>, index: number): CertificateTemplate {
  const where = `CertificateTemplates[${index}]`;
  const templateCommonName = (input.templateCommonName ?? '').trim();
  if (!templateCommonName) throw invalidArgument(`${where}.TemplateCommonName is required.`);
  const keyAlgorithmName = (input.keyAlgorithmName || 'RSA').toUpperCase();
  const sizes = KEY_SIZES[keyAlgorithmName];
  if (!sizes) throw invalidArgument(`${where}.KeyAlgorithmName must be RSA or ECDSA_P256.`);
  const keySize = input.keySize || sizes[0]!;
  if (!sizes.includes(keySize)) throw invalidArgument(`${where}.KeySize must be one of ${sizes.join(', ')}.`);
  const hashAlgorithmName = (input.hashAlgorithmName || 'SHA256').toUpperCase();
  if (hashAlgorithmName !== 'SHA256') throw invalidArgument(`${where}.HashAlgorithmName must be SHA256.`);
  const keyUsages = input.keyUsages || 3;
  if (!Number.isInteger(keyUsages) || keyUsages < 1 || keyUsages > 7) throw invalidArgument(`${where}.KeyUsages must be 1 to 7.`);
  const validityDays = input.validityDays || 365;
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > 3650) {
    throw invalidArgument(`${where}.ValidityDays must be 1 to 3650.`);
  }
  const subjectTemplate = (input.subjectTemplate ?? '').trim() || 'CN={name}';
  return { templateCommonName, keyAlgorithmName, keySize, hashAlgorithmName, keyUsages, subjectTemplate, validityDays };
}

/** A complete template from an administrator's input; `uuid` and `version` are the service's. */
export function normaliseTemplate(input: TemplateInput, uuid: string, version: number): ProfileTemplate {
  const name = (input.name ?? '').trim();
  if (!name) throw invalidArgument('Name is required.');
  const policies: Record<string, WorkflowPolicy> = {};
  for (const [key, value] of Object.entries(input.policies ?? {})) {
    const type = requestTypeFromName(key);
    if (type === undefined) throw invalidArgument(`Policies has "${key}", which is not a request type.`);
    policies[REQUEST_TYPE_NAMES.get(type)!] = policy(value ?? {}, key);
  }
  const certificateTemplates = (input.certificateTemplates ?? []).map(certificateTemplate);
  const seen = new Set<string>();
  for (const c of certificateTemplates) {
    if (seen.has(c.templateCommonName.toLowerCase())) {
      throw invalidArgument(`CertificateTemplates names "${c.templateCommonName}" twice.`);
    }
    seen.add(c.templateCommonName.toLowerCase());
  }
  return {
    uuid,
    name,
    description: input.description ?? '',
    version,
    // Proto defaults cannot tell "false" from "missing": a template is a smart card template unless it says virtual.
    isSmartcardProfileTemplate: Boolean(input.isSmartcardProfileTemplate) || !input.isVirtualSmartcardProfileTemplate,
    isVirtualSmartcardProfileTemplate: Boolean(input.isVirtualSmartcardProfileTemplate),
    policies,
    smartcardConfiguration: configuration(input.smartcardConfiguration ?? undefined),
    certificateTemplates,
  };
}
