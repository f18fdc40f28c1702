// The domain services, wired together. Nothing here knows about gRPC or HTTP.

import type { Store } from '../storage/repository.js';
import { AuditService } from './audit.js';
import { CardSecretService, type CardCrypto, type MasterKeys, type PinVault } from './card-secrets.js';
import { CertificateService, type CertificateAuthority } from './certificates.js';
import { systemClock, type Clock } from './context.js';
import { RequestService, type RequestEffects } from './requests.js';
import { SmartcardService } from './smartcards.js';
import { ProfileTemplateService } from './templates.js';

export interface DomainOptions {
  store: Store;
  crypto: CardCrypto;
  keys: MasterKeys;
  vault: PinVault;
  ca: CertificateAuthority;
  maxResponsesPerRequest: number;
  requestTtlHours: number;
  clock?: Clock;
}

export interface Domain {
  templates: ProfileTemplateService;
  requests: RequestService;
  smartcards: SmartcardService;
  cardSecrets: CardSecretService;
  audit: AuditService;
  certificates: CertificateService;
}

export function createDomain(options: DomainOptions): Domain {
  const clock = options.clock ?? systemClock;
  // The certificate service reaches the card service (declared below) only when called.
  const certificates: CertificateService = new CertificateService(options.store, clock, options.ca, (ctx, uuid) => smartcards.get(ctx, uuid));
  const effects: RequestEffects = {
    async onFinal(tx, request) {
      // SPEC 7: a server-distributed PIN lives until its request is final.
      await tx.pins.deleteForRequest(request.uuid);
    },
    onCardActivated: (tx, cardUuid) => certificates.effects.onCardActivated(tx, cardUuid),
    onCardStatusChanged: (tx, cardUuid, status) => certificates.effects.onCardStatusChanged(tx, cardUuid, status),
  };
  const requests = new RequestService(options.store, clock, options.requestTtlHours, effects);
  const smartcards = new SmartcardService(options.store, clock, () => options.keys.newestVersion, effects, requests);
  return {
    templates: new ProfileTemplateService(options.store, clock),
    requests,
    smartcards,
    certificates,
    cardSecrets: new CardSecretService(options.store, clock, options.crypto, options.keys, options.vault, requests, {
      maxResponsesPerRequest: options.maxResponsesPerRequest,
    }),
    audit: new AuditService(options.store),
  };
}
