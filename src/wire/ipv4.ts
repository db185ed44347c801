/**
 * IPv4 header (RFC 791), with options.
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Identification        |R|D|M|      Fragment Offset    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Time to Live |    Protocol   |         Header Checksum       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Source Address                          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Destination Address                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Options                    |    Padding    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Follows the template in udp.ts. `Ipv4Packet.check` validates the lengths and the option
 * structure (so `options()`/`payload()` are safe afterwards) but not the checksum: call
 * `verifyChecksum()` (or use `parseIpv4`, which does both). Trailing bytes past Total Length
 * (Ethernet padding) are excluded from `payload()`.
 *
 * Fragment offsets are in bytes everywhere in this API (the field holds 8-byte units).
 * The reserved flag bit is exposed but not checked (as Linux).
 */
import { checksum, updateChecksum16 } from './checksum.js';
import { read16, read32, write16, write32 } from './bytes.js';

/** IP protocol numbers (IANA), shared by IPv4 and IPv6 (RFC 8200 Next Header). */
export const IpProtocol = {
  HOPOPT: 0,
  ICMP: 1,
  IGMP: 2,
  IPIP: 4,
  TCP: 6,
  UDP: 17,
  IPV6: 41,
  IPV6_ROUTE: 43,
  IPV6_FRAG: 44,
  GRE: 47,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  IPV6_NONXT: 59,
  IPV6_OPTS: 60,
  SCTP: 132,
  MOBILITY: 135,
} as const;

export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_OPTIONS_LEN = 40;

/** Option types (RFC 791 §3.1; IANA). The high bit is the "copied" flag. */
export const Ipv4OptionType = {
  EOL: 0,
  NOP: 1,
  RECORD_ROUTE: 7,
  TIMESTAMP: 68,
  LSRR: 131,
  SSRR: 137,
  ROUTER_ALERT: 148,
} as const;

export const Ipv4Drop = {
  truncated: 'ipv4.truncated',
  badVersion: 'ipv4.bad_version',
  badHeaderLength: 'ipv4.bad_header_length',
  badLength: 'ipv4.bad_length',
  badChecksum: 'ipv4.bad_checksum',
  badOption: 'ipv4.bad_option',
  badFragment: 'ipv4.bad_fragment',
} as const;

/** A TLV option: `type` and a view of its data (without the type and length bytes). */
export interface Ipv4Option {
  type: number;
  data: Uint8Array;
}

const NO_OPTIONS: readonly Ipv4Option[] = Object.freeze([]);

/** True when an option of this type is copied into every fragment (RFC 791 §3.1). */
export function ipv4OptionCopied(type: number): boolean {
  return (type & 0x80) !== 0;
}

/**
 * Walks the raw options bytes: EOL ends the list, NOP is skipped, every other option must have a
 * length byte ≥ 2 that stays within `opts`. Returns null when well formed, else `ipv4.bad_option`.
 */
export function checkIpv4Options(opts: Uint8Array): string | null {
  let i = 0;
  const n = opts.length;
  while (i < n) {
    const t = opts[i]!;
    if (t === Ipv4OptionType.EOL) return null;
    if (t === Ipv4OptionType.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= n) return Ipv4Drop.badOption;
    const len = opts[i + 1]!;
    if (len < 2 || i + len > n) return Ipv4Drop.badOption;
    i += len;
  }
  return null;
}

/**
 * The TLV options as a list (EOL and NOP are padding and not listed), or `ipv4.bad_option`.
 * Allocates only when there are options.
 */
export function parseIpv4Options(opts: Uint8Array): readonly Ipv4Option[] | string {
  let out: Ipv4Option[] | null = null;
  let i = 0;
  const n = opts.length;
  while (i < n) {
    const t = opts[i]!;
    if (t === Ipv4OptionType.EOL) break;
    if (t === Ipv4OptionType.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= n) return Ipv4Drop.badOption;
    const len = opts[i + 1]!;
    if (len < 2 || i + len > n) return Ipv4Drop.badOption;
    (out ??= []).push({ type: t, data: opts.subarray(i + 2, i + len) });
    i += len;
  }
  return out ?? NO_OPTIONS;
}

export class Ipv4Packet {
  constructor(readonly buf: Uint8Array) {}

  /**
   * Null when: at least 20 bytes, version 4, 5 ≤ IHL and IHL*4 ≤ buffer, IHL*4 ≤ Total Length ≤
   * buffer, the options are well formed, and fragment offset + payload fits 65535 bytes.
   * Does not verify the checksum.
   */
  static check(buf: Uint8Array): string | null {
    if (buf.length < IPV4_HEADER_LEN) return Ipv4Drop.truncated;
    const vihl = buf[0]!;
    if (vihl >>> 4 !== 4) return Ipv4Drop.badVersion;
    const hl = (vihl & 0x0f) * 4;
    if (hl < IPV4_HEADER_LEN || hl > buf.length) return Ipv4Drop.badHeaderLength;
    const total = read16(buf, 2);
    if (total < hl || total > buf.length) return Ipv4Drop.badLength;
    if (hl > IPV4_HEADER_LEN && checkIpv4Options(buf.subarray(IPV4_HEADER_LEN, hl))) return Ipv4Drop.badOption;
    // A fragment whose end lies beyond 65535 (ping of death).
    if ((read16(buf, 6) & 0x1fff) * 8 + (total - hl) > 0xffff) return Ipv4Drop.badFragment;
    return null;
  }

  get version(): number {
    return this.buf[0]! >>> 4;
  }
  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buf[0]! & 0x0f) * 4;
  }
  get dscp(): number {
    return this.buf[1]! >>> 2;
  }
  set dscp(v: number) {
    this.buf[1] = ((v & 0x3f) << 2) | (this.buf[1]! & 3);
  }
  get ecn(): number {
    return this.buf[1]! & 3;
  }
  set ecn(v: number) {
    this.buf[1] = (this.buf[1]! & 0xfc) | (v & 3);
  }
  /** Header plus payload, in bytes. */
  get totalLength(): number {
    return read16(this.buf, 2);
  }
  set totalLength(v: number) {
    write16(this.buf, 2, v);
  }
  get ident(): number {
    return read16(this.buf, 4);
  }
  set ident(v: number) {
    write16(this.buf, 4, v);
  }
  /** The reserved (evil) bit. */
  get reservedFlag(): boolean {
    return (this.buf[6]! & 0x80) !== 0;
  }
  get dontFrag(): boolean {
    return (this.buf[6]! & 0x40) !== 0;
  }
  set dontFrag(v: boolean) {
    this.buf[6] = v ? this.buf[6]! | 0x40 : this.buf[6]! & ~0x40;
  }
  get moreFrags(): boolean {
    return (this.buf[6]! & 0x20) !== 0;
  }
  set moreFrags(v: boolean) {
    this.buf[6] = v ? this.buf[6]! | 0x20 : this.buf[6]! & ~0x20;
  }
  /** Fragment offset in bytes (a multiple of 8). */
  get fragOffset(): number {
    return (read16(this.buf, 6) & 0x1fff) * 8;
  }
  set fragOffset(bytes: number) {
    write16(this.buf, 6, (read16(this.buf, 6) & 0xe000) | ((bytes >>> 3) & 0x1fff));
  }
  /** True for any fragment (MF set or non-zero offset). */
  get isFragment(): boolean {
    return (read16(this.buf, 6) & 0x3fff) !== 0;
  }
  get ttl(): number {
    return this.buf[8]!;
  }
  set ttl(v: number) {
    this.buf[8] = v;
  }
  get protocol(): number {
    return this.buf[9]!;
  }
  set protocol(v: number) {
    this.buf[9] = v;
  }
  get checksum(): number {
    return read16(this.buf, 10);
  }
  set checksum(v: number) {
    write16(this.buf, 10, v);
  }
  get src(): number {
    return read32(this.buf, 12);
  }
  set src(v: number) {
    write32(this.buf, 12, v);
  }
  get dst(): number {
    return read32(this.buf, 16);
  }
  set dst(v: number) {
    write32(this.buf, 16, v);
  }
  /** The raw options bytes (with any padding), as a view; empty when IHL is 5. */
  options(): Uint8Array {
    return this.buf.subarray(IPV4_HEADER_LEN, this.headerLength);
  }
  /** The options as a list (see parseIpv4Options). */
  optionList(): readonly Ipv4Option[] | string {
    return this.headerLength === IPV4_HEADER_LEN ? NO_OPTIONS : parseIpv4Options(this.options());
  }
  /** The payload, as a view from the header end to Total Length. */
  payload(): Uint8Array {
    return this.buf.subarray(this.headerLength, this.totalLength);
  }
  /** Payload length in bytes (Total Length minus the header). */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }

  verifyChecksum(): boolean {
    return checksum(this.buf, 0, this.headerLength) === 0;
  }
  /** Recomputes the header checksum. */
  fillChecksum(): void {
    write16(this.buf, 10, 0);
    write16(this.buf, 10, checksum(this.buf, 0, this.headerLength));
  }
  /** TTL minus one with an incremental checksum update (RFC 1624), for forwarding. */
  decrementTtl(): void {
    const old = read16(this.buf, 8);
    this.buf[8] = (this.buf[8]! - 1) & 0xff;
    write16(this.buf, 10, updateChecksum16(read16(this.buf, 10), old, read16(this.buf, 8)));
  }
}

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  /** Bytes after the header (Total Length minus header length). */
  payloadLength: number;
  /** TLV options, without EOL/NOP padding (a shared empty array when none). */
  options: readonly Ipv4Option[];
}

/** What parseIpv4 returns: the Repr plus the header length and a view of the payload. */
export interface Ipv4Parsed extends Ipv4Repr {
  headerLength: number;
  payload: Uint8Array;
}

/** What emitIpv4 needs: the optional fields default to 0 / false / no options. */
export type Ipv4EmitRepr = Pick<Ipv4Repr, 'src' | 'dst' | 'protocol' | 'ttl' | 'payloadLength'> &
  Partial<Pick<Ipv4Repr, 'dscp' | 'ecn' | 'ident' | 'dontFrag' | 'moreFrags' | 'fragOffset' | 'options'>>;

/** Checks, verifies the checksum (unless `verifyChecksum` is false) and parses. */
export function parseIpv4(buf: Uint8Array, verifyChecksum = true): Ipv4Parsed | string {
  const err = Ipv4Packet.check(buf);
  if (err) return err;
  const p = new Ipv4Packet(buf);
  if (verifyChecksum && !p.verifyChecksum()) return Ipv4Drop.badChecksum;
  const options = p.optionList();
  if (typeof options === 'string') return options; // unreachable after check
  const hl = p.headerLength;
  return {
    src: p.src,
    dst: p.dst,
    protocol: p.protocol,
    ttl: p.ttl,
    dscp: p.dscp,
    ecn: p.ecn,
    ident: p.ident,
    dontFrag: p.dontFrag,
    moreFrags: p.moreFrags,
    fragOffset: p.fragOffset,
    payloadLength: p.totalLength - hl,
    options,
    headerLength: hl,
    payload: p.payload(),
  };
}

function optionsLength(options: readonly Ipv4Option[] | undefined): number {
  if (!options) return 0;
  let n = 0;
  for (const o of options) n += o.type === Ipv4OptionType.EOL || o.type === Ipv4OptionType.NOP ? 1 : 2 + o.data.length;
  return n;
}

/**
 * The header length for `repr`: 20 plus the options padded to a multiple of 4.
 * Throws RangeError if the options exceed 40 bytes (a caller bug, not input data).
 */
export function ipv4HeaderLength(repr: { options?: readonly Ipv4Option[] }): number {
  const n = optionsLength(repr.options);
  if (n > IPV4_MAX_OPTIONS_LEN) throw new RangeError('IPv4 options longer than 40 bytes');
  return IPV4_HEADER_LEN + ((n + 3) & ~3);
}

/**
 * Writes the header (with options, padded with EOL) into `buf[0..headerLength)` and fills in the
 * checksum; Total Length is header length + `repr.payloadLength`. The payload is the caller's.
 * Returns the header length. Throws RangeError on options over 40 bytes (see ipv4HeaderLength).
 */
export function emitIpv4(repr: Ipv4EmitRepr, buf: Uint8Array): number {
  const hl = ipv4HeaderLength(repr);
  buf[0] = 0x40 | (hl >>> 2);
  buf[1] = (((repr.dscp ?? 0) & 0x3f) << 2) | ((repr.ecn ?? 0) & 3);
  write16(buf, 2, hl + repr.payloadLength);
  write16(buf, 4, repr.ident ?? 0);
  write16(
    buf,
    6,
    (repr.dontFrag ? 0x4000 : 0) | (repr.moreFrags ? 0x2000 : 0) | (((repr.fragOffset ?? 0) >>> 3) & 0x1fff),
  );
  buf[8] = repr.ttl;
  buf[9] = repr.protocol;
  write16(buf, 10, 0);
  write32(buf, 12, repr.src);
  write32(buf, 16, repr.dst);
  let i = IPV4_HEADER_LEN;
  if (repr.options) {
    for (const o of repr.options) {
      buf[i++] = o.type;
      if (o.type === Ipv4OptionType.EOL || o.type === Ipv4OptionType.NOP) continue;
      buf[i++] = 2 + o.data.length;
      buf.set(o.data, i);
      i += o.data.length;
    }
  }
  while (i < hl) buf[i++] = Ipv4OptionType.EOL;
  write16(buf, 10, checksum(buf, 0, hl));
  return hl;
}
