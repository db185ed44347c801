/**
 * The randomness check used by test/device/attacks.test.ts (test/helpers/randomness.ts): it must
 * pass uniform values and fail the patterns that make sequence numbers, ports and IP IDs
 * guessable. All inputs are deterministic (hash- or seed-derived), so these tests cannot flake.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { checkRandomness, describeRandomness } from '../helpers/randomness.js';
import { SeededRandom } from '../../src/core/clock.js';
import { IsnGenerator } from '../../src/transport/tcp/isn.js';
import { EphemeralPortSelector } from '../../src/transport/ports.js';

/** n values uniform in [min, max] from SHA-256 of a counter (deterministic, good quality). */
function uniform(n: number, min: number, max: number, seed = 'x'): number[] {
  const out: number[] = [];
  for (let i = 0; out.length < n; i++) {
    const h = createHash('sha256').update(`${seed}:${i}`).digest();
    out.push(min + (h.readUInt32BE(0) % (max - min + 1)));
  }
  return out;
}

function fails(values: number[], min: number, max: number, why: RegExp): void {
  const r = checkRandomness(values, min, max);
  assert.equal(r.ok, false, `should fail: ${describeRandomness(r)}`);
  assert.ok(r.failures.some((f) => why.test(f)), `expected a failure like ${why}: ${describeRandomness(r)}`);
}

const U32 = 0xffff_ffff;

describe('checkRandomness passes uniform values', () => {
  for (const [name, n, min, max] of [
    ['32-bit (ISNs)', 500, 0, U32],
    ['16-bit (IP IDs)', 300, 0, 0xffff],
    ['a range that is not a power of two (ports 32768–60999)', 300, 32768, 60999],
  ] as const) {
    test(name, () => {
      for (const seed of ['a', 'b', 'c', 'd']) {
        const r = checkRandomness(uniform(n, min, max, seed), min, max);
        assert.ok(r.ok, describeRandomness(r));
      }
    });
  }
});

describe('checkRandomness fails guessable sequences', () => {
  test('a counter', () => fails(Array.from({ length: 500 }, (_, i) => 1000 + i), 0, U32, /ascend/));
  test('a counter: also constant differences and stuck high bits', () => {
    const r = checkRandomness(Array.from({ length: 500 }, (_, i) => 1000 + i), 0, U32);
    assert.ok(r.failures.some((f) => /distinct successive differences/.test(f)));
    assert.ok(r.failures.some((f) => /^bit 31 /.test(f)));
    assert.ok(r.failures.some((f) => /chi-square/.test(f)));
  });
  test('a 16-bit counter that wraps', () => fails(Array.from({ length: 300 }, (_, i) => (65400 + i) % 65536), 0, 0xffff, /ascend/));
  test('a constant stride mod 2^16 (half the steps ascend)', () => {
    fails(Array.from({ length: 300 }, (_, i) => (i * 40503) % 65536), 0, 0xffff, /distinct successive differences/);
  });
  test('random small increments (a per-destination port counter with random steps)', () => {
    const rnd = uniform(300, 2, 16, 'inc');
    let p = 40000;
    fails(rnd.map((d) => (p += d)), 32768, 60999, /ascend/);
  });
  test('a clock: RFC 793 ISNs (the 4 µs timer M alone, no F)', () => {
    fails(Array.from({ length: 500 }, (_, i) => Math.floor((1_000_000 + i * 3.7) * 250) >>> 0), 0, U32, /ascend/);
  });
  test('a constant', () => fails(new Array<number>(300).fill(4242), 0, 0xffff, /repeated values/));
  test('a stuck bit', () => fails(uniform(300, 0, 0xffff, 'even').map((v) => v & ~1), 0, 0xffff, /^bit 0 /));
  test('a narrow range (12 of 16 bits random)', () => fails(uniform(300, 0, 0xfff), 0, 0xffff, /chi-square/));
  test('too few samples', () => fails(uniform(50, 0, U32), 0, U32, /samples/));
});

describe("the stack's own generators, through the same check (seeded)", () => {
  const local = 0x0a000002;
  const remote = 0x0a000001;
  test('RFC 6528 ISNs for 500 connection-ids (distinct remote ports), one per 2 ms', () => {
    const g = IsnGenerator.fromRandom(new SeededRandom(7));
    const isns = Array.from({ length: 500 }, (_, i) => g.isn(1000 + 2 * i, local, 7, remote, 20000 + 13 * i));
    const r = checkRandomness(isns, 0, U32);
    assert.ok(r.ok, describeRandomness(r));
  });
  test('RFC 6056 ephemeral ports to 300 distinct destinations', () => {
    const sel = new EphemeralPortSelector(new SeededRandom(8), { min: 32768, max: 60999 });
    const ports = Array.from({ length: 300 }, (_, i) => sel.select(local, remote, 40000 + i, () => false)!);
    const r = checkRandomness(ports, 32768, 60999);
    assert.ok(r.ok, describeRandomness(r));
  });
  test('RFC 6056 Algorithm 4 to ONE destination: consecutive ports, by design (§3.3.4)', () => {
    // The double-hash algorithm picks offset + table[index]++ for a given (local, remote,
    // remote port): connections to the same destination get consecutive ports. RFC 6056 accepts
    // this (only an observer of an earlier connection to that same destination can predict the
    // next port); the device test therefore samples distinct destinations.
    const sel = new EphemeralPortSelector(new SeededRandom(9), { min: 32768, max: 60999 });
    const ports = Array.from({ length: 300 }, () => sel.select(local, remote, 80, () => false)!);
    fails(ports, 32768, 60999, /distinct successive differences/);
  });
});
