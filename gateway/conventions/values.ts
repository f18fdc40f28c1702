// The syntax of REST input values (SPEC 2): each format parses text into the value sent to the
// core, or undefined when the text is malformed. The same formats back the JSON schemas (as ajv
// formats, so a malformed value is a 400 before any RPC) and the request builders (which
// normalise: GUIDs and hex lower-cased, braces dropped, enum names to numbers).
import { isBase64, parseGuid } from '../../common/formats.js';
import { ENUM_TABLES, type EnumTable } from './enums.js';
import { invalidArgument } from '../errors.js';

export interface ValueFormat<T> {
  /** What a valid value looks like, for error messages and the OpenAPI document. */
  readonly description: string;
  parse(text: string): T | undefined;
}

const HEX32 = /^[0-9a-f]{32}$/i;
const HEX = /^(?:[0-9a-f]{2})+$/i;
const ADMIN_KEY_ALGORITHMS = ['3DES', 'AES128', 'AES192', 'AES256'];

export const guid: ValueFormat<string> = {
  description: 'a GUID (8-4-4-4-12 hex digits, braces allowed)',
  parse: (text) => parseGuid(text.trim()),
};

/** A card's own id: written as a GUID; the 32 hex digits of the minidriver file are accepted too. */
export const cardId: ValueFormat<string> = {
  description: 'a card id (a GUID, or its 32 hex digits)',
  parse(text) {
    const trimmed = text.trim();
    if (!HEX32.test(trimmed)) return guid.parse(trimmed);
    const hex = trimmed.toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  },
};

export const hex: ValueFormat<string> = {
  description: 'hex digits (whole bytes)',
  parse: (text) => (HEX.test(text.trim()) ? text.trim().toLowerCase() : undefined),
};

export const atr: ValueFormat<string> = {
  description: 'an ATR (2 to 33 bytes in hex)',
  parse(text) {
    const value = hex.parse(text);
    return value !== undefined && value.length >= 4 && value.length <= 66 ? value : undefined;
  },
};

/** Standard base64, padding optional; a `+` that arrived as a space is read back as `+`. */
export const base64: ValueFormat<string> = {
  description: 'standard base64',
  parse(text) {
    const value = text.trim().replace(/ /g, '+');
    return value !== '' && isBase64(value) ? value : undefined;
  },
};

/** A whole number written as text (SPEC 2: `priority` may be a numeric string); 32-bit. */
export const wholeNumber: ValueFormat<number> = {
  description: 'a whole number',
  parse(text) {
    if (!/^\s*-?\d{1,10}\s*$/.test(text)) return undefined;
    const value = Number(text);
    return value >= -(2 ** 31) && value < 2 ** 31 ? value : undefined;
  },
};

export const bool: ValueFormat<boolean> = {
  description: 'true or false',
  parse(text) {
    const lower = text.trim().toLowerCase();
    return lower === 'true' ? true : lower === 'false' ? false : undefined;
  },
};

export const adminKeyAlgorithm: ValueFormat<string> = {
  description: `one of ${ADMIN_KEY_ALGORITHMS.join(', ')}`,
  parse(text) {
    const upper = text.trim().toUpperCase();
    return ADMIN_KEY_ALGORITHMS.includes(upper) ? upper : undefined;
  },
};

export function enumFormat<Value extends number>(table: EnumTable<Value>): ValueFormat<Value> {
  return {
    description: `a ${table.name} name (${[...table.names.values()].join(', ')}) or its number`,
    parse: (text) => table.parse(text),
  };
}

/** Every format by the name the JSON schemas use in `format`. */
export const VALUE_FORMATS: Readonly<Record<string, ValueFormat<unknown>>> = {
  guid,
  cardid: cardId,
  hex,
  atr,
  base64,
  boolean: bool,
  wholenumber: wholeNumber,
  adminkeyalgorithm: adminKeyAlgorithm,
  ...Object.fromEntries(ENUM_TABLES.map((table) => [table.name, enumFormat(table)])),
};

/** Reads a required value that the schema has already checked; a 400 if it is malformed anyway. */
export function read<T>(format: ValueFormat<T>, value: unknown, name: string): T {
  const parsed = typeof value === 'string' || typeof value === 'number' ? format.parse(String(value)) : undefined;
  if (parsed === undefined) throw invalidArgument(`${name} must be ${format.description}.`);
  return parsed;
}

/** Reads an optional value: undefined, null and '' give the fallback. */
export function readOptional<T>(format: ValueFormat<T>, value: unknown, name: string, fallback: T): T {
  return value === undefined || value === null || value === '' ? fallback : read(format, value, name);
}
