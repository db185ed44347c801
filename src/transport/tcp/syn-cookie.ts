/**
 * SYN cookies (D. J. Bernstein; RFC 4987 §3.6), encoded like Linux's net/ipv4/syncookies.c:
 *
 *     cookie = H0(tuple) + client_isn + (count << 24) + ((H1(tuple, count) + mss_index) & 0xffffff)
 *
 * - `count` is a coarse clock (one tick per `periodMs`, default 60 s) kept in the top 8 bits;
 *   a cookie is accepted while the current count minus its count is below `maxAge` (default 2,
 *   so a cookie lives between one and two periods).
 * - `mss_index` indexes a small MSS table (Linux's tables by default): the largest entry not
 *   above the client's MSS is chosen, since only a few bits are available.
 * - H0/H1 are SipHash-2-4 under two secret keys over the 4-tuple (H1 also over count).
 * - The cookie is our ISN in the SYN-ACK; the final ACK carries ack = cookie + 1 and
 *   seq = client_isn + 1, from which `check` recovers the MSS.
 *
 * Options that do not fit in the cookie (window scale, SACK-permitted, ECN) can be carried in
 * the low 6 bits of the timestamp value we send (Linux's cookie_init_timestamp): see
 * `cookieTsval` / `cookieTsOptions`.
 */
import type { RandomSource } from '../../core/clock.js';
import type { SipKey } from '../../core/siphash.js';
import { hashFlow, randomSipKey, type IpAddr } from '../ports.js';
import type { Seq } from './seq.js';

/** Linux's IPv4 table (msstab). */
export const SYN_COOKIE_MSS_V4: readonly number[] = [536, 1300, 1440, 1460];
/** Linux's IPv6 table (msstab): 1280-60, 1480-60, 1500-60, 9000-60. */
export const SYN_COOKIE_MSS_V6: readonly number[] = [1220, 1420, 1440, 8940];

const COOKIE_BITS = 24;
const COOKIE_MASK = (1 << COOKIE_BITS) - 1;

export interface SynCookieOptions {
  /** Length of one counter tick, ms (default 60 000). */
  periodMs?: number;
  /** Accept cookies whose counter is less than this many ticks old (default 2). */
  maxAge?: number;
}

export class SynCookies {
  readonly periodMs: number;
  readonly maxAge: number;

  constructor(
    private readonly key0: SipKey,
    private readonly key1: SipKey,
    opts: SynCookieOptions = {},
  ) {
    this.periodMs = opts.periodMs ?? 60_000;
    this.maxAge = Math.min(Math.max(1, opts.maxAge ?? 2), 255);
  }

  static fromRandom(random: RandomSource, opts?: SynCookieOptions): SynCookies {
    return new SynCookies(randomSipKey(random), randomSipKey(random), opts);
  }

  /** The coarse counter at `now` (8 bits are carried in the cookie). */
  counter(now: number): number {
    return Math.floor(now / this.periodMs) >>> 0;
  }

  /** The index of the largest table entry not above `mss` (0 when `mss` is below them all). */
  static mssIndex(mss: number, table: readonly number[]): number {
    let i = table.length - 1;
    while (i > 0 && mss < table[i]!) i--;
    return i;
  }

  /**
   * Makes the cookie (our ISN) for a SYN from remote to local with the client's ISN `clientIsn`
   * and MSS option `mss`. Returns the cookie and the MSS it encodes (what we must use).
   */
  make(now: number, localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number, clientIsn: Seq, mss: number, table: readonly number[] = SYN_COOKIE_MSS_V4): { cookie: Seq; mss: number } {
    const idx = SynCookies.mssIndex(mss, table);
    const count = this.counter(now);
    const h0 = hashFlow(this.key0, localAddr, localPort, remoteAddr, remotePort, 0).lo;
    const h1 = hashFlow(this.key1, localAddr, localPort, remoteAddr, remotePort, count).lo;
    const cookie = (h0 + clientIsn + ((count << COOKIE_BITS) >>> 0) + ((h1 + idx) & COOKIE_MASK)) >>> 0;
    return { cookie, mss: table[idx]! };
  }

  /**
   * Validates the final ACK of a handshake answered with a cookie: `ack` and `seq` are that
   * segment's acknowledgment and sequence numbers. Returns the encoded MSS, or undefined when the
   * cookie is forged, mangled or expired.
   */
  check(now: number, localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number, ack: Seq, seq: Seq, table: readonly number[] = SYN_COOKIE_MSS_V4): number | undefined {
    const cookie = (ack - 1) >>> 0;
    const clientIsn = (seq - 1) >>> 0;
    const count = this.counter(now);
    const h0 = hashFlow(this.key0, localAddr, localPort, remoteAddr, remotePort, 0).lo;
    const c = (cookie - h0 - clientIsn) >>> 0;
    const diff = (count - (c >>> COOKIE_BITS)) & 0xff;
    if (diff >= this.maxAge) return undefined;
    const h1 = hashFlow(this.key1, localAddr, localPort, remoteAddr, remotePort, (count - diff) >>> 0).lo;
    const idx = (c - h1) & COOKIE_MASK;
    if (idx >= table.length) return undefined;
    return table[idx];
  }
}

/** Options carried in the low 6 bits of the timestamp value (Linux TSBITS). */
export interface CookieTsOptions {
  /** Window scale shift 0..14, or undefined when the client sent no window scale option. */
  wscale: number | undefined;
  sackOk: boolean;
  ecnOk: boolean;
}

const TS_BITS = 6;
const TS_MASK = (1 << TS_BITS) - 1;

/**
 * The TSval to send in a cookie SYN-ACK: the current timestamp clock `tsNow` with its low 6 bits
 * replaced by the options, moved back one step if that would put it in the future.
 */
export function cookieTsval(tsNow: number, o: CookieTsOptions): number {
  const bits = (o.wscale === undefined ? 0xf : Math.min(o.wscale, 14) & 0xf) | (o.sackOk ? 0x10 : 0) | (o.ecnOk ? 0x20 : 0);
  let ts = ((tsNow & ~TS_MASK) | bits) >>> 0;
  if (((ts - tsNow) | 0) > 0) ts = (ts - (1 << TS_BITS)) >>> 0;
  return ts;
}

/** Recovers the options from the TSecr of the handshake's final ACK. */
export function cookieTsOptions(tsecr: number): CookieTsOptions {
  const w = tsecr & 0xf;
  return { wscale: w === 0xf ? undefined : w, sackOk: (tsecr & 0x10) !== 0, ecnOk: (tsecr & 0x20) !== 0 };
}
