import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  type AdminKeyAlgorithm,
  assertDistinctTdesParts,
  blockSizeOf,
  cardIdToBytes,
  computeChallengeResponse,
  diversifyAdminKey,
  kbkdfHmacSha256,
  keyLengthOf,
  parseAdminKeyAlgorithm,
  setOddParity,
  wipe,
} from '../../workers/crypto/admin-key.js';

interface ResponseVector {
  algorithm: AdminKeyAlgorithm;
  adminKeyHex: string;
  challengeBase64: string;
  responseBase64: string;
  source: string;
}
interface DiversificationVector {
  algorithm: AdminKeyAlgorithm;
  masterKeyHex: string;
  cardid: string;
  kdfOutputHex?: string;
  diversifiedKeyHex: string;
  challengeBase64: string;
  responseBase64: string;
}
const vectors = JSON.parse(
  readFileSync(new URL('../vectors/card-crypto.json', import.meta.url), 'utf8'),
) as { challengeResponse: ResponseVector[]; diversification: DiversificationVector[] };

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const b64 = (s: string) => Buffer.from(s, 'base64');
const ALGORITHMS: AdminKeyAlgorithm[] = ['3DES', 'AES128', 'AES192', 'AES256'];
const LABEL: Record<AdminKeyAlgorithm, string> = {
  '3DES': 'MIMCM-ADMINKEY',
  AES128: 'MIMCM-ADMINKEY-AES',
  AES192: 'MIMCM-ADMINKEY-AES',
  AES256: 'MIMCM-ADMINKEY-AES',
};

t.test('algorithm names, block sizes and key lengths', async (t) => {
  t.equal(parseAdminKeyAlgorithm('3des'), '3DES');
  t.equal(parseAdminKeyAlgorithm('aes128'), 'AES128');
  t.equal(parseAdminKeyAlgorithm('Aes192'), 'AES192');
  t.equal(parseAdminKeyAlgorithm('AES256'), 'AES256');
  for (const bad of ['', 'DES', 'AES', 'aes-128', 'toString', '__proto__', 'constructor']) {
    t.equal(parseAdminKeyAlgorithm(bad), undefined, bad);
  }
  t.equal(parseAdminKeyAlgorithm(undefined as never), undefined, 'not a string');
  t.same(ALGORITHMS.map(blockSizeOf), [8, 16, 16, 16]);
  t.same(ALGORITHMS.map(keyLengthOf), [24, 16, 24, 32]);
  t.throws(() => blockSizeOf('DES' as AdminKeyAlgorithm), { code: 'INVALID_ARGUMENT' });
});

t.test('challenge-response vectors of card-crypto.json', async (t) => {
  for (const v of vectors.challengeResponse) {
    const got = computeChallengeResponse(v.algorithm, hex(v.adminKeyHex), b64(v.challengeBase64));
    t.equal(got.toString('base64'), v.responseBase64, v.source);
  }
});

t.test('diversification vectors of card-crypto.json', async (t) => {
  for (const v of vectors.diversification) {
    const name = `${v.algorithm} ${v.masterKeyHex.slice(0, 8)} ${v.cardid}`;
    const cardId = cardIdToBytes(v.cardid);
    if (v.kdfOutputHex) {
      const raw = kbkdfHmacSha256(hex(v.masterKeyHex), LABEL[v.algorithm], cardId, 192);
      t.equal(raw.toString('hex'), v.kdfOutputHex, `${name}: KDF output before parity`);
    }
    const key = diversifyAdminKey(v.algorithm, hex(v.masterKeyHex), cardId);
    t.equal(key.toString('hex'), v.diversifiedKeyHex, `${name}: key`);
    const response = computeChallengeResponse(v.algorithm, key, b64(v.challengeBase64));
    t.equal(response.toString('base64'), v.responseBase64, `${name}: response`);
  }
});

// Single blocks: CBC with a zero IV over one block is ECB, which is how the KATs are published.
const oneBlock = (alg: AdminKeyAlgorithm, key: string, plain: string) =>
  computeChallengeResponse(alg, hex(key), hex(plain)).toString('hex').toUpperCase();

t.test('TDEA known answers (NIST SP 800-67 Rev. 1 example, SP 800-20 and SP 800-17 tables)', async (t) => {
  // SP 800-67 Rev. 1 TDEA example: three distinct keys, "The qufck brown fox jump" in ECB mode.
  const k3 = '0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123';
  t.equal(oneBlock('3DES', k3, '5468652071756663'), 'A826FD8CE53B855F');
  t.equal(oneBlock('3DES', k3, '6B2062726F776E20'), 'CCE21C8112256FE6');
  t.equal(oneBlock('3DES', k3, '666F78206A756D70'), '68D5C05DD9B6B900');

  // SP 800-20 with K1 = K2 = K3 (TDEA reduces to DES): variable plaintext and variable key.
  const weak = '0101010101010101'.repeat(3);
  t.equal(oneBlock('3DES', weak, '8000000000000000'), '95F8A5E5DD31D900');
  t.equal(oneBlock('3DES', weak, '4000000000000000'), 'DD7F121CA5015619');
  t.equal(oneBlock('3DES', weak, '0000000000000001'), '166B40B44ABA4BD6');
  t.equal(oneBlock('3DES', '8001010101010101'.repeat(3), '0000000000000000'), '95A8D72813DAA94D');
  t.equal(oneBlock('3DES', '4001010101010101'.repeat(3), '0000000000000000'), '0EEC1487DD8C26D5');
  // SP 800-17 sample data (substitution table test).
  t.equal(oneBlock('3DES', '7CA110454A1A6E57'.repeat(3), '01A1D6D039776742'), '690F5B0D9A26939B');
});

t.test('AES known answers (FIPS-197 Appendix B and C)', async (t) => {
  const plain = '00112233445566778899aabbccddeeff';
  t.equal(oneBlock('AES128', '000102030405060708090a0b0c0d0e0f', plain), '69C4E0D86A7B0430D8CDB78070B4C55A');
  t.equal(
    oneBlock('AES192', '000102030405060708090a0b0c0d0e0f1011121314151617', plain),
    'DDA97CA4864CDFE06EAF70A0EC0D7191',
  );
  t.equal(
    oneBlock('AES256', '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', plain),
    '8EA2B7CA516745BFEAFC49904B496089',
  );
  t.equal(
    oneBlock('AES128', '2b7e151628aed2a6abf7158809cf4f3c', '3243f6a8885a308d313198a2e0370734'),
    '3925841D02DC09FBDC118597196A0B32',
  );
});

function openssl(): string | undefined {
  try {
    return execFileSync('openssl', ['version'], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
}

const opensslVersion = openssl();
t.test(
  'KDF agrees with OpenSSL KBKDF on random master keys and cardids',
  { skip: opensslVersion === undefined ? 'openssl is not on PATH' : false },
  async (t) => {
    for (let i = 0; i < 4; i++) {
      const master = randomBytes(32);
      const cardid = randomUUID();
      const info = cardIdToBytes(cardid);
      for (const alg of ALGORITHMS) {
        const keylen = keyLengthOf(alg);
        const out = execFileSync(
          'openssl',
          [
            'kdf',
            '-keylen', String(keylen),
            '-kdfopt', 'mac:HMAC',
            '-kdfopt', 'digest:SHA2-256',
            '-kdfopt', `hexkey:${master.toString('hex')}`,
            '-kdfopt', `salt:${LABEL[alg]}`,
            '-kdfopt', `hexinfo:${info.toString('hex')}`,
            'KBKDF',
          ],
          { encoding: 'utf8' },
        );
        const expected = out.trim().replace(/:/g, '').toLowerCase();
        const ours = kbkdfHmacSha256(master, LABEL[alg], info, keylen * 8);
        t.equal(ours.toString('hex'), expected, `${alg} ${cardid}`);
        const key = diversifyAdminKey(alg, master, info);
        // AES keys are the KDF output as is; 3DES keys differ from it only in the parity bits.
        if (alg === '3DES') t.equal(key.toString('hex'), setOddParity(ours).toString('hex'));
        else t.equal(key.toString('hex'), expected);
      }
    }
  },
);

t.test('odd parity', async (t) => {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const fixed = setOddParity(all);
  for (let i = 0; i < 256; i++) {
    let ones = 0;
    for (let v = fixed[i]; v; v >>= 1) ones += v & 1;
    t.equal(ones % 2, 1, `byte ${i} has odd weight`);
    t.equal(fixed[i] & 0xfe, i & 0xfe, `byte ${i} keeps its key bits`);
  }
  t.equal(all[0], 0, 'the input is not modified');
  t.equal(setOddParity(hex('0123456789abcdef')).toString('hex'), '0123456789abcdef', 'already odd stays');
  t.equal(setOddParity(hex('00fe')).toString('hex'), '01fe');

  for (const v of vectors.diversification.filter((v) => v.algorithm === '3DES')) {
    const key = diversifyAdminKey('3DES', hex(v.masterKeyHex), cardIdToBytes(v.cardid));
    t.ok([...key].every((b) => setOddParity(Buffer.of(b))[0] === b), 'diversified 3DES keys have odd parity');
  }
});

t.test('weak 3DES keys are refused', async (t) => {
  const a = '0123456789abcdef';
  const b = 'fedcba9876543210';
  const c = '89abcdef01234567';
  t.doesNotThrow(() => assertDistinctTdesParts(hex(a + b + c)));
  for (const [name, key] of [
    ['K1 = K2', a + a + c],
    ['K2 = K3', a + b + b],
    ['K1 = K3', a + b + a],
    ['all equal', a + a + a],
  ]) {
    t.throws(() => assertDistinctTdesParts(hex(key)), { code: 'WEAK_KEY' }, name);
  }
  t.throws(() => assertDistinctTdesParts(Buffer.alloc(16, 1)), { code: 'INVALID_KEY' });

  // The message must not carry the key.
  try {
    assertDistinctTdesParts(hex(a + a + c));
  } catch (err) {
    t.notMatch((err as Error).message, /0123|89ab/i);
  }
});

t.test('challenge sizes', async (t) => {
  const tdes = Buffer.alloc(24, 1);
  for (const n of [8, 16, 24, 32, 40, 48, 56, 64]) {
    t.equal(computeChallengeResponse('3DES', tdes, Buffer.alloc(n)).length, n, `3DES ${n} bytes`);
  }
  for (const n of [0, 1, 7, 9, 15, 63, 65, 72]) {
    t.throws(() => computeChallengeResponse('3DES', tdes, Buffer.alloc(n)), { code: 'INVALID_ARGUMENT' }, `3DES ${n}`);
  }
  for (const alg of ['AES128', 'AES192', 'AES256'] as const) {
    const key = Buffer.alloc(keyLengthOf(alg), 2);
    for (const n of [16, 32, 48, 64]) {
      t.equal(computeChallengeResponse(alg, key, Buffer.alloc(n)).length, n, `${alg} ${n} bytes`);
    }
    for (const n of [0, 8, 24, 40, 63, 80]) {
      t.throws(() => computeChallengeResponse(alg, key, Buffer.alloc(n)), { code: 'INVALID_ARGUMENT' }, `${alg} ${n}`);
    }
  }
});

t.test('key and input sizes', async (t) => {
  t.throws(() => computeChallengeResponse('3DES', Buffer.alloc(16), Buffer.alloc(8)), { code: 'INVALID_KEY' });
  t.throws(() => computeChallengeResponse('AES128', Buffer.alloc(24), Buffer.alloc(16)), { code: 'INVALID_KEY' });
  t.throws(() => computeChallengeResponse('AES256', Buffer.alloc(24), Buffer.alloc(16)), { code: 'INVALID_KEY' });
  t.throws(() => diversifyAdminKey('3DES', Buffer.alloc(31), Buffer.alloc(16)), { code: 'INVALID_KEY' });
  t.throws(() => diversifyAdminKey('3DES', Buffer.alloc(32), Buffer.alloc(15)), { code: 'INVALID_ARGUMENT' });
  t.throws(() => diversifyAdminKey('DES' as AdminKeyAlgorithm, Buffer.alloc(32), Buffer.alloc(16)), {
    code: 'INVALID_ARGUMENT',
  });
  t.throws(() => kbkdfHmacSha256(Buffer.alloc(32), 'x', Buffer.alloc(0), 12), { code: 'INVALID_ARGUMENT' });

  // Two PRF blocks: K(1) || K(2), each over the same fixed input with L = 512.
  const key = Buffer.alloc(32, 7);
  const fixed = (i: number) => Buffer.concat([hex(`0000000${i}`), Buffer.from('x'), Buffer.of(0), hex('00000200')]);
  const expected = Buffer.concat([1, 2].map((i) => createHmac('sha256', key).update(fixed(i)).digest()));
  t.equal(kbkdfHmacSha256(key, 'x', Buffer.alloc(0), 512).toString('hex'), expected.toString('hex'));
});

t.test('cardIdToBytes keeps the hex digits in written order', async (t) => {
  const expected = 'bc88f13f83ba4037826246eba1291c6e';
  for (const form of [
    'bc88f13f-83ba-4037-8262-46eba1291c6e',
    'BC88F13F-83BA-4037-8262-46EBA1291C6E',
    '{bc88f13f-83ba-4037-8262-46eba1291c6e}',
    'bc88f13f83ba4037826246eba1291c6e',
  ]) {
    t.equal(cardIdToBytes(form).toString('hex'), expected, form);
  }
  for (const bad of ['', 'bc88f13f-83ba-4037-8262-46eba1291c6', '{bc88f13f-83ba-4037-8262-46eba1291c6e', 'zz88f13f-83ba-4037-8262-46eba1291c6e']) {
    t.throws(() => cardIdToBytes(bad), { code: 'INVALID_ARGUMENT' }, bad);
  }
});

t.test('wipe clears every buffer and skips missing ones', async (t) => {
  const a = Buffer.from('secret');
  const b = new Uint8Array([1, 2, 3]);
  wipe(a, undefined, b, null);
  t.ok(a.every((x) => x === 0));
  t.ok(b.every((x) => x === 0));
});
