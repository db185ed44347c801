import { test } from 'node:test';
import assert from 'node:assert/strict';
import { siphash24, siphash24Bytes, siphash24Hex, siphash24Lo, sipKey } from '../../src/core/siphash.js';

const key = Uint8Array.from({ length: 16 }, (_, i) => i);
const msg = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);
const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

// Reference vectors (SipHash paper Appendix A / reference implementation vectors.h):
// key = 00 01 .. 0f, message = 00 01 .. (n-1); output bytes in little-endian order.
const VECTORS: [number, string][] = [
  [0, '310e0edd47db6f72'],
  [1, 'fd67dc93c539f874'],
  [2, '5a4fa9d909806c0d'],
  [3, '2d7efbd796666785'],
  [7, '37d1018bf50002ab'],
  [8, '6224939a79f5f593'],
  [9, 'b0e4a90bdf82009e'],
  [15, 'e545be4961ca29a1'],
  [16, 'db9bc2577fcc2a3f'],
  [31, '42c341d8fa92d832'],
  [63, '724506eb4c328a95'],
];

test('siphash-2-4: reference test vectors', () => {
  for (const [n, want] of VECTORS) assert.equal(hex(siphash24Bytes(key, msg(n))), want, `length ${n}`);
});

test('siphash-2-4: the paper example (15-byte message) as a u64 = 0xa129ca6149be45e5', () => {
  assert.equal(siphash24Hex(key, msg(15)), 'a129ca6149be45e5');
  assert.deepEqual(siphash24(key, msg(15)), { hi: 0xa129ca61, lo: 0x49be45e5 });
  assert.equal(siphash24Lo(sipKey(key), msg(15)), 0x49be45e5);
});

// An independent BigInt implementation to cross-check random inputs.
function refSip(k: Uint8Array, m: Uint8Array): bigint {
  const M = (1n << 64n) - 1n;
  const rd = (b: Uint8Array, o: number, n = 8): bigint => {
    let x = 0n;
    for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[o + i]!);
    return x;
  };
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M;
  const k0 = rd(k, 0);
  const k1 = rd(k, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const end = m.length - (m.length % 8);
  for (let i = 0; i < end; i += 8) {
    const w = rd(m, i);
    v3 ^= w; round(); round(); v0 ^= w;
  }
  const last = (BigInt(m.length & 0xff) << 56n) | rd(m, end, m.length - end);
  v3 ^= last; round(); round(); v0 ^= last;
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

test('siphash-2-4: agrees with a BigInt reference on random keys and messages', () => {
  let s = 99;
  const rb = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24);
  for (let i = 0; i < 300; i++) {
    const k = Uint8Array.from({ length: 16 }, rb);
    const m = Uint8Array.from({ length: i % 70 }, rb);
    assert.equal(siphash24Hex(k, m), refSip(k, m).toString(16).padStart(16, '0'));
  }
});

test('siphash-2-4: rejects a key of the wrong size', () => {
  assert.throws(() => sipKey(new Uint8Array(8)));
});
