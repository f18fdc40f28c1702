// Property-name conventions of SPEC 2: request bodies are matched case-insensitively (their
// keys are lower-cased at every depth before validation), responses use PascalCase.

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type JsonObject = Record<string, unknown>;

export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/**
 * Lower-cases the property names of a parsed JSON value at every depth. The values of the
 * top-level properties named in `keepRaw` are left untouched: their keys are data, not names
 * (a data collection's one-key objects, `[{"City":"Seattle"}]`). When two names differ only by
 * case, the last one wins.
 */
export function lowerCaseKeys(value: unknown, keepRaw: ReadonlySet<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((item) => lowerCaseKeys(item));
  if (!isPlainObject(value)) return value;
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    const lower = key.toLowerCase();
    if (FORBIDDEN_KEYS.has(lower)) continue;
    result[lower] = keepRaw.has(lower) ? item : lowerCaseKeys(item);
  }
  return result;
}

/**
 * Converts an answer of the core (proto camelCase) to REST PascalCase at every depth by
 * upper-casing the first letter. Map keys such as policy type names are already PascalCase.
 * Keys that start with `_` (proto-loader's synthetic oneof names) are dropped.
 */
export function toPascalCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toPascalCase);
  if (!isPlainObject(value)) return value;
  const result: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith('_')) continue;
    result[key.charAt(0).toUpperCase() + key.slice(1)] = toPascalCase(item);
  }
  return result;
}
