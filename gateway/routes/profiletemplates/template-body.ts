// A profile template body (lower-cased keys, validated by profileTemplateBody) as the proto
// ProfileTemplate. Fields left out stay unset, for the core to fill with the defaults of SPEC
// 5.5 and 5.6; policy keys become the canonical request type names.
import type { JsonObject } from '../../conventions/casing.js';
import { PIN_CHARACTER_SET, REQUEST_TYPE, USER_PIN_OPTION, restName } from '../../conventions/enums.js';
import { adminKeyAlgorithm, enumFormat, hex, read } from '../../conventions/values.js';
import type { CertificateTemplate } from '../../../proto/gen/cm/v1/CertificateTemplate.js';
import type { ProfileTemplate } from '../../../proto/gen/cm/v1/ProfileTemplate.js';
import type { SmartcardConfiguration } from '../../../proto/gen/cm/v1/SmartcardConfiguration.js';
import type { WorkflowPolicy } from '../../../proto/gen/cm/v1/WorkflowPolicy.js';

const requestType = enumFormat(REQUEST_TYPE);
const userPinOption = enumFormat(USER_PIN_OPTION);
const pinCharacterSet = enumFormat(PIN_CHARACTER_SET);

type Body = JsonObject;

const objects = (value: unknown): Body[] => (Array.isArray(value) ? (value as Body[]) : []);

/** Copies the properties that are present, under their proto names. */
function pick<T extends object>(body: Body, names: Record<string, keyof T & string>): Partial<T> {
  const result: Record<string, unknown> = {};
  for (const [lower, protoName] of Object.entries(names)) {
    if (body[lower] !== undefined && body[lower] !== null) result[protoName] = body[lower];
  }
  return result as Partial<T>;
}

export function templateFromBody(body: Body): ProfileTemplate {
  const template: ProfileTemplate = pick<ProfileTemplate>(body, {
    name: 'name',
    description: 'description',
    issmartcardprofiletemplate: 'isSmartcardProfileTemplate',
    isvirtualsmartcardprofiletemplate: 'isVirtualSmartcardProfileTemplate',
  });
  if (body.policies !== undefined && body.policies !== null) {
    template.policies = Object.fromEntries(
      Object.entries(body.policies as Record<string, Body>).map(([type, policy]) => [
        restName(REQUEST_TYPE, read(requestType, type, 'policies')),
        policyFromBody(policy),
      ]),
    );
  }
  if (body.smartcardconfiguration !== undefined && body.smartcardconfiguration !== null) {
    template.smartcardConfiguration = configurationFromBody(body.smartcardconfiguration as Body);
  }
  if (body.certificatetemplates !== undefined) {
    template.certificateTemplates = objects(body.certificatetemplates).map((entry) =>
      pick<CertificateTemplate>(entry, {
        templatecommonname: 'templateCommonName',
        keyalgorithmname: 'keyAlgorithmName',
        keysize: 'keySize',
        hashalgorithmname: 'hashAlgorithmName',
        keyusages: 'keyUsages',
        subjecttemplate: 'subjectTemplate',
        validitydays: 'validityDays',
      }),
    );
  }
  return template;
}

function policyFromBody(policy: Body): WorkflowPolicy {
  return {
    ...pick<WorkflowPolicy>(policy, {
      enabled: 'enabled',
      selfserviceenabled: 'selfServiceEnabled',
      enrollagentrequired: 'enrollAgentRequired',
      approvalsneeded: 'approvalsNeeded',
      authorizedinitiators: 'authorizedInitiators',
      authorizedapprovers: 'authorizedApprovers',
      authorizedenrollmentagents: 'authorizedEnrollmentAgents',
      collectcomments: 'collectComments',
    }),
    dataCollection: objects(policy.datacollection).map((item) => ({
      name: item.name as string,
      required: (item.required as boolean | undefined) ?? false,
    })),
  };
}

function configurationFromBody(configuration: Body): SmartcardConfiguration {
  const result: SmartcardConfiguration = pick<SmartcardConfiguration>(configuration, {
    diversifyadminkey: 'diversifyAdminKey',
    allowsmartcardreuse: 'allowSmartcardReuse',
    maxnumberofcertificates: 'maxNumberOfCertificates',
  });
  if (typeof configuration.defaultadminkeyhex === 'string') {
    result.defaultAdminKeyHex = read(hex, configuration.defaultadminkeyhex, 'defaultadminkeyhex');
  }
  if (configuration.userpinoption !== undefined) {
    result.userPinOption = read(userPinOption, configuration.userpinoption, 'userpinoption');
  }
  if (configuration.adminkeyalgorithm !== undefined) {
    result.adminKeyAlgorithm = read(adminKeyAlgorithm, configuration.adminkeyalgorithm, 'adminkeyalgorithm');
  }
  const pinPolicy = configuration.userpinpolicy as Body | undefined;
  if (pinPolicy) {
    result.userPinPolicy = {
      ...pick(pinPolicy, { minlength: 'minLength', maxlength: 'maxLength', serverpinlength: 'serverPinLength' }),
      ...(pinPolicy.characterset !== undefined
        ? { characterSet: read(pinCharacterSet, pinPolicy.characterset, 'characterset') }
        : {}),
    };
  }
  if (configuration.atrmiddleware !== undefined) {
    result.atrMiddleware = objects(configuration.atrmiddleware).map((entry) => ({
      atrPrefixHex: read(hex, entry.atrprefixhex, 'atrprefixhex'),
      middleware: entry.middleware as string,
    }));
  }
  return result;
}
