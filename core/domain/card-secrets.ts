// Key material and PINs (SPEC 3, 7, 8): challenge-responses, diversified admin keys and
// server-proposed PINs, given only to executors of an open request bound to the card, after
// the checks of SPEC 3 in their order. The heavy lifting runs in the worker pool (CardCrypto);
// every answer and every refusal is audited, never with the secret itself.

import { CmError, forbidden, invalidArgument, notFound, wrongState } from '../errors.js';
import type { Repositories, Store } from '../storage/repository.js';
import { auditEntry, type CallContext, type Clock } from './context.js';
import { CARD_ISSUING_TYPES, isOpenForExecution, LIVE_CARD_STATUSES, SmartcardStatus, UserPinOption } from './enums.js';
import { cardIdGuid, cardIdHex, parseGuid, requireBase64, requireGuid, requireHex } from './ids.js';
import { mayExecute, maySeeRequest } from './policy.js';
import { visibleRequestAndCard } from './smartcards.js';
import { blockSizeOf, keyLengthOf } from '../../workers/crypto/admin-key.js';
import type { MasterKeySource } from '../../workers/tasks.js';
import type { AdminKeyAlgorithm, ProfileTemplate, RequestRecord, SmartcardRecord } from './types.js';

/** What the domain needs from the crypto workers; core/crypto/pool.ts provides it. */
export interface CardCrypto {
  /** `cardId` is the card's GUID; the diversified key is derived in the worker from the master key source. */
  respond(job: { alg: AdminKeyAlgorithm; key: Buffer; challenge: Buffer } | (MasterKeySource & { alg: AdminKeyAlgorithm; cardId: string; challenge: Buffer })): Promise<Buffer>;
  diversify(job: MasterKeySource & { alg: AdminKeyAlgorithm; cardId: string }): Promise<Buffer>;
  generatePin(policy: { length: number; characterSet: number }): Promise<string>;
}

/**
 * The master key ring, by version (core/crypto/key-ring.ts): the domain never holds a master
 * key, only what a pool job derives a card's key from (the ring's bytes or a token key's label).
 */
export interface MasterKeys {
  readonly newestVersion: number;
  cardKeySource(version: number): MasterKeySource;
}

/** Seals and opens stored PINs (AES-256-GCM, the card Uuid as associated data). */
export interface PinVault {
  seal(keyVersion: number, cardUuid: string, pin: string): Buffer;
  open(keyVersion: number, cardUuid: string, sealed: Buffer): string;
}

export interface AuthenticationResponseInput {
  requestUuid: string;
  smartcardUuid: string;
  cardId: string;
  challenge: string;
  diversified: boolean;
  atr: string;
}

export interface DiversifiedKeyInput {
  requestUuid: string;
  smartcardUuid: string;
  cardId: string;
  atr: string;
}

export interface ServerProposedPinInput extends DiversifiedKeyInput {
  challenge: string;
}

interface Target {
  request: RequestRecord;
  template: ProfileTemplate;
  card: SmartcardRecord;
}

/** One item of a batch: its answer, or the error refusing it. */
export type BatchOutcome = { response: string; error?: undefined } | { error: unknown; response?: undefined };

interface CardReference {
  requestUuid: string;
  smartcardUuid: string;
  cardId: string;
  atr: string;
}

/** A batch item after its checks and crypto: a response waiting to be counted, or its refusal. */
type Checked = { refs: { requestUuid: string; smartcardUuid: string } } & (
  | { target: Target; response: Buffer; detail: Record<string, number | boolean>; error?: undefined }
  | { target?: undefined; error: unknown }
);

const errorCode = (err: unknown) => (err instanceof CmError ? err.code : 'INTERNAL');

const targetRefs = (target: Target) => ({ requestUuid: target.request.uuid, smartcardUuid: target.card.uuid });

/** The syntax of a card reference: 400 before anything is looked up. */
function parseCardReference(input: DiversifiedKeyInput, requestOptional = false): CardReference {
  const requestUuid = requestOptional && !input.requestUuid ? '' : requireGuid(input.requestUuid, 'The request id');
  return {
    requestUuid,
    smartcardUuid: requireGuid(input.smartcardUuid, 'The smart card id'),
    cardId: cardIdHex(requireGuid(input.cardId, 'cardid')),
    atr: input.atr ? requireHex(input.atr, 'atr', 2, 33) : '',
  };
}

function parseResponseInput(input: AuthenticationResponseInput): { ref: CardReference; challenge: Buffer } {
  return { ref: parseCardReference(input), challenge: challengeBytes(input.challenge) };
}

/** SPEC 3's last reference check: the cardid and atr the caller read from the card. */
function checkCard(card: SmartcardRecord, ref: CardReference): void {
  if (card.cardId !== ref.cardId || (ref.atr && card.atr && card.atr !== ref.atr)) {
    throw new CmError('CARD_MISMATCH', 'cardid or atr does not match the smart card record.');
  }
}

function challengeBytes(text: string): Buffer {
  if (!text) throw invalidArgument('challenge is required.');
  return requireBase64(text, 'challenge');
}

/** SPEC 8: whole blocks of the template's algorithm, 8 (3DES) or 16 (AES) to 64 bytes. */
function checkChallengeSize(template: ProfileTemplate, challenge: Buffer): void {
  const block = blockSizeOf(template.smartcardConfiguration.adminKeyAlgorithm);
  if (challenge.length < block || challenge.length > 64 || challenge.length % block !== 0) {
    throw invalidArgument(`challenge must be whole ${block}-byte blocks, ${block} to 64 bytes.`);
  }
}

const LIVE = [...LIVE_CARD_STATUSES];
const cardNotLive = () => wrongState('The smart card is not Assigned, Active or Suspended.');
const notInitialising = () => wrongState('The diversified key is given only to initialise a newly assigned card.');
const limitExceeded = () => new CmError('LIMIT_EXCEEDED', 'This request has had all the challenge-responses it may have.');

export class CardSecretService {
  private readonly maxResponses: number;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly crypto: CardCrypto,
    private readonly keys: MasterKeys,
    private readonly vault: PinVault,
    private readonly expiry: { isDue(request: RequestRecord): boolean; abandonExpired(): Promise<number> },
    options: { maxResponsesPerRequest: number },
  ) {
    this.maxResponses = options.maxResponsesPerRequest;
  }

  async authenticationResponse(ctx: CallContext, input: AuthenticationResponseInput): Promise<string> {
    return this.audited(ctx, 'GetAuthenticationResponse', input, async (refs) => {
      const { ref, challenge } = parseResponseInput(input);
      Object.assign(refs, ref);
      const target = await this.checkedTarget(ctx, ref);
      const { response, detail } = await this.respond(target, ref, input.diversified, challenge);
      try {
        // Counted, the card re-checked under its lock, and audited, in one step (SPEC 3 and 12:
        // the checks hold at commit time).
        const entry = auditEntry(ctx, this.clock.now(), 'GetAuthenticationResponse', 'Succeeded', targetRefs(target), detail);
        const outcome = await this.store.atomicCall((tx) => tx.requests.recordResponse(target.request.uuid, target.card.uuid, this.maxResponses, LIVE, entry));
        if (outcome === 'cardNotLive') throw cardNotLive();
        if (outcome === 'notCounted') throw await this.whyNotCounted(target.request.uuid);
      } catch (err) {
        response.fill(0);
        throw err;
      }
      return response.toString('base64');
    });
  }

  /**
   * The batch stream's form of `authenticationResponse`: each item is checked, answered or
   * refused on its own, exactly as the single call would; items naming the same request and
   * card share the look-ups, the crypto jobs share pool tasks, and the whole batch (counting
   * and every audit row, refusals included) is written in one transaction. An item is answered
   * only once that transaction has committed.
   */
  async authenticationResponses(ctx: CallContext, inputs: readonly AuthenticationResponseInput[]): Promise<BatchOutcome[]> {
    if (inputs.length === 0) return [];
    const targets = new Map<string, Promise<Target>>();
    const checked = await Promise.all(
      inputs.map(async (input): Promise<Checked> => {
        const refs = { requestUuid: parseGuid(input.requestUuid) ?? '', smartcardUuid: parseGuid(input.smartcardUuid) ?? '' };
        try {
          const { ref, challenge } = parseResponseInput(input);
          const key = `${ref.requestUuid}/${ref.smartcardUuid}`;
          let target = targets.get(key);
          if (!target) targets.set(key, (target = this.openTarget(ctx, ref.requestUuid, ref.smartcardUuid)));
          const resolved = await target;
          checkCard(resolved.card, ref);
          return { refs, target: resolved, ...(await this.respond(resolved, ref, input.diversified, challenge)) };
        } catch (error) {
          return { refs, error };
        }
      }),
    );

    const outcomes: BatchOutcome[] = [];
    try {
      await this.store.transaction(async (tx) => {
        const at = this.clock.now();
        // SPEC 3 at commit time: the requests are locked, then each card is locked and re-checked
        // before anything is counted (the storage contract's lock order).
        await tx.requests.lock(...new Set(checked.flatMap((item) => (item.target ? [item.target.request.uuid] : []))));
        const gone = new Set<Target>();
        for (const target of new Set(checked.map((item) => item.target))) {
          if (target && !(await this.isStillLive(tx, target))) gone.add(target);
        }
        // Count the answers per request, then refuse, in item order, those beyond what was granted.
        const wanted = new Map<string, number>();
        for (const item of checked) {
          if (item.target && !gone.has(item.target)) wanted.set(item.target.request.uuid, (wanted.get(item.target.request.uuid) ?? 0) + 1);
        }
        const granted = new Map<string, number | undefined>();
        for (const [uuid, n] of wanted) granted.set(uuid, await tx.requests.countResponses(uuid, n, this.maxResponses));
        const entries = checked.map((item) => {
          let refusal = item.error;
          if (item.target && gone.has(item.target)) refusal = cardNotLive();
          else if (item.target) {
            const left = granted.get(item.target.request.uuid);
            if (left) {
              granted.set(item.target.request.uuid, left - 1);
              outcomes.push({ response: item.response.toString('base64') });
              return auditEntry(ctx, at, 'GetAuthenticationResponse', 'Succeeded', targetRefs(item.target), item.detail);
            }
            // Closed or at its limit since the checks: say which.
            refusal = left === undefined ? wrongState('The request is not Approved or Executing.') : limitExceeded();
          }
          outcomes.push({ error: refusal });
          return auditEntry(ctx, at, 'GetAuthenticationResponse', 'Refused', item.refs, { code: errorCode(refusal) });
        });
        await tx.audit.appendMany(entries);
      });
      return outcomes;
    } catch (error) {
      // Nothing of the batch was recorded, so nothing of it is answered.
      return inputs.map(() => ({ error }));
    } finally {
      for (const item of checked) if (item.target) item.response.fill(0);
    }
  }

  /** The template's rules for a challenge-response, then the response from the pool. */
  private async respond(target: Target, ref: { cardId: string }, diversified: boolean, challenge: Buffer) {
    checkChallengeSize(target.template, challenge);
    const config = target.template.smartcardConfiguration;
    if (diversified && (!config.diversifyAdminKey || target.card.keyVersion === 0)) {
      throw wrongState("The profile template does not diversify this card's admin key.");
    }
    this.checkLimit(target.request);

    const alg = config.adminKeyAlgorithm;
    let response: Buffer;
    if (diversified) {
      response = await this.crypto.respond({ alg, ...this.keys.cardKeySource(target.card.keyVersion), cardId: cardIdGuid(ref.cardId), challenge });
    } else {
      const key = Buffer.from(config.defaultAdminKeyHex, 'hex');
      response = await this.crypto.respond({ alg, key, challenge }).finally(() => key.fill(0));
    }
    const detail = { diversified, keyVersion: diversified ? target.card.keyVersion : 0, challengeLength: challenge.length };
    return { response, detail };
  }

  async diversifiedKey(ctx: CallContext, input: DiversifiedKeyInput): Promise<string> {
    return this.audited(ctx, 'GetDiversifiedKey', input, async (refs) => {
      const ref = parseCardReference(input);
      Object.assign(refs, ref);
      const target = await this.checkedTarget(ctx, ref);
      if (!CARD_ISSUING_TYPES.has(target.request.requestType) || target.card.status !== SmartcardStatus.Assigned) throw notInitialising();
      const config = target.template.smartcardConfiguration;
      if (!config.diversifyAdminKey || target.card.keyVersion === 0) {
        throw wrongState('The profile template does not diversify admin keys.');
      }
      const key = await this.crypto.diversify({
        alg: config.adminKeyAlgorithm,
        ...this.keys.cardKeySource(target.card.keyVersion),
        cardId: cardIdGuid(ref.cardId),
      });
      await this.store.transaction(async (tx) => {
        await this.markExecuted(tx, target.request.uuid);
        if ((await tx.smartcards.lockForKeyRelease(target.card.uuid, target.request.uuid)) !== SmartcardStatus.Assigned) throw notInitialising();
        await tx.audit.append(
          auditEntry(ctx, this.clock.now(), 'GetDiversifiedKey', 'Succeeded', { requestUuid: target.request.uuid, smartcardUuid: target.card.uuid }, {
            keyVersion: target.card.keyVersion,
            keyLength: keyLengthOf(config.adminKeyAlgorithm),
          }),
        );
      });
      const text = key.toString('base64');
      key.fill(0);
      return text;
    });
  }

  /** The PIN, or undefined when the template leaves the PIN to the user (REST 204). */
  async serverProposedPin(ctx: CallContext, input: ServerProposedPinInput): Promise<string | undefined> {
    return this.audited(ctx, 'GetServerProposedPin', input, async (refs) => {
      const ref = parseCardReference(input, true);
      Object.assign(refs, ref);
      const challenge = challengeBytes(input.challenge);
      if (!ref.requestUuid) ref.requestUuid = refs.requestUuid = await this.newestExecutableRequest(ctx, ref.smartcardUuid);
      const target = await this.checkedTarget(ctx, ref);
      checkChallengeSize(target.template, challenge);
      const config = target.template.smartcardConfiguration;
      const detail = { pinOption: config.userPinOption, challenge: input.challenge, challengeLength: challenge.length };
      if (config.userPinOption !== UserPinOption.ServerDistributed && config.userPinOption !== UserPinOption.Randomized) {
        await this.record(ctx, 'GetServerProposedPin', 'Succeeded', refs, detail);
        return undefined;
      }
      const policy = { length: config.userPinPolicy.serverPinLength, characterSet: config.userPinPolicy.characterSet };
      const fresh = await this.crypto.generatePin(policy);
      return this.store.transaction(async (tx) => {
        // The request row is locked from here: a concurrent first call waits, then finds the PIN.
        await this.markExecuted(tx, target.request.uuid);
        await this.cardStillLive(tx, target);
        const request = target.request;
        let pin = fresh;
        if (config.userPinOption === UserPinOption.ServerDistributed) {
          // Generated once per (card, request): a concurrent first call may have stored one already.
          const stored = await tx.pins.get(target.card.uuid, request.uuid);
          if (stored) pin = this.vault.open(stored.keyVersion, target.card.uuid, stored.sealed);
          else {
            const version = this.keys.newestVersion;
            await tx.pins.put(target.card.uuid, request.uuid, version, this.vault.seal(version, target.card.uuid, pin));
          }
        }
        await tx.audit.append(auditEntry(ctx, this.clock.now(), 'GetServerProposedPin', 'Succeeded', refs, detail));
        return pin;
      });
    });
  }

  /** SPEC 3, in order: visible 404, executor 403, state 409, cardid/atr 409 CARD_MISMATCH. */
  private async checkedTarget(ctx: CallContext, ref: CardReference): Promise<Target> {
    const target = await this.openTarget(ctx, ref.requestUuid, ref.smartcardUuid);
    checkCard(target.card, ref);
    return target;
  }

  /** The checks of SPEC 3 that depend only on the request and the card, up to their states. */
  private async openTarget(ctx: CallContext, requestUuid: string, smartcardUuid: string): Promise<Target> {
    const { request, template, card } = await visibleRequestAndCard(this.store.read, ctx, requestUuid, smartcardUuid);
    if (!mayExecute(ctx.caller, template, request)) throw forbidden('Only an executor of the request receives key material or PINs.');
    if (this.expiry.isDue(request)) {
      await this.expiry.abandonExpired();
      throw wrongState('The request was open too long and has been abandoned.');
    }
    if (!isOpenForExecution(request.status)) throw wrongState('The request is not Approved or Executing.');
    if (!LIVE_CARD_STATUSES.has(card.status)) throw cardNotLive();
    return { request, template, card };
  }

  /**
   * Inside the answer's transaction: whether the card is still bound to the request and live,
   * under the lock that status changes also take, so the answer commits before a status change
   * or not at all (SPEC 3 and 12).
   */
  private async isStillLive(tx: Repositories, target: Target): Promise<boolean> {
    const status = await tx.smartcards.lockForKeyRelease(target.card.uuid, target.request.uuid);
    return status !== undefined && LIVE_CARD_STATUSES.has(status);
  }

  private async cardStillLive(tx: Repositories, target: Target): Promise<void> {
    if (!(await this.isStillLive(tx, target))) throw cardNotLive();
  }

  private checkLimit(request: RequestRecord): void {
    if (this.maxResponses > 0 && request.responsesIssued >= this.maxResponses) throw limitExceeded();
  }

  /** Why a response the checks allowed was not counted: the request closed, or reached its limit, meanwhile. */
  private async whyNotCounted(requestUuid: string): Promise<CmError> {
    const request = await this.store.read.requests.get(requestUuid, false);
    return !request || !isOpenForExecution(request.status) ? wrongState('The request is not Approved or Executing.') : limitExceeded();
  }

  /** Records an execute operation (Approved -> Executing); 409 when the request closed meanwhile. */
  private async markExecuted(tx: Repositories, requestUuid: string): Promise<void> {
    if (!(await tx.requests.markExecuted(requestUuid))) throw wrongState('The request is not Approved or Executing.');
  }

  /** The card-only PIN path: the caller's newest open request on the card that they may execute. */
  private async newestExecutableRequest(ctx: CallContext, smartcardUuid: string): Promise<string> {
    const card = await this.store.read.smartcards.get(smartcardUuid);
    if (!card) throw notFound('The smart card');
    const template = await this.store.read.templates.get(card.profileTemplateUuid);
    const requests = await this.store.read.requests.listByCard(card.uuid);
    const open = requests.find((r) => isOpenForExecution(r.status) && template && mayExecute(ctx.caller, template, r));
    if (open) return open.uuid;
    const visible = ctx.caller.isAdmin || card.assignedUserUuid === ctx.caller.userUuid || requests.some((r) => maySeeRequest(ctx.caller, template, r));
    if (!visible) throw notFound('The smart card');
    throw wrongState('You have no Approved or Executing request on this smart card.');
  }

  /** Runs an operation; a refusal is written to the audit log in a transaction of its own. */
  private async audited<T>(
    ctx: CallContext,
    action: string,
    input: { requestUuid: string; smartcardUuid: string },
    work: (refs: { requestUuid: string; smartcardUuid: string }) => Promise<T>,
  ): Promise<T> {
    const refs = { requestUuid: parseGuid(input.requestUuid) ?? '', smartcardUuid: parseGuid(input.smartcardUuid) ?? '' };
    try {
      return await work(refs);
    } catch (err) {
      await this.record(ctx, action, 'Refused', refs, { code: errorCode(err) });
      throw err;
    }
  }

  private async record(
    ctx: CallContext,
    action: string,
    outcome: 'Succeeded' | 'Refused',
    refs: { requestUuid: string; smartcardUuid: string },
    detail: Record<string, string | number | boolean>,
  ): Promise<void> {
    await this.store.transaction((tx) =>
      tx.audit.append(auditEntry(ctx, this.clock.now(), action, outcome, { requestUuid: refs.requestUuid, smartcardUuid: refs.smartcardUuid }, detail)),
    );
  }
}
