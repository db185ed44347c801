/**
 * ICMP for IPv6 (RFC 4443); Neighbor Discovery types 133-137 are parsed by `ndp.ts`.
 *
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |  Type  |  Code  |    Checksum     |
 * +--------+--------+--------+--------+
 * |  Rest of header (by type)         |   echo: identifier, sequence number
 * +--------+--------+--------+--------+   packet too big: MTU (32)
 * |  Data ...                              parameter problem: pointer (32)
 * +--------
 *
 * The checksum covers the IPv6 pseudo-header (next header 58) and the whole message: callers
 * pass `pseudoSum = pseudoHeaderSumV6(src, dst, 58, messageLength)`, as for UDP. Types below
 * 128 are errors; they quote as much of the invoking packet as fits without the error packet
 * exceeding the IPv6 minimum MTU (1280 bytes, RFC 4443 §2.4 (c)).
 *
 * Follows the `udp.ts` template: `Icmpv6Packet` view + `check`, `parseIcmpv6`, `emitIcmpv6`.
 */
import { finish, sumBytes } from './checksum.js';
import { read16, read32, write16, write32 } from './bytes.js';
import { emitNdp, isNdpType, ndpLength, parseNdpUnchecked, type NdpRepr } from './ndp.js';

export const ICMPV6_HEADER_LEN = 8;
/** The IPv6 next-header value of ICMPv6. */
export const IPPROTO_ICMPV6 = 58;
/** The IPv6 minimum MTU, which an ICMPv6 error packet must not exceed (RFC 4443 §2.4 (c)). */
export const IPV6_MIN_MTU = 1280;
/** Default cap for the ICMPv6 error message itself: 1280 minus a 40-byte IPv6 header. */
export const ICMPV6_ERROR_MAX_LEN = IPV6_MIN_MTU - 40;
/** The shortest quoted packet a received error may carry: a 40-byte IPv6 header + 8 bytes. */
export const ICMPV6_ERROR_MIN_INVOKING = 48;

export const Icmpv6Type = {
  DstUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParamProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  RouterSolicit: 133,
  RouterAdvert: 134,
  NeighborSolicit: 135,
  NeighborAdvert: 136,
  Redirect: 137,
} as const;

export const Icmpv6DstUnreachable = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  AddrUnreachable: 3,
  PortUnreachable: 4,
  SrcAddrFailedPolicy: 5,
  RejectRoute: 6,
  SrcRoutingHeaderError: 7,
} as const;

export const Icmpv6TimeExceeded = {
  HopLimitExceeded: 0,
  FragReassembly: 1,
} as const;

export const Icmpv6ParamProblem = {
  ErroneousHeaderField: 0,
  UnrecognizedNextHeader: 1,
  UnrecognizedOption: 2,
} as const;

export const Icmpv6Drop = {
  truncated: 'icmpv6.truncated',
  badChecksum: 'icmpv6.bad_checksum',
  /** An error message quoting fewer than 48 bytes (IPv6 header + 8) of the invoking packet. */
  shortError: 'icmpv6.short_error',
} as const;

/** True for error messages (types 0-127, RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

export class Icmpv6Packet {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the 8-byte header is present (the buffer is the whole message). */
  static check(buf: Uint8Array): string | null {
    if (buf.length < ICMPV6_HEADER_LEN) return Icmpv6Drop.truncated;
    return null;
  }

  get type(): number {
    return this.buf[0]!;
  }
  set type(v: number) {
    this.buf[0] = v;
  }
  get code(): number {
    return this.buf[1]!;
  }
  set code(v: number) {
    this.buf[1] = v;
  }
  get checksum(): number {
    return read16(this.buf, 2);
  }
  get ident(): number {
    return read16(this.buf, 4);
  }
  get seq(): number {
    return read16(this.buf, 6);
  }
  /** Packet too big: the next-hop MTU. */
  get mtu(): number {
    return read32(this.buf, 4);
  }
  /** Parameter problem: offset of the error in the quoted packet. */
  get pointer(): number {
    return read32(this.buf, 4);
  }
  /** The second header word as a u32. */
  get rest(): number {
    return read32(this.buf, 4);
  }
  /** Everything after the 8-byte header, as a view. */
  data(): Uint8Array {
    return this.buf.subarray(ICMPV6_HEADER_LEN);
  }

  verifyChecksum(pseudoSum: number): boolean {
    return finish(sumBytes(this.buf, 0, this.buf.length, pseudoSum)) === 0;
  }

  /** Recomputes the checksum over the whole buffer with a new pseudo-header sum. */
  fillChecksum(pseudoSum: number): void {
    write16(this.buf, 2, 0);
    write16(this.buf, 2, finish(sumBytes(this.buf, 0, this.buf.length, pseudoSum)));
  }
}

export interface Icmpv6EchoRepr {
  kind: 'echoRequest' | 'echoReply';
  ident: number;
  seq: number;
  data: Uint8Array;
}

export interface Icmpv6DstUnreachableRepr {
  kind: 'dstUnreachable';
  code: number;
  invoking: Uint8Array;
}

export interface Icmpv6PacketTooBigRepr {
  kind: 'packetTooBig';
  /** Code is 0 on emit; whatever it was on parse. */
  code: number;
  mtu: number;
  invoking: Uint8Array;
}

export interface Icmpv6TimeExceededRepr {
  kind: 'timeExceeded';
  code: number;
  invoking: Uint8Array;
}

export interface Icmpv6ParamProblemRepr {
  kind: 'paramProblem';
  code: number;
  pointer: number;
  invoking: Uint8Array;
}

/** Any other type: unknown errors (to pass up per RFC 4443 §2.4 (d)) and informational messages. */
export interface Icmpv6OtherRepr {
  kind: 'other';
  type: number;
  code: number;
  rest: number;
  data: Uint8Array;
}

export type Icmpv6ErrorRepr =
  | Icmpv6DstUnreachableRepr
  | Icmpv6PacketTooBigRepr
  | Icmpv6TimeExceededRepr
  | Icmpv6ParamProblemRepr;

/** ND messages are part of the union with their own kinds (see ndp.ts). */
export type Icmpv6Repr = Icmpv6EchoRepr | Icmpv6ErrorRepr | Icmpv6OtherRepr | NdpRepr;

/**
 * Checks and parses a message; `buf` is exactly the ICMPv6 message, `pseudoSum` from
 * pseudoHeaderSumV6(src, dst, 58, buf.length). ND types are checked and parsed by ndp.ts (drop
 * reasons 'ndp.*'); the IP layer then applies `ndpCheckIpHeader` (hop limit 255 etc.).
 */
export function parseIcmpv6(buf: Uint8Array, pseudoSum: number): Icmpv6Repr | string {
  const err = Icmpv6Packet.check(buf);
  if (err) return err;
  const p = new Icmpv6Packet(buf);
  if (!p.verifyChecksum(pseudoSum)) return Icmpv6Drop.badChecksum;
  const type = p.type;
  if (isNdpType(type)) return parseNdpUnchecked(buf);
  switch (type) {
    case Icmpv6Type.EchoRequest:
    case Icmpv6Type.EchoReply:
      return {
        kind: type === Icmpv6Type.EchoRequest ? 'echoRequest' : 'echoReply',
        ident: p.ident,
        seq: p.seq,
        data: p.data(),
      };
    case Icmpv6Type.DstUnreachable:
    case Icmpv6Type.PacketTooBig:
    case Icmpv6Type.TimeExceeded:
    case Icmpv6Type.ParamProblem: {
      const invoking = p.data();
      if (invoking.length < ICMPV6_ERROR_MIN_INVOKING) return Icmpv6Drop.shortError;
      const code = p.code;
      if (type === Icmpv6Type.DstUnreachable) return { kind: 'dstUnreachable', code, invoking };
      if (type === Icmpv6Type.PacketTooBig) return { kind: 'packetTooBig', code, mtu: p.mtu, invoking };
      if (type === Icmpv6Type.TimeExceeded) return { kind: 'timeExceeded', code, invoking };
      return { kind: 'paramProblem', code, pointer: p.pointer, invoking };
    }
    default:
      return { kind: 'other', type, code: p.code, rest: p.rest, data: p.data() };
  }
}

function isNdpRepr(repr: Icmpv6Repr): repr is NdpRepr {
  switch (repr.kind) {
    case 'routerSolicit':
    case 'routerAdvert':
    case 'neighborSolicit':
    case 'neighborAdvert':
    case 'redirect':
      return true;
    default:
      return false;
  }
}

function reprData(repr: Icmpv6EchoRepr | Icmpv6ErrorRepr | Icmpv6OtherRepr): Uint8Array {
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
    case 'other':
      return repr.data;
    default:
      return repr.invoking;
  }
}

/** The message length `emitIcmpv6` writes (use it for the pseudo-header and IPv6 payload length). */
export function icmpv6Length(repr: Icmpv6Repr): number {
  if (isNdpRepr(repr)) return ndpLength(repr);
  return ICMPV6_HEADER_LEN + reprData(repr).length;
}

/**
 * Writes the whole message into `buf[0..icmpv6Length(repr))`: header, data (copied unless
 * already in place at `buf[8..]`) and the checksum; `pseudoSum` must use icmpv6Length(repr).
 * ND kinds go to `emitNdp`. Returns the header length (8) — for ND kinds too.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, pseudoSum: number): number {
  if (isNdpRepr(repr)) {
    emitNdp(repr, buf, pseudoSum);
    return ICMPV6_HEADER_LEN;
  }
  const data = reprData(repr);
  const len = ICMPV6_HEADER_LEN + data.length;
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      buf[0] = repr.kind === 'echoRequest' ? Icmpv6Type.EchoRequest : Icmpv6Type.EchoReply;
      buf[1] = 0;
      write16(buf, 4, repr.ident);
      write16(buf, 6, repr.seq);
      break;
    case 'dstUnreachable':
      buf[0] = Icmpv6Type.DstUnreachable;
      buf[1] = repr.code;
      write32(buf, 4, 0);
      break;
    case 'packetTooBig':
      buf[0] = Icmpv6Type.PacketTooBig;
      buf[1] = repr.code;
      write32(buf, 4, repr.mtu);
      break;
    case 'timeExceeded':
      buf[0] = Icmpv6Type.TimeExceeded;
      buf[1] = repr.code;
      write32(buf, 4, 0);
      break;
    case 'paramProblem':
      buf[0] = Icmpv6Type.ParamProblem;
      buf[1] = repr.code;
      write32(buf, 4, repr.pointer);
      break;
    case 'other':
      buf[0] = repr.type;
      buf[1] = repr.code;
      write32(buf, 4, repr.rest);
      break;
  }
  if (data.length > 0 && !(data.buffer === buf.buffer && data.byteOffset === buf.byteOffset + ICMPV6_HEADER_LEN)) {
    buf.set(data, ICMPV6_HEADER_LEN);
  }
  write16(buf, 2, 0);
  write16(buf, 2, finish(sumBytes(buf, 0, len, pseudoSum)));
  return ICMPV6_HEADER_LEN;
}

/**
 * The length of an error message quoting an `invokingLen`-byte packet, capped at `maxLen` (the
 * ICMPv6 message limit: `IPV6_MIN_MTU - outgoing IPv6 header length`, 1240 by default).
 * Compute this first: the pseudo-header sum for `emitIcmpv6Error` needs it.
 */
export function icmpv6ErrorLength(invokingLen: number, maxLen: number = ICMPV6_ERROR_MAX_LEN): number {
  return Math.max(ICMPV6_HEADER_LEN, Math.min(ICMPV6_HEADER_LEN + invokingLen, maxLen));
}

/**
 * Writes an error whose `invoking` is the whole offending packet (from its IPv6 header on),
 * quoting as much as fits in `min(maxLen, buf.length)` bytes. `pseudoSum` must use
 * `icmpv6ErrorLength(invoking.length, maxLen)`. Returns the message length.
 */
export function emitIcmpv6Error(
  repr: Icmpv6ErrorRepr,
  buf: Uint8Array,
  pseudoSum: number,
  maxLen: number = ICMPV6_ERROR_MAX_LEN,
): number {
  const len = Math.min(icmpv6ErrorLength(repr.invoking.length, maxLen), buf.length);
  const quoted = repr.invoking.subarray(0, Math.max(0, len - ICMPV6_HEADER_LEN));
  emitIcmpv6({ ...repr, invoking: quoted }, buf, pseudoSum);
  return ICMPV6_HEADER_LEN + quoted.length;
}
