/**
 * 32-bit TCP sequence number arithmetic (RFC 9293 §3.4, "Sequence Numbers").
 *
 * "It is essential to remember that the actual sequence number space is finite, though large.
 * This space ranges from 0 to 2**32 - 1. Since the space is finite, all arithmetic dealing with
 * sequence numbers must be performed modulo 2**32." Comparisons use serial-number arithmetic
 * (cf. RFC 1982): `a < b` iff the signed 32-bit difference `(a - b) | 0` is negative, which is
 * meaningful while the two numbers are less than 2**31 apart.
 *
 * Every value returned is an unsigned 32-bit integer (`>>> 0`).
 */

export type Seq = number;

/** a < b in sequence space. */
export function seqLt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) < 0;
}

/** a <= b in sequence space. */
export function seqLeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) <= 0;
}

/** a > b in sequence space. */
export function seqGt(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) > 0;
}

/** a >= b in sequence space. */
export function seqGeq(a: Seq, b: Seq): boolean {
  return ((a - b) | 0) >= 0;
}

/** a + n modulo 2**32 (n may be negative). */
export function seqAdd(a: Seq, n: number): Seq {
  return (a + n) >>> 0;
}

/** The signed distance a - b (in [-2**31, 2**31)). */
export function seqSub(a: Seq, b: Seq): number {
  return (a - b) | 0;
}

/** The later of two sequence numbers. */
export function seqMax(a: Seq, b: Seq): Seq {
  return seqGeq(a, b) ? a >>> 0 : b >>> 0;
}

/** The earlier of two sequence numbers. */
export function seqMin(a: Seq, b: Seq): Seq {
  return seqLeq(a, b) ? a >>> 0 : b >>> 0;
}

/**
 * Whether `seq` lies in the window [start, start + len), i.e. `start =< seq < start + len`
 * (the RFC 9293 §3.4 / §3.10.7.4 acceptability test form). An empty window (len 0) contains
 * nothing; callers implementing the segment acceptability table handle the zero-window row.
 */
export function inWindow(seq: Seq, start: Seq, len: number): boolean {
  if (len <= 0) return false;
  const off = (seq - start) >>> 0;
  return off < len;
}

/**
 * Whether the range [seq, seq + len) overlaps the window [start, start + winLen): the RFC 9293
 * §3.10.7.4 acceptability test for a segment with data ("either the first or the last octet
 * of the segment is in the window" — generalised to any overlap).
 */
export function rangeOverlapsWindow(seq: Seq, len: number, start: Seq, winLen: number): boolean {
  if (len <= 0 || winLen <= 0) return false;
  const off = seqSub(seq, start);
  // overlap iff seq < start + winLen and seq + len > start
  return off < winLen && off + len > 0;
}
