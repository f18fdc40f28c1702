// Independent strict DER readers for what the CA produces: Python's `cryptography` (its Rust
// ASN.1 parser is strict DER and warns when it has to fall back to BER; warnings are errors
// here) and OpenSSL. Tests skip these checks on a machine without them.
import { execFileSync } from 'node:child_process';

const PY_READER = String.raw`
import sys, json, warnings
warnings.simplefilter("error")
from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives.serialization import pkcs7
kind = sys.argv[1]
data = sys.stdin.buffer.read()
def name(n):
    return [[{"oid": a.oid.dotted_string, "type": int(a._type.value), "value": a.value} for a in rdn] for rdn in n.rdns]
def cert_facts(c):
    exts = {}
    for e in c.extensions:
        exts[e.oid.dotted_string] = {"critical": e.critical}
    out = {"subject": name(c.subject), "issuer": name(c.issuer), "serial": format(c.serial_number, "x"), "extensions": exts}
    try:
        san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        out["upn"] = [o.value.hex() for o in san.get_values_for_type(x509.OtherName) if o.type_id.dotted_string == "1.3.6.1.4.1.311.20.2.3"]
    except x509.ExtensionNotFound:
        pass
    try:
        aia = c.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        out["aia"] = [[d.access_method.dotted_string, d.access_location.value] for d in aia]
    except x509.ExtensionNotFound:
        pass
    try:
        out["eku"] = [o.dotted_string for o in c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        pass
    return out
if kind == "certificate":
    res = cert_facts(x509.load_der_x509_certificate(data))
elif kind == "pkcs7":
    res = [cert_facts(c) for c in pkcs7.load_der_pkcs7_certificates(data)]
elif kind == "crl":
    crl = x509.load_der_x509_crl(data)
    res = {"entries": [format(r.serial_number, "x") for r in crl]}
elif kind == "ocsp":
    r = ocsp.load_der_ocsp_response(data)
    res = {"status": r.response_status.name}
    if r.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL:
        res["responses"] = [{"serial": format(s.serial_number, "x"), "status": s.certificate_status.name,
            "reason": s.revocation_reason.name if s.revocation_reason else None,
            "thisUpdate": str(getattr(s, "this_update_utc", None) or s.this_update), "nextUpdate": str(getattr(s, "next_update_utc", None) or s.next_update)} for s in r.responses]
        res["nonce"] = [e.value.nonce.hex() for e in r.extensions if e.oid.dotted_string == "1.3.6.1.5.5.7.48.1.2"]
else:
    raise SystemExit("unknown kind")
print(json.dumps(res))
`;

export const hasPythonCryptography = (() => {
  try {
    execFileSync('python3', ['-c', 'import cryptography'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export type StrictKind = 'certificate' | 'pkcs7' | 'crl' | 'ocsp';

/**
 * What Python's `cryptography` reads in `der` (throws when it refuses it, or merely warns: a
 * warning means it fell back to BER, i.e. the input was not DER).
 */
export function readStrictly<T = any>(kind: StrictKind, der: Uint8Array): T {
  return JSON.parse(execFileSync('python3', ['-c', PY_READER, kind], { input: der, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] })) as T;
}
