// Base64 and PEM: how certificates, keys and certificate requests arrive as text.
import { invalid } from './errors.js';

const BASE64 = /^[A-Za-z0-9+/]*(?:={1,2})?$/;

/**
 * Strict standard base64 (SPEC 2: `+` `/`, padding optional), whitespace and line breaks
 * ignored. Buffer.from(..., 'base64') on its own silently skips junk, so check first.
 */
export function decodeBase64Strict(text: string, what: string): Buffer {
  const compact = text.replace(/\s+/g, '');
  if (compact.length === 0) throw invalid(`${what} is empty`);
  if (!BASE64.test(compact)) throw invalid(`${what} is not valid base64`);
  const padded = compact.includes('=');
  if ((padded && compact.length % 4 !== 0) || compact.length % 4 === 1) {
    throw invalid(`${what} is not valid base64 (bad length)`);
  }
  return Buffer.from(compact, 'base64');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** The DER of every PEM block with one of `labels`, in file order. */
export function pemBlocks(text: string, labels: readonly string[]): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1] !== m[3]) throw invalid(`PEM block "${m[1]}" ends with "${m[3]}"`);
    if (!labels.includes(m[1]!)) continue;
    out.push(decodeBase64Strict(m[2]!, `PEM block "${m[1]}"`));
  }
  return out;
}

export const toPem = (label: string, der: Uint8Array): string =>
  `-----BEGIN ${label}-----\n${(Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END ${label}-----\n`;
