// How a store keeps a profile template: its JSON body, with the default admin key sealed
// (`defaultAdminKeySealed`) instead of in clear. Shared by every store, so that a body written by
// one reads the same in another.

import type { ProfileTemplate } from '../domain/types.js';
import type { SealedSecret, TemplateSecrets } from './repository.js';

type StoredConfiguration = Omit<ProfileTemplate['smartcardConfiguration'], 'defaultAdminKeyHex'> & {
  defaultAdminKeyHex?: string;
  defaultAdminKeySealed?: SealedSecret;
};

export function encodeTemplate(template: ProfileTemplate, secrets: TemplateSecrets): string {
  const { defaultAdminKeyHex, ...configuration } = template.smartcardConfiguration;
  const stored: StoredConfiguration = { ...configuration, defaultAdminKeySealed: secrets.sealAdminKey(template.uuid, defaultAdminKeyHex) };
  return JSON.stringify({ ...template, smartcardConfiguration: stored });
}

export function decodeTemplate(body: string, secrets: TemplateSecrets): ProfileTemplate {
  const stored = JSON.parse(body) as Omit<ProfileTemplate, 'smartcardConfiguration'> & { smartcardConfiguration: StoredConfiguration };
  const { defaultAdminKeySealed, defaultAdminKeyHex, ...configuration } = stored.smartcardConfiguration;
  const key = defaultAdminKeySealed ? secrets.openAdminKey(stored.uuid, defaultAdminKeySealed) : (defaultAdminKeyHex ?? '');
  return { ...stored, smartcardConfiguration: { ...configuration, defaultAdminKeyHex: key } };
}

/** The body sealed, when it still holds its default admin key in clear (written before sealing existed); else undefined. */
export function sealedBodyOf(body: string, secrets: TemplateSecrets): string | undefined {
  const stored = JSON.parse(body) as { smartcardConfiguration?: StoredConfiguration };
  if (typeof stored.smartcardConfiguration?.defaultAdminKeyHex !== 'string') return undefined;
  return encodeTemplate(decodeTemplate(body, secrets), secrets);
}
