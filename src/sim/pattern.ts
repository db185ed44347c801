/**
 * Seeded byte patterns for byte-exact transfer checks without hashing: byte `i` of stream
 * `seed` is a pure function of (seed, i), so a receiver checks each chunk at its offset as it
 * arrives and reports the first differing offset. Part of the core: no Node imports.
 */

function word(seed: number, w: number): number {
  let z = (seed ^ Math.imul(w, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Byte `i` of the pattern `seed`. */
export function patternByte(seed: number, i: number): number {
  return (word(seed, Math.floor(i / 4)) >>> (8 * (i % 4))) & 0xff;
}

/** Fills `out` with pattern bytes [offset, offset + out.length). */
export function fillPattern(seed: number, offset: number, out: Uint8Array): void {
  let i = 0;
  const n = out.length;
  // Unaligned head.
  while (i < n && (offset + i) % 4 !== 0) {
    out[i] = patternByte(seed, offset + i);
    i++;
  }
  let w = (offset + i) / 4;
  for (; i + 4 <= n; i += 4, w++) {
    const x = word(seed, w);
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = x >>> 24;
  }
  for (; i < n; i++) out[i] = patternByte(seed, offset + i);
}

/** A new buffer of `n` pattern bytes starting at `offset`. */
export function pattern(seed: number, n: number, offset = 0): Uint8Array {
  const b = new Uint8Array(n);
  fillPattern(seed, offset, b);
  return b;
}

/** The first index in `data` where it differs from the pattern at `offset`, or -1. */
export function checkPattern(seed: number, offset: number, data: Uint8Array): number {
  for (let i = 0; i < data.length; i++) {
    const j = offset + i;
    if ((j & 3) === 0 && i + 4 <= data.length) {
      const x = word(seed, j >>> 2);
      if (data[i] !== (x & 0xff) || data[i + 1] !== ((x >>> 8) & 0xff) || data[i + 2] !== ((x >>> 16) & 0xff) || data[i + 3] !== x >>> 24) {
        for (let k = 0; k < 4; k++) if (data[i + k] !== patternByte(seed, j + k)) return i + k;
      }
      i += 3;
      continue;
    }
    if (data[i] !== patternByte(seed, j)) return i;
  }
  return -1;
}

/** Checks a byte stream chunk by chunk against pattern `seed`. */
export class PatternReceiver {
  /** Bytes received so far. */
  received = 0;
  /** Offset of the first wrong byte, or -1. */
  firstError = -1;

  constructor(readonly seed: number) {}

  push(chunk: Uint8Array): void {
    if (this.firstError < 0) {
      const e = checkPattern(this.seed, this.received, chunk);
      if (e >= 0) this.firstError = this.received + e;
    }
    this.received += chunk.length;
  }
}
