/**
 * IPv6 extension headers (RFC 8200 §4) and the walker over the header chain.
 *
 * Hop-by-Hop Options (0) and Destination Options (60), RFC 8200 §4.3 / §4.6:
 * +---------------+---------------+-------------------------------+
 * |  Next Header  |  Hdr Ext Len  |  Options (TLV, to (Len+1)*8)  |
 * +---------------+---------------+-------------------------------+
 * Routing (43), §4.4:
 * +---------------+---------------+---------------+---------------+
 * |  Next Header  |  Hdr Ext Len  | Routing Type  | Segments Left |  type-specific data...
 * +---------------+---------------+---------------+---------------+
 * Fragment (44), §4.5 (8 bytes):
 * +---------------+---------------+-------------------------+-+-+-+
 * |  Next Header  |   Reserved    |    Fragment Offset      |Res|M|
 * +---------------+---------------+-------------------------+-+-+-+
 * |                         Identification                        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Each header has a view (`Ipv6OptionsPacket`, `Ipv6RoutingPacket`, `Ipv6FragmentPacket`) over
 * a buffer that starts at the header, following udp.ts. `walkIpv6Chain(packet)` takes the whole
 * IPv6 packet (fixed header first) and returns where the upper layer starts, or a drop reason
 * plus the ICMPv6 Parameter Problem to answer with (pointers are offsets into `packet`).
 *
 * Walker policy (the node is a host, not a router):
 * - Hop-by-Hop only directly after the fixed header; elsewhere: drop, Parameter Problem code 1
 *   pointing at the Next Header byte that named it (§4, §4.1).
 * - Options: Pad1/PadN skipped, Router Alert (HBH only) reported, any other option acts by its two
 *   high type bits (§4.2): 00 skip, 01 discard, 10 discard + code 2 (even to multicast),
 *   11 discard + code 2 unless the destination is multicast. Malformed TLVs: silent drop.
 * - Routing: Segments Left 0 → ignored (reported in `routing`). No routing type is implemented
 *   (type 0 is deprecated by RFC 5095), so Segments Left > 0 → drop, code 0 at the type byte.
 * - Fragment: a non-atomic fragment ends the walk (`protocol` is the fragment's Next Header,
 *   `offset` the fragment data); the IP layer reassembles, removes the header (patching the byte
 *   at `fragment.prevNextHeaderOffset`) and walks again. An atomic fragment (offset 0, M 0,
 *   RFC 6946) is walked through and still reported. RFC 8200 §4.5 checks are done here: M set and
 *   a data length not a multiple of 8 → code 0 at Payload Length (4); reassembled payload over
 *   65535 → code 0 at the Fragment Offset field; a first fragment (offset 0, M set) that does not
 *   hold the rest of the chain and the TCP/UDP/ICMPv6 header → code 3, pointer 0 (RFC 7112).
 *   Reserved fields are ignored.
 * - Any other Next Header (TCP, UDP, ICMPv6, No Next Header, ESP, AH, unknown) ends the walk as the
 *   upper-layer protocol; `nextHeaderOffset` is the pointer for a code 1 answer when nobody handles
 *   it (59, No Next Header, should be dropped silently).
 * - At most IPV6_MAX_EXT_HEADERS extension headers; never reads past 40 + Payload Length.
 * - Bounds failures (truncated header, too many headers) are silent drops.
 */
import { read16, read32, write16, write32 } from './bytes.js';
import { IpProtocol } from './ipv4.js';
import { IPV6_HEADER_LEN, Ipv6Packet } from './ipv6.js';

export const IPV6_FRAG_HEADER_LEN = 8;
/** The walker gives up after this many extension headers. */
export const IPV6_MAX_EXT_HEADERS = 16;
/** The longest options or routing header: (255 + 1) * 8. */
export const IPV6_MAX_EXT_HEADER_LEN = 2048;

/** Option types inside Hop-by-Hop and Destination Options (IANA). */
export const Ipv6OptionType = {
  PAD1: 0x00,
  PADN: 0x01,
  ROUTER_ALERT: 0x05,
  JUMBO: 0xc2,
} as const;

/** The action for an unrecognized option: the two high bits of its type (§4.2). */
export const Ipv6OptionAction = {
  SKIP: 0,
  DISCARD: 1,
  DISCARD_ICMP: 2,
  DISCARD_ICMP_UNLESS_MULTICAST: 3,
} as const;

export function ipv6OptionAction(type: number): number {
  return (type >>> 6) & 3;
}

/** Router Alert values (RFC 2711): 0 is MLD. */
export const Ipv6RouterAlert = {
  MLD: 0,
  RSVP: 1,
  ACTIVE_NETWORKS: 2,
} as const;

/** ICMPv6 Parameter Problem codes (RFC 4443 §3.4). */
export const Ipv6ParamProblemCode = {
  ERRONEOUS_HEADER: 0,
  UNRECOGNIZED_NEXT_HEADER: 1,
  UNRECOGNIZED_OPTION: 2,
  FIRST_FRAGMENT_INCOMPLETE_CHAIN: 3,
} as const;

export const Ipv6ExtDrop = {
  truncated: 'ipv6.ext_truncated',
  badOption: 'ipv6.bad_option',
  unknownOption: 'ipv6.unknown_option',
  hbhNotFirst: 'ipv6.hbh_not_first',
  unknownRoutingType: 'ipv6.unknown_routing_type',
  badFragmentLength: 'ipv6.bad_fragment_length',
  badFragmentOffset: 'ipv6.bad_fragment_offset',
  tooManyHeaders: 'ipv6.too_many_headers',
  firstFragmentIncomplete: 'ipv6.first_fragment_incomplete',
} as const;

/** True for the Next Header values the walker steps over. */
export function isIpv6ExtensionHeader(nh: number): boolean {
  return nh === IpProtocol.HOPOPT || nh === IpProtocol.IPV6_ROUTE || nh === IpProtocol.IPV6_FRAG || nh === IpProtocol.IPV6_OPTS;
}

// ---------------------------------------------------------------------------------------------
// Options (Hop-by-Hop, Destination Options)

/** An option: `type` and a view of its data (without the type and length bytes). */
export interface Ipv6Option {
  type: number;
  data: Uint8Array;
}

/** Checks the TLV structure of `buf[start..end)`: every option fits. */
function checkOptionsTlv(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    if (buf[i] === Ipv6OptionType.PAD1) {
      i++;
      continue;
    }
    if (i + 2 > end) return false;
    i += 2 + buf[i + 1]!;
    if (i > end) return false;
  }
  return true;
}

/** A Hop-by-Hop or Destination Options header (same format). */
export class Ipv6OptionsPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the header length fits the buffer and every option fits the header. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < 2) return Ipv6ExtDrop.truncated;
    const len = (buf[1]! + 1) * 8;
    if (len > buf.length) return Ipv6ExtDrop.truncated;
    if (!checkOptionsTlv(buf, 2, len)) return Ipv6ExtDrop.badOption;
    return null;
  }

  get nextHeader(): number {
    return this.buf[0]!;
  }
  set nextHeader(v: number) {
    this.buf[0] = v;
  }
  /** In bytes: (Hdr Ext Len + 1) * 8. */
  get headerLength(): number {
    return (this.buf[1]! + 1) * 8;
  }
  /** The options area (with padding), as a view. */
  options(): Uint8Array {
    return this.buf.subarray(2, this.headerLength);
  }
  /** The options without Pad1/PadN, or a drop reason if the TLVs overrun. */
  optionList(): Ipv6Option[] | string {
    const out: Ipv6Option[] = [];
    const end = Math.min(this.headerLength, this.buf.length);
    let i = 2;
    while (i < end) {
      const t = this.buf[i]!;
      if (t === Ipv6OptionType.PAD1) {
        i++;
        continue;
      }
      if (i + 2 > end) return Ipv6ExtDrop.badOption;
      const len = this.buf[i + 1]!;
      if (i + 2 + len > end) return Ipv6ExtDrop.badOption;
      if (t !== Ipv6OptionType.PADN) out.push({ type: t, data: this.buf.subarray(i + 2, i + 2 + len) });
      i += 2 + len;
    }
    return out;
  }
}

export interface Ipv6OptionsRepr {
  nextHeader: number;
  /** Options without padding (Pad1/PadN are added by the emitter). */
  options: Ipv6Option[];
}

/** Parses a Hop-by-Hop or Destination Options header at the start of `buf`. */
export function parseIpv6Options(buf: Uint8Array): Ipv6OptionsRepr | string {
  const err = Ipv6OptionsPacket.check(buf);
  if (err) return err;
  const p = new Ipv6OptionsPacket(buf);
  const options = p.optionList();
  if (typeof options === 'string') return options;
  return { nextHeader: p.nextHeader, options };
}

function optionsDataLength(options: readonly Ipv6Option[]): number {
  let n = 0;
  for (const o of options) n += o.type === Ipv6OptionType.PAD1 ? 1 : 2 + o.data.length;
  return n;
}

/**
 * The header length for `repr`: 2 + options, padded to a multiple of 8.
 * Throws RangeError if over 2048 bytes or an option's data is over 255 bytes (caller bugs).
 */
export function ipv6OptionsHeaderLength(repr: { options: readonly Ipv6Option[] }): number {
  for (const o of repr.options) if (o.data.length > 255) throw new RangeError('IPv6 option data over 255 bytes');
  const len = (2 + optionsDataLength(repr.options) + 7) & ~7;
  if (len > IPV6_MAX_EXT_HEADER_LEN) throw new RangeError('IPv6 options header over 2048 bytes');
  return len;
}

/**
 * Writes a Hop-by-Hop or Destination Options header into `buf[0..len)`: the options in order,
 * then Pad1/PadN to a multiple of 8. Returns the header length. (A single Router Alert gives the
 * usual `nh 00 05 02 vv vv 01 00`.)
 */
export function emitIpv6Options(repr: Ipv6OptionsRepr, buf: Uint8Array): number {
  const len = ipv6OptionsHeaderLength(repr);
  buf[0] = repr.nextHeader;
  buf[1] = len / 8 - 1;
  let i = 2;
  for (const o of repr.options) {
    buf[i++] = o.type;
    if (o.type === Ipv6OptionType.PAD1) continue;
    buf[i++] = o.data.length;
    buf.set(o.data, i);
    i += o.data.length;
  }
  const pad = len - i;
  if (pad === 1) {
    buf[i] = Ipv6OptionType.PAD1;
  } else if (pad >= 2) {
    buf[i] = Ipv6OptionType.PADN;
    buf[i + 1] = pad - 2;
    buf.fill(0, i + 2, len);
  }
  return len;
}

// ---------------------------------------------------------------------------------------------
// Routing

export class Ipv6RoutingPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the header (at least 8 bytes) fits the buffer. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < 4) return Ipv6ExtDrop.truncated;
    if ((buf[1]! + 1) * 8 > buf.length) return Ipv6ExtDrop.truncated;
    return null;
  }

  get nextHeader(): number {
    return this.buf[0]!;
  }
  set nextHeader(v: number) {
    this.buf[0] = v;
  }
  get headerLength(): number {
    return (this.buf[1]! + 1) * 8;
  }
  get routingType(): number {
    return this.buf[2]!;
  }
  get segmentsLeft(): number {
    return this.buf[3]!;
  }
  set segmentsLeft(v: number) {
    this.buf[3] = v;
  }
  /** The type-specific data after the first 4 bytes, as a view. */
  data(): Uint8Array {
    return this.buf.subarray(4, this.headerLength);
  }
}

export interface Ipv6RoutingRepr {
  nextHeader: number;
  routingType: number;
  segmentsLeft: number;
  /** Type-specific data (4 bytes less than the header; its length + 4 must be a multiple of 8). */
  data: Uint8Array;
}

export function parseIpv6Routing(buf: Uint8Array): Ipv6RoutingRepr | string {
  const err = Ipv6RoutingPacket.check(buf);
  if (err) return err;
  const p = new Ipv6RoutingPacket(buf);
  return { nextHeader: p.nextHeader, routingType: p.routingType, segmentsLeft: p.segmentsLeft, data: p.data() };
}

/** Writes a routing header; the data is zero-padded to a multiple of 8. Returns its length. */
export function emitIpv6Routing(repr: Ipv6RoutingRepr, buf: Uint8Array): number {
  const len = (4 + repr.data.length + 7) & ~7;
  if (len > IPV6_MAX_EXT_HEADER_LEN) throw new RangeError('IPv6 routing header over 2048 bytes');
  buf[0] = repr.nextHeader;
  buf[1] = len / 8 - 1;
  buf[2] = repr.routingType;
  buf[3] = repr.segmentsLeft;
  buf.set(repr.data, 4);
  buf.fill(0, 4 + repr.data.length, len);
  return len;
}

// ---------------------------------------------------------------------------------------------
// Fragment

export class Ipv6FragmentPacket {
  constructor(readonly buf: Uint8Array) {}

  static check(buf: Uint8Array): string | null {
    return buf.length < IPV6_FRAG_HEADER_LEN ? Ipv6ExtDrop.truncated : null;
  }

  get nextHeader(): number {
    return this.buf[0]!;
  }
  set nextHeader(v: number) {
    this.buf[0] = v;
  }
  /** The reserved byte (ignored on reception, zero on emission). */
  get reserved(): number {
    return this.buf[1]!;
  }
  /** Offset of the fragment data in the fragmentable part, in bytes (a multiple of 8). */
  get fragOffset(): number {
    return read16(this.buf, 2) & 0xfff8;
  }
  set fragOffset(bytes: number) {
    write16(this.buf, 2, (bytes & 0xfff8) | (read16(this.buf, 2) & 7));
  }
  /** The two reserved bits (ignored on reception). */
  get reservedBits(): number {
    return (this.buf[3]! >>> 1) & 3;
  }
  get more(): boolean {
    return (this.buf[3]! & 1) !== 0;
  }
  set more(v: boolean) {
    this.buf[3] = v ? this.buf[3]! | 1 : this.buf[3]! & ~1;
  }
  get ident(): number {
    return read32(this.buf, 4);
  }
  set ident(v: number) {
    write32(this.buf, 4, v);
  }
  /** Offset 0 and M clear (RFC 6946). */
  get isAtomic(): boolean {
    return (read16(this.buf, 2) & 0xfff9) === 0;
  }
}

export interface Ipv6FragmentRepr {
  nextHeader: number;
  /** In bytes, a multiple of 8. */
  fragOffset: number;
  more: boolean;
  ident: number;
}

export function parseIpv6Fragment(buf: Uint8Array): Ipv6FragmentRepr | string {
  const err = Ipv6FragmentPacket.check(buf);
  if (err) return err;
  const p = new Ipv6FragmentPacket(buf);
  return { nextHeader: p.nextHeader, fragOffset: p.fragOffset, more: p.more, ident: p.ident };
}

/** Writes the 8-byte fragment header (reserved fields zero) into `buf[0..8)`; returns 8. */
export function emitIpv6Fragment(repr: Ipv6FragmentRepr, buf: Uint8Array): number {
  buf[0] = repr.nextHeader;
  buf[1] = 0;
  write16(buf, 2, (repr.fragOffset & 0xfff8) | (repr.more ? 1 : 0));
  write32(buf, 4, repr.ident);
  return IPV6_FRAG_HEADER_LEN;
}

// ---------------------------------------------------------------------------------------------
// The chain walker

/** An ICMPv6 Parameter Problem to send (RFC 4443 §3.4). */
export interface Ipv6ParamProblem {
  code: number;
  /** Offset into the invoking packet (from the start of the IPv6 header). */
  pointer: number;
  /**
   * True only for an unrecognized option with action 10: the one error sent even when the
   * destination was multicast (RFC 4443 §2.4 e.3). Otherwise apply the usual suppression.
   */
  allowMulticast: boolean;
}

export interface Ipv6FragmentInfo {
  /** The fragment's Next Header (protocol of the fragmentable part). */
  nextHeader: number;
  /** In bytes. */
  fragOffset: number;
  more: boolean;
  ident: number;
  /** Where the fragment header starts in the packet. */
  headerOffset: number;
  /** Offset of the Next Header byte that holds 44 (6 when right after the fixed header). */
  prevNextHeaderOffset: number;
}

export interface Ipv6RoutingInfo {
  routingType: number;
  segmentsLeft: number;
  headerOffset: number;
}

export interface Ipv6ChainOk {
  drop: null;
  /** The upper-layer protocol (or the unknown / non-extension Next Header value). */
  protocol: number;
  /** Where its header (or, for a non-atomic fragment, the fragment data) starts. */
  offset: number;
  /** 40 + Payload Length: the upper layer is `packet.subarray(offset, end)`. */
  end: number;
  /** Offset of the byte holding `protocol`: the pointer for Parameter Problem code 1. */
  nextHeaderOffset: number;
  /** The fragment header, if any (non-atomic: the walk stopped there). */
  fragment: Ipv6FragmentInfo | null;
  /** The last routing header seen (Segments Left 0), if any. */
  routing: Ipv6RoutingInfo | null;
  /** The Router Alert value from Hop-by-Hop, or null. */
  routerAlert: number | null;
  hopByHop: boolean;
  /** Extension headers walked. */
  headers: number;
}

export interface Ipv6ChainDrop {
  drop: string;
  /** The Parameter Problem to answer with, or null for a silent drop. */
  icmp: Ipv6ParamProblem | null;
}

export type Ipv6ChainResult = Ipv6ChainOk | Ipv6ChainDrop;

function dropped(drop: string, code = -1, pointer = 0, allowMulticast = false): Ipv6ChainDrop {
  return { drop, icmp: code < 0 ? null : { code, pointer, allowMulticast } };
}

/** Walks options in `p[start..end)`; returns the Router Alert value, -1 for none, or a drop. */
function walkOptions(p: Uint8Array, start: number, end: number, hbh: boolean, multicastDst: boolean): number | Ipv6ChainDrop {
  let ra = -1;
  let i = start;
  while (i < end) {
    const t = p[i]!;
    if (t === Ipv6OptionType.PAD1) {
      i++;
      continue;
    }
    if (i + 2 > end) return dropped(Ipv6ExtDrop.badOption);
    const len = p[i + 1]!;
    if (i + 2 + len > end) return dropped(Ipv6ExtDrop.badOption);
    if (t === Ipv6OptionType.PADN) {
      // padding
    } else if (t === Ipv6OptionType.ROUTER_ALERT && hbh) {
      if (len !== 2) return dropped(Ipv6ExtDrop.badOption);
      ra = read16(p, i + 2);
    } else {
      switch (ipv6OptionAction(t)) {
        case Ipv6OptionAction.SKIP:
          break;
        case Ipv6OptionAction.DISCARD:
          return dropped(Ipv6ExtDrop.unknownOption);
        case Ipv6OptionAction.DISCARD_ICMP:
          return dropped(Ipv6ExtDrop.unknownOption, Ipv6ParamProblemCode.UNRECOGNIZED_OPTION, i, true);
        default:
          if (multicastDst) return dropped(Ipv6ExtDrop.unknownOption);
          return dropped(Ipv6ExtDrop.unknownOption, Ipv6ParamProblemCode.UNRECOGNIZED_OPTION, i, false);
      }
    }
    i += 2 + len;
  }
  return ra;
}

/** Minimum upper-layer header sizes checked in a first fragment (as Linux: TCP, UDP, ICMPv6). */
function upperHeaderMin(nh: number): number {
  return nh === IpProtocol.TCP ? 20 : nh === IpProtocol.UDP ? 8 : nh === IpProtocol.ICMPV6 ? 8 : 0;
}

/**
 * RFC 8200 §4.5 / RFC 7112: a first fragment must hold the rest of the header chain and the
 * upper-layer header. Steps over extension headers in `p[off..end)` without processing them.
 */
function firstFragmentComplete(p: Uint8Array, off: number, nh: number, end: number, headers: number): boolean {
  while (isIpv6ExtensionHeader(nh)) {
    if (++headers > IPV6_MAX_EXT_HEADERS) return true; // left for the walk after reassembly
    if (nh === IpProtocol.IPV6_FRAG) {
      if (off + IPV6_FRAG_HEADER_LEN > end) return false;
      nh = p[off]!;
      off += IPV6_FRAG_HEADER_LEN;
      continue;
    }
    if (off + 2 > end) return false;
    const len = (p[off + 1]! + 1) * 8;
    if (off + len > end) return false;
    nh = p[off]!;
    off += len;
  }
  return off + upperHeaderMin(nh) <= end;
}

/**
 * Walks the extension headers of a whole IPv6 packet (`packet[0]` is the fixed header). Never
 * throws and never reads past min(buffer, 40 + Payload Length). See the module comment for the
 * policy. A packet failing `Ipv6Packet.check` is dropped with that reason.
 */
export function walkIpv6Chain(packet: Uint8Array): Ipv6ChainResult {
  const err = Ipv6Packet.check(packet);
  if (err) return dropped(err);
  const end = IPV6_HEADER_LEN + read16(packet, 4);
  const multicastDst = packet[24] === 0xff;
  let nh = packet[6]!;
  let nhOff = 6;
  let off = IPV6_HEADER_LEN;
  let headers = 0;
  let fragment: Ipv6FragmentInfo | null = null;
  let routing: Ipv6RoutingInfo | null = null;
  let routerAlert: number | null = null;
  let hopByHop = false;

  for (;;) {
    if (nh === IpProtocol.HOPOPT || nh === IpProtocol.IPV6_OPTS) {
      const hbh = nh === IpProtocol.HOPOPT;
      if (hbh && off !== IPV6_HEADER_LEN) {
        return dropped(Ipv6ExtDrop.hbhNotFirst, Ipv6ParamProblemCode.UNRECOGNIZED_NEXT_HEADER, nhOff);
      }
      if (++headers > IPV6_MAX_EXT_HEADERS) return dropped(Ipv6ExtDrop.tooManyHeaders);
      if (off + 2 > end) return dropped(Ipv6ExtDrop.truncated);
      const len = (packet[off + 1]! + 1) * 8;
      if (off + len > end) return dropped(Ipv6ExtDrop.truncated);
      const r = walkOptions(packet, off + 2, off + len, hbh, multicastDst);
      if (typeof r !== 'number') return r;
      if (hbh) {
        hopByHop = true;
        if (r >= 0) routerAlert = r;
      }
      nh = packet[off]!;
      nhOff = off;
      off += len;
    } else if (nh === IpProtocol.IPV6_ROUTE) {
      if (++headers > IPV6_MAX_EXT_HEADERS) return dropped(Ipv6ExtDrop.tooManyHeaders);
      if (off + 4 > end) return dropped(Ipv6ExtDrop.truncated);
      const len = (packet[off + 1]! + 1) * 8;
      if (off + len > end) return dropped(Ipv6ExtDrop.truncated);
      const segmentsLeft = packet[off + 3]!;
      if (segmentsLeft !== 0) {
        return dropped(Ipv6ExtDrop.unknownRoutingType, Ipv6ParamProblemCode.ERRONEOUS_HEADER, off + 2);
      }
      routing = { routingType: packet[off + 2]!, segmentsLeft, headerOffset: off };
      nh = packet[off]!;
      nhOff = off;
      off += len;
    } else if (nh === IpProtocol.IPV6_FRAG) {
      if (++headers > IPV6_MAX_EXT_HEADERS) return dropped(Ipv6ExtDrop.tooManyHeaders);
      if (off + IPV6_FRAG_HEADER_LEN > end) return dropped(Ipv6ExtDrop.truncated);
      const f = new Ipv6FragmentPacket(packet.subarray(off, off + IPV6_FRAG_HEADER_LEN));
      const dataStart = off + IPV6_FRAG_HEADER_LEN;
      const dataLen = end - dataStart;
      if (f.more && (dataLen & 7) !== 0) {
        return dropped(Ipv6ExtDrop.badFragmentLength, Ipv6ParamProblemCode.ERRONEOUS_HEADER, 4);
      }
      if (off - IPV6_HEADER_LEN + f.fragOffset + dataLen > 0xffff) {
        return dropped(Ipv6ExtDrop.badFragmentOffset, Ipv6ParamProblemCode.ERRONEOUS_HEADER, off + 2);
      }
      fragment = {
        nextHeader: f.nextHeader,
        fragOffset: f.fragOffset,
        more: f.more,
        ident: f.ident,
        headerOffset: off,
        prevNextHeaderOffset: nhOff,
      };
      nh = f.nextHeader;
      nhOff = off;
      off = dataStart;
      if (!f.isAtomic) {
        if (f.fragOffset === 0 && !firstFragmentComplete(packet, dataStart, nh, end, headers)) {
          return dropped(Ipv6ExtDrop.firstFragmentIncomplete, Ipv6ParamProblemCode.FIRST_FRAGMENT_INCOMPLETE_CHAIN, 0);
        }
        break;
      }
    } else {
      break;
    }
  }
  return { drop: null, protocol: nh, offset: off, end, nextHeaderOffset: nhOff, fragment, routing, routerAlert, hopByHop, headers };
}
