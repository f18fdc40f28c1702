/**
 * The issuing CA's certificate and key (SPEC 11: CM_CA_CERT / CM_CA_KEY, or generated in the
 * embedded default next to the database).
 *
 * Runs once at start-up on the main thread. What it returns is plain data (PEM strings and
 * Buffers) that can be handed to the signing functions in workers/ca/ inside a piscina worker.
 */
import crypto from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { keyObjectSigner, tokenKeyLabel } from '../../workers/ca/ca-signer.js';
import { certificateFacts, signingCaFromPem } from '../../workers/ca/ca-certificate.js';
import { extension, namedBits, signCertificate } from '../../workers/ca/certificate.js';
import { configError } from '../../workers/ca/errors.js';
import { isoSeconds, normalizeSerialHex, wholeSeconds } from '../../workers/ca/fields.js';
import { describePublicKey, describeSpki, subjectKeyIdentifier, type KeyAlgorithm } from '../../workers/ca/keys.js';
import { encodeName, escapeDnValue } from '../../workers/ca/names.js';
import { pemBlocks, toPem } from '../../workers/ca/pem.js';
import { rfc5280 } from '../../workers/ca/schemas.js';

export type LoadCaOptions =
  | {
      dir: string;
      /** How long to wait for another process that is creating the CA right now (ms, default 3000). */
      settleMs?: number;
    }
  | { certPath: string; keyPath: string };

export interface CaMaterial {
  /** The issuing CA certificate alone, PEM (what the signing functions take as caCertPem). */
  certPem: string;
  /** The CA key as unencrypted PKCS#8 PEM, whatever form the file held. */
  keyPem: string;
  /** Issuing CA first, then the rest of the file's chain (its issuers), DER. */
  chainDer: Buffer[];
  /** chainDer[0]: what `${CM_PUBLIC_URL}/ca.crt` (the AIA caIssuers URL) should serve. */
  certDer: Buffer;
  /** RFC 4514, most specific first. */
  subjectDn: string;
  keyAlgorithm: KeyAlgorithm;
  keySize: number;
  serialHex: string;
  thumbprintHex: string;
  notBefore: string;
  notAfter: string;
  certPath: string;
  keyPath: string;
  /** True when this call generated the CA (embedded default, first start). */
  created: boolean;
}


export const EMBEDDED_CA_COMMON_NAME = 'CM Embedded Issuing CA';
const CA_VALIDITY_DAYS = 3652; // 10 years
const CLOCK_SKEW_MS = 10 * 60 * 1000;

// ---------------------------------------------------------------------------------------------
// Creating
// ---------------------------------------------------------------------------------------------

/**
 * A new RSA 2048 key (node:crypto) and a self-signed CA certificate for it, built by the same
 * schema code as what it will issue.
 */
export function createSelfSignedCa(options: { commonName?: string; now?: Date; validityDays?: number } = {}): {
  certPem: string;
  keyPem: string;
} {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const now = wholeSeconds(options.now ?? new Date());
  const name = encodeName(`CN=${escapeDnValue(options.commonName ?? EMBEDDED_CA_COMMON_NAME)}`).value;
  const spkiDer = describePublicKey(publicKey).spkiDer;
  const der = signCertificate(
    { name, signer: keyObjectSigner(privateKey, 'RSA') },
    {
      serialHex: normalizeSerialHex(),
      subject: name,
      spkiDer,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + (options.validityDays ?? CA_VALIDITY_DAYS) * 86_400_000),
      extensions: [
        extension('2.5.29.19', true, 'BasicConstraints', { cA: true }),
        extension('2.5.29.15', true, 'KeyUsage', namedBits([5, 6])), // keyCertSign, cRLSign
        extension('2.5.29.14', false, 'SubjectKeyIdentifier', subjectKeyIdentifier(spkiDer)),
      ],
    },
  );
  return {
    certPem: toPem('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

// ---------------------------------------------------------------------------------------------
// Validating
// ---------------------------------------------------------------------------------------------

/** Certificates from a file: PEM (one or more CERTIFICATE blocks) or a single DER. */
function readCertificates(content: Buffer, where: string): Buffer[] {
  const text = content.toString('latin1');
  if (text.includes('-----BEGIN')) {
    let certs: Buffer[];
    try {
      certs = pemBlocks(text, ['CERTIFICATE']);
    } catch (err) {
      throw configError(`${where}: ${(err as Error).message}`);
    }
    if (certs.length === 0) throw configError(`${where} holds no "CERTIFICATE" PEM block`);
    return certs;
  }
  return [content];
}

function readPrivateKey(content: Buffer, where: string): crypto.KeyObject {
  const text = content.toString('latin1');
  if (/-----BEGIN (ENCRYPTED PRIVATE KEY|[A-Z ]+PRIVATE KEY-----[\s\S]*Proc-Type: 4,ENCRYPTED)/.test(text)) {
    throw configError(`${where} holds an encrypted key; the CA key must be an unencrypted PEM (keep the file mode 0600)`);
  }
  try {
    return text.includes('-----BEGIN')
      ? crypto.createPrivateKey(text)
      : crypto.createPrivateKey({ key: content, format: 'der', type: 'pkcs8' });
  } catch {
    // OpenSSL's message is not passed on: the file is key material.
    throw configError(`${where} does not hold a readable private key (PEM PKCS#8, PKCS#1 or SEC1, or DER PKCS#8)`);
  }
}

/** The first byte of a certificate's keyUsage bits (bits 0 to 7), or undefined when absent. */
function keyUsageByte(value: Buffer | undefined): number | undefined {
  if (!value) return undefined;
  try {
    return (rfc5280.KeyUsage!.decode(value, 'der') as { data: Buffer }).data[0] ?? 0;
  } catch {
    return 0;
  }
}

function fileKeyOf(ca: crypto.X509Certificate, facts: ReturnType<typeof certificateFacts>, keyContent: Buffer | string, names: { certPath: string; keyPath: string }) {
  const key = readPrivateKey(Buffer.from(keyContent), names.keyPath);
  let keyInfo;
  try {
    keyInfo = describePublicKey(crypto.createPublicKey(key));
  } catch (err) {
    throw configError(`${names.keyPath}: ${(err as Error).message}`);
  }
  let sameKey = false;
  try {
    sameKey = ca.checkPrivateKey(key) && keyInfo.spkiDer.equals(describeSpki(facts.spkiDer).spkiDer);
  } catch {
    sameKey = false;
  }
  if (!sameKey) {
    throw configError(`${names.keyPath} does not match the first certificate in ${names.certPath} ("${facts.subjectDn}")`);
  }
  return { keyInfo, keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string };
}

/** The token key the URI names must sign what the certificate's public key verifies (a probe on this thread's session). */
function tokenKeyOf(certDer: Buffer, uri: string, names: { certPath: string; keyPath: string }) {
  const facts = certificateFacts(certDer);
  try {
    signingCaFromPem(toPem('CERTIFICATE', certDer), uri);
  } catch (err) {
    throw configError(`${names.keyPath}: ${(err as Error).message} (the first certificate in ${names.certPath} is "${facts.subjectDn}")`);
  }
  return { keyInfo: describeSpki(facts.spkiDer), keyPem: uri };
}

/**
 * Checks a CA certificate file's content and its key: the key matches the first certificate,
 * that certificate is a CA allowed to sign certificates and CRLs and is not expired, and each
 * further certificate issued the one before it. Pure: content in, CA material out.
 */
export function validateCa(
  certContent: Buffer | string,
  keyContent: Buffer | string,
  names: { certPath: string; keyPath: string } = { certPath: 'CA certificate', keyPath: 'CA key' },
  now: Date = new Date(),
): Omit<CaMaterial, 'created'> {
  const chainDer = readCertificates(Buffer.from(certContent), names.certPath);
  const x509 = chainDer.map((der, i) => {
    try {
      return new crypto.X509Certificate(der);
    } catch {
      throw configError(`${names.certPath}: certificate #${i + 1} cannot be parsed`);
    }
  });
  const ca = x509[0];
  const facts = certificateFacts(chainDer[0]);
  // A key on the token (CM_CA_KEY=pkcs11:object=<label>) stays there: what travels is its URI.
  const onToken = tokenKeyLabel(String(keyContent)) !== undefined;
  const { keyInfo, keyPem } = onToken ? tokenKeyOf(chainDer[0], String(keyContent), names) : fileKeyOf(ca, facts, keyContent, names);
  if (keyInfo.keyAlgorithm === 'RSA' && keyInfo.keySize < 2048) {
    throw configError(`${names.keyPath}: an RSA CA key must have at least 2048 bits (it has ${keyInfo.keySize})`);
  }
  if (!ca.ca) {
    throw configError(`${names.certPath}: "${facts.subjectDn}" is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  }
  const usage = keyUsageByte(facts.extensions.get('2.5.29.15')?.value);
  if (usage !== undefined && ((usage & 0x04) === 0 || (usage & 0x02) === 0)) {
    throw configError(`${names.certPath}: "${facts.subjectDn}" may not sign certificates and CRLs (keyUsage needs keyCertSign and cRLSign)`);
  }
  if (facts.notAfter <= now) {
    throw configError(`${names.certPath}: "${facts.subjectDn}" expired on ${isoSeconds(facts.notAfter)}`);
  }
  for (let i = 0; i + 1 < x509.length; i++) {
    if (!x509[i].checkIssued(x509[i + 1]) || !x509[i].verify(x509[i + 1].publicKey)) {
      throw configError(
        `${names.certPath}: certificate #${i + 2} did not issue certificate #${i + 1}; ` +
          'list the issuing CA first, then each issuer in turn',
      );
    }
  }

  return {
    certPem: toPem('CERTIFICATE', chainDer[0]),
    keyPem,
    chainDer,
    certDer: chainDer[0],
    subjectDn: facts.subjectDn,
    keyAlgorithm: keyInfo.keyAlgorithm,
    keySize: keyInfo.keySize,
    serialHex: facts.serialHex,
    thumbprintHex: crypto.createHash('sha1').update(chainDer[0]).digest('hex'),
    notBefore: isoSeconds(facts.notBefore),
    notAfter: isoSeconds(facts.notAfter),
    certPath: names.certPath,
    keyPath: names.keyPath,
  };
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

async function loadFromPaths(certPath: string, keyPath: string, created: boolean): Promise<CaMaterial> {
  const read = async (file: string, what: string): Promise<Buffer> => {
    try {
      return await fs.readFile(file);
    } catch (err) {
      throw configError(`cannot read the ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
  // One after the other, so that a refusal always names the first file that is missing.
  const certContent = await read(certPath, 'CA certificate');
  const keyContent = tokenKeyLabel(keyPath) === undefined ? await read(keyPath, 'CA key') : keyPath;
  return { ...validateCa(certContent, keyContent, { certPath, keyPath }), created };
}

/** Writes a file completely (and to disk) under a temporary name, with an exact mode. */
async function writeTemp(dir: string, base: string, content: string, mode: number): Promise<string> {
  const tmp = path.join(dir, `.${base}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(tmp, 'wx', mode);
  try {
    await handle.writeFile(content);
    // The umask may have taken bits away: set exactly what we mean.
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return tmp;
}

/** Moves tmp to final only if final does not exist (link is atomic and exclusive). */
async function publishExclusive(tmp: string, final: string): Promise<boolean> {
  try {
    await fs.link(tmp, final);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    // A file system without hard links: an exclusive copy is the next best thing.
    try {
      await fs.copyFile(tmp, final, fsConstants.COPYFILE_EXCL);
      return true;
    } catch (copyErr) {
      if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw copyErr;
    }
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Another process may be creating the CA right now: give it a moment to finish. */
async function waitForBoth(certPath: string, keyPath: string, ms: number): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 100) {
    if ((await exists(certPath)) && (await exists(keyPath))) return true;
    await sleep(100);
  }
  return (await exists(certPath)) && (await exists(keyPath));
}

async function loadOrCreateInDir(dir: string, settleMs: number): Promise<CaMaterial> {
  const certPath = path.join(dir, 'ca.crt');
  const keyPath = path.join(dir, 'ca.key');
  const [hasCert, hasKey] = await Promise.all([exists(certPath), exists(keyPath)]);
  if (hasCert && hasKey) return loadFromPaths(certPath, keyPath, false);
  if (hasCert !== hasKey) {
    if (await waitForBoth(certPath, keyPath, settleMs)) return loadFromPaths(certPath, keyPath, false);
    // Never generate over half a CA: the key may be the only copy of something in use.
    const [present, missing] = hasCert ? [certPath, keyPath] : [keyPath, certPath];
    throw configError(`found ${present} but not ${missing}; restore it, or remove ${present} to generate a new CA`);
  }

  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const { certPem, keyPem } = createSelfSignedCa();
  const tmpKey = await writeTemp(dir, 'ca.key', keyPem, 0o600);
  const tmpCert = await writeTemp(dir, 'ca.crt', certPem, 0o644);
  try {
    // Key first: a reader that sees the certificate can then rely on the key being there.
    if (!(await publishExclusive(tmpKey, keyPath))) {
      if (await waitForBoth(certPath, keyPath, settleMs)) return loadFromPaths(certPath, keyPath, false);
      throw configError(`${keyPath} appeared while the CA was being created, without ${certPath}`);
    }
    if (!(await publishExclusive(tmpCert, certPath))) {
      throw configError(`${certPath} appeared while the CA was being created; remove ${keyPath} and ${certPath} and start again`);
    }
  } finally {
    await Promise.all([fs.rm(tmpKey, { force: true }), fs.rm(tmpCert, { force: true })]);
  }
  return loadFromPaths(certPath, keyPath, true);
}

/**
 * The issuing CA. With `{ dir }` (the embedded default): `dir/ca.crt` and `dir/ca.key`,
 * generated on first start (key mode 0600, certificate 0644). With `{ certPath, keyPath }`
 * (CM_CA_CERT / CM_CA_KEY): an existing CA, whose certificate file may hold its chain (the
 * issuing CA first, then its issuers). Failures are CaError `CA_CONFIG_INVALID` with a message
 * for the operator; no message contains key material.
 */
export async function loadOrCreateCa(opts: LoadCaOptions): Promise<CaMaterial> {
  if ('dir' in opts) return loadOrCreateInDir(opts.dir, opts.settleMs ?? 3000);
  return loadFromPaths(opts.certPath, opts.keyPath, false);
}

