import t from 'tap';
import { packBytes } from '../../workers/pack-bytes.js';

t.test('byte fields move into one buffer; the originals are wiped, other fields kept', async (t) => {
  const key = Uint8Array.from([1, 2, 3]);
  const challenge = Uint8Array.from([4, 5]);
  const other = Uint8Array.from([6]);
  const { value, buffer } = packBytes([{ alg: '3DES', key, challenge }, { n: 1 }, { bytes: other }]);
  t.equal(buffer.byteLength, 6);
  t.same([...new Uint8Array(buffer)], [1, 2, 3, 4, 5, 6]);
  t.equal(value[0]!.alg, '3DES');
  t.equal(value[1]!.n, 1);
  for (const view of [value[0]!.key, value[0]!.challenge, value[2]!.bytes] as Uint8Array[]) t.equal(view.buffer, buffer, 'a view into the one buffer');
  t.same([...(value[0]!.key as Uint8Array)], [1, 2, 3]);
  t.same([...(value[0]!.challenge as Uint8Array)], [4, 5]);
  t.same([...key, ...challenge, ...other], [0, 0, 0, 0, 0, 0], 'the originals are wiped');
  t.equal(packBytes([{ pin: '1234' }]).buffer.byteLength, 0, 'no bytes, an empty buffer');
});
