#!/usr/bin/env node
// `cm-admin` (SPEC 15): the operator's commands, configured by the core's variables. Each exits 0
// on success and 2 with one line on standard error when it cannot do what was asked. None
// prints a master key, a private key or a PIN: the key ring shows key check values only.

import { chmodSync, constants, copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { dataDirOf } from '../core/app.js';
import { isPostgresUrl, loadCoreConfig, type CoreConfig } from '../core/config.js';
import { addKeyToRingFile, loadKeyRingFile, type MasterKeyRing } from '../core/crypto/key-ring.js';
import { addTokenKeyVersion, TokenKeyRing } from '../core/crypto/token-key-ring.js';
import { parseGuid } from '../core/domain/ids.js';
import { backupDatabase, backupRefusal, migrateDatabase } from '../core/storage/admin.js';
import { Pkcs11Token } from '../workers/crypto/pkcs11-token.js';

/** A refusal for the operator: one line, exit 2. */
class AdminError extends Error {
  override name = 'AdminError';
}

interface Command {
  usage: string;
  summary: string;
  run(args: string[], config: CoreConfig): Promise<void>;
}

const out = (line: string) => process.stdout.write(`${line}\n`);

/** What the embedded default generates beside a SQLite database, and the variable that replaces each. */
const GENERATED = {
  tokenSecret: ['dev-token-secret', 'CM_JWT_SECRET'],
  keyRing: ['master-keys', 'CM_MASTER_KEYS_FILE (or CM_MASTER_KEYS, or CM_PKCS11_*)'],
  caCert: ['ca.crt', 'CM_CA_CERT'],
  caKey: ['ca.key', 'CM_CA_KEY'],
} as const;

function generated(config: CoreConfig, [name, variable]: (typeof GENERATED)[keyof typeof GENERATED]): string {
  if (isPostgresUrl(config.database)) throw new AdminError(`set ${variable}: with PostgreSQL nothing is generated beside the database`);
  return join(dataDirOf(config), name);
}

/**
 * The key ring the core would use: on the token (CM_PKCS11_*), configured, or the embedded
 * default's file beside the database. The caller destroys it (a token ring closes its session).
 */
function keyRingOf(config: CoreConfig): MasterKeyRing {
  if (config.pkcs11) return new TokenKeyRing(Pkcs11Token.open(config.pkcs11), config.pkcs11.tokenLabel);
  if (config.keyRing) return config.keyRing;
  const file = generated(config, GENERATED.keyRing);
  if (!existsSync(file)) throw new AdminError(`no key ring: set CM_MASTER_KEYS_FILE (or CM_MASTER_KEYS); ${file} does not exist`);
  return loadKeyRingFile(file);
}

const COMMANDS: Record<string, Command> = {
  token: {
    usage: 'token --sub <guid> [--name N] [--upn U] [--groups a,b] [--ttl 12h]',
    summary: 'prints an HS256 token signed with CM_JWT_SECRET, or with the embedded default\'s generated secret beside the database',
    async run(args, config) {
      const { values } = parseArgs({
        args,
        options: { sub: { type: 'string' }, name: { type: 'string' }, upn: { type: 'string' }, groups: { type: 'string' }, ttl: { type: 'string', default: '12h' } },
      });
      const sub = values.sub === undefined ? undefined : parseGuid(values.sub);
      if (!sub) throw new AdminError('--sub must be the user\'s GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)');
      if (!/^[1-9][0-9]{0,5}[smhd]$/.test(values.ttl!)) throw new AdminError('--ttl must be a number followed by s, m, h or d (e.g. 12h)');
      const secret = config.jwt.secret ?? generatedSecret(config);
      const claims: Record<string, unknown> = { [config.jwt.userClaim]: sub };
      if (values.name) claims.name = values.name;
      if (values.upn) claims.upn = values.upn;
      if (values.groups) claims[config.jwt.groupsClaim] = values.groups.split(',').map((g) => g.trim()).filter(Boolean);
      let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime(values.ttl!);
      if (config.jwt.userClaim === 'sub') jwt = jwt.setSubject(sub);
      if (config.jwt.issuer) jwt = jwt.setIssuer(config.jwt.issuer);
      if (config.jwt.audience) jwt = jwt.setAudience(config.jwt.audience);
      out(await jwt.sign(Buffer.from(secret, 'utf8')));
    },
  },
  'keyring list': {
    usage: 'keyring list',
    summary: 'the key ring\'s versions with their key check values (never a key)',
    async run(args, config) {
      parseArgs({ args, options: {} });
      const ring = keyRingOf(config);
      try {
        out(`version  key check value${config.pkcs11 ? `   (on token "${config.pkcs11.tokenLabel}")` : ''}`);
        for (const version of ring.versions()) {
          const newest = version === ring.newestVersion ? '  (newest: used for new cards)' : '';
          out(`${String(version).padEnd(7)}  ${ring.keyCheckValue(version).toString('hex')}${newest}`);
        }
      } finally {
        ring.destroy();
      }
    },
  },
  'keyring add': {
    usage: 'keyring add',
    summary: 'adds the next version to the key ring: generated on the token (CM_PKCS11_*), or appended to the key ring file (CM_MASTER_KEYS_FILE, or the embedded default\'s)',
    async run(args, config) {
      parseArgs({ args, options: {} });
      if (config.pkcs11) {
        // Generated on the token (a generic secret of 32 bytes, sensitive, never extractable):
        // the key never exists outside it. Its check value is computed there too.
        const token = Pkcs11Token.open(config.pkcs11);
        const version = addTokenKeyVersion(token);
        const ring = new TokenKeyRing(token, config.pkcs11.tokenLabel);
        try {
          const kcv = ring.keyCheckValue(version).toString('hex');
          out(`added key version ${version} (key check value ${kcv}) on token "${config.pkcs11.tokenLabel}"; restart the core(s) to issue new cards under it`);
        } finally {
          ring.destroy();
        }
        return;
      }
      if (!config.masterKeysFile && config.keyRing) {
        throw new AdminError('the key ring is given in CM_MASTER_KEYS: add the new version there (or move it to CM_MASTER_KEYS_FILE)');
      }
      const file = config.masterKeysFile ?? generated(config, GENERATED.keyRing);
      if (!existsSync(file)) throw new AdminError(`no key ring file: ${file} does not exist (set CM_MASTER_KEYS_FILE)`);
      const version = addKeyToRingFile(file);
      const kcv = loadKeyRingFile(file).keyCheckValue(version).toString('hex');
      out(`added key version ${version} (key check value ${kcv}) to ${file}; restart the core(s) to issue new cards under it`);
    },
  },
  migrate: {
    usage: 'migrate',
    summary: 'applies the schema migrations and exits (PostgreSQL: under the lock the cores take, so cores may be starting)',
    async run(args, config) {
      parseArgs({ args, options: {} });
      const { applied, version } = await migrateDatabase(config.database);
      out(applied.length ? `applied migration(s) ${applied.join(', ')}; the schema is at version ${version}` : `nothing to apply; the schema is at version ${version}`);
    },
  },
  backup: {
    usage: 'backup <file>',
    summary: 'a consistent copy of the SQLite database taken while the service runs, with the key ring and CA files beside it (PostgreSQL: use pg_dump)',
    async run(args, config) {
      const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
      if (positionals.length !== 1) throw new AdminError('backup takes one argument: the file to write');
      const file = positionals[0]!;
      const refusal = backupRefusal(config.database);
      if (refusal) throw new AdminError(refusal);
      // Everything is checked before anything is written, so a refusal leaves no partial backup.
      const keyRingFile = config.masterKeysFile ?? (config.keyRing ? undefined : generated(config, GENERATED.keyRing));
      const ca = config.ca ?? { certPath: generated(config, GENERATED.caCert), keyPath: generated(config, GENERATED.caKey) };
      type Extra = [label: string, from: string, to: string, mode: number];
      const extras: Extra[] = [
        ...(keyRingFile ? [['key ring', keyRingFile, `${file}.master-keys`, 0o600] satisfies Extra] : []),
        ['CA certificate', ca.certPath, `${file}.ca.crt`, 0o644],
        // A CA key on the token (pkcs11: URI) is backed up with the token, not here.
        ...(/^pkcs11:/i.test(ca.keyPath) ? [] : [['CA key', ca.keyPath, `${file}.ca.key`, 0o600] satisfies Extra]),
      ];
      for (const [label, from, to] of extras) {
        if (!existsSync(from)) throw new AdminError(`the ${label} ${from} does not exist`);
        if (existsSync(to)) throw new AdminError(`${to} exists; choose a new backup name`);
      }
      await backupDatabase(config.database, file);
      out(`database: ${file}`);
      for (const [label, from, to, mode] of extras) out(`${label}: ${copyPrivately(from, to, mode)}`);
      if (!keyRingFile) out('key ring: given in CM_MASTER_KEYS, not copied (keep it with the backup)');
    },
  },
};

function generatedSecret(config: CoreConfig): string {
  if (config.jwt.publicKeyPem) throw new AdminError('tokens are verified with CM_JWT_PUBLIC_KEY: cm-admin signs HS256 tokens with CM_JWT_SECRET only');
  const file = generated(config, GENERATED.tokenSecret);
  if (!existsSync(file)) throw new AdminError(`no token secret: set CM_JWT_SECRET (or start the embedded default once: it generates ${file})`);
  return readFileSync(file, 'utf8').trim();
}

function copyPrivately(from: string, to: string, mode: number): string {
  try {
    copyFileSync(from, to, constants.COPYFILE_EXCL);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AdminError(code === 'EEXIST' ? `${to} exists; choose a new backup name` : `cannot copy ${from} to ${to} (${code ?? 'error'})`);
  }
  chmodSync(to, mode);
  return to;
}

function help(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  return [
    'usage: cm-admin <command> [options]   (configured by the core\'s CM_* variables)',
    '',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'Each command exits 0 on success, 2 with one line on standard error otherwise.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) throw new AdminError('no command given; see cm-admin --help');
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    out(help());
    return 0;
  }
  const name = argv[0] === 'keyring' && argv[1] && !argv[1].startsWith('-') ? `keyring ${argv[1]}` : argv[0]!;
  const command = COMMANDS[name];
  if (!command) throw new AdminError(`unknown command "${argv.slice(0, name.split(' ').length).join(' ')}"; see cm-admin --help`);
  const args = argv.slice(name.split(' ').length);
  if (args.includes('--help') || args.includes('-h')) {
    out(`usage: cm-admin ${command.usage}\n\n${command.summary}.`);
    return 0;
  }
  await command.run(args, loadCoreConfig(process.env, { embedded: true, operator: true }));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // Messages here are written for the operator and hold no secret; one line, whatever it is.
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`cm-admin: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(2);
  },
);
