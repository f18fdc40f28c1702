import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import t from 'tap';
import {
  generateKeyRingText,
  KeyRing,
  loadKeyRingFile,
  loadOrCreateKeyRingFile,
  parseKeyRing,
} from '../../core/crypto/key-ring.js';

const K1 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const K2 = '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
const K7 = 'ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789';

t.test('parses the CM_MASTER_KEYS form', async (t) => {
  const ring = parseKeyRing(`1:${K1},2:${K2}`);
  t.same(ring.versions(), [1, 2]);
  t.equal(ring.newestVersion, 2);
  t.equal(ring.get(1).toString('hex'), K1);
  t.equal(ring.get(2).toString('hex'), K2);
  t.ok(ring.has(1));
  t.notOk(ring.has(3));
});

t.test('accepts newlines, spaces, comments and any order, as a file holds', async (t) => {
  const ring = parseKeyRing(`# rotated 2024\n  7:${K7}\r\n\n2:${K2} ,\t 1:${K1}\n# end\n`);
  t.same(ring.versions(), [1, 2, 7]);
  t.equal(ring.newestVersion, 7);
  t.equal(ring.get(7).toString('hex'), K7.toLowerCase(), 'hex is case-insensitive');
});

t.test('invalid rings are refused with messages that never echo key material', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /no keys/],
    ['only a comment', '# nothing yet\n', /no keys/],
    ['no version', K1, /entry 1 is not <version>:<64 hex digits>/],
    ['version zero', `0:${K1}`, /entry 1: the version must be an integer/],
    ['negative version', `-1:${K1}`, /entry 1: the version/],
    ['fractional version', `1.5:${K1}`, /entry 1: the version/],
    ['word version', `v1:${K1}`, /entry 1: the version/],
    ['version too big', `4294967296:${K1}`, /entry 1: the version/],
    ['short key', `1:${K1.slice(2)}`, /key version 1: the key must be exactly 64 hex digits, found 62/],
    ['long key', `1:${K1}00`, /found 66/],
    ['not hex', `2:${K1.slice(0, 63)}g`, /key version 2: the key must be hex digits only/],
    ['duplicate', `1:${K1},2:${K2},1:${K2}`, /key version 1 appears more than once/],
    ['duplicate with leading zero', `1:${K1},01:${K2}`, /appears more than once/],
    ['second entry bad', `1:${K1},${K2}`, /entry 2 is not/],
  ];
  for (const [name, text, message] of cases) {
    try {
      parseKeyRing(text);
      t.fail(`${name}: accepted`);
    } catch (err) {
      const e = err as Error & { code?: string };
      t.equal(e.code, 'KEY_RING_INVALID', `${name}: code`);
      t.match(e.message, message, `${name}: message`);
      for (const key of [K1, K2, K1.slice(2), K1.slice(0, 63), K1.slice(0, 16), K2.slice(0, 16)]) {
        if (e.message.toLowerCase().includes(key.slice(0, 16).toLowerCase())) t.fail(`${name}: message echoes key material`);
      }
    }
  }
});

t.test('a missing version is a coded error', async (t) => {
  const ring = parseKeyRing(`1:${K1}`);
  t.throws(() => ring.get(2), { code: 'KEY_VERSION_MISSING', message: /no key version 2/ });
});

t.test('get returns a copy the caller may wipe', async (t) => {
  const ring = parseKeyRing(`1:${K1}`);
  ring.get(1).fill(0);
  t.equal(ring.get(1).toString('hex'), K1);
});

t.test('the constructor copies and validates', async (t) => {
  const key = Buffer.from(K1, 'hex');
  const ring = new KeyRing(new Map([[3, key]]));
  key.fill(0);
  t.equal(ring.get(3).toString('hex'), K1);
  t.throws(() => new KeyRing(new Map()), { code: 'KEY_RING_INVALID' });
  t.throws(() => new KeyRing(new Map([[0, Buffer.alloc(32)]])), { code: 'KEY_RING_INVALID' });
  t.throws(() => new KeyRing(new Map([[1, Buffer.alloc(31)]])), { code: 'KEY_RING_INVALID' });
});

t.test('destroy clears the keys', async (t) => {
  const ring = parseKeyRing(`1:${K1}`);
  ring.destroy();
  t.ok(ring.get(1).every((b) => b === 0));
});

t.test('keys never show in inspect, JSON or string output', async (t) => {
  const ring = parseKeyRing(`1:${K1},2:${K2}`);
  const config = { database: 'x', ring };
  for (const [how, text] of [
    ['inspect', inspect(ring, { showHidden: true, depth: 10 })],
    ['inspect nested', inspect(config, { depth: 10 })],
    ['JSON', JSON.stringify(config)],
    ['string', String(ring)],
    ['template', `${ring}`],
  ]) {
    t.notMatch(text, /00112233|603deb10/i, `${how} hides the keys`);
    t.match(text, /1.*2/, `${how} still shows the versions`);
  }
  t.same(JSON.parse(JSON.stringify(ring)), { versions: [1, 2], newestVersion: 2 });
});

t.test('generated ring text', async (t) => {
  const a = generateKeyRingText();
  const b = generateKeyRingText();
  t.not(a, b, 'fresh random keys');
  const ring = parseKeyRing(a);
  t.same(ring.versions(), [1]);
  t.equal(ring.get(1).length, 32);
  t.match(a, /^#.*\n1:[0-9a-f]{64}\n$/);
});

t.test('key ring files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'key-ring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  t.test('created with mode 0600 when missing, then read back unchanged', async (t) => {
    const path = join(dir, 'data', 'nested', 'master-keys');
    const created = loadOrCreateKeyRingFile(path);
    t.equal(statSync(path).mode & 0o777, 0o600);
    const text = readFileSync(path, 'utf8');
    const again = loadOrCreateKeyRingFile(path);
    t.equal(readFileSync(path, 'utf8'), text, 'not rewritten');
    t.equal(again.get(1).toString('hex'), created.get(1).toString('hex'));
    t.equal(loadKeyRingFile(path).get(1).toString('hex'), created.get(1).toString('hex'));
    t.ok(statSync(join(dir, 'data', 'nested')).isDirectory(), 'the folder is created');
  });

  t.test('an existing file is used as is', async (t) => {
    const path = join(dir, 'existing');
    writeFileSync(path, `1:${K1}\n2:${K2}\n`, { mode: 0o600 });
    const ring = loadOrCreateKeyRingFile(path);
    t.same(ring.versions(), [1, 2]);
    t.equal(ring.get(2).toString('hex'), K2);
  });

  t.test('a broken existing file is an error, never replaced', async (t) => {
    const path = join(dir, 'broken');
    writeFileSync(path, `1:${K1.slice(1)}\n`, { mode: 0o600 });
    t.throws(() => loadOrCreateKeyRingFile(path), { code: 'KEY_RING_INVALID' });
    t.equal(readFileSync(path, 'utf8'), `1:${K1.slice(1)}\n`);
  });

  t.test('CM_MASTER_KEYS_FILE must exist and be readable', async (t) => {
    t.throws(() => loadKeyRingFile(join(dir, 'absent')), { code: 'KEY_RING_INVALID', message: /does not exist/ });
    const path = join(dir, 'unreadable');
    writeFileSync(path, `1:${K1}\n`, { mode: 0o600 });
    chmodSync(path, 0o000);
    // root reads anything, so only check the error when the read really fails.
    let readable = true;
    try {
      readFileSync(path);
    } catch {
      readable = false;
    }
    if (readable) t.pass('running as root: permission check skipped');
    else t.throws(() => loadKeyRingFile(path), { code: 'KEY_RING_INVALID', message: /EACCES/ });
    t.throws(() => loadKeyRingFile(dir), { code: 'KEY_RING_INVALID', message: /EISDIR/ });
  });
});
