// The certs-only PKCS#7 bundle (RFC 5652 SignedData with no content and no signers, the .p7b
// Windows imports) that certificatedata answers with: the new certificate and its chain, the
// SET OF certificates in DER order.
import { ContentInfo, SignedData, oid, sortedSet } from './schemas.js';

const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_DATA = '1.2.840.113549.1.7.1';

export function certsOnlyPkcs7(certificates: readonly Buffer[]): Buffer {
  const signedData = SignedData.encode(
    {
      version: 1,
      digestAlgorithms: [],
      encapContentInfo: { eContentType: oid(ID_DATA) },
      certificates: sortedSet(certificates, (der) => der),
      signerInfos: [],
    },
    'der',
  );
  return ContentInfo.encode({ contentType: oid(ID_SIGNED_DATA), content: signedData }, 'der');
}
