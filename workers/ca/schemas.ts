/// <reference path="./asn1-modules.d.ts" />
// The ASN.1 schemas the CA reads and writes, declared with asn1.js: X.509 certificates, CRLs and
// their extensions from asn1.js-rfc5280, OCSP from asn1.js-rfc2560, and here the few modules those
// packages lack (PKCS#10 of RFC 2986, the certs-only SignedData of RFC 5652, RSAPublicKey of RFC
// 8017, the UPN otherName value of MS-WCCE). Every byte the CA produces is encoded by these
// schemas; nothing is counted by hand.
//
// What asn1.js leaves to its caller, done here: SET OF in DER order (X.690 11.6; `sortedSet`),
// and reading a whole input (`decodeDer` refuses trailing bytes and anything that does not
// re-encode to itself when asked to be strict).

import asn1, { type Entity } from 'asn1.js';
import rfc5280 from 'asn1.js-rfc5280';
import rfc2560 from 'asn1.js-rfc2560';
import { invalid } from './errors.js';

export { rfc5280, rfc2560 };

/** An OBJECT IDENTIFIER as asn1.js holds it: its arcs. */
export type Oid = number[];

const OIDS = new Map<string, Oid>();

/** The arcs of a dotted OID, parsed once per OID (they come from short fixed lists). */
export function oid(dotted: string): Oid {
  let arcs = OIDS.get(dotted);
  if (!arcs) {
    arcs = dotted.split('.').map(Number);
    if (OIDS.size < 512) OIDS.set(dotted, arcs);
  }
  return arcs;
}

/** A decoded OBJECT IDENTIFIER as dotted text (asn1.js gives arcs, or a name from a schema's map). */
export const oidText = (value: unknown): string => (Array.isArray(value) ? value.join('.') : String(value));

// ---- modules the RFC packages lack ----

/**
 * Any single TLV written as the DER bytes given (what a SET OF Certificate holds, for instance).
 * asn1.js's ANY is for writing, and for reading only as the last element of its SEQUENCE (it
 * reads to the end of the enclosing value): the schemas below that are read never put it elsewhere.
 */
export const AnyDer = asn1.define('AnyDer', function () {
  this.any();
});

/** RFC 2986: CertificationRequestInfo (attributes kept whole, each value as its DER). */
export const CertificationRequestInfo = asn1.define('CertificationRequestInfo', function () {
  this.seq().obj(
    this.key('version').int(),
    this.key('subject').use(rfc5280.Name),
    this.key('subjectPKInfo').use(rfc5280.SubjectPublicKeyInfo),
    this.key('attributes').optional().implicit(0).setof(rfc5280.Attribute),
  );
});

/**
 * RFC 2986: CertificationRequest. Read strictly (decodeDer): the CertificationRequestInfo the
 * signature covers is then exactly its re-encoding.
 */
export const CertificationRequest = asn1.define('CertificationRequest', function () {
  this.seq().obj(
    this.key('certificationRequestInfo').use(CertificationRequestInfo),
    this.key('signatureAlgorithm').use(rfc5280.AlgorithmIdentifier),
    this.key('signature').bitstr(),
  );
});

/** RFC 8017 A.1.1: RSAPublicKey. */
export const RsaPublicKey = asn1.define('RSAPublicKey', function () {
  this.seq().obj(this.key('modulus').int(), this.key('publicExponent').int());
});

/** RFC 5480: the parameters of an EC key, a named curve. */
export const NamedCurve = asn1.define('NamedCurve', function () {
  this.objid();
});

/** RFC 3279 2.2.3: Ecdsa-Sig-Value, what X.509 carries as an ECDSA signature. */
export const EcdsaSigValue = asn1.define('Ecdsa-Sig-Value', function () {
  this.seq().obj(this.key('r').int(), this.key('s').int());
});

/** The ASN.1 NULL (RSA AlgorithmIdentifier parameters). */
export const Null = asn1.define('Null', function () {
  this.null_();
});

/** The string types an attribute value of a name may have; decoded by its tag. */
export const DirectoryString = asn1.define('AnyDirectoryString', function () {
  this.choice({
    utf8String: this.utf8str(),
    printableString: this.printstr(),
    ia5String: this.ia5str(),
    teletexString: this.t61str(),
    bmpString: this.bmpstr(),
    universalString: this.unistr(),
  });
});

export const Utf8String = asn1.define('UTF8String', function () {
  this.utf8str();
});
export const PrintableString = asn1.define('PrintableString', function () {
  this.printstr();
});
export const Ia5String = asn1.define('IA5String', function () {
  this.ia5str();
});
export const OctetString = asn1.define('OctetString', function () {
  this.octstr();
});

/**
 * The SIGNED{} shape of X.509 (a Certificate, a CertificateList, a BasicOCSPResponse without
 * certificates): the to-be-signed structure as its DER, the algorithm, the signature. For writing.
 */
export const Signed = asn1.define('Signed', function () {
  this.seq().obj(this.key('toBeSigned').any(), this.key('signatureAlgorithm').use(rfc5280.AlgorithmIdentifier), this.key('signature').bitstr());
});

/** RFC 5280 4.1: an Extension, its value as the DER its own schema encoded. */
export const RawExtension = asn1.define('RawExtension', function () {
  this.seq().obj(this.key('extnID').objid(), this.key('critical').bool().def(false), this.key('extnValue').octstr());
});

/**
 * RFC 5280 4.1: TBSCertificate, for reading (Certificate below), each extension value as its DER.
 * `key` is how the subject's key is declared.
 */
function tbsCertificate(name: string, key: Entity) {
  return asn1.define(name, function () {
    this.seq().obj(
      this.key('version').def('v1').explicit(0).use(rfc5280.Version),
      this.key('serialNumber').int(),
      this.key('signature').use(rfc5280.AlgorithmIdentifier),
      this.key('issuer').use(rfc5280.Name),
      this.key('validity').use(rfc5280.Validity),
      this.key('subject').use(rfc5280.Name),
      this.key('subjectPublicKeyInfo').use(key),
      this.key('issuerUniqueID').optional().implicit(1).bitstr(),
      this.key('subjectUniqueID').optional().implicit(2).bitstr(),
      this.key('extensions').optional().explicit(3).seqof(RawExtension),
    );
  });
}

/**
 * For writing, from parts already encoded: the issuer Name, the subject's key (the canonical
 * SPKI) and each whole Extension as their DER, so that the CA's name and the extensions every
 * certificate shares are encoded once, not per certificate.
 */
export const TbsCertificate = asn1.define('TBSCertificate', function () {
  this.seq().obj(
    this.key('version').def('v1').explicit(0).use(rfc5280.Version),
    this.key('serialNumber').int(),
    this.key('signature').use(rfc5280.AlgorithmIdentifier),
    this.key('issuer').use(AnyDer),
    this.key('validity').use(rfc5280.Validity),
    this.key('subject').use(rfc5280.Name),
    this.key('subjectPublicKeyInfo').use(AnyDer),
    this.key('extensions').optional().explicit(3).seqof(AnyDer),
  );
});

/** RFC 5280 4.1: Certificate, for reading one (the CA's own). */
export const Certificate = asn1.define('Certificate', function () {
  this.seq().obj(
    this.key('tbsCertificate').use(tbsCertificate('TBSCertificateRead', rfc5280.SubjectPublicKeyInfo!)),
    this.key('signatureAlgorithm').use(rfc5280.AlgorithmIdentifier),
    this.key('signature').bitstr(),
  );
});

/** RFC 5280 5.1: TBSCertList, its extensions' values as DER (RawExtension). */
export const TbsCertList = asn1.define('TBSCertList', function () {
  this.seq().obj(
    this.key('version').optional().int(),
    this.key('signature').use(rfc5280.AlgorithmIdentifier),
    this.key('issuer').use(rfc5280.Name),
    this.key('thisUpdate').use(rfc5280.Time),
    this.key('nextUpdate').optional().use(rfc5280.Time),
    this.key('revokedCertificates')
      .optional()
      .seqof(
        asn1.define('RevokedCertificate', function () {
          this.seq().obj(
            this.key('userCertificate').int(),
            this.key('revocationDate').use(rfc5280.Time),
            this.key('crlEntryExtensions').optional().seqof(RawExtension),
          );
        }),
      ),
    this.key('crlExtensions').optional().explicit(0).seqof(RawExtension),
  );
});

/** RFC 5652 5.1: SignedData, as a certs-only bundle uses it (no content, no signers). */
export const SignedData = asn1.define('SignedData', function () {
  this.seq().obj(
    this.key('version').int(),
    this.key('digestAlgorithms').setof(rfc5280.AlgorithmIdentifier),
    this.key('encapContentInfo')
      .seq()
      .obj(this.key('eContentType').objid(), this.key('eContent').optional().explicit(0).octstr()),
    this.key('certificates').optional().implicit(0).setof(AnyDer),
    this.key('signerInfos').setof(AnyDer),
  );
});

/** RFC 5652 3: ContentInfo. */
export const ContentInfo = asn1.define('ContentInfo', function () {
  this.seq().obj(this.key('contentType').objid(), this.key('content').explicit(0).any());
});

/** RFC 6960 4.1.1: Request, its extensions' values as DER. */
const OcspSingleRequest = asn1.define('Request', function () {
  this.seq().obj(this.key('reqCert').use(rfc2560.CertID), this.key('singleRequestExtensions').optional().explicit(0).seqof(RawExtension));
});

/** RFC 6960 4.1.1: OCSPRequest, as an OCSP client sends it (the optional signature is not read). */
export const OcspRequest = asn1.define('OCSPRequest', function () {
  this.seq().obj(
    this.key('tbsRequest')
      .seq()
      .obj(
        this.key('version').def('v1').explicit(0).use(rfc5280.Version),
        this.key('requestorName').optional().explicit(1).use(rfc5280.GeneralName),
        this.key('requestList').seqof(OcspSingleRequest),
        this.key('requestExtensions').optional().explicit(2).seqof(RawExtension),
      ),
    this.key('optionalSignature').optional().explicit(0).any(),
  );
});

/** RFC 6960 4.2.1: SingleResponse, the CertID as the DER the request carried. */
const OcspSingleResponse = asn1.define('SingleResponse', function () {
  this.seq().obj(
    this.key('certId').use(AnyDer),
    this.key('certStatus').use(rfc2560.CertStatus),
    this.key('thisUpdate').gentime(),
    this.key('nextUpdate').optional().explicit(0).gentime(),
  );
});

/** RFC 6960 4.2.1: ResponseData, its extensions' values as DER. */
export const OcspResponseData = asn1.define('ResponseData', function () {
  this.seq().obj(
    this.key('version').def('v1').explicit(0).use(rfc5280.Version),
    this.key('responderID').use(rfc2560.ResponderID),
    this.key('producedAt').gentime(),
    this.key('responses').seqof(OcspSingleResponse),
    this.key('responseExtensions').optional().explicit(1).seqof(RawExtension),
  );
});

// ---- encoding and decoding ----

/**
 * The members of a SET OF in DER order (X.690 11.6: ascending order of their encodings). asn1.js
 * writes a SET OF in the order it is given.
 */
export function sortedSet<T>(members: readonly T[], encodeMember: (member: T) => Buffer): T[] {
  if (members.length < 2) return [...members];
  return members
    .map((member) => ({ member, der: encodeMember(member) }))
    .sort((a, b) => Buffer.compare(a.der, b.der))
    .map((m) => m.member);
}

/**
 * Decodes `der` with `schema`, refusing what the schema does not describe. With `strict`, the
 * value must also re-encode to exactly `der`: that refuses trailing bytes, BER length forms and
 * every other encoding that is not the one DER allows. `what` names the input in the message.
 */
export function decodeDer<T>(schema: Entity<T>, der: Buffer, what: string, strict = true): T {
  let value: T;
  try {
    value = schema.decode(der, 'der');
  } catch {
    throw invalid(`${what} is malformed (not valid DER)`);
  }
  if (strict) {
    let again: Buffer;
    try {
      again = schema.encode(value, 'der');
    } catch {
      throw invalid(`${what} is malformed (not valid DER)`);
    }
    if (!again.equals(der)) throw invalid(`${what} is not in DER form`);
  }
  return value;
}
