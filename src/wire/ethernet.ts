/**
 * Ethernet II header (IEEE 802.3 with an EtherType, RFC 894).
 *
 * +-------------------+-------------------+-----------+
 * | Destination (6)   | Source (6)        | Type (2)  |  payload...
 * +-------------------+-------------------+-----------+
 *
 * Follows the template in udp.ts. Addresses are returned as zero-copy 6-byte views.
 *
 * 802.1Q / 802.1ad tagged frames are dropped as `ethernet.vlan_unsupported`: the stack sits on
 * one untagged TAP interface, and the kernel also hands tagged frames only to a VLAN device.
 * Frames whose type field is below 0x0600 are IEEE 802.3 length-framed (LLC/SNAP), which IP over
 * Ethernet does not use (RFC 894): dropped as `ethernet.not_ethernet_ii`. Other unknown
 * EtherTypes pass `check`; the demultiplexer decides. The minimum-frame padding is ignored here:
 * upper layers use their own length fields.
 */
import { read16, write16 } from './bytes.js';

export const ETHERNET_HEADER_LEN = 14;

export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  IPV6: 0x86dd,
  QINQ: 0x88a8,
} as const;

export const EthernetDrop = {
  truncated: 'ethernet.truncated',
  vlanUnsupported: 'ethernet.vlan_unsupported',
  notEthernetII: 'ethernet.not_ethernet_ii',
} as const;

export class EthernetPacket {
  constructor(readonly buf: Uint8Array) {}

  /** Null when the 14-byte header is present, untagged, and the type field is an EtherType. */
  static check(buf: Uint8Array): string | null {
    if (buf.length < ETHERNET_HEADER_LEN) return EthernetDrop.truncated;
    const t = read16(buf, 12);
    if (t === EtherType.VLAN || t === EtherType.QINQ) return EthernetDrop.vlanUnsupported;
    if (t < 0x0600) return EthernetDrop.notEthernetII;
    return null;
  }

  /** The destination address, as a view. */
  get dst(): Uint8Array {
    return this.buf.subarray(0, 6);
  }
  /** Copies a 6-byte address into the destination field. */
  set dst(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), 0);
  }
  /** The source address, as a view. */
  get src(): Uint8Array {
    return this.buf.subarray(6, 12);
  }
  set src(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), 6);
  }
  get ethertype(): number {
    return read16(this.buf, 12);
  }
  set ethertype(v: number) {
    write16(this.buf, 12, v);
  }
  /** Everything after the header, as a view (including any link padding). */
  payload(): Uint8Array {
    return this.buf.subarray(ETHERNET_HEADER_LEN);
  }
}

export interface EthernetRepr {
  /** 6-byte addresses (views into the frame when parsed). */
  dst: Uint8Array;
  src: Uint8Array;
  ethertype: number;
}

/** Checks and parses the header; the payload is `buf.subarray(ETHERNET_HEADER_LEN)`. */
export function parseEthernet(buf: Uint8Array): EthernetRepr | string {
  const err = EthernetPacket.check(buf);
  if (err) return err;
  const p = new EthernetPacket(buf);
  return { dst: p.dst, src: p.src, ethertype: p.ethertype };
}

/** Writes the header into `buf[0..14)` and returns 14. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array): number {
  buf.set(repr.dst.subarray(0, 6), 0);
  buf.set(repr.src.subarray(0, 6), 6);
  write16(buf, 12, repr.ethertype);
  return ETHERNET_HEADER_LEN;
}
