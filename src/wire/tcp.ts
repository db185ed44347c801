/**
 * TCP header (RFC 9293 §3.1) and options: MSS (RFC 9293 §3.2), Window Scale and Timestamps
 * (RFC 7323), SACK-Permitted and SACK (RFC 2018).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source Port          |       Destination Port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        Sequence Number                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Acknowledgment Number                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Data |     |N|C|E|U|A|P|R|S|F|                               |
 * | Offset| Rsv |S|W|C|R|C|S|S|Y|I|            Window             |
 * |       |     | |R|E|G|K|H|T|N|N|                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Checksum            |         Urgent Pointer        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options (0-40 bytes)       |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Sequence and acknowledgment numbers are u32 numbers (`>>> 0`); flags are a 9-bit field
 * (`TcpFlags`, NS being the low bit of byte 12). The checksum covers the pseudo-header
 * (`pseudoHeaderSumV4/V6` with protocol 6 and the segment length) and the whole segment.
 *
 * Option parsing (Linux `tcp_parse_options` semantics, except for malformed framing):
 * - EOL ends the list; NOP is skipped; other options are kind, length, data.
 * - Framing errors drop the segment as 'tcp.bad_option': a kind byte with no length byte
 *   before the end of the header, a length < 2, or an option running past the header. (Linux
 *   stops parsing there and keeps the segment; RFC 9293 MUST-7 only asks not to crash. We
 *   drop, which is the conservative reading.)
 * - A known option with the wrong length is ignored, as Linux does: MSS must be 4, Window
 *   Scale 3, SACK-Permitted 2, Timestamps 10, SACK 2 + 8n with n >= 1 (n <= 4 follows from the
 *   40-byte limit). Unknown kinds are skipped by their length.
 * - A repeated option overwrites the earlier one (Linux).
 * - Values are reported as on the wire. The TCP engine applies the semantics Linux applies:
 *   MSS, Window Scale and SACK-Permitted only count on a SYN; an MSS of 0 is ignored; a window
 *   scale above 14 is used as 14 (RFC 7323 §2.3).
 *
 * Follows the `udp.ts` template: `TcpPacket` view + `check`, `parseTcp`, `emitTcp`. For the hot
 * path, `readTcpOptions` parses into a reusable `TcpOptionsScratch` without allocating, and
 * `forEachTcpOption` walks the raw options.
 */
import { finish, sumBytes } from './checksum.js';
import { read16, read32, write16, write32 } from './bytes.js';

export const TCP_HEADER_LEN = 20;
/** The largest header: data offset 15. */
export const TCP_MAX_HEADER_LEN = 60;
export const TCP_MAX_OPTIONS_LEN = 40;
/** The IP protocol number of TCP. */
export const IPPROTO_TCP = 6;

export const TcpFlags = {
  FIN: 0x001,
  SYN: 0x002,
  RST: 0x004,
  PSH: 0x008,
  ACK: 0x010,
  URG: 0x020,
  ECE: 0x040,
  CWR: 0x080,
  /** ECN nonce (RFC 3540, historic); the low bit of byte 12. */
  NS: 0x100,
} as const;

export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

export const TcpOptionLen = {
  MSS: 4,
  WindowScale: 3,
  SackPermitted: 2,
  SackBase: 2,
  SackPerBlock: 8,
  Timestamps: 10,
} as const;

/** RFC 7323 §2.3: the largest window scale shift. */
export const TCP_MAX_WSCALE = 14;
/** SACK blocks an option can carry (RFC 2018 §3: 40 bytes of options). */
export const TCP_MAX_SACK_BLOCKS = 4;

export const TcpDrop = {
  truncated: 'tcp.truncated',
  badDataOffset: 'tcp.bad_data_offset',
  badChecksum: 'tcp.bad_checksum',
  badOption: 'tcp.bad_option',
} as const;

export class TcpPacket {
  constructor(readonly buf: Uint8Array) {}

  /**
   * Null when the fixed header is present and the data offset is >= 5 and within the buffer
   * (the buffer is the whole segment). Options are checked by `readTcpOptions`/`parseTcp`.
   */
  static check(buf: Uint8Array): string | null {
    if (buf.length < TCP_HEADER_LEN) return TcpDrop.truncated;
    const hlen = (buf[12]! >>> 4) * 4;
    if (hlen < TCP_HEADER_LEN || hlen > buf.length) return TcpDrop.badDataOffset;
    return null;
  }

  get srcPort(): number {
    return read16(this.buf, 0);
  }
  set srcPort(v: number) {
    write16(this.buf, 0, v);
  }
  get dstPort(): number {
    return read16(this.buf, 2);
  }
  set dstPort(v: number) {
    write16(this.buf, 2, v);
  }
  get seq(): number {
    return read32(this.buf, 4);
  }
  set seq(v: number) {
    write32(this.buf, 4, v);
  }
  get ack(): number {
    return read32(this.buf, 8);
  }
  set ack(v: number) {
    write32(this.buf, 8, v);
  }
  /** The header length in bytes (data offset * 4). */
  get headerLength(): number {
    return (this.buf[12]! >>> 4) * 4;
  }
  /** The 9 flag bits (TcpFlags). */
  get flags(): number {
    return ((this.buf[12]! & 1) << 8) | this.buf[13]!;
  }
  set flags(v: number) {
    this.buf[12] = (this.buf[12]! & 0xfe) | ((v >>> 8) & 1);
    this.buf[13] = v & 0xff;
  }
  get fin(): boolean {
    return (this.buf[13]! & TcpFlags.FIN) !== 0;
  }
  get syn(): boolean {
    return (this.buf[13]! & TcpFlags.SYN) !== 0;
  }
  get rst(): boolean {
    return (this.buf[13]! & TcpFlags.RST) !== 0;
  }
  get psh(): boolean {
    return (this.buf[13]! & TcpFlags.PSH) !== 0;
  }
  get ackFlag(): boolean {
    return (this.buf[13]! & TcpFlags.ACK) !== 0;
  }
  get urg(): boolean {
    return (this.buf[13]! & TcpFlags.URG) !== 0;
  }
  get window(): number {
    return read16(this.buf, 14);
  }
  set window(v: number) {
    write16(this.buf, 14, v);
  }
  get checksum(): number {
    return read16(this.buf, 16);
  }
  get urgent(): number {
    return read16(this.buf, 18);
  }
  /** The raw options area (between the fixed header and the data offset), as a view. */
  options(): Uint8Array {
    return this.buf.subarray(TCP_HEADER_LEN, this.headerLength);
  }
  /** The payload, as a view (from the data offset to the end of the buffer). */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLength);
  }

  /** True when the checksum over the segment and the pseudo-header sum verifies. */
  verifyChecksum(pseudoSum: number): boolean {
    return finish(sumBytes(this.buf, 0, this.buf.length, pseudoSum)) === 0;
  }

  /** Recomputes the checksum over the whole buffer. */
  fillChecksum(pseudoSum: number): void {
    write16(this.buf, 16, 0);
    write16(this.buf, 16, finish(sumBytes(this.buf, 0, this.buf.length, pseudoSum)));
  }
}

/** Parsed or to-be-emitted options; absent means "not present". */
export interface TcpOptions {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  /** SACK blocks as [left edge, right edge) u32 pairs, 1 to 4. */
  sack?: Array<[number, number]>;
  /** Timestamps: both are set, or neither. */
  tsVal?: number;
  tsEcr?: number;
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** TcpFlags bits. */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOptions;
  /** A view of the payload (parse); on emit it is copied after the header unless already there. */
  payload: Uint8Array;
}

/**
 * Walks the options of a segment whose header passed `TcpPacket.check`: `cb(kind, offset,
 * length)` for each option other than EOL and NOP, with the offset of its kind byte in `buf`
 * and its total length. Framing is checked before any callback runs; returns
 * 'tcp.bad_option' or null. Lengths of known kinds are not checked here.
 */
export function forEachTcpOption(
  buf: Uint8Array,
  cb: (kind: number, offset: number, length: number) => void,
): string | null {
  const end = (buf[12]! >>> 4) * 4;
  const err = checkOptionFraming(buf, end);
  if (err) return err;
  let i = TCP_HEADER_LEN;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.EOL) break;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    const len = buf[i + 1]!;
    cb(kind, i, len);
    i += len;
  }
  return null;
}

function checkOptionFraming(buf: Uint8Array, end: number): string | null {
  let i = TCP_HEADER_LEN;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.EOL) return null;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 2 > end) return TcpDrop.badOption;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return TcpDrop.badOption;
    i += len;
  }
  return null;
}

/**
 * Reusable, allocation-free parsed options for the hot path (one per connection or per stack).
 * Absent values are -1 (mss, wscale) or false (sackPermitted, hasTimestamps); SACK blocks are
 * `sackBlocks[2i]`, `sackBlocks[2i+1]` for i < sackCount.
 */
export class TcpOptionsScratch {
  mss = -1;
  wscale = -1;
  sackPermitted = false;
  hasTimestamps = false;
  tsVal = 0;
  tsEcr = 0;
  sackCount = 0;
  readonly sackBlocks = new Uint32Array(2 * TCP_MAX_SACK_BLOCKS);

  reset(): void {
    this.mss = -1;
    this.wscale = -1;
    this.sackPermitted = false;
    this.hasTimestamps = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }

  /** A plain `TcpOptions` copy (allocates). */
  toOptions(): TcpOptions {
    const o: TcpOptions = {};
    if (this.mss >= 0) o.mss = this.mss;
    if (this.wscale >= 0) o.wscale = this.wscale;
    if (this.sackPermitted) o.sackPermitted = true;
    if (this.sackCount > 0) {
      o.sack = [];
      for (let i = 0; i < this.sackCount; i++) o.sack.push([this.sackBlocks[2 * i]!, this.sackBlocks[2 * i + 1]!]);
    }
    if (this.hasTimestamps) {
      o.tsVal = this.tsVal;
      o.tsEcr = this.tsEcr;
    }
    return o;
  }
}

/**
 * Parses the options of a segment whose header passed `TcpPacket.check` into `out` (reset
 * first). Returns 'tcp.bad_option' on a framing error (then `out` holds what was read before
 * it), else null. See the module comment for the rules.
 */
export function readTcpOptions(buf: Uint8Array, out: TcpOptionsScratch): string | null {
  out.reset();
  const end = (buf[12]! >>> 4) * 4;
  let i = TCP_HEADER_LEN;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === TcpOptionKind.EOL) return null;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 2 > end) return TcpDrop.badOption;
    const len = buf[i + 1]!;
    if (len < 2 || i + len > end) return TcpDrop.badOption;
    switch (kind) {
      case TcpOptionKind.MSS:
        if (len === TcpOptionLen.MSS) out.mss = read16(buf, i + 2);
        break;
      case TcpOptionKind.WindowScale:
        if (len === TcpOptionLen.WindowScale) out.wscale = buf[i + 2]!;
        break;
      case TcpOptionKind.SackPermitted:
        if (len === TcpOptionLen.SackPermitted) out.sackPermitted = true;
        break;
      case TcpOptionKind.Timestamps:
        if (len === TcpOptionLen.Timestamps) {
          out.hasTimestamps = true;
          out.tsVal = read32(buf, i + 2);
          out.tsEcr = read32(buf, i + 6);
        }
        break;
      case TcpOptionKind.Sack: {
        const body = len - TcpOptionLen.SackBase;
        if (body >= TcpOptionLen.SackPerBlock && body % TcpOptionLen.SackPerBlock === 0) {
          const n = Math.min(body / TcpOptionLen.SackPerBlock, TCP_MAX_SACK_BLOCKS);
          for (let b = 0; b < n; b++) {
            out.sackBlocks[2 * b] = read32(buf, i + 2 + 8 * b);
            out.sackBlocks[2 * b + 1] = read32(buf, i + 6 + 8 * b);
          }
          out.sackCount = n;
        }
        break;
      }
      default:
        break;
    }
    i += len;
  }
  return null;
}

const scratch = new TcpOptionsScratch();

/**
 * Checks and parses a segment; `buf` is exactly the segment (the IP payload), `pseudoSum` from
 * pseudoHeaderSumV4/V6 with protocol 6 and buf.length. Payload is a view.
 */
export function parseTcp(buf: Uint8Array, pseudoSum: number): TcpRepr | string {
  const err = TcpPacket.check(buf);
  if (err) return err;
  const p = new TcpPacket(buf);
  if (!p.verifyChecksum(pseudoSum)) return TcpDrop.badChecksum;
  const optErr = readTcpOptions(buf, scratch);
  if (optErr) return optErr;
  return {
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    window: p.window,
    urgent: p.urgent,
    options: scratch.toOptions(),
    payload: p.payload(),
  };
}

/** Options bytes without SACK, in the Linux layout (each part a multiple of 4 bytes). */
function baseOptionsLength(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.tsVal !== undefined) n += 12; // NOP NOP TS, or SACK-Permitted TS
  else if (o.sackPermitted) n += 4; // NOP NOP SACK-Permitted
  if (o.wscale !== undefined) n += 4; // NOP WS
  return n;
}

/** How many SACK blocks fit: at most 4, and within 40 bytes of options. */
function sackBlocksToEmit(o: TcpOptions, base: number): number {
  if (!o.sack || o.sack.length === 0) return 0;
  const room = Math.floor((TCP_MAX_OPTIONS_LEN - base - 4) / 8);
  return Math.max(0, Math.min(o.sack.length, TCP_MAX_SACK_BLOCKS, room));
}

/**
 * The header length `emitTcp` writes for `repr` (20 + options, a multiple of 4, at most 60):
 * the payload goes at this offset. SACK blocks that do not fit in 40 bytes are left out.
 */
export function tcpHeaderLength(repr: { options: TcpOptions }): number {
  const base = baseOptionsLength(repr.options);
  const nSack = sackBlocksToEmit(repr.options, base);
  return TCP_HEADER_LEN + base + (nSack > 0 ? 4 + 8 * nSack : 0);
}

/**
 * Writes the header and options into `buf[0..tcpHeaderLength(repr))` and the checksum over the
 * whole of `buf`, which is the segment: its length is the segment length, which `pseudoSum`
 * must use too. The payload is already in place after the header, or is copied there from
 * `repr.payload` when that is not the same view. Options use the Linux layout:
 *   MSS | SACK-Permitted+TS or NOP NOP TS or NOP NOP SACK-Permitted | NOP WS | NOP NOP SACK.
 * Returns the header length. `fillChecksum` false leaves the checksum field 0 (a caller with
 * checksum offload writes the pseudo-header sum there for the device to complete).
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, pseudoSum: number, fillChecksum = true): number {
  const o = repr.options;
  const hlen = tcpHeaderLength(repr);
  write16(buf, 0, repr.srcPort);
  write16(buf, 2, repr.dstPort);
  write32(buf, 4, repr.seq >>> 0);
  write32(buf, 8, repr.ack >>> 0);
  buf[12] = ((hlen / 4) << 4) | ((repr.flags >>> 8) & 1);
  buf[13] = repr.flags & 0xff;
  write16(buf, 14, repr.window);
  write16(buf, 16, 0);
  write16(buf, 18, repr.urgent);
  let i = TCP_HEADER_LEN;
  if (o.mss !== undefined) {
    buf[i] = TcpOptionKind.MSS;
    buf[i + 1] = TcpOptionLen.MSS;
    write16(buf, i + 2, o.mss);
    i += 4;
  }
  if (o.tsVal !== undefined) {
    if (o.sackPermitted) {
      buf[i] = TcpOptionKind.SackPermitted;
      buf[i + 1] = TcpOptionLen.SackPermitted;
    } else {
      buf[i] = TcpOptionKind.NOP;
      buf[i + 1] = TcpOptionKind.NOP;
    }
    buf[i + 2] = TcpOptionKind.Timestamps;
    buf[i + 3] = TcpOptionLen.Timestamps;
    write32(buf, i + 4, o.tsVal >>> 0);
    write32(buf, i + 8, (o.tsEcr ?? 0) >>> 0);
    i += 12;
  } else if (o.sackPermitted) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.SackPermitted;
    buf[i + 3] = TcpOptionLen.SackPermitted;
    i += 4;
  }
  if (o.wscale !== undefined) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.WindowScale;
    buf[i + 2] = TcpOptionLen.WindowScale;
    buf[i + 3] = o.wscale;
    i += 4;
  }
  const nSack = sackBlocksToEmit(o, i - TCP_HEADER_LEN);
  if (nSack > 0) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.Sack;
    buf[i + 3] = TcpOptionLen.SackBase + TcpOptionLen.SackPerBlock * nSack;
    i += 4;
    for (let b = 0; b < nSack; b++) {
      const block = o.sack![b]!;
      write32(buf, i, block[0] >>> 0);
      write32(buf, i + 4, block[1] >>> 0);
      i += 8;
    }
  }
  const payload = repr.payload;
  if (payload.length > 0 && !(payload.buffer === buf.buffer && payload.byteOffset === buf.byteOffset + hlen)) {
    buf.set(payload, hlen);
  }
  if (fillChecksum) write16(buf, 16, finish(sumBytes(buf, 0, buf.length, pseudoSum)));
  return hlen;
}
