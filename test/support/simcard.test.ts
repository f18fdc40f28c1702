import t from 'tap';
import { createCipheriv, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import forge from 'node-forge';
import {
  answerChallenge,
  certificateSpki,
  certificatesFromPkcs7,
  csrParts,
  derChildren,
  derOid,
  derTlv,
  oidFromDer,
  readDer,
  SimCardError,
  SimulatedSmartcard,
  verifyCsr,
  type AdminKeyAlgorithm,
} from './simcard.js';

// ---------------------------------------------------------------------------------------------
// Vectors: the public one inline, the rest from test/vectors/card-crypto.json (the project's copy
// of shared/vectors/card-crypto.json), with the AES ones also inline.

interface Vector {
  algorithm: AdminKeyAlgorithm;
  keyHex: string;
  challengeBase64: string;
  responseBase64: string;
  source: string;
}

const PUBLIC_VECTOR: Vector = {
  algorithm: '3DES',
  keyHex: '000000000000000000000000000000000000000000000000',
  challengeBase64: '1hFD+cz/0so=',
  responseBase64: 'F0Zudm4wPLY=',
  source: 'SPEC section 8 public vector',
};

const AES_CHALLENGE = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const INLINE_VECTORS: Vector[] = [
  PUBLIC_VECTOR,
  { algorithm: '3DES', keyHex: '010203040506070801020304050607080102030405060708', challengeBase64: '1hFD+cz/0srWEUP5zP/Syg==', responseBase64: 'K1EIo4id/27thDPu9sDSKg==', source: 'inline: two 3DES blocks' },
  { algorithm: 'AES128', keyHex: '1223334a3c1b425683e1cf719d1dcf40', challengeBase64: AES_CHALLENGE, responseBase64: 'yMa6FGd5J1OfpHD7cPOm42nw3V6Mobm8WmwLPeNRs5A=', source: 'inline AES128' },
  { algorithm: 'AES192', keyHex: '27151928659ff73cda02316dd9157f2391b0d17b8e722fbc', challengeBase64: AES_CHALLENGE, responseBase64: 'YWzSU6FlZpzhgEHEavMaURU4LWMdxPMzHuVn3+lVAkM=', source: 'inline AES192' },
  { algorithm: 'AES256', keyHex: '5511f5820a29ab9dbd2ef55db4fb45d7a9665e6fc8cd97a3b4a84ecb60884c66', challengeBase64: AES_CHALLENGE, responseBase64: 'B3v6vyhT38EYfvXSygRThc5WU2X3rkxgAmJCTXMi+OY=', source: 'inline AES256' },
];

/** The project's copy of the shared vectors (CI checks the repository out alone). */
const VECTORS_FILE = fileURLToPath(new URL('../vectors/card-crypto.json', import.meta.url));
/** The shared original, next to the repository on a developer's machine. */
const SHARED_VECTORS_FILE = fileURLToPath(new URL('../../../shared/vectors/card-crypto.json', import.meta.url));

function loadFileVectors(): { vectors: Vector[]; path: string } {
  const path = VECTORS_FILE;
  const json = JSON.parse(readFileSync(path, 'utf8')) as {
    challengeResponse: Array<{ algorithm: AdminKeyAlgorithm; adminKeyHex: string; challengeBase64: string; responseBase64: string; source: string }>;
    diversification: Array<{ algorithm: AdminKeyAlgorithm; diversifiedKeyHex: string; cardid: string; challengeBase64: string; responseBase64: string }>;
  };
  return {
    path,
    vectors: [
      ...json.challengeResponse.map((v) => ({ algorithm: v.algorithm, keyHex: v.adminKeyHex, challengeBase64: v.challengeBase64, responseBase64: v.responseBase64, source: v.source })),
      ...json.diversification.map((v) => ({ algorithm: v.algorithm, keyHex: v.diversifiedKeyHex, challengeBase64: v.challengeBase64, responseBase64: v.responseBase64, source: `diversified ${v.algorithm} ${v.cardid}` })),
    ],
  };
}

const KEY_3DES_DEFAULT = '010203040506070801020304050607080102030405060708';
const KEY_3DES_OTHER = '981540f87a2907f81cfba16e2ac42ac7e397d3584ad56408';

function card3des(extra: Partial<ConstructorParameters<typeof SimulatedSmartcard>[0]> = {}) {
  return new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: KEY_3DES_DEFAULT, ...extra });
}

/** Authenticate as a client holding keyHex would. */
function login(card: SimulatedSmartcard, keyHex: string, alg: AdminKeyAlgorithm = card.adminKeyAlgorithm): boolean {
  return card.authenticateAdmin(answerChallenge(alg, keyHex, card.getChallenge()));
}

const codeOf = (code: string) => ({ code });

// ---------------------------------------------------------------------------------------------

t.test('identity: cardId and ATR', async (t) => {
  const card = new SimulatedSmartcard({ cardId: 'BC88F13F-83BA-4037-8262-46EBA1291C6E', atr: '3B8D0180FBA000000397425446590301C8', adminKeyAlgorithm: '3DES', adminKeyHex: KEY_3DES_DEFAULT });
  t.equal(card.cardId, 'bc88f13f-83ba-4037-8262-46eba1291c6e');
  t.equal(card.atr, '3b8d0180fba000000397425446590301c8');
  t.equal(card.cardIdBytes.toString('hex'), 'bc88f13f83ba4037826246eba1291c6e');
  const random = card3des();
  t.match(random.cardId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  t.not(random.cardId, card3des().cardId);
  t.equal(random.atr, '3b8d0180fba000000397425446590301c8');
  t.throws(() => card3des({ cardId: 'not-a-guid' }), codeOf('BAD_CARD_ID'));
  t.throws(() => card3des({ atr: '3b' }), codeOf('BAD_ATR'));
  t.throws(() => new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: '00'.repeat(16) }), codeOf('BAD_KEY_LENGTH'));
  t.throws(() => new SimulatedSmartcard({ adminKeyAlgorithm: 'AES128', adminKeyHex: 'zz'.repeat(16) }), codeOf('BAD_KEY_FORMAT'));
  t.throws(() => new SimulatedSmartcard({ adminKeyAlgorithm: 'DES' as AdminKeyAlgorithm, adminKeyHex: '00'.repeat(8) }), codeOf('BAD_ALGORITHM'));
  const err = t.throws(() => card3des().authenticateAdmin(Buffer.alloc(8)));
  t.ok(err instanceof SimCardError && err instanceof Error, 'errors are Error subclasses with a code');
  t.equal((err as SimCardError).code, 'NO_CHALLENGE');
});

t.test('public vector through the card: 3DES all-zero key, 1hFD+cz/0so= -> F0Zudm4wPLY=', async (t) => {
  const card = new SimulatedSmartcard({ adminKeyAlgorithm: '3DES', adminKeyHex: PUBLIC_VECTOR.keyHex });
  const challenge = card.getChallenge({ fixed: Buffer.from(PUBLIC_VECTOR.challengeBase64, 'base64') });
  t.equal(challenge.toString('base64'), '1hFD+cz/0so=');
  t.equal(answerChallenge('3DES', PUBLIC_VECTOR.keyHex, challenge).toString('base64'), 'F0Zudm4wPLY=');
  t.equal(card.authenticateAdmin('F0Zudm4wPLY='), true, 'base64 response accepted');
  t.equal(card.isAdminAuthenticated, true);

  card.getChallenge({ fixed: '1hFD+cz/0so=' });
  t.equal(card.isAdminAuthenticated, false, 'a new challenge drops admin authentication');
  t.equal(card.authenticateAdmin(Buffer.from('F0Zudm4wPLY=', 'base64')), true, 'Buffer response accepted');
});

t.test("the project's vectors are the shared ones", { skip: !existsSync(SHARED_VECTORS_FILE) && 'no shared/ next to the repository' }, async (t) => {
  t.equal(readFileSync(VECTORS_FILE, 'utf8'), readFileSync(SHARED_VECTORS_FILE, 'utf8'));
});

t.test('all vectors through the card', async (t) => {
  const { vectors, path } = loadFileVectors();
  t.comment(`vectors from ${path}: ${vectors.length}`);
  t.ok(vectors.length > 0, 'the vectors file has vectors');
  const all = [...INLINE_VECTORS, ...vectors];
  t.ok(all.some((v) => v.algorithm === 'AES128') && all.some((v) => v.algorithm === 'AES192') && all.some((v) => v.algorithm === 'AES256'));
  for (const v of all) {
    const card = new SimulatedSmartcard({ adminKeyAlgorithm: v.algorithm, adminKeyHex: v.keyHex });
    const challenge = Buffer.from(v.challengeBase64, 'base64');
    t.equal(answerChallenge(v.algorithm, v.keyHex, challenge).toString('base64'), v.responseBase64, `answerChallenge: ${v.source}`);
    card.getChallenge({ fixed: challenge });
    t.equal(card.authenticateAdmin(v.responseBase64), true, `card accepts: ${v.source}`);
    // the same vector with one bit of the response flipped is refused
    const bad = Buffer.from(v.responseBase64, 'base64');
    bad[bad.length - 1]! ^= 0x01;
    card.getChallenge({ fixed: challenge });
    t.equal(card.authenticateAdmin(bad), false, `card refuses a flipped bit: ${v.source}`);
  }
});

t.test('challenge lengths', async (t) => {
  const des = card3des();
  t.equal(des.getChallenge().length, 8, '3DES default: one 8-byte block');
  t.equal(des.getChallenge(64).length, 64);
  t.equal(des.getChallenge({ length: 24 }).length, 24);
  for (const n of [0, 4, 12, 72, 7.5]) t.throws(() => des.getChallenge(n), codeOf('BAD_CHALLENGE_LENGTH'), `3DES ${n}`);
  t.throws(() => des.getChallenge({ fixed: Buffer.alloc(9) }), codeOf('BAD_CHALLENGE_LENGTH'));
  t.throws(() => des.getChallenge({ fixed: Buffer.alloc(8), length: 16 }), codeOf('BAD_CHALLENGE_LENGTH'));
  const aes = new SimulatedSmartcard({ adminKeyAlgorithm: 'AES256', adminKeyHex: '11'.repeat(32) });
  t.equal(aes.challengeBlockBytes, 16);
  t.equal(aes.getChallenge().length, 16, 'AES default: one 16-byte block');
  t.equal(aes.getChallenge(48).length, 48);
  for (const n of [8, 24, 80]) t.throws(() => aes.getChallenge(n), codeOf('BAD_CHALLENGE_LENGTH'), `AES ${n}`);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(des.getChallenge().toString('hex'));
  t.equal(seen.size, 50, 'challenges are fresh');
  t.throws(() => answerChallenge('3DES', KEY_3DES_DEFAULT, Buffer.alloc(12)), codeOf('BAD_CHALLENGE_LENGTH'));
  t.throws(() => answerChallenge('AES128', KEY_3DES_DEFAULT, Buffer.alloc(16)), codeOf('BAD_KEY_LENGTH'));
});

t.test('multi-block challenges are CBC, not ECB', async (t) => {
  for (const alg of ['3DES', 'AES128'] as const) {
    const keyHex = alg === '3DES' ? KEY_3DES_DEFAULT : '22'.repeat(16);
    const card = new SimulatedSmartcard({ adminKeyAlgorithm: alg, adminKeyHex: keyHex });
    const challenge = card.getChallenge(64);
    const ecb = createCipheriv(alg === '3DES' ? 'des-ede3-ecb' : 'aes-128-ecb', Buffer.from(keyHex, 'hex'), null);
    ecb.setAutoPadding(false);
    const ecbResponse = Buffer.concat([ecb.update(challenge), ecb.final()]);
    t.equal(card.authenticateAdmin(ecbResponse), false, `${alg}: an ECB response is refused`);
    const fresh = card.getChallenge(64);
    t.equal(card.authenticateAdmin(answerChallenge(alg, keyHex, fresh)), true, `${alg}: CBC response accepted`);
  }
});

t.test('authenticate, change the key, old key fails, new key works', async (t) => {
  const card = card3des();
  t.throws(() => card.changeAdminKey(KEY_3DES_OTHER), codeOf('NOT_AUTHENTICATED'), 'not before authentication');
  t.ok(login(card, KEY_3DES_DEFAULT));
  t.throws(() => card.changeAdminKey('00'.repeat(16)), codeOf('BAD_KEY_LENGTH'));
  t.throws(() => card.changeAdminKey('xyz'), codeOf('BAD_KEY_FORMAT'));
  t.ok(card.verifyAdminKeyIs(KEY_3DES_DEFAULT), 'a refused change leaves the key as it was');
  card.changeAdminKey(KEY_3DES_OTHER);
  t.ok(card.isAdminAuthenticated, 'still authenticated after the change');
  t.ok(card.verifyAdminKeyIs(KEY_3DES_OTHER));
  t.ok(card.verifyAdminKeyIs(KEY_3DES_OTHER.toUpperCase()));
  t.notOk(card.verifyAdminKeyIs(KEY_3DES_DEFAULT));
  t.notOk(card.verifyAdminKeyIs('00'), 'wrong length is just false');
  t.notOk(login(card, KEY_3DES_DEFAULT), 'old key refused');
  t.notOk(card.isAdminAuthenticated);
  t.ok(login(card, KEY_3DES_OTHER), 'new key accepted');
  card.reset();
  t.notOk(card.isAdminAuthenticated, 'reset drops authentication');
  t.throws(() => card.changeAdminKey(KEY_3DES_DEFAULT), codeOf('NOT_AUTHENTICATED'));
  t.ok(login(card, KEY_3DES_OTHER));
  card.getChallenge();
  t.throws(() => card.changeAdminKey(KEY_3DES_DEFAULT), codeOf('NOT_AUTHENTICATED'), 'a new challenge drops authentication');

  const aes = new SimulatedSmartcard({ adminKeyAlgorithm: 'AES192', adminKeyHex: '33'.repeat(24) });
  t.ok(login(aes, '33'.repeat(24)));
  t.throws(() => aes.changeAdminKey('44'.repeat(16)), codeOf('BAD_KEY_LENGTH'), 'AES192 needs 24 bytes');
  t.throws(() => aes.changeAdminKey('44'.repeat(32)), codeOf('BAD_KEY_LENGTH'));
  aes.changeAdminKey('44'.repeat(24));
  t.notOk(login(aes, '33'.repeat(24)));
  t.ok(login(aes, '44'.repeat(24)));
});

t.test('3DES ignores parity bits, as DES hardware does: use verifyAdminKeyIs to check the exact key', async (t) => {
  // diversification vector: kdfOutputHex (before the parity step) and diversifiedKeyHex differ only in low bits
  const kdfOutput = '16edd810847eabe9d070886a238d2b7a6d2dd8f97afce3a4';
  const diversified = '16ecd910857fabe9d070896b238c2a7a6d2cd9f87afde3a4';
  const card = card3des();
  t.ok(login(card, KEY_3DES_DEFAULT));
  card.changeAdminKey(diversified);
  t.ok(login(card, kdfOutput), 'the cipher cannot tell');
  t.notOk(card.verifyAdminKeyIs(kdfOutput), 'the exact-key check can');
  t.ok(card.verifyAdminKeyIs(diversified));
});

t.test('a challenge can be answered once; wrong responses fail', async (t) => {
  const card = card3des();
  const challenge = card.getChallenge();
  const response = answerChallenge('3DES', KEY_3DES_DEFAULT, challenge);
  t.ok(card.authenticateAdmin(response));
  t.notOk(card.hasOutstandingChallenge);
  t.throws(() => card.authenticateAdmin(response), codeOf('NO_CHALLENGE'), 'replay of the same response');
  t.notOk(card.isAdminAuthenticated, 'a refused attempt leaves the admin unauthenticated');

  const c2 = card.getChallenge();
  t.notOk(card.authenticateAdmin(response), 'the answer to an older challenge');
  t.throws(() => card.authenticateAdmin(answerChallenge('3DES', KEY_3DES_DEFAULT, c2)), codeOf('NO_CHALLENGE'), 'a failed attempt consumes the challenge too');

  card.getChallenge();
  t.notOk(card.authenticateAdmin(Buffer.alloc(8)), 'zero response');
  card.getChallenge();
  t.notOk(card.authenticateAdmin(Buffer.alloc(16)), 'wrong length');
  card.getChallenge();
  t.notOk(card.authenticateAdmin('not base64!'), 'garbage string');
  card.getChallenge();
  t.notOk(card.authenticateAdmin(''), 'empty');
  const c3 = card.getChallenge();
  t.notOk(card.authenticateAdmin(answerChallenge('3DES', KEY_3DES_OTHER, c3)), 'another key');

  const c4 = card.getChallenge();
  card.reset();
  t.throws(() => card.authenticateAdmin(answerChallenge('3DES', KEY_3DES_DEFAULT, c4)), codeOf('NO_CHALLENGE'), 'reset forgets the challenge');
});

t.test('user PIN: retry counter and blocking', async (t) => {
  const card = card3des();
  t.throws(() => card.verifyUserPin('12345678'), codeOf('PIN_NOT_SET'));
  t.throws(() => card.setUserPin('12345678'), codeOf('NOT_AUTHENTICATED'), 'setting the PIN needs the admin');
  t.ok(login(card, KEY_3DES_DEFAULT));
  t.throws(() => card.setUserPin('12'), codeOf('BAD_PIN'));
  card.setUserPin('12345678');
  t.equal(card.pinRetriesLeft, 3);
  t.ok(card.verifyUserPin('12345678'));
  t.ok(card.isUserAuthenticated);
  t.notOk(card.verifyUserPin('00000000'));
  t.notOk(card.isUserAuthenticated);
  t.equal(card.pinRetriesLeft, 2);
  t.notOk(card.verifyUserPin('00000000'));
  t.equal(card.pinRetriesLeft, 1);
  t.ok(card.verifyUserPin('12345678'), 'the right PIN restores the counter');
  t.equal(card.pinRetriesLeft, 3);
  for (let i = 0; i < 3; i++) t.notOk(card.verifyUserPin('87654321'));
  t.equal(card.pinRetriesLeft, 0);
  t.ok(card.isPinBlocked);
  t.throws(() => card.verifyUserPin('12345678'), codeOf('PIN_BLOCKED'), 'blocked: even the right PIN is refused');
  t.throws(() => card.verifyUserPin('00000000'), codeOf('PIN_BLOCKED'));
  t.throws(() => card.changeUserPin('12345678', '11112222'), codeOf('PIN_BLOCKED'));
  t.equal(card.pinRetriesLeft, 0);
  card.reset();
  t.ok(card.isPinBlocked, 'a reset does not unblock');

  const five = card3des({ pinRetries: 5, userPin: '2468' });
  t.equal(five.pinRetriesLeft, 5);
  for (let i = 0; i < 4; i++) five.verifyUserPin('1357');
  t.notOk(five.isPinBlocked);
  t.notOk(five.verifyUserPin('1357'));
  t.ok(five.isPinBlocked);

  const c = card3des({ userPin: '1111' });
  t.ok(c.changeUserPin('1111', '2222'));
  t.notOk(c.changeUserPin('1111', '3333'), 'old PIN no longer works');
  t.equal(c.pinRetriesLeft, 2);
  t.ok(c.verifyUserPin('2222'));
  t.throws(() => card3des({ pinRetries: 0 }), codeOf('BAD_OPTION'));
});

t.test('admin setUserPin unblocks', async (t) => {
  const card = card3des({ userPin: '1234' });
  for (let i = 0; i < 3; i++) card.verifyUserPin('9999');
  t.ok(card.isPinBlocked);
  t.ok(login(card, KEY_3DES_DEFAULT));
  card.setUserPin('5678');
  t.notOk(card.isPinBlocked);
  t.equal(card.pinRetriesLeft, 3);
  t.ok(card.verifyUserPin('5678'));
});

t.test('unblock by challenge-response', async (t) => {
  const card = card3des({ userPin: '1234' });
  for (let i = 0; i < 3; i++) card.verifyUserPin('0000');
  t.ok(card.isPinBlocked);

  t.throws(() => card.unblockUserPin(Buffer.alloc(8), '5555'), codeOf('NO_CHALLENGE'));

  let challenge = card.getChallenge();
  t.notOk(card.unblockUserPin(answerChallenge('3DES', KEY_3DES_OTHER, challenge), '5555'), 'wrong response');
  t.ok(card.isPinBlocked, 'still blocked');
  t.equal(card.pinRetriesLeft, 0);
  t.throws(() => card.unblockUserPin(answerChallenge('3DES', KEY_3DES_DEFAULT, challenge), '5555'), codeOf('NO_CHALLENGE'), 'the failed attempt consumed the challenge');

  const stale = card.getChallenge();
  card.getChallenge();
  t.notOk(card.unblockUserPin(answerChallenge('3DES', KEY_3DES_DEFAULT, stale), '5555'), 'answer to a superseded challenge');
  t.ok(card.isPinBlocked);

  challenge = card.getChallenge();
  const response = answerChallenge('3DES', KEY_3DES_DEFAULT, challenge);
  t.ok(card.unblockUserPin(response.toString('base64'), '5555'), 'right response');
  t.notOk(card.isPinBlocked);
  t.equal(card.pinRetriesLeft, 3);
  t.notOk(card.isAdminAuthenticated, 'unblocking does not authenticate the admin');
  t.throws(() => card.unblockUserPin(response, '6666'), codeOf('NO_CHALLENGE'), 'no replay');
  t.notOk(card.verifyUserPin('1234'), 'old PIN gone');
  t.ok(card.verifyUserPin('5555'), 'new PIN works');

  card.getChallenge();
  t.throws(() => card.unblockUserPin(Buffer.alloc(8), '1'), codeOf('BAD_PIN'));

  // AES card, multi-block challenge, and with an admin key changed from the factory one
  const aes = new SimulatedSmartcard({ adminKeyAlgorithm: 'AES128', adminKeyHex: '55'.repeat(16), userPin: '123456' });
  t.ok(login(aes, '55'.repeat(16)));
  aes.changeAdminKey('66'.repeat(16));
  for (let i = 0; i < 3; i++) aes.verifyUserPin('000000');
  const c = aes.getChallenge(32);
  t.notOk(aes.unblockUserPin(answerChallenge('AES128', '55'.repeat(16), c), '654321'), 'factory key no longer unblocks');
  const c2 = aes.getChallenge(32);
  t.ok(aes.unblockUserPin(answerChallenge('AES128', '66'.repeat(16), c2), '654321'));
  t.ok(aes.verifyUserPin('654321'));
});

// ---------------------------------------------------------------------------------------------
// Key pairs, CSRs, certificates

const haveOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

function opensslVerifyCsr(der: Buffer): { ok: boolean; output: string } {
  const r = spawnSync('openssl', ['req', '-verify', '-noout', '-inform', 'DER'], { input: der, encoding: 'buffer' });
  const output = `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`.trim();
  // OpenSSL 3.0 exits 0 even when the signature does not verify: read what it says as well
  return { ok: r.status === 0 && /verify OK/i.test(output) && !/fail|did not match|error/i.test(output), output };
}

const CN = '2.5.4.3';
// forge exports this but its type declarations do not
const rdnAttributes = (forge.pki as unknown as {
  RDNAttributesAsArray(rdn: forge.asn1.Asn1): Array<{ type: string; value: string; valueTagClass: number }>;
}).RDNAttributesAsArray;
const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const SHA256_RSA = '1.2.840.113549.1.1.11';

/** A test CA issuing certificates for arbitrary SubjectPublicKeyInfos (forge cannot embed EC keys). */
function makeCa() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const name = derTlv(0x30, derTlv(0x31, derTlv(0x30, derOid(CN), derTlv(0x0c, Buffer.from('Sim Test CA')))));
  const algId = derTlv(0x30, derOid(SHA256_RSA), derTlv(0x05));
  const utc = (d: Date) => derTlv(0x17, Buffer.from(d.toISOString().replace(/[-:T]/g, '').slice(2, 14) + 'Z'));
  const issue = (spki: Buffer, subject: Buffer, issuerName = name, key: KeyObject = privateKey): Buffer => {
    const serial = randomBytes(9);
    serial[0] = (serial[0]! & 0x7f) | 0x01;
    const now = Date.now();
    const tbs = derTlv(
      0x30,
      derTlv(0xa0, derTlv(0x02, Buffer.from([2]))),
      derTlv(0x02, serial),
      algId,
      issuerName,
      derTlv(0x30, utc(new Date(now - 60_000)), utc(new Date(now + 86_400_000))),
      subject,
      spki,
    );
    return derTlv(0x30, tbs, algId, derTlv(0x03, Buffer.from([0]), sign('sha256', tbs, key)));
  };
  const selfSpki = publicKey.export({ type: 'spki', format: 'der' });
  const caCert = issue(selfSpki, name);
  return { publicKey, issue, caCert };
}

function pkcs7Of(...certs: Buffer[]): Buffer {
  return derTlv(
    0x30,
    derOid('1.2.840.113549.1.7.2'),
    derTlv(0xa0, derTlv(0x30, derTlv(0x02, Buffer.from([1])), derTlv(0x31), derTlv(0x30, derOid('1.2.840.113549.1.7.1')), derTlv(0xa0, ...certs), derTlv(0x31))),
  );
}

t.test('RSA 2048 key pair and CSR', async (t) => {
  const card = card3des();
  const pem = card.generateKeyPair(1, { algorithm: 'RSA', keySize: 2048 });
  t.equal(pem, card.publicKeyPem(1));
  t.match(pem, /^-----BEGIN PUBLIC KEY-----/);
  t.same(card.keyInfo(1), { algorithm: 'RSA', keySize: 2048 });
  t.equal(createPublicKey(pem).asymmetricKeyDetails?.modulusLength, 2048);

  const b64 = card.createCertificateRequest(1, 'CN=Jane Doe', 'SHA256');
  t.match(b64, /^[A-Za-z0-9+/]+=*$/, 'base64');
  const der = Buffer.from(b64, 'base64');

  // node-forge parses and verifies it
  const csr = forge.pki.certificationRequestFromAsn1(forge.asn1.fromDer(der.toString('binary')));
  t.ok(csr.verify(), 'forge verifies the self-signature');
  t.equal(csr.subject.getField('CN').value, 'Jane Doe');
  t.equal(csr.signatureOid, SHA256_RSA);
  t.equal(forge.pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey).replace(/\r/g, '').trim(), pem.trim(), 'the CSR carries the slot key');

  const parts = csrParts(b64);
  t.ok(parts.subjectPublicKeyInfo.equals(card.publicKeyDer(1)), 'SPKI byte-exact');
  t.equal(parts.signatureAlgorithmOid, SHA256_RSA);
  t.ok(verify('sha256', parts.certificationRequestInfo, createPublicKey(pem), parts.signature), 'node verifies over the CRI bytes');
  t.ok(verifyCsr(der));

  // tampering is detected by all verifiers
  const tampered = Buffer.from(der);
  const at = tampered.indexOf(Buffer.from('Jane Doe'));
  tampered[at] = 'K'.charCodeAt(0);
  t.notOk(verifyCsr(tampered), 'tampered CSR fails');
  const forgeTampered = forge.pki.certificationRequestFromAsn1(forge.asn1.fromDer(tampered.toString('binary')));
  t.notOk(forgeTampered.verify(), 'forge rejects the tampered CSR');

  t.test('openssl req -verify', { skip: haveOpenssl ? false : 'openssl not on PATH' }, async (t) => {
    const good = opensslVerifyCsr(der);
    t.ok(good.ok, good.output);
    t.notOk(opensslVerifyCsr(tampered).ok, 'openssl rejects the tampered CSR');
  });

  // another hash
  const sha384 = card.createCertificateRequest(1, 'CN=Jane Doe', 'SHA384');
  t.equal(csrParts(sha384).signatureAlgorithmOid, '1.2.840.113549.1.1.12');
  t.ok(verifyCsr(sha384));
  t.throws(() => card.createCertificateRequest(1, 'CN=x', 'MD5'), codeOf('BAD_HASH'));
});

t.test('ECDSA P-256 key pair and CSR', async (t) => {
  const card = card3des();
  const pem = card.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  const pub = createPublicKey(pem);
  t.equal(pub.asymmetricKeyType, 'ec');
  t.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.same(card.keyInfo(0), { algorithm: 'ECDSA_P256', keySize: 256 });

  const b64 = card.createCertificateRequest(0, 'CN=Jane Doe');
  const der = Buffer.from(b64, 'base64');
  const parts = csrParts(der);

  // structure: version 0, subject CN=Jane Doe, SPKI id-ecPublicKey + prime256v1, empty attributes,
  // ecdsa-with-SHA256 with absent parameters
  const cri = readDer(parts.certificationRequestInfo);
  const [version, subject, spki, attributes] = derChildren(parts.certificationRequestInfo, cri);
  t.same([...parts.certificationRequestInfo.subarray(version!.start, version!.end)], [0x02, 0x01, 0x00], 'version 0');
  t.same([...parts.certificationRequestInfo.subarray(attributes!.start, attributes!.end)], [0xa0, 0x00], 'no attributes');
  t.ok(parts.subject.equals(parts.certificationRequestInfo.subarray(subject!.start, subject!.end)));
  const spkiBuf = parts.subjectPublicKeyInfo;
  const [spkiAlg] = derChildren(spkiBuf, readDer(spkiBuf));
  const [algOid, curveOid] = derChildren(spkiBuf, spkiAlg!);
  t.equal(oidFromDer(spkiBuf, algOid!), '1.2.840.10045.2.1', 'id-ecPublicKey');
  t.equal(oidFromDer(spkiBuf, curveOid!), '1.2.840.10045.3.1.7', 'prime256v1');
  t.ok(spki && spkiBuf.equals(card.publicKeyDer(0)), 'SPKI is the slot key, byte-exact');
  t.equal(parts.signatureAlgorithmOid, ECDSA_SHA256);
  t.equal(parts.signatureAlgorithmParameters, null, 'ecdsa-with-SHA256 has no parameters');

  // forge's ASN.1 parser reads the subject
  const nameAsn = forge.asn1.fromDer(parts.subject.toString('binary'));
  const rdn = rdnAttributes(nameAsn);
  t.equal(rdn.length, 1);
  t.equal(rdn[0]!.type, CN);
  t.equal(rdn[0]!.value, 'Jane Doe');

  // node:crypto verifies the signature over the CertificationRequestInfo bytes
  t.ok(verify('sha256', parts.certificationRequestInfo, { key: pub, dsaEncoding: 'der' }, parts.signature), 'signature verifies');
  t.ok(verifyCsr(b64));
  const other = card3des();
  other.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  t.notOk(verify('sha256', parts.certificationRequestInfo, { key: createPublicKey(other.publicKeyPem(0)), dsaEncoding: 'der' }, parts.signature), 'not under another key');

  const tampered = Buffer.from(der);
  const at = tampered.indexOf(Buffer.from('Jane Doe'));
  tampered[at] = 'K'.charCodeAt(0);
  t.notOk(verifyCsr(tampered));

  t.test('openssl req -verify', { skip: haveOpenssl ? false : 'openssl not on PATH' }, async (t) => {
    const good = opensslVerifyCsr(der);
    t.ok(good.ok, good.output);
    t.notOk(opensslVerifyCsr(tampered).ok, 'openssl rejects the tampered CSR');
  });

  t.throws(() => card.generateKeyPair(1, { algorithm: 'ECDSA_P256', keySize: 384 }), codeOf('BAD_KEY_SIZE'));
});

t.test('subjects', async (t) => {
  const card = card3des();
  card.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  card.generateKeyPair(1, { algorithm: 'RSA', keySize: 1024 });
  for (const slot of [0, 1]) {
    const csr = card.createCertificateRequest(slot, 'CN=Doe\\, Jöns, OU=Users, O="Contoso, Ltd", C=SE, DC=contoso, E=jd@contoso.com');
    t.ok(verifyCsr(csr), `slot ${slot} verifies`);
    const name = forge.asn1.fromDer(csrParts(csr).subject.toString('binary'));
    const attrs = rdnAttributes(name).map((a) => [a.type, a.valueTagClass, forge.util.decodeUtf8(a.value as string)]);
    t.same(attrs, [
      [CN, forge.asn1.Type.UTF8, 'Doe, Jöns'],
      ['2.5.4.11', forge.asn1.Type.UTF8, 'Users'],
      ['2.5.4.10', forge.asn1.Type.UTF8, 'Contoso, Ltd'],
      ['2.5.4.6', forge.asn1.Type.PRINTABLESTRING, 'SE'],
      ['0.9.2342.19200300.100.1.25', forge.asn1.Type.IA5STRING, 'contoso'],
      ['1.2.840.113549.1.9.1', forge.asn1.Type.IA5STRING, 'jd@contoso.com'],
    ], `slot ${slot}: RDNs in the order written, with their string types`);
  }
  t.throws(() => card.createCertificateRequest(0, 'CN=Doe, Jane'), codeOf('BAD_SUBJECT'), 'an unescaped comma is refused');
  t.throws(() => card.createCertificateRequest(0, 'XX=1'), codeOf('BAD_SUBJECT'));
  t.throws(() => card.createCertificateRequest(0, 'CN=a+OU=b'), codeOf('BAD_SUBJECT'));
  t.ok(verifyCsr(card.createCertificateRequest(0, '')), 'an empty subject is allowed');
});

t.test('slots', async (t) => {
  const card = card3des({ keySlots: 2 });
  t.throws(() => card.generateKeyPair(2, { algorithm: 'ECDSA_P256' }), codeOf('BAD_SLOT'));
  t.throws(() => card.generateKeyPair(-1, { algorithm: 'ECDSA_P256' }), codeOf('BAD_SLOT'));
  t.throws(() => card.publicKeyPem(0), codeOf('NO_KEY'));
  t.throws(() => card.createCertificateRequest(1, 'CN=x'), codeOf('NO_KEY'));
  t.throws(() => card.generateKeyPair(0, { algorithm: 'RSA', keySize: 512 }), codeOf('BAD_KEY_SIZE'));
  t.throws(() => card.generateKeyPair(0, { algorithm: 'DSA' as 'RSA' }), codeOf('BAD_ALGORITHM'));
  const first = card.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  const second = card.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  t.not(first, second, 'regenerating replaces the key');
  t.same(card.keySlots(), [0]);
  card.deleteKeyPair(0);
  t.same(card.keySlots(), []);
  t.notOk(JSON.stringify(card).includes('PRIVATE'), 'nothing private in a serialisation');
  t.same(Object.keys(card), [], 'no enumerable state');

  const strict = card3des({ requireUserPinForKeyOperations: true, userPin: '1234' });
  t.throws(() => strict.generateKeyPair(0, { algorithm: 'ECDSA_P256' }), codeOf('USER_NOT_AUTHENTICATED'));
  t.ok(strict.verifyUserPin('1234'));
  strict.generateKeyPair(0, { algorithm: 'ECDSA_P256' });
  const data = Buffer.from('logon proof');
  t.ok(verify('sha256', data, { key: createPublicKey(strict.publicKeyPem(0)), dsaEncoding: 'der' }, strict.sign(0, data)));
  strict.reset();
  t.throws(() => strict.createCertificateRequest(0, 'CN=x'), codeOf('USER_NOT_AUTHENTICATED'), 'a reset logs the user out');
});

t.test('certificates on the card', async (t) => {
  const ca = makeCa();
  t.ok(new X509Certificate(ca.caCert).verify(ca.publicKey), 'test CA helper makes valid certificates');
  const card = card3des();
  card.generateKeyPair(0, { algorithm: 'RSA', keySize: 2048 });
  card.generateKeyPair(1, { algorithm: 'ECDSA_P256' });

  const rsaCsr = csrParts(card.createCertificateRequest(0, 'CN=Jane Doe'));
  const ecCsr = csrParts(card.createCertificateRequest(1, 'CN=Jane Doe'));
  const rsaCert = ca.issue(rsaCsr.subjectPublicKeyInfo, rsaCsr.subject);
  const ecCert = ca.issue(ecCsr.subjectPublicKeyInfo, ecCsr.subject);
  t.ok(new X509Certificate(ecCert).verify(ca.publicKey));
  t.ok(certificateSpki(ecCert).equals(card.publicKeyDer(1)));

  t.notOk(card.certificateMatchesKey(0), 'no certificate yet');
  const stored = card.storeCertificate(0, new X509Certificate(rsaCert).toString()); // PEM
  t.equal(stored.thumbprint, new X509Certificate(rsaCert).fingerprint.replace(/:/g, '').toLowerCase());
  t.match(stored.serialNumber, /^[0-9a-f]+$/);
  t.equal(stored.subject, 'CN=Jane Doe');
  t.equal(stored.issuer, 'CN=Sim Test CA');
  t.ok(stored.notAfter > stored.notBefore);
  t.ok(card.certificateMatchesKey(0));

  card.storeCertificate(1, ecCert.toString('base64')); // base64 DER
  t.ok(card.certificateMatchesKey(1));
  t.same(card.certificates().map((c) => c.slot), [0, 1]);
  t.ok(card.certificate(1)!.der.equals(ecCert));

  // a certificate for another key is stored as given (the card does not check) but does not match
  card.storeCertificate(1, rsaCert);
  t.notOk(card.certificateMatchesKey(1), 'RSA certificate in the EC slot');
  const otherEc = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  card.storeCertificate(1, ca.issue(otherEc, ecCsr.subject));
  t.notOk(card.certificateMatchesKey(1), 'a certificate for another EC key');

  // PKCS#7 as the service returns it: the card picks the certificate for the slot's key
  const p7 = pkcs7Of(ca.caCert, ecCert);
  t.equal(certificatesFromPkcs7(p7).length, 2);
  const fromP7 = card.storeCertificate(1, p7.toString('base64'));
  t.ok(fromP7.der.equals(ecCert));
  t.equal(fromP7.chain.length, 1);
  t.ok(fromP7.chain[0]!.equals(ca.caCert));
  t.ok(card.certificateMatchesKey(1));
  t.throws(() => card.storeCertificate(0, pkcs7Of(ca.caCert, ecCert)), codeOf('NO_MATCHING_CERTIFICATE'));
  t.ok(card.certificateMatchesKey(0), 'a refused write leaves the slot as it was');

  t.throws(() => card.storeCertificate(0, Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), codeOf('BAD_CERTIFICATE'));
  t.throws(() => card.storeCertificate(0, 'not base64!'), codeOf('BAD_ENCODING'));
  t.throws(() => card.storeCertificate(5, rsaCert), codeOf('NO_KEY'));

  // regenerating the key drops the certificate
  card.generateKeyPair(0, { algorithm: 'RSA', keySize: 1024 });
  t.equal(card.certificate(0), null);
  t.same(card.certificates().map((c) => c.slot), [1]);

  t.test('openssl agrees on the PKCS#7', { skip: haveOpenssl ? false : 'openssl not on PATH' }, async (t) => {
    const r = spawnSync('openssl', ['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], { input: p7, encoding: 'buffer' });
    t.equal(r.status, 0, r.stderr.toString());
    t.match(r.stdout.toString(), /subject=CN ?= ?Jane Doe/);
  });
});
