// Schema validation of REST input: the value formats as ajv formats, one validator per part of
// the request (bodies never coerced, query strings parsed), and readable 400 messages
// ("query parameter cardid must be a card id ...") instead of ajv's raw ones.
import { Ajv, type Options as AjvOptions } from 'ajv';
import type { FastifySchema, FastifySchemaValidationError } from 'fastify';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { GatewayError } from '../errors.js';
import { VALUE_FORMATS } from './values.js';

/** Registers every value format on an ajv instance. */
function addValueFormats(ajv: Ajv): Ajv {
  for (const [name, format] of Object.entries(VALUE_FORMATS)) {
    ajv.addFormat(name, { type: 'string', validate: (text: string) => format.parse(text) !== undefined });
  }
  return ajv;
}

/** Fastify's own ajv defaults, less the type coercion that bodies must not get. */
const AJV_OPTIONS: AjvOptions = { coerceTypes: false, useDefaults: true, removeAdditional: true, allErrors: false, allowUnionTypes: true };

/**
 * Fastify's validator compiler (SPEC 2): JSON types in a body are never coerced (an array where a
 * string is expected is a 400, not its first element); query strings, path and header values are
 * text, so there a schema's number or boolean is parsed from it, as Fastify does by default.
 */
export function validatorCompiler(): (route: FastifyRouteSchemaDef<FastifySchema>) => (data: unknown) => boolean {
  const body = addValueFormats(new Ajv(AJV_OPTIONS));
  const text = addValueFormats(new Ajv({ ...AJV_OPTIONS, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object);
}

const PLACES: Readonly<Record<string, string>> = {
  body: 'body property',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

/** Fastify's `schemaErrorFormatter`: the first schema violation as a 400 INVALID_ARGUMENT. */
export function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const [first] = errors;
  return new GatewayError('INVALID_ARGUMENT', first ? describe(first, dataVar) : 'The request is malformed.');
}

function describe(error: FastifySchemaValidationError, dataVar: string): string {
  const place = PLACES[dataVar] ?? dataVar;
  const name = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('')
    .replace(/^\./, '');
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return `${capitalise(place)} ${[name, params.missingProperty].filter(Boolean).join('.')} is required.`;
    case 'format': {
      const format = VALUE_FORMATS[String(params.format)];
      return `${capitalise(place)} ${name} must be ${format?.description ?? String(params.format)}.`;
    }
    case 'type':
      if (name === '' && dataVar === 'body') return 'The request body must be a JSON object.';
      return `${capitalise(place)} ${name} must be of type ${String(params.type).replace(',', ' or ')}.`;
    default:
      return `${capitalise(place)} ${name} ${error.message ?? 'is malformed'}.`;
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
