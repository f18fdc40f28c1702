// The text formats both sides read (SPEC 2), declared once: GUIDs (lower-case 8-4-4-4-12 out;
// upper case and braces in), standard base64, the correlation id a caller may send, and the log
// paths that may hold a secret.

const GUID = /^(\{)?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})(\})?$/;

/** The canonical form of a GUID, or undefined when `text` is not one (braces must pair). */
export function parseGuid(text: string): string | undefined {
  const m = GUID.exec(text);
  if (!m || Boolean(m[1]) !== Boolean(m[7])) return undefined;
  return `${m[2]}-${m[3]}-${m[4]}-${m[5]}-${m[6]}`.toLowerCase();
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/** Standard base64, padding optional. */
export function isBase64(text: string): boolean {
  return BASE64.test(text);
}

/** A correlation id a caller may choose: a sane token, never anything that could forge a log line. */
const CORRELATION_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function isCorrelationId(value: unknown): value is string {
  return typeof value === 'string' && CORRELATION_ID.test(value);
}

/**
 * Log paths censored by pino on both sides: secrets never reach a log by design (no call logs a
 * key, PIN or token), and this is the second line, wherever such a field appears.
 */
export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'metadata.authorization',
  'req.query.challenge',
  'body.pfxpassword',
  'body.defaultadminkeyhex',
  'body.smartcardconfiguration.defaultadminkeyhex',
  '*.pfxpassword',
  '*.challenge',
  '*.pin',
  '*.key',
  '*.masterKey',
  '*.defaultAdminKeyHex',
  '*.DefaultAdminKeyHex',
  '*.secret',
  '*.token',
];
