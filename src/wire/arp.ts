/**
 * ARP (RFC 826) for Ethernet and IPv4 only.
 *
 *  0                   1                   2                   3
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       Hardware type (1)       |     Protocol type (0x0800)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  HLEN (6)     |  PLEN (4)     |           Operation           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Sender hardware address (6) | Sender protocol address (4) |
 * | Target hardware address (6) | Target protocol address (4) |   = 28 bytes
 *
 * Follows the template in udp.ts. Any other hardware/protocol type or length, or an operation
 * other than request/reply, is a drop with a reason. Bytes after the 28 (Ethernet padding) are
 * ignored. Gratuitous ARP (sender IP = target IP) and probes (sender IP 0) parse as ordinary
 * requests/replies: telling them apart is the neighbour cache's job.
 */
import { read16, read32, write16, write32 } from './bytes.js';

export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;

export const ArpOp = {
  REQUEST: 1,
  REPLY: 2,
} as const;

export const ArpDrop = {
  truncated: 'arp.truncated',
  badHardwareType: 'arp.bad_hardware_type',
  badProtocolType: 'arp.bad_protocol_type',
  badHardwareLength: 'arp.bad_hardware_length',
  badProtocolLength: 'arp.bad_protocol_length',
  badOperation: 'arp.bad_operation',
} as const;

export class ArpPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when 28 bytes of Ethernet/IPv4 ARP with operation request or reply. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < ARP_LEN) return ArpDrop.truncated;
    if (read16(buf, 0) !== ARP_HTYPE_ETHERNET) return ArpDrop.badHardwareType;
    if (read16(buf, 2) !== ARP_PTYPE_IPV4) return ArpDrop.badProtocolType;
    if (buf[4] !== 6) return ArpDrop.badHardwareLength;
    if (buf[5] !== 4) return ArpDrop.badProtocolLength;
    const op = read16(buf, 6);
    if (op !== ArpOp.REQUEST && op !== ArpOp.REPLY) return ArpDrop.badOperation;
    return null;
  }

  get htype(): number {
    return read16(this.buf, 0);
  }
  get ptype(): number {
    return read16(this.buf, 2);
  }
  get hlen(): number {
    return this.buf[4]!;
  }
  get plen(): number {
    return this.buf[5]!;
  }
  get op(): number {
    return read16(this.buf, 6);
  }
  set op(v: number) {
    write16(this.buf, 6, v);
  }
  /** Sender hardware address, as a view. */
  get senderMac(): Uint8Array {
    return this.buf.subarray(8, 14);
  }
  set senderMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), 8);
  }
  get senderIp(): number {
    return read32(this.buf, 14);
  }
  set senderIp(v: number) {
    write32(this.buf, 14, v);
  }
  /** Target hardware address, as a view. */
  get targetMac(): Uint8Array {
    return this.buf.subarray(18, 24);
  }
  set targetMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), 18);
  }
  get targetIp(): number {
    return read32(this.buf, 24);
  }
  set targetIp(v: number) {
    write32(this.buf, 24, v);
  }
}

export interface ArpRepr {
  /** ArpOp.REQUEST or ArpOp.REPLY. */
  op: number;
  /** 6-byte addresses (views into the packet when parsed). */
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

export function parseArp(buf: Uint8Array): ArpRepr | string {
  const err = ArpPacket.check(buf);
  if (err) return err;
  const p = new ArpPacket(buf);
  return { op: p.op, senderMac: p.senderMac, senderIp: p.senderIp, targetMac: p.targetMac, targetIp: p.targetIp };
}

/** Writes the 28-byte packet into `buf[0..28)` and returns 28. */
export function emitArp(repr: ArpRepr, buf: Uint8Array): number {
  write16(buf, 0, ARP_HTYPE_ETHERNET);
  write16(buf, 2, ARP_PTYPE_IPV4);
  buf[4] = 6;
  buf[5] = 4;
  write16(buf, 6, repr.op);
  buf.set(repr.senderMac.subarray(0, 6), 8);
  write32(buf, 14, repr.senderIp);
  buf.set(repr.targetMac.subarray(0, 6), 18);
  write32(buf, 24, repr.targetIp);
  return ARP_LEN;
}
