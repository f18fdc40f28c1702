// Distinguished names: RFC 4514-style text (what templates and people write) to the X.509 Name
// the CA encodes, and a decoded Name back to text. Attribute values are UTF8String with every
// Unicode character kept (RFC 5280 4.1.2.4), except where X.520 fixes the type (C, SERIALNUMBER,
// DC, E); a multi-valued RDN is a SET OF in DER order.

import { invalid } from './errors.js';
import { DirectoryString, Ia5String, PrintableString, Utf8String, oid, oidText, rfc5280, sortedSet, type Oid } from './schemas.js';

/** An AttributeTypeAndValue as the rfc5280 schema holds it: the value is its string's DER. */
export interface AttributeTypeAndValue {
  type: Oid;
  value: Buffer;
}

/** rfc5280.Name's value: the RDNs in encoded order (least specific first). */
export interface NameValue {
  type: 'rdnSequence';
  value: AttributeTypeAndValue[][];
}

/** Attribute short names of RFC 4514 plus the ones Windows prints. */
const DN_ATTRIBUTES: ReadonlyArray<readonly [string, string]> = [
  ['CN', '2.5.4.3'],
  ['SN', '2.5.4.4'],
  ['SERIALNUMBER', '2.5.4.5'],
  ['C', '2.5.4.6'],
  ['L', '2.5.4.7'],
  ['ST', '2.5.4.8'],
  ['STREET', '2.5.4.9'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['T', '2.5.4.12'],
  ['GN', '2.5.4.42'],
  ['DC', '0.9.2342.19200300.100.1.25'],
  ['UID', '0.9.2342.19200300.100.1.1'],
  ['E', '1.2.840.113549.1.9.1'],
];
const NAME_BY_OID = new Map(DN_ATTRIBUTES.map(([n, o]) => [o, n]));
const OID_BY_NAME = new Map<string, string>([
  ...DN_ATTRIBUTES.map(([n, o]) => [n, o] as [string, string]),
  ['EMAIL', '1.2.840.113549.1.9.1'],
  ['EMAILADDRESS', '1.2.840.113549.1.9.1'],
  ['S', '2.5.4.8'],
  ['G', '2.5.4.42'],
  ['GIVENNAME', '2.5.4.42'],
  ['SURNAME', '2.5.4.4'],
  ['TITLE', '2.5.4.12'],
]);
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const MAX_DN_VALUE = 256;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** An attribute value's DER (its string type chosen by the attribute) and its text as encoded. */
function attributeValue(attributeOid: string, value: string): { der: Buffer; text: string } {
  if (value.length === 0) throw invalid(`subject attribute ${attributeOid} is empty`);
  if (value.length > MAX_DN_VALUE) throw invalid(`subject attribute value is longer than ${MAX_DN_VALUE} characters`);
  if (/[\u0000-\u001f\u007f]/.test(value)) throw invalid('subject attribute value holds control characters');
  if (LONE_SURROGATE.test(value)) throw invalid('subject attribute value is not valid Unicode');
  switch (attributeOid) {
    case '2.5.4.6': // countryName: two letters, PrintableString (RFC 5280 appendix A)
      if (!/^[A-Za-z]{2}$/.test(value)) throw invalid('subject country (C) must be two letters');
      return { der: PrintableString.encode(value.toUpperCase(), 'der'), text: value.toUpperCase() };
    case '2.5.4.5': // serialNumber: PrintableString
      if (!PRINTABLE.test(value)) throw invalid('subject SERIALNUMBER holds characters PrintableString lacks');
      return { der: PrintableString.encode(value, 'der'), text: value };
    case '0.9.2342.19200300.100.1.25': // domainComponent and emailAddress: IA5String
    case '1.2.840.113549.1.9.1':
      if (!/^[\x20-\x7e]+$/.test(value)) throw invalid('subject DC and E values must be ASCII');
      return { der: Ia5String.encode(value, 'der'), text: value };
    default: // RFC 5280 4.1.2.4: UTF8String for everything else
      return { der: Utf8String.encode(value, 'der'), text: value };
  }
}

function attributeOid(type: string): string {
  const t = type.trim();
  const dotted = /^(?:oid\.)?([0-2](?:\.(?:0|[1-9]\d*))+)$/i.exec(t);
  if (dotted) return dotted[1]!;
  const found = OID_BY_NAME.get(t.toUpperCase());
  if (!found) throw invalid(`subject attribute type "${t}" is not supported`);
  return found;
}

const HEX2 = /^[0-9a-fA-F]{2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const ESCAPABLE = new Set([' ', '"', '#', '+', ',', ';', '<', '=', '>', '\\']);

/**
 * Splits an RFC 4514-style string ("CN=Doe\, Jane+UID=jd,O=Contoso") into RDNs of
 * [type, value] pairs, most specific first as written. Backslash escapes (`\,` or `\2C`) and a
 * double-quoted value are understood; spaces around types, values and separators are dropped,
 * as people type "CN=Jane, O=Contoso". `#hex` values are not supported.
 */
export function splitDistinguishedName(text: string): Array<Array<[string, string]>> {
  if (typeof text !== 'string') throw invalid('subject must be a string');
  if (text.length > 4096) throw invalid('subject is too long');
  const rdns: Array<Array<[string, string]>> = [];
  if (text.trim() === '') return rdns;
  let i = 0;
  let rdn: Array<[string, string]> = [];
  for (;;) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw invalid(`subject "${text}" is not of the form TYPE=value,...`);
    const type = text.slice(i, eq).trim();
    if (type === '' || /[,+"\\]/.test(type)) throw invalid(`subject "${text}" is not of the form TYPE=value,...`);
    i = eq + 1;
    while (text[i] === ' ') i++;
    // Text as written, with `\XX` escapes collected as bytes and read as UTF-8 when they end.
    let value = '';
    let escaped: number[] = [];
    const flush = (): void => {
      if (!escaped.length) return;
      try {
        value += UTF8.decode(Uint8Array.from(escaped));
      } catch {
        throw invalid('subject value is not valid UTF-8');
      }
      escaped = [];
    };
    let quoted = false;
    let trailingSpaces = 0; // unescaped spaces at the end of an unquoted value are dropped
    if (text[i] === '#') throw invalid('hex-encoded (#...) subject values are not supported');
    if (text[i] === '"') {
      quoted = true;
      i++;
    }
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        const next2 = text.slice(i + 1, i + 3);
        if (HEX2.test(next2)) {
          escaped.push(parseInt(next2, 16));
          i += 2;
        } else if (ESCAPABLE.has(text[i + 1]!)) {
          flush();
          value += text[i + 1];
          i += 1;
        } else {
          throw invalid(`subject "${text}" has an invalid escape`);
        }
        trailingSpaces = 0;
        continue;
      }
      flush();
      if (quoted) {
        if (c === '"') {
          quoted = false;
          i++;
          while (text[i] === ' ') i++;
          break;
        }
        value += c;
        continue;
      }
      if (c === ',' || c === '+') break;
      if (c === '"') throw invalid(`subject "${text}" has an unescaped quote`);
      value += c;
      trailingSpaces = c === ' ' ? trailingSpaces + 1 : 0;
    }
    flush();
    if (quoted) throw invalid(`subject "${text}" has an unterminated quote`);
    if (i < text.length && text[i] !== ',' && text[i] !== '+') throw invalid(`subject "${text}" has text after a quoted value`);
    if (trailingSpaces) value = value.slice(0, value.length - trailingSpaces);
    rdn.push([type, value]);
    if (i >= text.length) break;
    const sep = text[i];
    i++;
    while (text[i] === ' ') i++;
    if (sep === ',') {
      rdns.push(rdn);
      rdn = [];
    }
    if (i >= text.length) throw invalid(`subject "${text}" ends with a separator`);
  }
  rdns.push(rdn);
  return rdns;
}

export interface EncodedName {
  value: NameValue;
  rdnCount: number;
  /** As nameToString prints the encoded name (canonical names, escapes, RDN members in DER order). */
  text: string;
}

const encodeAttribute = (atv: AttributeTypeAndValue): Buffer => rfc5280.AttributeTypeAndValue!.encode(atv, 'der');

/**
 * The Name for an RFC 4514-style string. The string names the most specific RDN first, so the
 * encoded sequence is its reverse ("CN=Jane,O=Contoso" encodes O then CN).
 */
export function encodeName(text: string): EncodedName {
  const written = splitDistinguishedName(text).map((atvs) => {
    const members = atvs.map(([type, value]) => {
      const attribute = attributeOid(type);
      const v = attributeValue(attribute, value);
      return { atv: { type: oid(attribute), value: v.der }, text: attributeText(attribute, v.text) };
    });
    const sorted = sortedSet(members, (m) => encodeAttribute(m.atv));
    return { atvs: sorted.map((m) => m.atv), text: sorted.map((m) => m.text).join('+') };
  });
  return {
    value: { type: 'rdnSequence', value: written.map((r) => r.atvs).reverse() },
    rdnCount: written.length,
    text: written.map((r) => r.text).join(','),
  };
}

/** RFC 4514 escaping of one attribute value. */
export function escapeDnValue(value: string): string {
  let out = value.replace(/[\\"+,;<>\u0000]/g, (c) => (c === '\u0000' ? '\\00' : `\\${c}`));
  // Spaces are not escaped above, so the raw first and last characters are still in place.
  if (value.endsWith(' ')) out = `${out.slice(0, -1)}\\ `;
  if ((value.startsWith(' ') && value !== ' ') || value.startsWith('#')) out = `\\${out}`;
  return out;
}

/** One attribute as nameToString writes it: `CN=Doe\, Jane`. */
const attributeText = (attributeOid: string, text: string): string => `${NAME_BY_OID.get(attributeOid) ?? attributeOid}=${escapeDnValue(text)}`;

function attributeValueText(value: Buffer): string | undefined {
  try {
    const decoded = DirectoryString.decode(value, 'der') as { type: string; value: string };
    return decoded.value;
  } catch {
    return undefined;
  }
}

/**
 * A decoded Name as an RFC 4514 string: most specific RDN first ("CN=Jane Doe,O=Contoso"), the
 * reverse of the encoded order, as OpenSSL's RFC2253 mode and .NET print it. A value that is not
 * a string is written as #hex of its DER, as RFC 4514 says.
 */
export function nameToString(name: NameValue): string {
  return name.value
    .map((rdn) =>
      rdn
        .map((atv) => {
          const type = oidText(atv.type);
          const text = attributeValueText(atv.value);
          return text === undefined ? `${NAME_BY_OID.get(type) ?? type}=#${atv.value.toString('hex')}` : attributeText(type, text);
        })
        .join('+'),
    )
    .reverse()
    .join(',');
}
