// Many small byte fields into one ArrayBuffer, for a message between threads: a transferred
// buffer costs the same whatever its size, so the crypto pool sends a batch's keys and
// challenges (and the worker its results) as views into one buffer, not one buffer each.
import { wipe } from './crypto/admin-key.js';

/**
 * Copies of `records` (flat objects) whose Uint8Array fields are views into one new ArrayBuffer,
 * each field copied there and then wiped in the original. Other fields are kept as they are.
 */
export function packBytes<T extends Record<string, unknown>>(records: readonly T[]): { value: T[]; buffer: ArrayBuffer } {
  let size = 0;
  for (const record of records) for (const key in record) if (record[key] instanceof Uint8Array) size += (record[key] as Uint8Array).byteLength;
  const buffer = new ArrayBuffer(size);
  let offset = 0;
  const value = records.map((record) => {
    const copy: Record<string, unknown> = {};
    for (const key in record) {
      const field = record[key];
      if (field instanceof Uint8Array) {
        const view = new Uint8Array(buffer, offset, field.byteLength);
        view.set(field);
        wipe(field);
        offset += field.byteLength;
        copy[key] = view;
      } else {
        copy[key] = field;
      }
    }
    return copy as T;
  });
  return { value, buffer };
}
