// The domain services, wired together. Nothing here knows about gRPC or HTTP.

import type { Store } from '../storage/repository.js';
import { AuditService } from './audit.js';
import { CardSecretService, type CardCrypto, type MasterKeys, type PinVault } from './card-secrets.js';
import { systemClock, type Clock } from './context.js';
import { RequestService, type RequestEffects } from './requests.js';
import { SmartcardService } from './smartcards.js';
import { ProfileTemplateService } from './templates.js';

export interface DomainOptions {
  store: Store;
  crypto: CardCrypto;
  keys: MasterKeys;
  vault: PinVault;
  maxResponsesPerRequest: number;
  requestTtlHours: number;
  clock?: Clock;
  /** Effects of request and card changes on other state (certificates); PIN erasure is built in. */
  effects?: Partial<RequestEffects>;
}

export interface Domain {
  templates: ProfileTemplateService;
  requests: RequestService;
  smartcards: SmartcardService;
  cardSecrets: CardSecretService;
  audit: AuditService;
}

export function createDomain(options: DomainOptions): Domain {
  const clock = options.clock ?? systemClock;
  const extra = options.effects ?? {};
  const effects: RequestEffects = {
    async onFinal(tx, request) {
      // SPEC 7: a server-distributed PIN lives until its request is final.
      await tx.pins.deleteForRequest(request.uuid);
      await extra.onFinal?.(tx, request);
    },
    onCardActivated: async (tx, cardUuid) => extra.onCardActivated?.(tx, cardUuid),
    onCardStatusChanged: async (tx, cardUuid, status) => extra.onCardStatusChanged?.(tx, cardUuid, status),
  };
  const requests = new RequestService(options.store, clock, options.requestTtlHours, effects);
  const expireIfDue = (uuid: string) => requests.expireIfDue(uuid);
  return {
    templates: new ProfileTemplateService(options.store, clock),
    requests,
    smartcards: new SmartcardService(options.store, clock, () => options.keys.newestVersion, effects, expireIfDue),
    cardSecrets: new CardSecretService(options.store, clock, options.crypto, options.keys, options.vault, expireIfDue, {
      maxResponsesPerRequest: options.maxResponsesPerRequest,
    }),
    audit: new AuditService(options.store),
  };
}
