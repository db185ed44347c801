/**
 * The Internet checksum (RFC 1071): the 16-bit ones' complement of the ones' complement sum of
 * the data taken as big-endian 16-bit words, with pseudo-headers for UDP, TCP and ICMPv6
 * (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1), and its incremental update (RFC 1624).
 *
 * `sum*` functions return an unfolded 32-bit partial sum to chain; `finish` folds and inverts.
 */

/**
 * Adds the bytes of `buf[start..end)` to `acc` (an unfolded sum). An odd tail byte is padded with zero.
 * Long ranges are summed as 32-bit words (`sumWords`); short ones byte by byte.
 */
export function sumBytes(buf: Uint8Array, start = 0, end = buf.length, acc = 0): number {
  // A typed array of at most 64 bytes may live on the V8 heap; asking for its `.buffer` would
  // move it out (costly), so the word path is only for longer arrays, which are always off-heap.
  if (end - start >= WORD_PATH_MIN && buf.length > 64) return sumWords(buf, start, end, acc);
  let sum = acc;
  let i = start;
  // Unrolled by 8 bytes: the sum stays below 2^53 for any packet size we handle, and we fold
  // periodically to stay well inside 32-bit-safe integer arithmetic.
  const end8 = end - 7;
  while (i < end8) {
    sum +=
      ((buf[i]! << 8) | buf[i + 1]!) +
      ((buf[i + 2]! << 8) | buf[i + 3]!) +
      ((buf[i + 4]! << 8) | buf[i + 5]!) +
      ((buf[i + 6]! << 8) | buf[i + 7]!);
    i += 8;
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (i + 1 < end) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    i += 2;
  }
  if (i < end) sum += buf[i]! << 8;
  return fold32(sum);
}

/** Below this many bytes the byte loop is as fast as setting up the word loop. */
const WORD_PATH_MIN = 128;

/** The last buffer summed by words and a 32-bit view over it (packets of a batch share one buffer). */
let wordsBuffer: ArrayBufferLike | undefined;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * `sumBytes` over aligned 32-bit words of the underlying buffer, read in the machine's byte
 * order. RFC 1071 §2(B): the ones' complement sum is byte-order independent — summing the
 * words with their bytes swapped gives the byte-swapped sum — and §2(C) lets us add 32-bit
 * quantities as two 16-bit halves. Which bytes are "high" depends on the parity of their address
 * relative to `start`: the words are read at absolute (buffer) offsets, so a range starting at
 * an odd address has its pairing swapped once more. Unaligned head and tail bytes are added
 * singly, each in its half by address parity. Assumes a little-endian machine (every platform
 * Node runs on; `LITTLE_ENDIAN` guards it).
 */
function sumWords(buf: Uint8Array, start: number, end: number, acc: number): number {
  if (!LITTLE_ENDIAN) return sumBytesSlow(buf, start, end, acc);
  const ab = buf.buffer;
  if (ab !== wordsBuffer) {
    wordsBuffer = ab;
    words = new Uint32Array(ab, 0, ab.byteLength >>> 2);
  }
  const u32 = words;
  const off = buf.byteOffset;
  let i = off + start;
  const e = off + end;
  const oddStart = i & 1;
  // In little-endian terms: a byte at an even address is the low half of its 16-bit word.
  let s = 0;
  while (i & 3 && i < e) {
    s += buf[i - off]! << ((i & 1) << 3);
    i++;
  }
  const w1 = e >>> 2;
  let k = i >>> 2;
  while (k < w1) {
    // 16-bit halves added as integers, folded into `s` every 8192 words (< 2^30 each round).
    const stop = Math.min(w1, k + 8192);
    let a = 0;
    for (; k + 3 < stop; k += 4) {
      const x = u32[k]!;
      const y = u32[k + 1]!;
      const z = u32[k + 2]!;
      const w = u32[k + 3]!;
      a += (x & 0xffff) + (x >>> 16) + (y & 0xffff) + (y >>> 16) + (z & 0xffff) + (z >>> 16) + (w & 0xffff) + (w >>> 16);
    }
    for (; k < stop; k++) {
      const x = u32[k]!;
      a += (x & 0xffff) + (x >>> 16);
    }
    s += a;
  }
  if (i < w1 << 2) i = w1 << 2;
  while (i < e) {
    s += buf[i - off]! << ((i & 1) << 3);
    i++;
  }
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  // Big-endian pairing from `start`: swap unless `start` is odd (then the two swaps cancel).
  const r = oddStart ? s : ((s & 0xff) << 8) | (s >>> 8);
  return fold32(acc + r);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function sumBytesSlow(buf: Uint8Array, start: number, end: number, acc: number): number {
  let sum = acc;
  let i = start;
  for (; i + 1 < end; i += 2) {
    sum += (buf[i]! << 8) | buf[i + 1]!;
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  if (i < end) sum += buf[i]! << 8;
  return fold32(sum);
}

/** Folds an unfolded sum down to 16 bits (end-around carry). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function fold32(sum: number): number {
  return (sum & 0xffff) + Math.floor(sum / 0x10000);
}

/** Folds and inverts: the value to store in a checksum field. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** The checksum of `buf[start..end)` (e.g. an IPv4 header, an ICMPv4 message). */
export function checksum(buf: Uint8Array, start = 0, end = buf.length): number {
  return finish(sumBytes(buf, start, end));
}

/**
 * The IPv4 pseudo-header sum (RFC 768 / RFC 9293 §3.1): source, destination, zero + protocol,
 * and the upper-layer length. `src` and `dst` are 32-bit addresses as unsigned numbers.
 */
export function pseudoHeaderSumV4(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * The IPv6 pseudo-header sum (RFC 8200 §8.1): source, destination (16 bytes each), the 32-bit
 * upper-layer length and the next header value.
 */
export function pseudoHeaderSumV6(src: Uint8Array, dst: Uint8Array, protocol: number, length: number): number {
  let sum = sumBytes(src, 0, 16) + sumBytes(dst, 0, 16);
  sum += (length >>> 16) + (length & 0xffff) + protocol;
  return sum;
}

/**
 * Incremental update (RFC 1624 eqn. 3): HC' = ~(~HC + ~m + m'), for a 16-bit field that changed
 * from `oldWord` to `newWord` under a header checksum `hc`.
 */
export function updateChecksum16(hc: number, oldWord: number, newWord: number): number {
  const sum = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** Incremental update for a 32-bit field (two 16-bit words), e.g. an address rewrite. */
export function updateChecksum32(hc: number, oldValue: number, newValue: number): number {
  const sum =
    (~hc & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    ((newValue >>> 16) & 0xffff) +
    (newValue & 0xffff);
  return ~fold(sum) & 0xffff;
}
