import t from 'tap';
import {
  generatePin,
  isWeakPin,
  MAX_PIN_LENGTH,
  MIN_PIN_LENGTH,
  PIN_ALPHABETS,
  type PinCharacterSet,
  type RandomSource,
} from '../../workers/crypto/pin.js';

const SETS: PinCharacterSet[] = [0, 1, 2];

t.test('alphabets are exactly the SPEC character sets', async (t) => {
  t.equal(PIN_ALPHABETS[0], '0123456789');
  t.equal(PIN_ALPHABETS[1].length, 62);
  t.match(PIN_ALPHABETS[1], /^[0-9A-Za-z]+$/);
  t.equal(PIN_ALPHABETS[2].length, 94);
  t.equal(PIN_ALPHABETS[2][0], '!');
  t.equal(PIN_ALPHABETS[2][93], '~');
  t.notMatch(PIN_ALPHABETS[2], / /, 'no space');
  for (const set of SETS) t.equal(new Set(PIN_ALPHABETS[set]).size, PIN_ALPHABETS[set].length, `set ${set} has no repeats`);
});

t.test('lengths and character sets', async (t) => {
  for (const characterSet of SETS) {
    const allowed = new Set(PIN_ALPHABETS[characterSet]);
    for (const length of [MIN_PIN_LENGTH, 4, 6, 8, 13, 64, MAX_PIN_LENGTH]) {
      for (let i = 0; i < 20; i++) {
        const pin = generatePin({ length, characterSet });
        if (pin.length !== length || ![...pin].every((c) => allowed.has(c)) || isWeakPin(pin)) {
          t.fail(`bad PIN for set ${characterSet} length ${length}`);
        }
      }
    }
    t.pass(`set ${characterSet}: every PIN has the length asked for, only allowed characters, and is not weak`);
  }
});

t.test('bad policies are refused', async (t) => {
  for (const length of [0, 1, MAX_PIN_LENGTH + 1, 6.5, NaN, -8]) {
    t.throws(() => generatePin({ length, characterSet: 0 }), { code: 'INVALID_ARGUMENT' }, `length ${length}`);
  }
  for (const characterSet of [3, -1, 0.5, NaN]) {
    t.throws(() => generatePin({ length: 8, characterSet: characterSet as PinCharacterSet }), { code: 'INVALID_ARGUMENT' });
  }
});

t.test('weak PINs', async (t) => {
  for (const weak of ['', '7', '11111111', '12345678', '87654321', 'abcdef', 'FEDCBA', '00', '01', '10', '!"#$%', 'zzzz', '789:;<']) {
    t.ok(isWeakPin(weak), weak);
  }
  for (const fine of ['12345679', '11111112', '13572468', '1234554321', 'abcdeg', '90123', '2580', 'aA', '09']) {
    t.notOk(isWeakPin(fine), fine);
  }
});

// A source that replays fixed byte strings, one per call, then fails the test if asked again.
function scripted(t: { fail(message: string): unknown }, ...draws: number[][]): { source: RandomSource; calls: () => number } {
  let calls = 0;
  const source: RandomSource = (size) => {
    const next = draws[calls++];
    if (!next) {
      t.fail('drew more than scripted');
      return new Uint8Array(size);
    }
    const out = new Uint8Array(size);
    out.set(next.slice(0, size));
    return out;
  };
  return { source, calls: () => calls };
}

t.test('a weak draw is drawn again', async (t) => {
  const cases: Array<[string, number[]]> = [
    ['all equal', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['ascending', [1, 2, 3, 4, 5, 6, 7, 8]],
    ['descending', [8, 7, 6, 5, 4, 3, 2, 1]],
  ];
  for (const [name, weak] of cases) {
    const { source, calls } = scripted(t, weak, [1, 9, 3, 7, 5, 8, 0, 2]);
    t.equal(generatePin({ length: 8, characterSet: 0 }, source), '19375802', name);
    t.equal(calls(), 2, `${name}: the weak PIN was thrown away and a second draw made`);
  }
});

t.test('bytes that would bias the draw are rejected, not folded', async (t) => {
  // 250..255 are past the largest multiple of 10: taking them modulo 10 would favour 0..5.
  const { source, calls } = scripted(t, [250, 251, 3, 255, 1, 4, 1, 5, 9, 2, 6], [5, 3]);
  t.equal(generatePin({ length: 8, characterSet: 0 }, source), '31415926');
  t.equal(calls(), 1, 'one draw asks for enough bytes to cover the expected rejections');

  // When the first draw is mostly rejected, the PIN is completed from a second draw.
  // The first draw asks for 13 bytes: twelve rejected, one accepted.
  const short = scripted(t, [255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 1], [7, 0, 7, 0, 7, 0, 7]);
  t.equal(generatePin({ length: 8, characterSet: 0 }, short.source), '17070707');
  t.equal(short.calls(), 2);
});

t.test('a broken random source ends in an error, not a hang', async (t) => {
  t.throws(() => generatePin({ length: 8, characterSet: 0 }, (size) => new Uint8Array(size)), { code: 'INTERNAL' });
  t.throws(() => generatePin({ length: 8, characterSet: 0 }, () => new Uint8Array(0)), { code: 'INTERNAL' });
});

// Upper-tail critical value of chi-square with `df` degrees of freedom at p ~ 1e-9, by the
// Wilson-Hilferty approximation (z = 6): with 3 sets x 8 positions the suite flakes about once
// in forty million runs, while a modulo bias (a few characters 25-50% too likely) is far above it.
function chiSquareCritical(df: number): number {
  const z = 6;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

t.test('characters are uniform at every position (chi-square)', async (t) => {
  const length = 8;
  const draws = 30_000;
  for (const characterSet of SETS) {
    const alphabet = PIN_ALPHABETS[characterSet];
    const index = new Map([...alphabet].map((c, i) => [c, i]));
    const counts = Array.from({ length }, () => new Array<number>(alphabet.length).fill(0));
    for (let n = 0; n < draws; n++) {
      const pin = generatePin({ length, characterSet });
      for (let p = 0; p < length; p++) counts[p][index.get(pin[p])!]++;
    }
    const expected = draws / alphabet.length;
    const critical = chiSquareCritical(alphabet.length - 1);
    for (let p = 0; p < length; p++) {
      const chi2 = counts[p].reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
      t.ok(chi2 < critical, `set ${characterSet} position ${p}: chi2 ${chi2.toFixed(1)} < ${critical.toFixed(1)}`);
    }
  }
});

t.test('the uniformity check would catch modulo bias', async (t) => {
  // Same statistic over a deliberately biased draw (byte % 94 without rejection).
  const alphabetLength = 94;
  const draws = 30_000;
  const counts = new Array<number>(alphabetLength).fill(0);
  const bytes = new Uint8Array(draws);
  globalThis.crypto.getRandomValues(bytes);
  for (const b of bytes) counts[b % alphabetLength]++;
  const expected = draws / alphabetLength;
  const chi2 = counts.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
  t.ok(chi2 > chiSquareCritical(alphabetLength - 1), `biased chi2 ${chi2.toFixed(0)} is flagged`);
});
