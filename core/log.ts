// The structured logger (pino). Secrets never reach it by design (no call logs a key, PIN or
// token), and the redaction paths below are the second line: anything named like a secret is
// censored wherever it appears.

import pino, { type Logger } from 'pino';

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'headers.authorization',
  'metadata.authorization',
  '*.challenge',
  '*.pin',
  '*.key',
  '*.masterKey',
  '*.defaultAdminKeyHex',
  '*.DefaultAdminKeyHex',
  '*.secret',
  '*.token',
  'req.query.challenge',
];

/** `destination` is for tests that read what was logged; by default, standard output. */
export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
