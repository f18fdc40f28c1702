// A small REST client for seeding: the bench creates its templates, requests and bound cards
// through the service's own API, as a CM client would, many calls at a time.
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';

export const BASE_PATH = '/CertificateManagement/api/v1.0';

export interface Person {
  sub: string;
  name: string;
  groups: string[];
}

export const PEOPLE = {
  admin: { sub: 'b0000000-0000-4000-8000-00000000000a', name: 'Bench Admin', groups: ['cm-admins'] },
  agent: { sub: 'b0000000-0000-4000-8000-00000000000b', name: 'Bench Agent', groups: ['cm-agents'] },
} satisfies Record<string, Person>;

export function mintToken(person: Person, secret: string): Promise<string> {
  return new SignJWT({ name: person.name, groups: person.groups })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(person.sub)
    .setIssuedAt()
    .setExpirationTime('4h')
    .sign(Buffer.from(secret, 'utf8'));
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
    this.name = 'ApiError';
  }
}

export class Api {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(this.baseUrl + BASE_PATH + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new ApiError(res.status, text, `${method} ${path}`);
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  /** POST that answers 201 with a bare "api/v1.0/<collection>/<uuid>": the uuid. */
  async create(path: string, body: unknown): Promise<string> {
    const { body: uri } = await this.call('POST', path, body);
    const uuid = typeof uri === 'string' ? uri.split('/').pop() : undefined;
    if (!uuid) throw new Error(`POST ${path} answered ${JSON.stringify(uri)}, not a created URI`);
    return uuid;
  }
}

/** Runs `work` over `items`, `limit` at a time, keeping the results in order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const BENCH_ATR = '3b8d0180fba000000397425446590301c8';

/** A card as the client knows it: the card's own id (a GUID) and, once bound, the CM record's uuid. */
export interface BoundCard {
  requestUuid: string;
  smartcardUuid: string;
  cardId: string;
}

export function newCardId(): string {
  return randomUUID();
}

export function newChallenge(): string {
  return randomBytes(8).toString('base64');
}

/** The template every scenario uses, varied by PIN option (REST shape, as an administrator posts it). */
export function benchTemplate(name: string, pinOption: 'ServerDistributed' | 'Randomized') {
  const agents = {
    Enabled: true,
    SelfServiceEnabled: false,
    EnrollAgentRequired: true,
    ApprovalsNeeded: 0,
    AuthorizedInitiators: ['group:cm-agents'],
    AuthorizedApprovers: ['group:cm-approvers'],
    AuthorizedEnrollmentAgents: ['group:cm-agents'],
  };
  return {
    Name: name,
    Description: 'Created by npm run bench',
    Policies: { Enroll: agents, Retire: agents },
    SmartcardConfiguration: {
      AdminKeyAlgorithm: '3DES',
      DefaultAdminKeyHex: randomBytes(24).toString('hex'),
      DiversifyAdminKey: true,
      UserPinOption: pinOption,
      UserPinPolicy: { MinLength: 6, MaxLength: 16, CharacterSet: 'Numeric', ServerPinLength: 8 },
      AllowSmartcardReuse: false,
    },
    CertificateTemplates: [
      { TemplateCommonName: 'SmartcardLogon', KeyAlgorithmName: 'RSA', KeySize: 2048, HashAlgorithmName: 'SHA256', KeyUsages: 3, SubjectTemplate: 'CN={name}', ValidityDays: 365 },
    ],
  };
}

/** Creates `count` Approved Enroll requests (the agent initiates them for fresh target users). */
export function createRequests(api: Api, templateUuid: string, count: number, parallel = 32): Promise<string[]> {
  return mapLimit(Array.from({ length: count }), parallel, () =>
    api.create('/requests', { profiletemplateuuid: templateUuid, type: 'Enroll', target: randomUUID() }),
  );
}

/** Binds a fresh card to each request (which moves it to Executing). */
export function bindCards(api: Api, requestUuids: readonly string[], parallel = 32): Promise<BoundCard[]> {
  return mapLimit(requestUuids, parallel, async (requestUuid) => {
    const cardId = newCardId();
    const smartcardUuid = await api.create('/smartcards', { requestid: requestUuid, cardid: cardId, atr: BENCH_ATR });
    return { requestUuid, smartcardUuid, cardId };
  });
}
