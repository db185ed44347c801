/**
 * SipHash-2-4 (Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed 64-bit
 * PRF, used where the stack needs an unguessable hash of public inputs (RFC 6528 ISNs, RFC 6056
 * port offsets, SYN cookies). Pure JavaScript on 32-bit halves — no BigInt, no Node imports.
 *
 * The 64-bit words v0..v3 are kept as (hi, lo) pairs of unsigned 32-bit integers. The key is
 * 16 bytes, k0 = key[0..8] and k1 = key[8..16] read little-endian; the message is processed in
 * 8-byte little-endian words, and the final word carries (length mod 256) in its top byte.
 * The output u64 is returned as { hi, lo }; `siphash24Bytes` gives the reference byte order
 * (little-endian), as printed by the paper's test vectors.
 */

/** A preprocessed key: [k0.lo, k0.hi, k1.lo, k1.hi]. */
export type SipKey = Uint32Array;

/** Reads a 16-byte key. */
export function sipKey(key: Uint8Array): SipKey {
  if (key.length !== 16) throw new RangeError('SipHash key must be 16 bytes');
  const k = new Uint32Array(4);
  for (let i = 0; i < 4; i++) k[i] = le32(key, i * 4);
  return k;
}

function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

// State (module-level to avoid allocation; the computation is synchronous).
let v0h = 0, v0l = 0, v1h = 0, v1l = 0, v2h = 0, v2l = 0, v3h = 0, v3l = 0;

function sipRound(): void {
  let l: number, h: number;
  // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
  l = (v0l + v1l) >>> 0;
  v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0;
  v0l = l;
  h = ((v1h << 13) | (v1l >>> 19)) >>> 0;
  l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
  v1h = (h ^ v0h) >>> 0;
  v1l = (l ^ v0l) >>> 0;
  h = v0h;
  v0h = v0l;
  v0l = h;
  // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
  l = (v2l + v3l) >>> 0;
  v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0;
  v2l = l;
  h = ((v3h << 16) | (v3l >>> 16)) >>> 0;
  l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
  v3h = (h ^ v2h) >>> 0;
  v3l = (l ^ v2l) >>> 0;
  // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
  l = (v0l + v3l) >>> 0;
  v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0;
  v0l = l;
  h = ((v3h << 21) | (v3l >>> 11)) >>> 0;
  l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
  v3h = (h ^ v0h) >>> 0;
  v3l = (l ^ v0l) >>> 0;
  // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
  l = (v2l + v1l) >>> 0;
  v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0;
  v2l = l;
  h = ((v1h << 17) | (v1l >>> 15)) >>> 0;
  l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
  v1h = (h ^ v2h) >>> 0;
  v1l = (l ^ v2l) >>> 0;
  h = v2h;
  v2h = v2l;
  v2l = h;
}

function compress(mh: number, ml: number): void {
  v3h = (v3h ^ mh) >>> 0;
  v3l = (v3l ^ ml) >>> 0;
  sipRound();
  sipRound();
  v0h = (v0h ^ mh) >>> 0;
  v0l = (v0l ^ ml) >>> 0;
}

let outHi = 0;
let outLo = 0;

function run(key: SipKey | Uint8Array, data: Uint8Array): void {
  const k = key.length === 4 && key instanceof Uint32Array ? key : sipKey(key as Uint8Array);
  const k0l = k[0]!, k0h = k[1]!, k1l = k[2]!, k1h = k[3]!;
  // "somepseudorandomlygeneratedbytes"
  v0h = (k0h ^ 0x736f6d65) >>> 0;
  v0l = (k0l ^ 0x70736575) >>> 0;
  v1h = (k1h ^ 0x646f7261) >>> 0;
  v1l = (k1l ^ 0x6e646f6d) >>> 0;
  v2h = (k0h ^ 0x6c796765) >>> 0;
  v2l = (k0l ^ 0x6e657261) >>> 0;
  v3h = (k1h ^ 0x74656462) >>> 0;
  v3l = (k1l ^ 0x79746573) >>> 0;
  const n = data.length;
  const end = n - (n % 8);
  for (let i = 0; i < end; i += 8) compress(le32(data, i + 4), le32(data, i));
  // last block: remaining bytes, length in the top byte
  let ml = 0;
  let mh = ((n & 0xff) << 24) >>> 0;
  const rem = n - end;
  for (let j = 0; j < rem; j++) {
    const b = data[end + j]!;
    if (j < 4) ml |= b << (8 * j);
    else mh |= b << (8 * (j - 4));
  }
  compress(mh >>> 0, ml >>> 0);
  v2l = (v2l ^ 0xff) >>> 0;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  outHi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
  outLo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
}

/** SipHash-2-4 of `data` under `key` (16 bytes or a preprocessed SipKey), as a u64 {hi, lo}. */
export function siphash24(key: SipKey | Uint8Array, data: Uint8Array): { hi: number; lo: number } {
  run(key, data);
  return { hi: outHi, lo: outLo };
}

/** The low 32 bits of SipHash-2-4 (no allocation). */
export function siphash24Lo(key: SipKey | Uint8Array, data: Uint8Array): number {
  run(key, data);
  return outLo;
}

/** The 8 output bytes in the reference order (little-endian u64). */
export function siphash24Bytes(key: SipKey | Uint8Array, data: Uint8Array): Uint8Array {
  run(key, data);
  const out = new Uint8Array(8);
  for (let i = 0; i < 4; i++) {
    out[i] = (outLo >>> (8 * i)) & 0xff;
    out[i + 4] = (outHi >>> (8 * i)) & 0xff;
  }
  return out;
}

/** The u64 as 16 hex digits, most significant first. */
export function siphash24Hex(key: SipKey | Uint8Array, data: Uint8Array): string {
  run(key, data);
  return outHi.toString(16).padStart(8, '0') + outLo.toString(16).padStart(8, '0');
}
