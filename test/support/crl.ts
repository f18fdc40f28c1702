// Reads a DER CRL (node has no CRL parser): its entries and whether the CA signed it.

import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import forge from 'node-forge';

export interface CrlEntryView {
  serialHex: string;
  reason: number | undefined;
}

export function readCrl(der: Buffer, caPublicKey: KeyObject): { entries: CrlEntryView[]; signatureValid: boolean; nextUpdate: boolean } {
  const asn1 = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  const [tbs, , signature] = asn1.value as forge.asn1.Asn1[];
  const tbsDer = Buffer.from(forge.asn1.toDer(tbs!).getBytes(), 'binary');
  // BIT STRING: the first content byte is the count of unused bits.
  const sig = Buffer.from((signature!.value as string).slice(1), 'binary');
  const signatureValid = verify('sha256', tbsDer, caPublicKey, sig);
  const fields = tbs!.value as forge.asn1.Asn1[];
  // version, signature, issuer, thisUpdate, nextUpdate?, revokedCertificates?, [0] extensions
  const revoked = fields.find((f) => f.tagClass === forge.asn1.Class.UNIVERSAL && f.type === forge.asn1.Type.SEQUENCE && fields.indexOf(f) > 2);
  const times = fields.filter((f) => f.type === forge.asn1.Type.UTCTIME || f.type === forge.asn1.Type.GENERALIZEDTIME);
  const entries = ((revoked?.value as forge.asn1.Asn1[]) ?? []).map((entry) => {
    const [serial, , extensions] = entry.value as forge.asn1.Asn1[];
    let reason: number | undefined;
    for (const ext of (extensions?.value as forge.asn1.Asn1[]) ?? []) {
      const [oid, value] = ext.value as forge.asn1.Asn1[];
      if (forge.asn1.derToOid(oid!.value as string) === '2.5.29.21') {
        const inner = forge.asn1.fromDer(value!.value as string);
        reason = (inner.value as string).charCodeAt(0);
      }
    }
    return { serialHex: Buffer.from(serial!.value as string, 'binary').toString('hex').replace(/^(00)+(?=.)/, ''), reason };
  });
  return { entries, signatureValid, nextUpdate: times.length === 2 };
}

export const publicKeyOfCertificate = (pem: string) => createPublicKey(pem);
