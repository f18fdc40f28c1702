// PKCS#10 certificate requests for the certificatedata scenario, built with node:crypto and a
// few lines of DER. RSA-2048 key generation is slow, so a handful of key pairs sign many requests
// (each with its own subject, so every request is distinct).
import { generateKeyPair, sign, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generateKeyPairAsync = promisify(generateKeyPair);

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const OID_COMMON_NAME = Buffer.from('0603550403', 'hex');
const SHA256_WITH_RSA = tlv(0x30, Buffer.from('06092a864886f70d01010b', 'hex'), Buffer.from('0500', 'hex'));

function commonNameDer(cn: string): Buffer {
  return tlv(0x30, tlv(0x31, tlv(0x30, OID_COMMON_NAME, tlv(0x0c, Buffer.from(cn, 'utf8')))));
}

export interface CsrKey {
  privateKey: KeyObject;
  spkiDer: Buffer;
}

export async function generateCsrKeys(count: number): Promise<CsrKey[]> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: 2048 });
      return { privateKey, spkiDer: publicKey.export({ type: 'spki', format: 'der' }) };
    }),
  );
}

/** A base64 DER PKCS#10 request for `key`, subject CN=`commonName`, signed with SHA-256. */
export function certificateRequest(key: CsrKey, commonName: string): string {
  const info = tlv(0x30, Buffer.from('020100', 'hex'), commonNameDer(commonName), key.spkiDer, Buffer.from('a000', 'hex'));
  const signature = sign('sha256', info, key.privateKey);
  return tlv(0x30, info, SHA256_WITH_RSA, tlv(0x03, Buffer.from([0]), signature)).toString('base64');
}
