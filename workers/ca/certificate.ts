// Smart card logon certificates (SPEC 5.6, 5.7): a v3 certificate under the CA with key usage
// (critical) from the template, the extended key usages smart card logon and client
// authentication, the UPN as an otherName in the subject alternative name, the subject and
// authority key identifiers, and the CRL distribution point and the authority information access
// (CA issuer and OCSP) under CM_PUBLIC_URL: what a domain controller checks at logon.
import crypto from 'node:crypto';
import { configError, invalid } from './errors.js';
import { isoSeconds, normalizeSerialHex, serialInteger, toDate, wholeSeconds, x509Time } from './fields.js';
import { describeSpki, keyUsageFlags, subjectKeyIdentifier, type SpkiInfo } from './keys.js';
import { encodeName, type NameValue } from './names.js';
import { certsOnlyPkcs7 } from './pkcs7.js';
import { RawExtension, TbsCertificate, Utf8String, oid, rfc5280, type Oid } from './schemas.js';
import { signingCa, type SigningCa } from './ca-certificate.js';
import { signToBeSigned, signatureAlgorithmOf, type CaSigner } from './ca-signer.js';

/** An extension as the TBSCertificate schema takes it: the value already encoded by its own schema. */
export interface ExtensionValue {
  extnID: Oid;
  critical: boolean;
  extnValue: Buffer;
}

export const extension = (extnId: string, critical: boolean, schema: string, value: unknown): ExtensionValue => ({
  extnID: oid(extnId),
  critical,
  extnValue: rfc5280[schema]!.encode(value, 'der'),
});

/** keyUsage and the like: a NamedBitList BIT STRING in DER, trailing zero bits dropped (X.690 11.2.2). */
export function namedBits(bitNumbers: readonly number[]): { unused: number; data: Buffer } {
  const bytes = Buffer.alloc(2);
  for (const n of bitNumbers) bytes[n >> 3]! |= 0x80 >> (n & 7);
  let len = bytes.length;
  while (len > 0 && bytes[len - 1] === 0) len--;
  if (len === 0) return { unused: 0, data: Buffer.alloc(0) };
  const last = bytes[len - 1]!;
  let unused = 0;
  while (!((last >> unused) & 1)) unused++;
  return { unused, data: bytes.subarray(0, len) };
}

/** The base of the CRL, CA and OCSP URLs (SPEC 11 CM_PUBLIC_URL), without a trailing slash. */
export function publicBaseUrl(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(String(publicUrl));
  } catch {
    throw invalid('the public URL is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('the public URL must be http or https');
  if (url.search || url.hash || url.username || url.password) {
    throw invalid('the public URL must not hold a query, fragment or credentials');
  }
  // URL.href is ASCII (punycode, percent-encoding): what an IA5String can hold.
  return url.href.replace(/\/+$/, '');
}

const UPN_OID = '1.3.6.1.4.1.311.20.2.3';
const EKU_SMARTCARD_LOGON = '1.3.6.1.4.1.311.20.2.2';
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ID_AD_OCSP = '1.3.6.1.5.5.7.48.1';
const ID_AD_CA_ISSUERS = '1.3.6.1.5.5.7.48.2';
const uri = (value: string) => ({ type: 'uniformResourceIdentifier', value });

// Extensions that are the same in every certificate, or for every certificate of one public URL,
// one key usage or one CA, encoded once.
const EXTENDED_KEY_USAGE = extension('2.5.29.37', false, 'ExtendedKeyUsage', [oid(EKU_SMARTCARD_LOGON), oid(EKU_CLIENT_AUTH)]);
const BASIC_CONSTRAINTS = extension('2.5.29.19', false, 'BasicConstraints', {});
const KEY_USAGE = new Map<string, ExtensionValue>();
const URL_EXTENSIONS = new Map<string, ExtensionValue[]>();
const AUTHORITY_KEY_ID = new WeakMap<SigningCa, ExtensionValue>();

function keyUsageExtension(bits: number[]): ExtensionValue {
  const key = bits.join(',');
  let ext = KEY_USAGE.get(key);
  if (!ext) KEY_USAGE.set(key, (ext = extension('2.5.29.15', true, 'KeyUsage', namedBits(bits))));
  return ext;
}

/** cRLDistributionPoints and authorityInfoAccess (OCSP, CA issuer) for CM_PUBLIC_URL. */
function urlExtensions(publicUrl: string): ExtensionValue[] {
  let exts = URL_EXTENSIONS.get(publicUrl);
  if (exts) return exts;
  const base = publicBaseUrl(publicUrl);
  exts = [
    extension('2.5.29.31', false, 'CRLDistributionPoints', [{ distributionPoint: { type: 'fullName', value: [uri(`${base}/crl`)] } }]),
    extension('1.3.6.1.5.5.7.1.1', false, 'AuthorityInfoAccessSyntax', [
      { accessMethod: oid(ID_AD_OCSP), accessLocation: uri(`${base}/ocsp`) },
      { accessMethod: oid(ID_AD_CA_ISSUERS), accessLocation: uri(`${base}/ca.crt`) },
    ]),
  ];
  if (URL_EXTENSIONS.size >= 16) URL_EXTENSIONS.clear();
  URL_EXTENSIONS.set(publicUrl, exts);
  return exts;
}

export function authorityKeyIdExtension(ca: SigningCa): ExtensionValue {
  let ext = AUTHORITY_KEY_ID.get(ca);
  if (!ext) AUTHORITY_KEY_ID.set(ca, (ext = extension('2.5.29.35', false, 'AuthorityKeyIdentifier', { keyIdentifier: ca.cert.keyIdentifier })));
  return ext;
}

export interface CertificateBody {
  serialHex: string;
  subject: NameValue;
  /** The subject's SubjectPublicKeyInfo, canonical (describeSpki's). */
  spkiDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  extensions: ExtensionValue[];
}

/** Who signs a certificate: its name (the new certificate's issuer) and its signer. */
export interface CertificateIssuer {
  name: NameValue;
  signer: CaSigner;
}

/** The issuer of what `ca` signs: its subject as its certificate encodes it, its signer. */
export const issuerOf = (ca: SigningCa): CertificateIssuer => ({ name: ca.cert.subject, signer: ca.signer });

/**
 * A v3 certificate, signed. issueUnder fills in the smart card policy; the embedded CA's
 * self-signed certificate is made here too (core/ca/ca-store.ts).
 */
export function signCertificate(issuer: CertificateIssuer, body: CertificateBody): Buffer {
  const tbs = TbsCertificate.encode(
    {
      version: 'v3',
      serialNumber: serialInteger(body.serialHex),
      signature: signatureAlgorithmOf(issuer.signer),
      issuer: encodedOnce(ENCODED_NAMES, issuer.name, (name) => rfc5280.Name!.encode(name, 'der')),
      validity: { notBefore: x509Time(body.notBefore), notAfter: x509Time(body.notAfter) },
      subject: body.subject,
      subjectPublicKeyInfo: body.spkiDer,
      ...(body.extensions.length ? { extensions: body.extensions.map((ext) => encodedOnce(ENCODED_EXTENSIONS, ext, (e) => RawExtension.encode(e, 'der'))) } : {}),
    },
    'der',
  );
  return signToBeSigned(tbs, issuer.signer);
}

// The DER of values that are the same object in every certificate (the CA's name, the cached
// extensions above), kept with the object: asn1.js would otherwise encode them again each time.
const ENCODED_NAMES = new WeakMap<object, Buffer>();
const ENCODED_EXTENSIONS = new WeakMap<object, Buffer>();

function encodedOnce<T extends object>(cache: WeakMap<object, Buffer>, value: T, encode: (value: T) => Buffer): Buffer {
  let der = cache.get(value);
  if (!der) cache.set(value, (der = encode(value)));
  return der;
}

/** A certificate's contents, all from the caller (the certificate template), never from the CSR. */
interface CertificateContents {
  /** RFC 4514-style, most specific first: "CN=Jane Doe,O=Contoso". May be "" when upn is given. */
  subjectDn: string;
  serialHex?: string;
  validityDays: number;
  /** EnrollKeyUsages bits: Decryption 1, Signing 2, KeyAgreement 4. */
  keyUsages: number;
  upn?: string;
  /** CM_PUBLIC_URL: CRL at `/crl`, CA certificate at `/ca.crt`, OCSP at `/ocsp` under it. */
  publicUrl: string;
  /** Exact notBefore (then notAfter = notBefore + validityDays); default now - 10 minutes. */
  notBefore?: Date | string;
}

export interface IssueCertificateInput extends CertificateContents {
  caCertPem: string;
  caKeyPem: string;
  /** The issuing CA and its issuers (loadOrCreateCa's chainDer). The CA is added if missing. */
  chainDer: Buffer[];
  /** The subject's SubjectPublicKeyInfo (ParsedCertificateRequest.spkiDer). */
  spkiDer: Buffer;
}

/** What issueUnder needs besides the CA: the contents with the key already checked. */
export interface IssueUnderCa extends CertificateContents {
  /** describeSpki's (or parseCertificateRequest's) reading of the subject's key. */
  subjectKey: Pick<SpkiInfo, 'keyAlgorithm' | 'spkiDer'>;
}

export interface IssuedCertificate {
  der: Buffer;
  /** Certs-only PKCS#7: the new certificate, the issuing CA and its issuers. */
  pkcs7Der: Buffer;
  serialHex: string;
  thumbprintHex: string;
  notBefore: string;
  notAfter: string;
  issuerDn: string;
  subjectDn: string;
}

/** AD CS's default clock-skew allowance: certificates start 10 minutes in the past. */
const CLOCK_SKEW_MS = 10 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_VALIDITY_DAYS = 36500;

export function validityWindow(
  validityDays: number,
  notBeforeInput: Date | string | undefined,
  caNotAfter: Date,
  now: Date = new Date(),
): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_VALIDITY_DAYS) {
    throw invalid(`validity of ${validityDays} days is invalid (1 to ${MAX_VALIDITY_DAYS})`);
  }
  const issuedAt = wholeSeconds(notBeforeInput === undefined ? now : toDate(notBeforeInput, 'notBefore'));
  const notBefore = notBeforeInput === undefined ? new Date(issuedAt.getTime() - CLOCK_SKEW_MS) : issuedAt;
  let notAfter = new Date(issuedAt.getTime() + validityDays * DAY_MS);
  // Never outlive the issuer (as AD CS does): a chain is only as valid as its CA.
  if (notAfter > caNotAfter) notAfter = wholeSeconds(caNotAfter);
  if (notAfter <= notBefore) throw configError('the CA certificate expires before the new certificate would start');
  return { notBefore, notAfter };
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkUpn(upn: string): string {
  if (typeof upn !== 'string' || upn.length === 0 || upn.length > 1024 || /[\u0000-\u001f\u007f]/.test(upn)) {
    throw invalid('the UPN is empty, too long or holds control characters');
  }
  if (LONE_SURROGATE.test(upn)) throw invalid('the UPN is not valid Unicode');
  return upn;
}

/** SubjectAlternativeName with the UPN otherName (MS-WCCE: [0] EXPLICIT UTF8String). */
const upnAlternativeName = (upn: string, critical: boolean): ExtensionValue =>
  extension('2.5.29.17', critical, 'GeneralNames', [{ type: 'otherName', value: { 'type-id': oid(UPN_OID), value: Utf8String.encode(upn, 'der') } }]);

/**
 * Issues one certificate for the subject's key under the CA, with its chain as a certs-only
 * PKCS#7. The subject, key usage and validity come from the caller (the certificate template).
 */
export function issueUnder(ca: SigningCa, chainDer: readonly Buffer[], input: IssueUnderCa): IssuedCertificate {
  const subjectKey = input.subjectKey;
  const usage = keyUsageFlags(input.keyUsages, subjectKey.keyAlgorithm);
  const serialHex = normalizeSerialHex(input.serialHex);
  const subject = encodeName(input.subjectDn);
  const upn = input.upn === undefined || input.upn === null ? undefined : checkUpn(input.upn);
  if (subject.rdnCount === 0 && !upn) throw invalid('the subject is empty and there is no UPN');
  const { notBefore, notAfter } = validityWindow(input.validityDays, input.notBefore, ca.cert.notAfter);

  const kuBits: number[] = [];
  if (usage.digitalSignature) kuBits.push(0);
  if (usage.keyEncipherment) kuBits.push(2);
  if (usage.keyAgreement) kuBits.push(4);

  const der = signCertificate(issuerOf(ca), {
    serialHex,
    subject: subject.value,
    spkiDer: subjectKey.spkiDer,
    notBefore,
    notAfter,
    extensions: [
      keyUsageExtension(kuBits),
      EXTENDED_KEY_USAGE,
      // RFC 5280 4.2.1.6: the SAN is critical when the subject is empty.
      ...(upn ? [upnAlternativeName(upn, subject.rdnCount === 0)] : []),
      ...urlExtensions(input.publicUrl),
      authorityKeyIdExtension(ca),
      extension('2.5.29.14', false, 'SubjectKeyIdentifier', subjectKeyIdentifier(subjectKey.spkiDer)),
      BASIC_CONSTRAINTS,
    ],
  });
  return {
    der,
    pkcs7Der: certsOnlyPkcs7([der, ...chainDer]),
    serialHex,
    thumbprintHex: crypto.createHash('sha1').update(der).digest('hex'),
    notBefore: isoSeconds(notBefore),
    notAfter: isoSeconds(notAfter),
    issuerDn: ca.cert.subjectDn,
    subjectDn: subject.text,
  };
}

/** issueUnder from the CA's PEM and any SubjectPublicKeyInfo (checked and made canonical first). */
export function issueCertificate(input: IssueCertificateInput): IssuedCertificate {
  const ca = signingCa(input.caCertPem, input.caKeyPem);
  // Bytes that crossed a worker boundary arrive as Uint8Array.
  const given = (input.chainDer ?? []).map((der) => Buffer.from(der));
  const chain = given.length && given[0]!.equals(ca.cert.der) ? given : [ca.cert.der, ...given];
  return issueUnder(ca, chain, { ...input, subjectKey: describeSpki(Buffer.from(input.spkiDer)) });
}
