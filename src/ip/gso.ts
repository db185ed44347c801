/**
 * Transmit offloads done in software, for a packet whose link cannot do them (a TAP link, a
 * local destination, a link without IFF_VNET_HDR): the same work the kernel does for a frame
 * written with a virtio_net_hdr (virtio spec §5.1.6.2, Linux tcp_gso_segment /
 * inet_gso_segment / ipv6_gso_segment).
 *
 * - Checksum completion: the transport checksum field holds the pseudo-header sum (folded, not
 *   inverted); the sum over [l4Offset, end) — that field included — gives the whole checksum.
 * - TCP segmentation (TSO/GSO): a super-segment [IP header | TCP header | payload] is cut into
 *   segments of `gsoSize` payload bytes: each gets the IP header (IPv4: Total Length, an
 *   Identification incremented per segment, header checksum; IPv6: Payload Length), the TCP
 *   header with the sequence number advanced, FIN and PSH only on the last segment and CWR
 *   only on the first (RFC 3168 §6.1.2: CWR once per window reduction), and a complete
 *   checksum.
 *
 * Part of the core: no Node imports.
 */
import { GsoType, type TxOffload } from '../link/link.js';
import { finish, sumBytes, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../wire/checksum.js';
import { read16, read32, write16, write32 } from '../wire/bytes.js';

const FIN = 0x01;
const PSH = 0x08;
const CWR = 0x80;

/** Completes the partial transport checksum of `pkt` in place (see the module comment). */
export function completeChecksum(pkt: Uint8Array, o: TxOffload): void {
  const at = o.l4Offset + o.csumOffset;
  let c = finish(sumBytes(pkt, o.l4Offset, pkt.length, 0));
  // RFC 768: a UDP checksum that computes to zero is sent as all ones (zero means "none").
  if (c === 0 && o.csumOffset === 6) c = 0xffff;
  write16(pkt, at, c);
}

/**
 * Calls `send` with each segment of the TCP super-segment `pkt` (an IPv4 or IPv6 packet whose
 * transport header is at o.l4Offset, with no IPv6 extension headers), built in `scratch`
 * (reused between calls: `send` must be done with a segment when it returns). Returns the
 * number of segments, or 0 when `pkt` is not a TCP super-segment that can be cut (it is then
 * not sent).
 */
export function segmentTcp(pkt: Uint8Array, o: TxOffload, scratch: Uint8Array, send: (seg: Uint8Array) => void): number {
  const v4 = (pkt[0]! >>> 4) === 4;
  const gso = o.gsoType & ~GsoType.ECN;
  if (gso !== (v4 ? GsoType.TCPV4 : GsoType.TCPV6)) return 0;
  const l4 = o.l4Offset;
  const thl = o.l4HeaderLength;
  const hdrs = l4 + thl;
  const mss = o.gsoSize;
  if (mss <= 0 || hdrs > pkt.length || hdrs + mss > scratch.length || l4 < (v4 ? 20 : 40)) return 0;
  const payloadLen = pkt.length - hdrs;
  const seq0 = read32(pkt, l4 + 4);
  const flags0 = pkt[l4 + 13]!;
  const ident0 = v4 ? read16(pkt, 4) : 0;
  const pseudoBase = v4
    ? pseudoHeaderSumV4(read32(pkt, 12), read32(pkt, 16), 6, 0)
    : pseudoHeaderSumV6(pkt.subarray(8, 24), pkt.subarray(24, 40), 6, 0);
  let n = 0;
  for (let off = 0; off < payloadLen || (payloadLen === 0 && n === 0); off += mss) {
    const len = Math.min(mss, payloadLen - off);
    const last = off + len >= payloadLen;
    const seg = scratch.subarray(0, hdrs + len);
    seg.set(pkt.subarray(0, hdrs), 0);
    seg.set(pkt.subarray(hdrs + off, hdrs + off + len), hdrs);
    if (v4) {
      write16(seg, 2, hdrs + len);
      write16(seg, 4, (ident0 + n) & 0xffff);
      write16(seg, 10, 0);
      write16(seg, 10, finish(sumBytes(seg, 0, (seg[0]! & 0x0f) * 4, 0)));
    } else {
      write16(seg, 4, hdrs + len - 40);
    }
    write32(seg, l4 + 4, (seq0 + off) >>> 0);
    let f = flags0;
    if (!last) f &= ~(FIN | PSH);
    if (n > 0) f &= ~CWR;
    seg[l4 + 13] = f;
    write16(seg, l4 + 16, 0);
    const tcpLen = thl + len;
    // The pseudo-header sum with this segment's length (what tcp_gso_segment's length delta does).
    write16(seg, l4 + 16, finish(sumBytes(seg, l4, seg.length, pseudoBase + tcpLen)));
    send(seg);
    n++;
    if (payloadLen === 0) break;
  }
  return n;
}
