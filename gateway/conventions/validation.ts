// Schema validation of REST input: the value formats as ajv formats, and readable 400 messages
// ("query parameter cardid must be a card id ...") instead of ajv's raw ones.
import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';
import { GatewayError } from '../errors.js';
import { VALUE_FORMATS } from './values.js';

type AjvPlugin = Extract<NonNullable<NonNullable<FastifyServerOptions['ajv']>['plugins']>[number], (...args: never[]) => unknown>;

/** An ajv plugin (Fastify's `ajv.plugins`) that registers every value format. */
export const addValueFormats: AjvPlugin = (ajv) => {
  for (const [name, format] of Object.entries(VALUE_FORMATS)) {
    ajv.addFormat(name, { type: 'string', validate: (text: string) => format.parse(text) !== undefined });
  }
  return ajv;
};

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
