// SPEC 7: a request's `datacollection` arrives as an array of {"Name","Value"} objects (names
// matched case-insensitively), an array of one-key objects ([{"city":"seattle"}]), or a string
// holding JSON of either form. Anything else is a 400.
import { isPlainObject } from '../../conventions/casing.js';
import { invalidArgument } from '../../errors.js';
import type { DataCollectionValue } from '../../../proto/gen/cm/v1/DataCollectionValue.js';

const SHAPE = 'datacollection must be an array of {"Name","Value"} objects or of one-key objects, or a string holding JSON of either';

export function readDataCollection(value: unknown): DataCollectionValue[] {
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') {
    if (value.trim() === '') return [];
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      throw invalidArgument(`${SHAPE}; the string is not valid JSON.`);
    }
    return readItems(parsed);
  }
  return readItems(value);
}

function readItems(value: unknown): DataCollectionValue[] {
  if (!Array.isArray(value)) throw invalidArgument(`${SHAPE}.`);
  return value.map(readItem);
}

function readItem(item: unknown, index: number): DataCollectionValue {
  if (!isPlainObject(item)) throw invalidArgument(`datacollection[${index}] must be an object.`);
  const entries = Object.entries(item);
  const byLowerName = new Map(entries.map(([key, each]) => [key.toLowerCase(), each]));
  if (entries.length === 2 && byLowerName.has('name') && byLowerName.has('value')) {
    return { name: readName(byLowerName.get('name'), index), value: readValue(byLowerName.get('value'), index) };
  }
  if (entries.length === 1) {
    const [[name, each]] = entries;
    return { name: readName(name, index), value: readValue(each, index) };
  }
  throw invalidArgument(`datacollection[${index}] must be {"Name","Value"} or an object with one property.`);
}

function readName(name: unknown, index: number): string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw invalidArgument(`datacollection[${index}] needs a non-empty name.`);
  }
  return name;
}

function readValue(value: unknown, index: number): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return '';
  throw invalidArgument(`datacollection[${index}] must have a text value.`);
}
