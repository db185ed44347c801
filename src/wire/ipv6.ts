/**
 * IPv6 fixed header (RFC 8200 §3).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Version| Traffic Class |           Flow Label                  |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Payload Length        |  Next Header  |   Hop Limit   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                    Source Address (16)                        |
 * |                 Destination Address (16)                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Follows the template in udp.ts. Addresses are zero-copy 16-byte views. Trailing bytes past
 * 40 + Payload Length (link padding) are excluded from `payload()`. Jumbograms (Payload Length 0
 * with a Jumbo Payload option, RFC 2675) are not supported: Payload Length 0 means an empty
 * payload. Extension headers: ipv6-ext.ts (`walkIpv6Chain`). Source/destination policy (e.g. a
 * multicast source) is the IP layer's.
 */
import { read16, write16 } from './bytes.js';

export { IpProtocol } from './ipv4.js';

export const IPV6_HEADER_LEN = 40;
/** The minimum link MTU (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;

export const Ipv6Drop = {
  truncated: 'ipv6.truncated',
  badVersion: 'ipv6.bad_version',
  badLength: 'ipv6.bad_length',
} as const;

export class Ipv6Packet {
  constructor(readonly buf: Uint8Array) {}

  /** Null when 40 bytes are present, the version is 6 and 40 + Payload Length ≤ buffer. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < IPV6_HEADER_LEN) return Ipv6Drop.truncated;
    if (buf[0]! >>> 4 !== 6) return Ipv6Drop.badVersion;
    if (IPV6_HEADER_LEN + read16(buf, 4) > buf.length) return Ipv6Drop.badLength;
    return null;
  }

  get version(): number {
    return this.buf[0]! >>> 4;
  }
  get trafficClass(): number {
    return ((this.buf[0]! & 0x0f) << 4) | (this.buf[1]! >>> 4);
  }
  set trafficClass(v: number) {
    this.buf[0] = (this.buf[0]! & 0xf0) | ((v >>> 4) & 0x0f);
    this.buf[1] = ((v & 0x0f) << 4) | (this.buf[1]! & 0x0f);
  }
  get dscp(): number {
    return this.trafficClass >>> 2;
  }
  get ecn(): number {
    return this.trafficClass & 3;
  }
  get flowLabel(): number {
    return ((this.buf[1]! & 0x0f) << 16) | (this.buf[2]! << 8) | this.buf[3]!;
  }
  set flowLabel(v: number) {
    this.buf[1] = (this.buf[1]! & 0xf0) | ((v >>> 16) & 0x0f);
    this.buf[2] = (v >>> 8) & 0xff;
    this.buf[3] = v & 0xff;
  }
  /** Bytes after the fixed header (extension headers included). */
  get payloadLength(): number {
    return read16(this.buf, 4);
  }
  set payloadLength(v: number) {
    write16(this.buf, 4, v);
  }
  get nextHeader(): number {
    return this.buf[6]!;
  }
  set nextHeader(v: number) {
    this.buf[6] = v;
  }
  get hopLimit(): number {
    return this.buf[7]!;
  }
  set hopLimit(v: number) {
    this.buf[7] = v;
  }
  /** The source address, as a view. */
  get src(): Uint8Array {
    return this.buf.subarray(8, 24);
  }
  /** Copies 16 bytes into the source field. */
  set src(a: Uint8Array) {
    this.buf.set(a.subarray(0, 16), 8);
  }
  /** The destination address, as a view. */
  get dst(): Uint8Array {
    return this.buf.subarray(24, 40);
  }
  set dst(a: Uint8Array) {
    this.buf.set(a.subarray(0, 16), 24);
  }
  /** Everything after the fixed header up to Payload Length, as a view. */
  payload(): Uint8Array {
    return this.buf.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLength);
  }
}

export interface Ipv6Repr {
  /** 16-byte addresses (views into the packet when parsed). */
  src: Uint8Array;
  dst: Uint8Array;
  nextHeader: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
  /** Bytes after the fixed header, extension headers included. */
  payloadLength: number;
}

/** What parseIpv6 returns: the Repr plus a view of the payload (extension headers included). */
export interface Ipv6Parsed extends Ipv6Repr {
  payload: Uint8Array;
}

/** What emitIpv6 needs: traffic class and flow label default to 0. */
export type Ipv6EmitRepr = Pick<Ipv6Repr, 'src' | 'dst' | 'nextHeader' | 'hopLimit' | 'payloadLength'> &
  Partial<Pick<Ipv6Repr, 'trafficClass' | 'flowLabel'>>;

export function parseIpv6(buf: Uint8Array): Ipv6Parsed | string {
  const err = Ipv6Packet.check(buf);
  if (err) return err;
  const p = new Ipv6Packet(buf);
  return {
    src: p.src,
    dst: p.dst,
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
    payloadLength: p.payloadLength,
    payload: p.payload(),
  };
}

/** Writes the fixed header into `buf[0..40)` and returns 40. */
export function emitIpv6(repr: Ipv6EmitRepr, buf: Uint8Array): number {
  const tc = repr.trafficClass ?? 0;
  const fl = repr.flowLabel ?? 0;
  buf[0] = 0x60 | ((tc >>> 4) & 0x0f);
  buf[1] = ((tc & 0x0f) << 4) | ((fl >>> 16) & 0x0f);
  buf[2] = (fl >>> 8) & 0xff;
  buf[3] = fl & 0xff;
  write16(buf, 4, repr.payloadLength);
  buf[6] = repr.nextHeader;
  buf[7] = repr.hopLimit;
  buf.set(repr.src.subarray(0, 16), 8);
  buf.set(repr.dst.subarray(0, 16), 24);
  return IPV6_HEADER_LEN;
}
