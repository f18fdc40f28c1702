// CSR fuzzing (issue 12): bit flips, truncations, length and tag changes, nesting bombs and junk,
// from a fixed seed. Every malformed request is refused with INVALID_ARGUMENT by the parser
// (thousands of cases), and with 400 and the error body by the running service (a sample of
// them), which stays up and still issues for a good request afterwards.
import crypto from 'node:crypto';
import t from 'tap';
import { parseCertificateRequest } from '../../workers/ca/csr.js';
import { idOf } from '../support/api.js';
import { restTemplate, USERS } from '../support/fixtures.js';
import { BASE, startStack } from '../support/stack.js';

/** mulberry32: a small seeded PRNG, so every run tries the same cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PKCS#10 request for `key`, built by node:crypto's signing and a few declared bytes. */
function csrFor(key: crypto.KeyObject, spki: Buffer): Buffer {
  const tlv = (tag: number, body: Buffer): Buffer => {
    const len = body.length < 0x80 ? Buffer.from([body.length]) : body.length < 0x100 ? Buffer.from([0x81, body.length]) : Buffer.from([0x82, body.length >> 8, body.length & 0xff]);
    return Buffer.concat([Buffer.from([tag]), len, body]);
  };
  const name = tlv(0x30, tlv(0x31, tlv(0x30, Buffer.concat([Buffer.from('0603550403', 'hex'), tlv(0x0c, Buffer.from('Fuzz'))]))));
  const info = tlv(0x30, Buffer.concat([Buffer.from('020100', 'hex'), name, spki, Buffer.from('a000', 'hex')]));
  const alg = Buffer.from('300a06082a8648ce3d040302', 'hex'); // ecdsa-with-SHA256
  return tlv(0x30, Buffer.concat([info, alg, tlv(0x03, Buffer.concat([Buffer.from([0]), crypto.sign('sha256', info, key)]))]));
}

const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const goodCsr = csrFor(pair.privateKey, pair.publicKey.export({ type: 'spki', format: 'der' }));
const TAGS = [0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0xa0];

/** `count` malformed variants of `der`, each named by how it was made. */
function mutants(der: Buffer, count: number, seed: number): Array<[string, Buffer]> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const tagPositions = [...der.keys()].filter((i) => TAGS.includes(der[i]!) && i + 1 < der.length);
  const out: Array<[string, Buffer]> = [];
  const nest = (depth: number, indefinite: boolean): Buffer => {
    if (indefinite) return Buffer.concat([Buffer.alloc(depth * 2, Buffer.from([0x30, 0x80])), Buffer.alloc(depth * 2)]);
    let inner = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < depth; i++) inner = Buffer.concat([Buffer.from([0x30, 0x82, inner.length >> 8, inner.length & 0xff]), inner]);
    return inner;
  };
  // Nesting bombs: on their own, and in place of the attributes.
  for (const [depth, indefinite] of [[2000, true], [6000, true], [1000, false], [3000, false]] as const) {
    out.push([`nesting bomb ${indefinite ? 'indefinite' : 'definite'} ${depth}`, nest(depth, indefinite)]);
    out.push([`nesting bomb in the attributes ${depth}`, Buffer.concat([der.subarray(0, der.indexOf(Buffer.from('a000', 'hex'))), Buffer.from([0xa0, 0x82, 0, 0]), nest(Math.min(depth, 2000), indefinite)])]);
  }
  while (out.length < count) {
    const m = Buffer.from(der);
    switch (int(6)) {
      case 0: {
        const bit = int(m.length * 8);
        m[bit >> 3]! ^= 0x80 >> (bit & 7);
        out.push([`bit flip ${bit}`, m]);
        break;
      }
      case 1: {
        const len = int(m.length);
        out.push([`truncated to ${len}`, m.subarray(0, len)]);
        break;
      }
      case 2: {
        const at = tagPositions[int(tagPositions.length)]! + 1;
        const delta = [1, -1, 0x80, 0x7f, int(256)][int(5)]!;
        m[at] = (m[at]! + delta) & 0xff;
        out.push([`length byte ${at} changed by ${delta}`, m]);
        break;
      }
      case 3: {
        const at = tagPositions[int(tagPositions.length)]!;
        const tag = int(256);
        if (tag === m[at]) continue;
        m[at] = tag;
        out.push([`tag ${at} -> ${tag}`, m]);
        break;
      }
      case 4: {
        const tail = Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)));
        out.push([`trailing ${tail.length} bytes`, Buffer.concat([m, tail])]);
        break;
      }
      default: {
        const junk = Buffer.from(Array.from({ length: 1 + int(600) }, () => int(256)));
        if (int(2)) junk[0] = 0x30;
        out.push([`junk ${junk.length}`, junk]);
      }
    }
  }
  return out;
}

const CASES = mutants(goodCsr, 3000, 0x5eed);

t.test('the parser refuses every mutant with INVALID_ARGUMENT', async (t) => {
  t.equal(parseCertificateRequest(goodCsr.toString('base64')).keyAlgorithm, 'ECDSA_P256', 'the unmutated request is good');
  let refused = 0;
  for (const [name, der] of CASES) {
    try {
      parseCertificateRequest(der.toString('base64'));
      t.fail(`accepted: ${name}`);
    } catch (err) {
      if ((err as { code?: string }).code === 'INVALID_ARGUMENT') refused++;
      else t.fail(`${name}: ${(err as Error).name} ${(err as Error).message}`);
    }
  }
  t.equal(refused, CASES.length, `${CASES.length} mutants refused`);
});

t.test('the service answers 400 to malformed requests and stays up', async (t) => {
  const s = await startStack();
  t.teardown(() => s.close());
  const admin = await s.as(USERS.admin);
  const user = await s.as(USERS.user);
  const template = await s.http('POST', `${BASE}/profiletemplates`, {
    token: admin,
    body: restTemplate({ name: 'Fuzz', certificateTemplates: [{ TemplateCommonName: 'Logon', KeyAlgorithmName: 'ECDSA_P256', KeySize: 256, KeyUsages: 2, SubjectTemplate: 'CN={name}', ValidityDays: 30 }] }),
  });
  const templateId = idOf(template.body);
  const requestId = idOf((await s.http('POST', `${BASE}/requests`, { token: user, body: { ProfileTemplateUuid: templateId, Type: 'Enroll' } })).body);
  const bound = await s.http('POST', `${BASE}/smartcards`, { token: user, body: { requestid: requestId, cardid: crypto.randomBytes(16).toString('hex'), atr: '3b8f8001' } });
  t.equal(bound.status, 201);

  // Every tenth mutant, nesting bombs included, through HTTP, gRPC and the worker pool.
  const sample = CASES.filter((_, i) => i % 10 === 0 || i < 8);
  let answered400 = 0;
  for (const [name, der] of sample) {
    const res = await s.http('POST', `${BASE}/requests/${requestId}/certificatedata`, { token: user, body: { certificaterequests: [der.toString('base64')] } });
    if (res.status === 400 && res.body?.Code === 'INVALID_ARGUMENT' && typeof res.body.Message === 'string') answered400++;
    else t.fail(`${name}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  t.equal(answered400, sample.length, `${sample.length} malformed requests answered 400`);
  t.equal((await s.http('GET', '/readyz')).status, 200, 'the service is up');
  const good = await s.http('POST', `${BASE}/requests/${requestId}/certificatedata`, { token: user, body: { certificaterequests: [goodCsr.toString('base64')] } });
  t.equal(good.status, 200, 'and still issues for a good request');
});
