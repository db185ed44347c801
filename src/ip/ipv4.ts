/**
 * IPv4 input and output for a host (RFC 791, RFC 1122 §3.2.1, §3.3). No forwarding.
 *
 * Input: validate (wire/ipv4.ts: version, lengths, options, checksum), check the source
 * (RFC 1122 §3.2.1.3: a broadcast or multicast source is discarded), accept our unicast
 * addresses (weak host model, as Linux: any of our addresses on any interface), the directed
 * broadcast of the receiving interface, 255.255.255.255 and 224.0.0.1 — anything else is
 * `drop.ipv4.not_for_us`. Fragments go to the reassembler. Then dispatch: ICMP, UDP, registered
 * protocols (TCP), else ICMP protocol unreachable (RFC 1122 §3.2.2.1).
 *
 * Output: route (longest prefix match), TTL 64, a random Identification (RFC 6864 allows any
 * value for atomic datagrams; random values do not leak a counter), fragmentation to the
 * interface MTU unless DF is set (then EMSGSIZE and `drop.ipv4.frag_needed_df`).
 * `outputInPlace` writes the header into room the transport left in front of its segment, so
 * a segment is built once and copied only by the link. With a `TxOffload` (partial checksum,
 * TSO super-segment) the link's device finishes the packet, or gso.ts does it here when the
 * link cannot (TAP, loopback, no offloads); a super-segment is never IP-fragmented: each of
 * its segments (headers + gsoSize) must fit the path MTU.
 */
import { IPV4_HEADER_LEN, Ipv4Drop, Ipv4Packet, emitIpv4, parseIpv4, type Ipv4Parsed } from '../wire/ipv4.js';
import { checksum } from '../wire/checksum.js';
import type { Counter } from '../core/counters.js';
import { isIpv4Multicast, isIpv4Broadcast } from '../wire/address.js';
import type { IpContext, RxInfo } from './context.js';
import type { NetInterface } from './interface.js';
import { Reassembler, type ReassemblyBudget } from './reassembly.js';
import { fragmentIpv4 } from './fragment.js';
import { PmtuCache } from './pmtu.js';
import { read16, read32 } from '../wire/bytes.js';
import type { Icmp4 } from './icmp.js';
import { ipv4MulticastMac as v4MulticastMac, MAC_BROADCAST as BROADCAST_MAC } from '../wire/address.js';
import { UDP_PROTOCOL } from '../transport/udp.js';
import { GsoType, type TxOffload } from '../link/link.js';
import { completeChecksum, segmentTcp } from './gso.js';

export const PROTO_ICMP = 1;

export interface Output4Options {
  ttl?: number;
  /** Don't Fragment: fail with EMSGSIZE instead of fragmenting. */
  df?: boolean;
  /** Outgoing interface for broadcasts. */
  iface?: NetInterface;
  tos?: number;
}

export class Ipv4Layer {
  readonly reassembler: Reassembler;
  /** Path MTUs learned from ICMP "fragmentation needed" (RFC 1191). */
  readonly pmtu: PmtuCache<number>;
  icmp!: Icmp4;
  /** Per-packet counters, resolved once. */
  private readonly cRx: Counter;
  private readonly cDelivered: Counter;
  /** Where software segmentation builds segments (gso.ts); the link copies each. */
  private gsoScratch: Uint8Array | undefined;
  private readonly sendOnLink = (f: Uint8Array): void => this.sendFrame(f);
  private txIface: NetInterface | undefined;
  private txNextHop = 0;

  constructor(
    private readonly ctx: IpContext,
    budget: ReassemblyBudget,
  ) {
    this.cRx = ctx.counters.counter('ipv4.rx');
    this.cDelivered = ctx.counters.counter('ipv4.delivered');
    this.pmtu = new PmtuCache<number>(() => ctx.clock.now(), 552);
    this.reassembler = new Reassembler(
      ctx.timers,
      () => ctx.clock.now(),
      ctx.counters,
      'ipv4',
      ctx.limits.reassemblyTimeout4Ms,
      budget,
      (first) => this.reassemblyTimeout(first),
    );
  }

  // ---- input ----------------------------------------------------------------------------------

  /**
   * One received IPv4 packet. The common case — an unfragmented datagram for UDP or a
   * registered protocol — is validated and dispatched from the header bytes without building a
   * parsed Repr (`parseIpv4` does the same checks, for fragments, ICMP and errors).
   */
  input(packet: Uint8Array, rx: RxInfo): void {
    const c = this.ctx.counters;
    this.cRx.inc();
    const bad = Ipv4Packet.check(packet);
    if (bad) {
      c.drop(bad);
      return;
    }
    const hl = (packet[0]! & 0x0f) * 4;
    if (checksum(packet, 0, hl) !== 0) {
      c.drop(Ipv4Drop.badChecksum);
      return;
    }
    const src = read32(packet, 12);
    const dst = read32(packet, 16);
    // RFC 1122 §3.2.1.3: discard datagrams whose source is a broadcast or multicast address.
    if (isIpv4Broadcast(src) || isIpv4Multicast(src) || this.isAnyBroadcast(src)) {
      c.drop('ipv4.bad_src');
      return;
    }
    const iface = rx.iface;
    const bcast = iface.isIpv4Broadcast(dst);
    const mcast = isIpv4Multicast(dst);
    if (!(this.isLocal(dst) || bcast || iface.acceptsIpv4(dst))) {
      c.drop('ipv4.not_for_us');
      return;
    }
    const protocol = packet[9]!;
    if ((read16(packet, 6) & 0x3fff) === 0 && protocol !== PROTO_ICMP) {
      // Neither MF nor a fragment offset: deliver straight from the header bytes.
      const total = read16(packet, 2);
      this.cDelivered.inc();
      this.dispatch(protocol, src, dst, packet.subarray(hl, total), packet, rx, bcast || mcast);
      return;
    }
    const ip = parseIpv4(packet, false);
    if (typeof ip === 'string') {
      c.drop(ip); // unreachable: the checks above passed
      return;
    }
    if (ip.moreFrags || ip.fragOffset !== 0) {
      c.inc('ipv4.frag_rx');
      const r = this.reassembler.add({
        key: `${ip.src}|${ip.dst}|${ip.protocol}|${ip.ident}`,
        offset: ip.fragOffset,
        more: ip.moreFrags,
        data: ip.payload,
        header: ip.fragOffset === 0 ? packet.subarray(0, ip.headerLength) : undefined,
        packet: ip.fragOffset === 0 ? packet.subarray(0, ip.headerLength + ip.payloadLength) : undefined,
      });
      if (r === null || typeof r === 'string') return;
      // Rebuild a whole packet (header of the first fragment, RFC 791 §3.2) for delivery and
      // for quoting in ICMP errors.
      const rhl = r.header.length;
      if (rhl + r.payload.length > 0xffff) {
        c.drop('ipv4.reasm_too_big');
        return;
      }
      const whole = new Uint8Array(rhl + r.payload.length);
      whole.set(r.header, 0);
      whole.set(r.payload, rhl);
      const p = new Ipv4Packet(whole);
      p.totalLength = whole.length;
      p.moreFrags = false;
      p.fragOffset = 0;
      p.fillChecksum();
      const parsed = parseIpv4(whole);
      if (typeof parsed === 'string') {
        c.drop(parsed);
        return;
      }
      // Reassembled: any checksum flag of the last fragment does not cover the datagram.
      this.deliver(parsed, whole, rx.csumValid === true ? { ...rx, csumValid: false } : rx, bcast || mcast);
      return;
    }
    this.deliver(ip, packet, rx, bcast || mcast);
  }

  private deliver(ip: Ipv4Parsed, packet: Uint8Array, rx: RxInfo, multicast: boolean): void {
    this.cDelivered.inc();
    if (ip.protocol === PROTO_ICMP) {
      this.icmp.input(ip, rx, multicast);
      return;
    }
    this.dispatch(ip.protocol, ip.src, ip.dst, ip.payload, packet, rx, multicast);
  }

  /** UDP or a registered protocol (TCP); `packet` is the whole datagram, for ICMP errors. */
  private dispatch(protocol: number, src: number, dst: number, payload: Uint8Array, packet: Uint8Array, rx: RxInfo, multicast: boolean): void {
    if (protocol === UDP_PROTOCOL) {
      const r = this.ctx.udp.input4(src, dst, payload, multicast, rx.iface.index, rx.csumValid === true);
      if (r === 'no_socket') this.icmpError(packet, rx, multicast, 3, 3); // port unreachable
      return;
    }
    const h = this.ctx.protocols4.get(protocol);
    if (h) {
      h(src, dst, payload, rx);
      return;
    }
    this.ctx.counters.drop('ipv4.unknown_protocol');
    this.icmpError(packet, rx, multicast, 3, 2); // protocol unreachable
  }

  /** An ICMP error about `packet` (validated), through the parsed form Icmp4.sendError takes. */
  private icmpError(packet: Uint8Array, rx: RxInfo, multicast: boolean, type: number, code: number): void {
    const ip = parseIpv4(packet, false);
    if (typeof ip === 'string') return;
    this.icmp.sendError(ip, packet, rx, multicast, type, code);
  }

  private reassemblyTimeout(first: Uint8Array): void {
    const ip = parseIpv4(first, false);
    if (typeof ip === 'string') return;
    // RFC 792: Time Exceeded code 1, only when fragment zero is available (RFC 1122 §3.3.2).
    const iface = this.ctx.routes.lookup4(ip.src)?.iface;
    if (!iface) return;
    this.icmp.sendError(ip, first, { iface, linkMulticast: false }, this.isAnyBroadcast(ip.dst) || isIpv4Multicast(ip.dst), 11, 1);
  }

  // ---- addresses ------------------------------------------------------------------------------

  /** The MTU towards `dst`: the interface MTU, lowered by a learned path MTU. */
  pathMtu(iface: NetInterface, dst: number): number {
    const p = this.pmtu.get(dst);
    return p === undefined ? iface.mtu : Math.min(p, iface.mtu);
  }

  /**
   * ICMP "fragmentation needed" (type 3 code 4) about a packet we sent (`invoking` is its
   * quoted header): lower the path MTU to its destination (RFC 1191 §6.3). A next-hop MTU of 0
   * (pre-RFC 1191 router) is treated as the floor.
   */
  fragNeeded(invoking: Uint8Array, nextHopMtu: number): void {
    if (invoking.length < 20 || invoking[0]! >>> 4 !== 4) return;
    const src = read32(invoking, 12);
    const dst = read32(invoking, 16);
    const iface = this.localInterface(src);
    if (!iface) {
      this.ctx.counters.drop('icmp.frag_needed_not_ours');
      return;
    }
    const r = this.ctx.routes.lookup4(dst);
    const m = this.pmtu.update(dst, nextHopMtu, (r?.iface ?? iface).mtu);
    if (m !== undefined) this.ctx.counters.inc('ipv4.pmtu_update');
  }

  /** The interface owning unicast address `a`, if it is ours. */
  localInterface(a: number): NetInterface | undefined {
    for (const i of this.ctx.interfaces) if (i.hasIpv4(a)) return i;
    return undefined;
  }

  isLocal(a: number): boolean {
    for (const i of this.ctx.interfaces) if (i.hasIpv4(a)) return true;
    return false;
  }

  /** 255.255.255.255 or a directed broadcast of any interface. */
  isAnyBroadcast(a: number): boolean {
    for (const i of this.ctx.interfaces) if (i.isIpv4Broadcast(a)) return true;
    return isIpv4Broadcast(a);
  }

  /**
   * Source address for `dst` (RFC 1122 §3.3.4.3): the address of the outgoing interface that
   * shares the destination's subnet, else its first address. An errno code when unroutable.
   */
  source(dst: number, iface?: NetInterface): number | string {
    const r = this.routeFor(dst, iface);
    if (typeof r === 'string') {
      this.ctx.counters.drop('ipv4.no_route');
      return r;
    }
    const i = r.iface;
    if (i.addrs4.length === 0) return 'EADDRNOTAVAIL';
    for (const a of i.addrs4) if (((dst & a.mask) >>> 0) === a.network) return a.addr;
    if (r.nextHop !== dst) for (const a of i.addrs4) if (((r.nextHop & a.mask) >>> 0) === a.network) return a.addr;
    return i.addrs4[0]!.addr;
  }

  private routeFor(dst: number, iface?: NetInterface): { iface: NetInterface; nextHop: number } | string {
    if (isIpv4Broadcast(dst) || isIpv4Multicast(dst)) {
      const i = iface ?? this.ctx.interfaces.find((x) => x.addrs4.length > 0);
      return i ? { iface: i, nextHop: dst } : 'ENETUNREACH';
    }
    if (iface && iface.onLink4(dst)) return { iface, nextHop: dst };
    const r = this.ctx.routes.lookup4(dst);
    return r ?? 'ENETUNREACH';
  }

  // ---- output ---------------------------------------------------------------------------------

  /**
   * Sends `payload` (a transport segment) from `src` to `dst`. Returns null or an errno code:
   * ENETUNREACH (no route, `drop.ipv4.no_route`), EMSGSIZE (too big, or DF and over the MTU).
   */
  output(src: number, dst: number, protocol: number, payload: Uint8Array, opts: Output4Options = {}): string | null {
    const buf = new Uint8Array(IPV4_HEADER_LEN + payload.length);
    buf.set(payload, IPV4_HEADER_LEN);
    return this.outputInPlace(src, dst, protocol, buf, IPV4_HEADER_LEN, payload.length, opts, undefined);
  }

  /**
   * Like `output` for the segment `buf[off, off + len)`, with the IPv4 header written into
   * `buf[off - 20, off)`, which the caller leaves free. `offload` asks for a partial checksum
   * to be completed and/or a TCP super-segment to be cut (see the module comment); its
   * l4Offset is set here. The caller may reuse `buf` when this returns.
   */
  outputInPlace(
    src: number,
    dst: number,
    protocol: number,
    buf: Uint8Array,
    off: number,
    len: number,
    opts: Output4Options,
    offload: TxOffload | undefined,
  ): string | null {
    const c = this.ctx.counters;
    const local = this.localInterface(dst);
    const route = local ? { iface: local, nextHop: dst } : this.routeFor(dst, opts.iface);
    if (typeof route === 'string') {
      c.drop('ipv4.no_route');
      return route;
    }
    const total = IPV4_HEADER_LEN + len;
    if (total > 0xffff || off < IPV4_HEADER_LEN) {
      c.drop('ipv4.too_big');
      return 'EMSGSIZE';
    }
    const gso = offload !== undefined && offload.gsoType !== GsoType.NONE;
    const mtu = this.pathMtu(route.iface, dst);
    // A super-segment leaves as segments of headers + gsoSize bytes: those must fit.
    const wire = gso ? IPV4_HEADER_LEN + offload.l4HeaderLength + offload.gsoSize : total;
    if (wire > mtu && !local) {
      if (opts.df || gso) {
        c.drop('ipv4.frag_needed_df');
        return 'EMSGSIZE';
      }
      if (mtu < IPV4_HEADER_LEN + 8) {
        c.drop('ipv4.mtu_too_small');
        return 'EMSGSIZE';
      }
    }
    const at = off - IPV4_HEADER_LEN;
    writeHeader4(buf, at, src, dst, protocol, opts.ttl ?? this.ctx.limits.defaultTtl, this.ctx.random.u32() & 0xffff, !!opts.df || gso, total, opts.tos ?? 0);
    const pkt = buf.subarray(at, off + len);
    if (offload !== undefined) offload.l4Offset = IPV4_HEADER_LEN;
    if (local) {
      // A datagram to ourselves never touches the link (RFC 1122 §3.3.6: a host's own address
      // is delivered internally); it is not fragmented either.
      c.inc('ipv4.loopback');
      const copy = pkt.slice();
      if (offload === undefined) this.ctx.loopback(local, copy);
      else this.software(copy, offload, (seg) => this.ctx.loopback(local, seg.slice()));
      return null;
    }
    const iface = route.iface;
    if (!iface.ethernet && offload === undefined && total <= mtu) {
      // The common case on TUN: one packet, straight to the link (which copies it).
      c.inc('ipv4.tx');
      iface.link.send(pkt);
      return null;
    }
    this.transmit(iface, route.nextHop, pkt, offload);
    return null;
  }

  /**
   * Completes a partial checksum, or cuts a super-segment, in software: each resulting packet
   * goes to `send` (valid only during the call).
   */
  private software(pkt: Uint8Array, o: TxOffload, send: (p: Uint8Array) => void): void {
    if (o.gsoType === GsoType.NONE) {
      completeChecksum(pkt, o);
      send(pkt);
      return;
    }
    this.gsoScratch ??= new Uint8Array(0x10000);
    const n = segmentTcp(pkt, o, this.gsoScratch, send);
    if (n === 0) this.ctx.counters.drop('ipv4.gso_bad');
    else this.ctx.counters.inc('ipv4.gso_software', n);
  }

  /**
   * Hands a whole datagram to the link: directly on TUN, via ARP (or a group MAC) on TAP. It is
   * fragmented to the MTU here, after resolution, so a datagram waiting for ARP takes one slot
   * of the neighbour queue rather than one per fragment.
   */
  transmit(iface: NetInterface, nextHop: number, pkt: Uint8Array, offload?: TxOffload): void {
    if (offload !== undefined) {
      const lo = iface.link.offloads;
      const gso = offload.gsoType & ~GsoType.ECN;
      if (
        !iface.ethernet &&
        lo !== undefined &&
        lo.txCsum &&
        (gso === GsoType.NONE || (gso === GsoType.TCPV4 && lo.tso4)) &&
        pkt.length <= lo.maxGsoBytes
      ) {
        this.ctx.counters.inc('ipv4.tx');
        if (gso !== GsoType.NONE) this.ctx.counters.inc('ipv4.tx_gso');
        iface.link.send(pkt, offload);
        return;
      }
      // The device cannot finish it: do it here, then send the complete packet(s) as usual.
      this.txIface = iface;
      this.txNextHop = nextHop;
      this.software(pkt, offload, this.sendOnLink);
      return;
    }
    if (!iface.ethernet) {
      this.emitFragments(iface, pkt, (f) => iface.link.send(f));
      return;
    }
    if (isIpv4Broadcast(nextHop) || iface.isIpv4Broadcast(nextHop)) {
      this.sendTo(iface, BROADCAST_MAC, pkt);
    } else if (isIpv4Multicast(nextHop)) {
      this.sendTo(iface, v4MulticastMac(nextHop), pkt);
    } else {
      const arp = iface.arp;
      if (arp) arp.send(nextHop, pkt);
      else this.ctx.counters.drop('ipv4.no_arp');
    }
  }

  /** One complete packet from software offload to the interface `transmit` was called for. */
  private sendFrame(f: Uint8Array): void {
    this.transmit(this.txIface!, this.txNextHop, f);
  }

  /** Sends a whole datagram to a resolved MAC (called by ARP once resolved). */
  sendTo(iface: NetInterface, mac: Uint8Array, pkt: Uint8Array): void {
    this.emitFragments(iface, pkt, (f) => this.ctx.sendEthernet(iface, mac, 0x0800, f));
  }

  private emitFragments(iface: NetInterface, pkt: Uint8Array, send: (f: Uint8Array) => void): void {
    const c = this.ctx.counters;
    const mtu = this.pathMtu(iface, read32(pkt, 16));
    if (pkt.length > mtu && new Ipv4Packet(pkt).dontFrag) {
      // The path MTU shrank while the packet waited for ARP.
      c.drop('ipv4.frag_needed_df');
      return;
    }
    const frags = fragmentIpv4(pkt, mtu);
    if (frags.length === 0) {
      c.drop('ipv4.mtu_too_small');
      return;
    }
    if (frags.length > 1) c.inc('ipv4.frag_tx', frags.length);
    for (const f of frags) {
      c.inc('ipv4.tx');
      send(f);
    }
  }
}

/**
 * Writes a 20-byte IPv4 header (no options) at `buf[at]`: version 4, IHL 5, DSCP from `tos`,
 * the given Total Length, Identification and DF, TTL, protocol, addresses, and its checksum
 * (RFC 791 §3.1), without building a Repr object on the hot path.
 */
function writeHeader4(buf: Uint8Array, at: number, src: number, dst: number, protocol: number, ttl: number, ident: number, df: boolean, total: number, tos: number): void {
  buf[at] = 0x45;
  buf[at + 1] = tos & 0xfc;
  buf[at + 2] = total >>> 8;
  buf[at + 3] = total & 0xff;
  buf[at + 4] = ident >>> 8;
  buf[at + 5] = ident & 0xff;
  buf[at + 6] = df ? 0x40 : 0;
  buf[at + 7] = 0;
  buf[at + 8] = ttl;
  buf[at + 9] = protocol;
  buf[at + 12] = src >>> 24;
  buf[at + 13] = (src >>> 16) & 0xff;
  buf[at + 14] = (src >>> 8) & 0xff;
  buf[at + 15] = src & 0xff;
  buf[at + 16] = dst >>> 24;
  buf[at + 17] = (dst >>> 16) & 0xff;
  buf[at + 18] = (dst >>> 8) & 0xff;
  buf[at + 19] = dst & 0xff;
  let sum =
    0x4500 + (tos & 0xfc) + total + ident + (df ? 0x4000 : 0) + ((ttl << 8) | protocol) +
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  buf[at + 10] = c >>> 8;
  buf[at + 11] = c & 0xff;
}
