// Request bodies (SPEC 2): JSON only (415 otherwise; no Content-Type is read as JSON), at most
// 64 KiB (413, by Fastify's bodyLimit), a JSON object (400 otherwise), property names matched
// case-insensitively: they are lower-cased here, before the schemas (written in lower case)
// validate them.
import type { FastifyRequest } from 'fastify';
import { GatewayError, invalidArgument } from '../errors.js';
import { isPlainObject, lowerCaseKeys } from '../conventions/casing.js';
import { sharedPlugin } from './define.js';

export const BODY_LIMIT_BYTES = 64 * 1024;
/**
 * The deepest nesting a body may have. The deepest body of the contract is a template, about 5
 * levels; what lies deeper is refused (400) before any recursive walk (key casing, validation)
 * could run out of stack on it.
 */
export const MAX_BODY_DEPTH = 32;
const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json(?:\s*;|$)/i;
/** Top-level properties whose nested keys are data (data collection names), not names. */
const KEEP_RAW = new Set(['datacollection']);

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalidArgument('The request body is not valid JSON.');
  }
  if (!isPlainObject(parsed)) throw invalidArgument('The request body must be a JSON object.');
  if (nestedDeeperThan(parsed, MAX_BODY_DEPTH)) throw invalidArgument(`The request body is nested deeper than ${MAX_BODY_DEPTH} levels.`);
  return lowerCaseKeys(parsed, KEEP_RAW);
}

/** Whether a parsed JSON value nests objects or arrays deeper than `limit`; iterative, so any depth is safe. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

export default sharedPlugin('json-body', async (fastify) => {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(JSON_MEDIA_TYPE, { parseAs: 'string' }, async (_request: FastifyRequest, body: string | Buffer) =>
    parseJsonBody(body.toString()),
  );
  // Everything else: a body without a Content-Type is JSON; any other media type is refused.
  fastify.addContentTypeParser('*', { parseAs: 'string' }, async (request: FastifyRequest, body: string | Buffer) => {
    if (request.headers['content-type'] !== undefined) throw new GatewayError('UNSUPPORTED_MEDIA_TYPE');
    return parseJsonBody(body.toString());
  });
});
