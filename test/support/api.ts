// What the end-to-end tests share on top of the stack: the stack with its database snapshots, a
// token for every one of USERS, and the REST calls they use to set a scene (create a template or
// a request, bind a card, move a request or a card to a status). The scene-setting helpers throw
// on an unexpected status: they are not the thing under test, the assertions around them are.
import { randomUUID } from 'node:crypto';
import type { Test } from 'tap';
import { BASE, startStack, type HttpAnswer, type Stack } from './stack.js';
import { restTemplate, USERS } from './fixtures.js';
import { DbSnapshots } from './db-snapshot.js';

export const JSON_UTF8 = /^application\/json; charset=utf-8$/i;
export const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const NIL = '00000000-0000-0000-0000-000000000000';

/** The id at the end of a URI the API answers with (`api/v1.0/requests/<id>`). */
export const idOf = (uri: string) => uri.split('/').pop()!;
/** A query string. */
export const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

export function fail(what: string, res: HttpAnswer): never {
  throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** A whole stack and read-only snapshots of its database, both closed when `t` ends. */
export async function startStackWithDb(t: Pick<Test, 'teardown'>): Promise<{ s: Stack; db: DbSnapshots }> {
  const s = await startStack();
  const db = await DbSnapshots.open(s.core.database);
  t.teardown(async () => {
    await db.close();
    await s.close();
  });
  return { s, db };
}

export type Tokens = Record<keyof typeof USERS, string>;

/** A token for every one of USERS, and the REST calls that set a scene on stack `s`. */
export async function apiFor(s: Stack) {
  const tokens = {} as Tokens;
  for (const who of Object.keys(USERS) as (keyof typeof USERS)[]) tokens[who] = await s.as(USERS[who]);

  /** POST /profiletemplates as admin; the new template's id. */
  async function createTemplate(body: object): Promise<string> {
    const res = await s.http('POST', `${BASE}/profiletemplates`, { token: tokens.admin, body });
    if (res.status !== 201) fail('create template', res);
    return idOf(res.body);
  }

  /** POST /requests; the new request's id. */
  async function createRequest(token: string, body: object): Promise<string> {
    const res = await s.http('POST', `${BASE}/requests`, { token, body });
    if (res.status !== 201) fail(`create request ${JSON.stringify(body)}`, res);
    return idOf(res.body);
  }

  /** GET /requests/{id}; the request. */
  async function getRequest(id: string, token = tokens.admin): Promise<any> {
    const res = await s.http('GET', `${BASE}/requests/${id}`, { token });
    if (res.status !== 200) fail('get request', res);
    return res.body;
  }

  /** POST /smartcards (with atr only when given); the new card's uuid. */
  async function bind(token: string, requestid: string, cardid: string = randomUUID(), atr?: string): Promise<string> {
    const res = await s.http('POST', `${BASE}/smartcards`, { token, body: { requestid, cardid, ...(atr ? { atr } : {}) } });
    if (res.status !== 201) fail('bind', res);
    return idOf(res.body);
  }

  /** PUT /requests/{id} to a status. */
  async function setRequest(token: string, id: string, status: string): Promise<void> {
    const res = await s.http('PUT', `${BASE}/requests/${id}`, { token, body: { status } });
    if (res.status !== 200) fail(`request -> ${status}`, res);
  }

  /** PUT /requests/{reqid}/smartcards/{scid} to a status. */
  async function setCard(token: string, reqid: string, scid: string, status: string): Promise<void> {
    const res = await s.http('PUT', `${BASE}/requests/${reqid}/smartcards/${scid}`, { token, body: { status } });
    if (res.status !== 200) fail(`card -> ${status}`, res);
  }

  return { tokens, createTemplate, createRequest, getRequest, bind, setRequest, setCard };
}

/** The stored status of a request or a card, read from the database. */
export function storedStatus(db: DbSnapshots) {
  return {
    requestStatus: async (uuid: string) => (await db.row<{ status: number }>('SELECT status FROM requests WHERE uuid = ?', uuid))?.status,
    cardStatus: async (uuid: string) => (await db.row<{ status: number }>('SELECT status FROM smartcards WHERE uuid = ?', uuid))?.status,
  };
}

/** A template without self-service anywhere: invisible to a user who is not an agent. */
export function agentOnlyTemplate(name: string) {
  const body = restTemplate({ name });
  body.Policies.Enroll.SelfServiceEnabled = false;
  body.Policies.Unblock.SelfServiceEnabled = false;
  body.Policies.OfflineUnblock.SelfServiceEnabled = false;
  return body;
}
