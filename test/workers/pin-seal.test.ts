import { createHmac, randomBytes } from 'node:crypto';
import t from 'tap';
import { derivePinDataKey, openPin, sealPin } from '../../workers/crypto/pin-seal.js';

const master = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const card = 'bc88f13f-83ba-4037-8262-46eba1291c6e';
const otherCard = 'c6bad97c-f97f-4920-8947-be980c98c6b5';

// RFC 5869 written out with HMAC, as an independent check of the data-key derivation.
function hkdfByHand(ikm: Buffer, info: string, length: number): Buffer {
  const prk = createHmac('sha256', Buffer.alloc(32)).update(ikm).digest();
  const blocks: Buffer[] = [];
  let previous = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(blocks).length < length; i++) {
    previous = createHmac('sha256', prk).update(previous).update(info).update(Buffer.of(i)).digest();
    blocks.push(previous);
  }
  return Buffer.concat(blocks).subarray(0, length);
}

t.test('the data key is HKDF-SHA256(master, info "MIMCM-PIN-SEAL") and depends on the master', async (t) => {
  const key = derivePinDataKey(master);
  t.equal(key.length, 32);
  t.equal(key.toString('hex'), hkdfByHand(master, 'MIMCM-PIN-SEAL', 32).toString('hex'));
  t.equal(derivePinDataKey(master).toString('hex'), key.toString('hex'), 'deterministic');
  t.not(derivePinDataKey(randomBytes(32)).toString('hex'), key.toString('hex'));
  t.not(key.toString('hex'), master.toString('hex'));
  t.throws(() => derivePinDataKey(Buffer.alloc(16)), { code: 'INVALID_KEY' });
});

t.test('seal and open round trip', async (t) => {
  const key = derivePinDataKey(master);
  for (const pin of ['12345679', 'aZ9!~"x', 'q'.repeat(127)]) {
    const sealed = sealPin(key, card, pin);
    t.equal(sealed.length, 12 + Buffer.byteLength(pin) + 16, 'nonce || ciphertext || tag');
    t.notOk(sealed.includes(Buffer.from(pin)), 'the PIN is not in the clear');
    t.equal(openPin(key, card, sealed), pin);
  }
});

t.test('a fresh nonce every time', async (t) => {
  const key = derivePinDataKey(master);
  const a = sealPin(key, card, '12345679');
  const b = sealPin(key, card, '12345679');
  t.not(a.toString('hex'), b.toString('hex'));
  t.not(a.subarray(0, 12).toString('hex'), b.subarray(0, 12).toString('hex'));
});

t.test('the card Uuid binding ignores case and braces', async (t) => {
  const key = derivePinDataKey(master);
  const sealed = sealPin(key, card, '246810');
  t.equal(openPin(key, card.toUpperCase(), sealed), '246810');
  t.equal(openPin(key, `{${card}}`, sealed), '246810');
});

t.test('tampering, another card or another key is refused', async (t) => {
  const key = derivePinDataKey(master);
  const sealed = sealPin(key, card, '13572468');
  for (const index of [0, 11, 12, sealed.length - 17, sealed.length - 16, sealed.length - 1]) {
    const bad = Buffer.from(sealed);
    bad[index] ^= 0x01;
    t.throws(() => openPin(key, card, bad), { code: 'SEAL_INVALID' }, `bit flipped at ${index}`);
  }
  t.throws(() => openPin(key, otherCard, sealed), { code: 'SEAL_INVALID' }, 'another card');
  t.throws(() => openPin(derivePinDataKey(randomBytes(32)), card, sealed), { code: 'SEAL_INVALID' }, 'another key');
  t.throws(() => openPin(key, card, sealed.subarray(0, sealed.length - 1)), { code: 'SEAL_INVALID' }, 'truncated tag');
  t.throws(() => openPin(key, card, sealed.subarray(0, 27)), { code: 'SEAL_INVALID' }, 'too short');
  t.throws(() => openPin(key, card, Buffer.concat([sealed, Buffer.of(0)])), { code: 'SEAL_INVALID' }, 'extended');

  try {
    openPin(key, otherCard, sealed);
  } catch (err) {
    t.notMatch((err as Error).message, /13572468/, 'the message does not carry the PIN');
  }
});

t.test('bad keys and card ids', async (t) => {
  const key = derivePinDataKey(master);
  t.throws(() => sealPin(Buffer.alloc(16), card, '1234'), { code: 'INVALID_KEY' });
  t.throws(() => openPin(Buffer.alloc(31), card, Buffer.alloc(40)), { code: 'INVALID_KEY' });
  t.throws(() => sealPin(key, 'not-a-guid', '1234'), { code: 'INVALID_ARGUMENT' });
  t.throws(() => openPin(key, '', sealPin(key, card, '1234')), { code: 'INVALID_ARGUMENT' });
});
