/**
 * UDP header (RFC 768).
 *
 *  0      7 8     15 16    23 24    31
 * +--------+--------+--------+--------+
 * |   Source Port   |   Dest. Port    |
 * +--------+--------+--------+--------+
 * |     Length      |    Checksum     |
 * +--------+--------+--------+--------+
 *
 * This module is the template every wire format follows:
 * - `XxxPacket` is a zero-copy view over a byte array. Its constructor does no checks; call
 *   `XxxPacket.check(buf)` first, which returns a drop reason (`'<proto>.<why>'`) or null, and
 *   only then read fields. Getters never throw, but return garbage on an unchecked buffer.
 * - `XxxRepr` is a plain object with what is parsed or emitted.
 * - `parseXxx(buf, ...)` checks and returns a Repr or a drop reason string.
 * - `emitXxx(repr, buf, ...)` writes the header into `buf` (payload already in place after the
 *   header when a checksum covers it) and returns the header length.
 */
import { finish, sumBytes } from './checksum.js';
import { read16, write16 } from './bytes.js';

export const UDP_HEADER_LEN = 8;

export const UdpDrop = {
  truncated: 'udp.truncated',
  badLength: 'udp.bad_length',
  badChecksum: 'udp.bad_checksum',
  zeroChecksumV6: 'udp.zero_checksum_v6',
} as const;

export class UdpPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the header is complete and the length field fits the buffer. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < UDP_HEADER_LEN) return UdpDrop.truncated;
    const len = read16(buf, 4);
    if (len < UDP_HEADER_LEN || len > buf.length) return UdpDrop.badLength;
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
  /** Header plus payload, from the length field. */
  get length(): number {
    return read16(this.buf, 4);
  }
  get checksum(): number {
    return read16(this.buf, 6);
  }
  /** The payload, as a view (trailing bytes past the length field are excluded). */
  payload(): Uint8Array {
    return this.buf.subarray(UDP_HEADER_LEN, this.length);
  }

  /** True when the checksum over the datagram and the given pseudo-header sum verifies. */
  verifyChecksum(pseudoSum: number): boolean {
    return finish(sumBytes(this.buf, 0, this.length, pseudoSum)) === 0;
  }
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** A view of the payload (parse), or its length is taken from the buffer (emit). */
  payload: Uint8Array;
}

/**
 * Checks and parses a datagram. `pseudoSum` is from pseudoHeaderSumV4/V6 with the UDP length;
 * `v6` makes a zero checksum an error (RFC 8200 §8.1), whereas for IPv4 zero means "none".
 * `checksumVerified`: the link vouched for the checksum (a partial one from the local kernel).
 */
export function parseUdp(buf: Uint8Array, pseudoSum: number, v6: boolean, checksumVerified = false): UdpRepr | string {
  const err = UdpPacket.check(buf);
  if (err) return err;
  const p = new UdpPacket(buf);
  if (p.checksum === 0) {
    if (v6) return UdpDrop.zeroChecksumV6;
  } else if (!checksumVerified && !p.verifyChecksum(pseudoSum)) {
    return UdpDrop.badChecksum;
  }
  return { srcPort: p.srcPort, dstPort: p.dstPort, payload: p.payload() };
}

/**
 * Writes the header into `buf[0..8)`; `buf` is the whole datagram with the payload already at
 * offset 8, and its length is the datagram length. `pseudoSum` must use that same length.
 */
export function emitUdp(repr: { srcPort: number; dstPort: number }, buf: Uint8Array, pseudoSum: number): number {
  write16(buf, 0, repr.srcPort);
  write16(buf, 2, repr.dstPort);
  write16(buf, 4, buf.length);
  write16(buf, 6, 0);
  let c = finish(sumBytes(buf, 0, buf.length, pseudoSum));
  if (c === 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  write16(buf, 6, c);
  return UDP_HEADER_LEN;
}
