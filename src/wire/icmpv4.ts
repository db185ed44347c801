/**
 * ICMP for IPv4 (RFC 792; "fragmentation needed" with the next-hop MTU from RFC 1191).
 *
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |  Type  |  Code  |    Checksum     |
 * +--------+--------+--------+--------+
 * |  Rest of header (by type)         |   echo: identifier, sequence number
 * +--------+--------+--------+--------+   dest. unreachable code 4: unused(16), next-hop MTU(16)
 * |  Data ...                              parameter problem: pointer(8), unused(24)
 * +--------
 *
 * The checksum covers the whole message (no pseudo-header). Error messages (destination
 * unreachable, time exceeded, parameter problem, and the deprecated source quench and redirect)
 * quote the invoking packet: its IP header plus at least 8 bytes of its payload (RFC 1122
 * §3.2.2; RFC 1812 §4.3.2.3 asks routers to quote as much as fits in a 576-byte datagram).
 * The quoted packet is left to the IP layer, which parses its header and hands the first 8
 * bytes of the transport header to the transport.
 *
 * Follows the `udp.ts` template: `Icmpv4Packet` view + `check`, `parseIcmpv4`, `emitIcmpv4`.
 */
import { checksum, finish, sumBytes } from './checksum.js';
import { read16, read32, write16, write32 } from './bytes.js';

export const ICMPV4_HEADER_LEN = 8;

/** The IPv4 datagram size an ICMPv4 error must not exceed (RFC 1812 §4.3.2.3, RFC 1122). */
export const ICMPV4_ERROR_MAX_DATAGRAM = 576;
/** Default cap for the ICMPv4 error message itself: 576 minus a 20-byte IPv4 header. */
export const ICMPV4_ERROR_MAX_LEN = ICMPV4_ERROR_MAX_DATAGRAM - 20;
/** The shortest quoted packet a received error may carry: a 20-byte IPv4 header + 8 bytes. */
export const ICMPV4_ERROR_MIN_INVOKING = 28;

export const Icmpv4Type = {
  EchoReply: 0,
  DstUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParamProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const Icmpv4DstUnreachable = {
  NetUnreachable: 0,
  HostUnreachable: 1,
  ProtoUnreachable: 2,
  PortUnreachable: 3,
  /** Fragmentation needed and DF set; carries the next-hop MTU (RFC 1191). */
  FragNeeded: 4,
  SrcRouteFailed: 5,
  DstNetUnknown: 6,
  DstHostUnknown: 7,
  SrcHostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetUnreachableTos: 11,
  HostUnreachableTos: 12,
  CommProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
} as const;

export const Icmpv4TimeExceeded = {
  TtlExceeded: 0,
  FragReassembly: 1,
} as const;

export const Icmpv4ParamProblem = {
  /** The pointer field indicates the error. */
  Pointer: 0,
  MissingOption: 1,
  BadLength: 2,
} as const;

export const Icmpv4Drop = {
  truncated: 'icmpv4.truncated',
  badChecksum: 'icmpv4.bad_checksum',
  /** An error message quoting fewer than 28 bytes (IPv4 header + 8) of the invoking packet. */
  shortError: 'icmpv4.short_error',
} as const;

/** True for the error types (which must never be answered with an ICMP error, RFC 1122 §3.2.2). */
export function isIcmpv4Error(type: number): boolean {
  return (
    type === Icmpv4Type.DstUnreachable ||
    type === Icmpv4Type.SourceQuench ||
    type === Icmpv4Type.Redirect ||
    type === Icmpv4Type.TimeExceeded ||
    type === Icmpv4Type.ParamProblem
  );
}

export class Icmpv4Packet {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the 8-byte header is present (the buffer is the whole message). */
  static check(buf: Uint8Array): string | null {
    if (buf.length < ICMPV4_HEADER_LEN) return Icmpv4Drop.truncated;
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
  /** Echo identifier. */
  get ident(): number {
    return read16(this.buf, 4);
  }
  /** Echo sequence number. */
  get seq(): number {
    return read16(this.buf, 6);
  }
  /** Next-hop MTU of "fragmentation needed" (RFC 1191); 0 from pre-RFC 1191 routers. */
  get nextHopMtu(): number {
    return read16(this.buf, 6);
  }
  /** Parameter problem pointer: the offset of the bad octet in the quoted header. */
  get pointer(): number {
    return this.buf[4]!;
  }
  /** The second header word as a u32 (what a type we do not know puts there). */
  get rest(): number {
    return read32(this.buf, 4);
  }
  /** Everything after the 8-byte header, as a view (echo data or the quoted packet). */
  data(): Uint8Array {
    return this.buf.subarray(ICMPV4_HEADER_LEN);
  }

  verifyChecksum(): boolean {
    return finish(sumBytes(this.buf, 0, this.buf.length)) === 0;
  }

  /** Recomputes the checksum over the whole buffer (e.g. after turning a request into a reply). */
  fillChecksum(): void {
    write16(this.buf, 2, 0);
    write16(this.buf, 2, checksum(this.buf));
  }
}

export interface Icmpv4EchoRepr {
  kind: 'echoRequest' | 'echoReply';
  ident: number;
  seq: number;
  /** Any size, including zero and odd lengths. */
  data: Uint8Array;
}

export interface Icmpv4DstUnreachableRepr {
  kind: 'dstUnreachable';
  code: number;
  /** Next-hop MTU for code 4 (RFC 1191), else 0. */
  nextHopMtu: number;
  /** The quoted invoking packet (IP header + at least 8 bytes). */
  invoking: Uint8Array;
}

export interface Icmpv4TimeExceededRepr {
  kind: 'timeExceeded';
  code: number;
  invoking: Uint8Array;
}

export interface Icmpv4ParamProblemRepr {
  kind: 'paramProblem';
  code: number;
  pointer: number;
  invoking: Uint8Array;
}

/** Any other type (timestamp, redirect, source quench, unknown ...): kept raw. */
export interface Icmpv4OtherRepr {
  kind: 'other';
  type: number;
  code: number;
  /** The second header word (bytes 4..8) as a u32. */
  rest: number;
  data: Uint8Array;
}

export type Icmpv4ErrorRepr = Icmpv4DstUnreachableRepr | Icmpv4TimeExceededRepr | Icmpv4ParamProblemRepr;
export type Icmpv4Repr = Icmpv4EchoRepr | Icmpv4ErrorRepr | Icmpv4OtherRepr;

/**
 * Checks and parses a message; `buf` is exactly the ICMP message (the IP payload). Verifies the
 * checksum, and that an error we interpret quotes at least 28 bytes. Data fields are views.
 */
export function parseIcmpv4(buf: Uint8Array): Icmpv4Repr | string {
  const err = Icmpv4Packet.check(buf);
  if (err) return err;
  const p = new Icmpv4Packet(buf);
  if (!p.verifyChecksum()) return Icmpv4Drop.badChecksum;
  const type = p.type;
  switch (type) {
    case Icmpv4Type.EchoRequest:
    case Icmpv4Type.EchoReply:
      return {
        kind: type === Icmpv4Type.EchoRequest ? 'echoRequest' : 'echoReply',
        ident: p.ident,
        seq: p.seq,
        data: p.data(),
      };
    case Icmpv4Type.DstUnreachable:
    case Icmpv4Type.TimeExceeded:
    case Icmpv4Type.ParamProblem: {
      const invoking = p.data();
      if (invoking.length < ICMPV4_ERROR_MIN_INVOKING) return Icmpv4Drop.shortError;
      if (type === Icmpv4Type.DstUnreachable) {
        const mtu = p.code === Icmpv4DstUnreachable.FragNeeded ? p.nextHopMtu : 0;
        return { kind: 'dstUnreachable', code: p.code, nextHopMtu: mtu, invoking };
      }
      if (type === Icmpv4Type.TimeExceeded) return { kind: 'timeExceeded', code: p.code, invoking };
      return { kind: 'paramProblem', code: p.code, pointer: p.pointer, invoking };
    }
    default:
      return { kind: 'other', type, code: p.code, rest: p.rest, data: p.data() };
  }
}

function reprType(repr: Icmpv4Repr): number {
  switch (repr.kind) {
    case 'echoRequest':
      return Icmpv4Type.EchoRequest;
    case 'echoReply':
      return Icmpv4Type.EchoReply;
    case 'dstUnreachable':
      return Icmpv4Type.DstUnreachable;
    case 'timeExceeded':
      return Icmpv4Type.TimeExceeded;
    case 'paramProblem':
      return Icmpv4Type.ParamProblem;
    case 'other':
      return repr.type;
  }
}

function reprData(repr: Icmpv4Repr): Uint8Array {
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
    case 'other':
      return repr.data;
    default:
      return repr.invoking;
  }
}

/** The message length `emitIcmpv4` writes: 8 + data (or quoted packet) length. */
export function icmpv4Length(repr: Icmpv4Repr): number {
  return ICMPV4_HEADER_LEN + reprData(repr).length;
}

/**
 * Writes the whole message into `buf[0..icmpv4Length(repr))`: the header, the data (copied
 * unless it is already in place at `buf[8..]`) and the checksum over that range. `buf` must be
 * at least that long. Returns the header length (8).
 */
export function emitIcmpv4(repr: Icmpv4Repr, buf: Uint8Array): number {
  const data = reprData(repr);
  const len = ICMPV4_HEADER_LEN + data.length;
  buf[0] = reprType(repr);
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      buf[1] = 0;
      write16(buf, 4, repr.ident);
      write16(buf, 6, repr.seq);
      break;
    case 'dstUnreachable':
      buf[1] = repr.code;
      write16(buf, 4, 0);
      write16(buf, 6, repr.code === Icmpv4DstUnreachable.FragNeeded ? repr.nextHopMtu : 0);
      break;
    case 'timeExceeded':
      buf[1] = repr.code;
      write32(buf, 4, 0);
      break;
    case 'paramProblem':
      buf[1] = repr.code;
      write32(buf, 4, 0);
      buf[4] = repr.pointer;
      break;
    case 'other':
      buf[1] = repr.code;
      write32(buf, 4, repr.rest);
      break;
  }
  copyInPlace(data, buf, ICMPV4_HEADER_LEN);
  write16(buf, 2, 0);
  write16(buf, 2, checksum(buf, 0, len));
  return ICMPV4_HEADER_LEN;
}

/** Copies `src` to `dst[at..]` unless it is already that very view (overlap is handled by `set`). */
function copyInPlace(src: Uint8Array, dst: Uint8Array, at: number): void {
  if (src.length === 0) return;
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset + at) return;
  dst.set(src, at);
}

/**
 * The length of an error message quoting an `invokingLen`-byte packet, capped at `maxLen`
 * (the ICMP message limit: pass `ICMPV4_ERROR_MAX_DATAGRAM - outgoing IP header length`).
 */
export function icmpv4ErrorLength(invokingLen: number, maxLen: number = ICMPV4_ERROR_MAX_LEN): number {
  return Math.max(ICMPV4_HEADER_LEN, Math.min(ICMPV4_HEADER_LEN + invokingLen, maxLen));
}

/**
 * Writes an error message whose `invoking` field is the whole offending packet (from its IP
 * header on): quotes as much as fits in `min(maxLen, buf.length)` bytes, writes the checksum,
 * and returns the message length (`icmpv4ErrorLength(invoking.length, maxLen)` when `buf` is
 * at least that long). Size `buf` with `icmpv4ErrorLength`.
 */
export function emitIcmpv4Error(repr: Icmpv4ErrorRepr, buf: Uint8Array, maxLen: number = ICMPV4_ERROR_MAX_LEN): number {
  const len = Math.min(icmpv4ErrorLength(repr.invoking.length, maxLen), buf.length);
  const quoted = repr.invoking.subarray(0, Math.max(0, len - ICMPV4_HEADER_LEN));
  emitIcmpv4({ ...repr, invoking: quoted }, buf);
  return ICMPV4_HEADER_LEN + quoted.length;
}
