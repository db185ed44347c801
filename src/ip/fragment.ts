/**
 * Output fragmentation plans (RFC 791 §3.2 "Fragmentation", RFC 8200 §4.5). The IP layers
 * write the headers; this only decides where each fragment starts and ends: every fragment but
 * the last carries a multiple of 8 data bytes, and none exceeds `maxData`.
 */

export interface FragmentSlice {
  /** Offset into the fragmentable part, in bytes (a multiple of 8). */
  offset: number;
  length: number;
  /** More fragments follow. */
  more: boolean;
}

/**
 * Splits `total` bytes into slices of at most `maxData` bytes (rounded down to a multiple of
 * 8). Returns an empty list when `maxData` < 8 (cannot fragment).
 */
export function planFragments(total: number, maxData: number): FragmentSlice[] {
  const step = maxData & ~7;
  if (step < 8) return [];
  const out: FragmentSlice[] = [];
  for (let off = 0; off < total || (total === 0 && off === 0); off += step) {
    const length = Math.min(step, total - off);
    out.push({ offset: off, length, more: off + length < total });
    if (total === 0) break;
  }
  return out;
}

import { IPV4_HEADER_LEN, Ipv4Packet } from '../wire/ipv4.js';
import { IPV6_HEADER_LEN } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN, emitIpv6Fragment } from '../wire/ipv6-ext.js';
import { write16 } from '../wire/bytes.js';

/**
 * Splits a whole IPv4 datagram into fragments of at most `mtu` bytes (RFC 791 §3.2): each gets
 * the original header with MF/offset/length/checksum updated. Our own datagrams carry no
 * options, so every fragment gets the same header (with options, only the "copied" ones belong
 * in later fragments — not needed here). Returns `[pkt]` when it fits, [] when it cannot be
 * fragmented (MTU below header + 8).
 */
export function fragmentIpv4(pkt: Uint8Array, mtu: number): Uint8Array[] {
  if (pkt.length <= mtu) return [pkt];
  const src = new Ipv4Packet(pkt);
  const hl = src.headerLength;
  const payload = pkt.subarray(hl, src.totalLength);
  const baseOffset = src.fragOffset;
  const origMore = src.moreFrags;
  const out: Uint8Array[] = [];
  for (const f of planFragments(payload.length, mtu - hl)) {
    const b = new Uint8Array(hl + f.length);
    b.set(pkt.subarray(0, hl), 0);
    b.set(payload.subarray(f.offset, f.offset + f.length), hl);
    const p = new Ipv4Packet(b);
    p.totalLength = b.length;
    p.fragOffset = baseOffset + f.offset;
    p.moreFrags = f.more || origMore;
    p.fillChecksum();
    out.push(b);
  }
  void IPV4_HEADER_LEN;
  return out;
}

/**
 * Splits a whole IPv6 packet (fixed header directly followed by the fragmentable part: we emit
 * no extension headers) into fragments of at most `mtu` bytes with a Fragment header
 * (RFC 8200 §4.5), Identification `ident`. Returns `[pkt]` when it fits.
 */
export function fragmentIpv6(pkt: Uint8Array, mtu: number, ident: number): Uint8Array[] {
  if (pkt.length <= mtu) return [pkt];
  const nh = pkt[6]!;
  const payload = pkt.subarray(IPV6_HEADER_LEN);
  const out: Uint8Array[] = [];
  for (const f of planFragments(payload.length, mtu - IPV6_HEADER_LEN - IPV6_FRAG_HEADER_LEN)) {
    const b = new Uint8Array(IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN + f.length);
    b.set(pkt.subarray(0, IPV6_HEADER_LEN), 0);
    write16(b, 4, IPV6_FRAG_HEADER_LEN + f.length);
    b[6] = 44;
    emitIpv6Fragment({ nextHeader: nh, fragOffset: f.offset, more: f.more, ident }, b.subarray(IPV6_HEADER_LEN));
    b.set(payload.subarray(f.offset, f.offset + f.length), IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN);
    out.push(b);
  }
  return out;
}
