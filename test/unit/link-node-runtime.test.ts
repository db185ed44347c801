import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { nodeClock, cryptoRandom } from '../../src/node/runtime.js';
import { parseCidr } from '../../src/node/tun.js';

describe('node runtime', () => {
  test('nodeClock is monotonic milliseconds', async () => {
    const t0 = nodeClock.now();
    await new Promise((r) => setTimeout(r, 20));
    const t1 = nodeClock.now();
    assert.ok(t1 - t0 >= 15 && t1 - t0 < 1000, `elapsed ${t1 - t0}`);
  });

  test('cryptoRandom: u32 range, fill across pool refills, no repeats', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      const v = cryptoRandom.u32();
      assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
      seen.add(v);
    }
    assert.ok(seen.size > 2990, 'values look random');
    const big = new Uint8Array(10_000); // larger than the 4 KiB pool
    cryptoRandom.fill(big);
    const counts = new Array<number>(256).fill(0);
    for (const b of big) counts[b]!++;
    assert.ok(Math.max(...counts) < 100, 'bytes spread over all values');
    const a = new Uint8Array(32);
    const b = new Uint8Array(32);
    cryptoRandom.fill(a);
    cryptoRandom.fill(b);
    assert.notDeepEqual(a, b);
  });
});

describe('parseCidr', () => {
  test('IPv4', () => {
    assert.deepEqual(parseCidr('10.0.0.1/24'), { family: 4, bytes: Uint8Array.of(10, 0, 0, 1), prefixLength: 24 });
  });
  test('IPv6 forms', () => {
    const c = parseCidr('fd00::1/64');
    assert.equal(c.family, 6);
    assert.equal(c.prefixLength, 64);
    assert.deepEqual([...c.bytes], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual([...parseCidr('::/0').bytes], new Array(16).fill(0));
    assert.deepEqual(
      [...parseCidr('1:2:3:4:5:6:7:8/128').bytes],
      [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8],
    );
    assert.deepEqual([...parseCidr('::ffff:10.1.2.3/96').bytes.subarray(10)], [0xff, 0xff, 10, 1, 2, 3]);
    assert.deepEqual([...parseCidr('fe80::/10').bytes.subarray(0, 3)], [0xfe, 0x80, 0]);
  });
  test('errors carry code EINVAL', () => {
    for (const bad of ['10.0.0.1', '10.0.0.1/33', 'fd00::1/129', 'x/24', '10.0.0.256/24', 'fe80::1%eth0/64', '10.0.0.1/']) {
      assert.throws(() => parseCidr(bad), { code: 'EINVAL' }, bad);
    }
  });
});
