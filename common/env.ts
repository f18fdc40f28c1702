// Configuration from environment variables, shared by every process (core, gateway, cm-admin).
// A process declares its variables as one schema, a line per variable (`CM_HTTP_PORT:
// port(8080)`); readEnv checks the whole environment in one pass with Ajv (a JSON Schema built
// from those lines), turns each value into its typed form, runs the cross-variable rules, and
// throws one ConfigError listing every problem, each naming its variable. Nothing is created or
// opened on disk here except files read to validate them.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';

export type Env = Record<string, string | undefined>;

export interface Problem {
  variable: string;
  message: string;
}

/** A bad configuration: every problem found, each naming its variable. */
export class ConfigError extends Error {
  readonly problems: Problem[];
  /** The first problem's variable. */
  readonly variable: string;
  constructor(problems: Problem[] | string, message?: string) {
    const list = typeof problems === 'string' ? [{ variable: problems, message: message ?? 'is invalid' }] : problems;
    super(list.map((p) => `${p.variable}: ${p.message}`).join('; '));
    this.name = 'ConfigError';
    this.problems = list;
    this.variable = list[0]?.variable ?? '';
  }

  /** All the problems of several loads (e.g. core and gateway in one process) in one error. */
  static combine(errors: ConfigError[]): ConfigError {
    return new ConfigError(errors.flatMap((e) => e.problems));
  }
}

/** One variable: its JSON Schema (of the trimmed text), how to read it, and its value when unset. */
export interface EnvVar<T> {
  schema: Record<string, unknown>;
  /** What a valid value is, for messages: `"x" is not <expected>`. */
  expected: string;
  /** Turns the checked text into the value; throws an Error whose message says why not. */
  parse: (text: string) => T;
  /** The value when the variable is unset or empty. */
  unset: () => T;
  /** Never echoed in a message. */
  secret?: boolean;
}

export type EnvSchema = Record<string, EnvVar<unknown>>;
export type EnvValues<S extends EnvSchema> = { [K in keyof S]: S[K] extends EnvVar<infer T> ? T : never };

/** Cross-variable rules: call `problem` for each one broken. */
export type EnvRules<S extends EnvSchema> = (values: EnvValues<S>, problem: (variable: string, message: string) => void) => void;

const ajv = new Ajv({ allErrors: true, strict: true });
const compiled = new WeakMap<EnvSchema, ReturnType<typeof ajv.compile>>();

function validatorOf(schema: EnvSchema) {
  let validate = compiled.get(schema);
  if (!validate) {
    const properties = Object.fromEntries(Object.entries(schema).map(([name, v]) => [name, v.schema]));
    validate = ajv.compile({ type: 'object', properties });
    compiled.set(schema, validate);
  }
  return validate;
}

/** Reads `schema`'s variables from `env` (trimmed; empty counts as unset), or throws a ConfigError with every problem. */
export function readEnv<S extends EnvSchema>(schema: S, env: Env, rules?: EnvRules<S>): EnvValues<S> {
  const texts: Record<string, string> = {};
  for (const name of Object.keys(schema)) {
    const text = env[name]?.trim();
    if (text !== undefined && text !== '') texts[name] = text;
  }
  const problems: Problem[] = [];
  const describe = (name: string, message?: string): string => {
    const v = schema[name]!;
    if (message) return message;
    return v.secret ? `must be ${v.expected}` : `"${texts[name]}" is not ${v.expected}`;
  };
  const failed = new Set<string>();
  const validate = validatorOf(schema);
  if (!validate(texts)) {
    for (const error of validate.errors as ErrorObject[]) {
      const name = error.instancePath.slice(1);
      if (failed.has(name)) continue;
      failed.add(name);
      problems.push({ variable: name, message: describe(name) });
    }
  }
  const values: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(schema)) {
    if (failed.has(name)) continue;
    try {
      values[name] = texts[name] === undefined ? v.unset() : v.parse(texts[name]!);
    } catch (err) {
      failed.add(name);
      problems.push({ variable: name, message: describe(name, (err as Error).message) });
    }
  }
  const order = Object.keys(schema);
  problems.sort((a, b) => order.indexOf(a.variable) - order.indexOf(b.variable));
  // Rules see only variables that read well, so one bad value is not reported twice.
  if (rules && problems.length === 0) rules(values as EnvValues<S>, (variable, message) => problems.push({ variable, message }));
  if (problems.length) throw new ConfigError(problems);
  return values as EnvValues<S>;
}

// ---- the kinds of variables ----

const unsetIsUndefined = () => undefined;

/** Free text. */
export function text(fallback: string): EnvVar<string>;
export function text(): EnvVar<string | undefined>;
export function text(fallback?: string): EnvVar<string | undefined> {
  return { schema: { type: 'string' }, expected: 'text', parse: (t) => t, unset: () => fallback };
}

/** A secret text of at least `minBytes` bytes; never echoed. */
export function secretText(minBytes: number): EnvVar<string | undefined> {
  return {
    schema: { type: 'string' },
    expected: `at least ${minBytes} bytes long`,
    secret: true,
    parse: (t) => {
      if (Buffer.byteLength(t) < minBytes) throw new Error(`must be at least ${minBytes} bytes long`);
      return t;
    },
    unset: unsetIsUndefined,
  };
}

/** A whole number from `min` to `max`. */
export function integer(fallback: number, min: number, max: number): EnvVar<number>;
export function integer(fallback: undefined, min: number, max: number): EnvVar<number | undefined>;
export function integer(fallback: number | undefined, min: number, max: number): EnvVar<number | undefined> {
  const expected = `a whole number from ${min} to ${max}`;
  return {
    schema: { type: 'string', pattern: '^[0-9]{1,10}$' },
    expected,
    parse: (t) => {
      const n = Number(t);
      // An empty message: the variable's own `expected` (a port's, say) is shown.
      if (n < min || n > max) throw new RangeError('');
      return n;
    },
    unset: () => fallback,
  };
}

/** A TCP port (0 = any free port). */
export function port(fallback: number): EnvVar<number>;
export function port(fallback?: undefined): EnvVar<number | undefined>;
export function port(fallback?: number): EnvVar<number | undefined> {
  return { ...integer(fallback as number, 0, 65535), expected: 'a port number (0 to 65535)' };
}

const HOST_NAME = '^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$';

/** An IP address (IPv6 with or without brackets, given back without) or a host name. */
export function host(fallback: string): EnvVar<string>;
export function host(fallback?: undefined): EnvVar<string | undefined>;
export function host(fallback?: string): EnvVar<string | undefined> {
  return {
    schema: { type: 'string' },
    expected: 'an IP address or a host name',
    parse: (t) => {
      const bare = t.replace(/^\[(.*)\]$/, '$1');
      if (isIP(bare) === 0 && !new RegExp(HOST_NAME).test(bare)) throw new Error(`"${t}" is neither an IP address nor a host name`);
      return bare;
    },
    unset: () => fallback,
  };
}

/** A regular expression matching `word` in any case (JSON Schema patterns have no flags). */
function anyCase(word: string): string {
  return [...word].map((c) => (c.toLowerCase() === c.toUpperCase() ? c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : `[${c.toUpperCase()}${c.toLowerCase()}]`)).join('');
}

/** One of `choices`, compared without case. */
export function choice<T extends string>(choices: readonly T[], fallback: T): EnvVar<T> {
  return {
    schema: { type: 'string', pattern: `^(${choices.map(anyCase).join('|')})$` },
    expected: `one of ${choices.join(', ')}`,
    parse: (t) => t.toLowerCase() as T,
    unset: () => fallback,
  };
}

/** 1/true/yes or 0/false/no. */
export function flag(): EnvVar<boolean> {
  return {
    schema: { type: 'string', pattern: `^(${['0', '1', 'true', 'false', 'yes', 'no'].map(anyCase).join('|')})$` },
    expected: 'a flag (use 1 or 0)',
    parse: (t) => ['1', 'true', 'yes'].includes(t.toLowerCase()),
    unset: () => false,
  };
}

/** An http(s) URL, without a trailing slash. */
export function httpUrl(): EnvVar<string | undefined> {
  return {
    schema: { type: 'string' },
    expected: 'an http or https URL',
    parse: (t) => {
      let url: URL;
      try {
        url = new URL(t);
      } catch {
        throw new Error(`"${t}" is not a URL`);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${t}" must be an http or https URL`);
      return t.replace(/\/+$/, '');
    },
    unset: unsetIsUndefined,
  };
}

/** The path of a file that must be readable now; the value is the path. */
export function readablePath(): EnvVar<string | undefined> {
  return {
    schema: { type: 'string' },
    expected: 'a readable file',
    parse: (t) => {
      readFileOf(t);
      return t;
    },
    unset: unsetIsUndefined,
  };
}

/** The path of a file read now; the value is its content, checked by `check` when given. */
export function fileContent(check?: (content: Buffer) => void): EnvVar<Buffer | undefined> {
  return {
    schema: { type: 'string' },
    expected: 'a readable file',
    parse: (t) => {
      const content = readFileOf(t);
      check?.(content);
      return content;
    },
    unset: unsetIsUndefined,
  };
}

/** Any other reading: `parse` throws an Error with the message to show. */
export function custom<T>(parse: (text: string) => T, options: { expected: string; secret?: boolean; pattern?: string }): EnvVar<T | undefined> {
  return {
    schema: options.pattern ? { type: 'string', pattern: options.pattern } : { type: 'string' },
    expected: options.expected,
    secret: options.secret,
    parse,
    unset: unsetIsUndefined,
  };
}

function readFileOf(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '0:0:0:0:0:0:0:1') return true;
  const v4 = bare.startsWith('::ffff:') ? bare.slice(7) : bare;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/** TLS for a listener (SPEC 11): CM_TLS_CERT and CM_TLS_KEY together; CM_TLS_CA needs both. */
export const TLS_ENV = {
  CM_TLS_CERT: fileContent(),
  CM_TLS_KEY: fileContent(),
  CM_TLS_CA: fileContent(),
};

export function checkTls(values: EnvValues<typeof TLS_ENV>, problem: (variable: string, message: string) => void): void {
  if (values.CM_TLS_CERT && !values.CM_TLS_KEY) problem('CM_TLS_KEY', 'is required when CM_TLS_CERT is set');
  if (values.CM_TLS_KEY && !values.CM_TLS_CERT) problem('CM_TLS_CERT', 'is required when CM_TLS_KEY is set');
  if (values.CM_TLS_CA && !values.CM_TLS_CERT) problem('CM_TLS_CA', 'needs CM_TLS_CERT and CM_TLS_KEY as well');
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
