// The structured logger (pino). Secrets never reach it by design (no call logs a key, PIN or
// token), and the shared redaction paths (common/formats.ts) are the second line: anything named
// like a secret is censored wherever it appears.

import pino, { type Logger } from 'pino';
import { REDACT_PATHS } from '../common/formats.js';


/** `destination` is for tests that read what was logged; by default, standard output. */
export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } };
  return destination ? pino(options, destination) : pino(options);
}
