/**
 * IPv6 input and output for a host (RFC 8200, RFC 4291 addressing, RFC 6724 source selection,
 * simplified). No forwarding.
 *
 * Input: fixed header check; a multicast source is discarded (RFC 4291 §2.7); accept our unicast
 * addresses (any interface, weak host like Linux), ff02::1 and our solicited-node groups on the
 * receiving interface — else `drop.ipv6.not_for_us`. Then the extension header chain is walked
 * (wire/ipv6-ext.ts `walkIpv6Chain`), answering Parameter Problems as the walker says
 * (RFC 8200 §4), fragments are reassembled (RFC 8200 §4.5, RFC 5722) and the chain is walked
 * again over the reassembled packet. Dispatch: ICMPv6, UDP, registered protocols (TCP); No Next
 * Header (59) is dropped silently; anything else is Parameter Problem code 1 pointing at the
 * Next Header byte (RFC 8200 §4).
 *
 * Output: hop limit 64 (255 for NDP, the caller passes it), fragmentation at the source with a
 * Fragment header whose Identification comes from the random source (RFC 7739 recommends
 * unpredictable values), data per fragment a multiple of 8 (RFC 8200 §4.5).
 * `outputInPlace` writes the header in front of a segment built with room for it; a
 * `TxOffload` (partial checksum, TSO super-segment) is finished by the link's device, or by
 * gso.ts here when the link cannot. A super-segment is never fragmented.
 */
import { IPV6_HEADER_LEN, Ipv6Packet, emitIpv6, parseIpv6 as parseIpv6Header } from '../wire/ipv6.js';
import { IPV6_FRAG_HEADER_LEN, walkIpv6Chain, type Ipv6ChainOk } from '../wire/ipv6-ext.js';
import type { Counter } from '../core/counters.js';
import { ipv6MulticastMac, isIpv6LinkLocal, isIpv6Multicast } from '../wire/address.js';
import { read16, write16 } from '../wire/bytes.js';
import type { IpContext, RxInfo } from './context.js';
import type { NetInterface } from './interface.js';
import { Reassembler, type ReassemblyBudget } from './reassembly.js';
import { fragmentIpv6 } from './fragment.js';
import { PmtuCache } from './pmtu.js';
import type { Icmp6 } from './icmp6.js';
import { v6CommonPrefixLen, v6Key, v6NeedsScope } from './prefix.js';
import { UDP_PROTOCOL } from '../transport/udp.js';
import { GsoType, type TxOffload } from '../link/link.js';
import { completeChecksum, segmentTcp } from './gso.js';

export const PROTO_ICMPV6 = 58;
const PROTO_NONE = 59;
const PROTO_FRAG = 44;

/**
 * Next Header values walkIpv6Chain treats as extension headers (Hop-by-Hop 0, Routing 43,
 * Fragment 44, Destination Options 60): any other value right after the fixed header is the
 * upper layer, and the walk would find nothing to check.
 */
function isWalkedExtension(nh: number): boolean {
  return nh === 0 || nh === 43 || nh === 44 || nh === 60;
}

export interface Output6Options {
  hopLimit?: number;
  /** Outgoing interface (scope id) for link-scoped destinations. */
  iface?: NetInterface;
  /** Fail with EMSGSIZE instead of fragmenting (IPV6_DONTFRAG). */
  dontFrag?: boolean;
}

/** What the IPv6 layer tells upper layers about a delivered packet. */
export interface Ipv6Meta {
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
  /** The whole packet (reassembled if it was fragmented), for quoting in ICMPv6 errors. */
  packet: Uint8Array;
  /** The destination was multicast. */
  multicast: boolean;
  /** The extension-header walk of `packet` (after reassembly, if any). */
  chain: Ipv6ChainOk;
}

export class Ipv6Layer {
  readonly reassembler: Reassembler;
  /** Path MTUs learned from Packet Too Big (RFC 8201), keyed by v6Key(dst). */
  readonly pmtu: PmtuCache<string>;
  icmp!: Icmp6;
  /** Per-packet counters, resolved once. */
  private readonly cRx: Counter;
  private readonly cDelivered: Counter;
  /** Where software segmentation builds segments (gso.ts); the link copies each. */
  private gsoScratch: Uint8Array | undefined;
  private readonly sendOnLink = (f: Uint8Array): void => this.transmit(this.txIface!, this.txNextHop!, f);
  private txIface: NetInterface | undefined;
  private txNextHop: Uint8Array | undefined;

  constructor(
    private readonly ctx: IpContext,
    budget: ReassemblyBudget,
  ) {
    this.cRx = ctx.counters.counter('ipv6.rx');
    this.cDelivered = ctx.counters.counter('ipv6.delivered');
    this.pmtu = new PmtuCache<string>(() => ctx.clock.now(), 1280);
    this.reassembler = new Reassembler(
      ctx.timers,
      () => ctx.clock.now(),
      ctx.counters,
      'ipv6',
      ctx.limits.reassemblyTimeout6Ms,
      budget,
      (first) => this.reassemblyTimeout(first),
    );
  }

  // ---- input ----------------------------------------------------------------------------------

  input(packet: Uint8Array, rx: RxInfo): void {
    const c = this.ctx.counters;
    this.cRx.inc();
    const bad = Ipv6Packet.check(packet);
    if (bad) {
      c.drop(bad);
      return;
    }
    // RFC 4291 §2.7: a multicast source (first byte ff) is discarded.
    if (packet[8] === 0xff) {
      c.drop('ipv6.bad_src');
      return;
    }
    const dst = packet.subarray(24, 40);
    const multicast = packet[24] === 0xff;
    if (multicast ? !rx.iface.inGroup6(dst) : !this.isLocal(dst)) {
      c.drop('ipv6.not_for_us');
      return;
    }
    const end = IPV6_HEADER_LEN + read16(packet, 4);
    const nh = packet[6]!;
    if (!isWalkedExtension(nh) && nh !== PROTO_ICMPV6) {
      // No extension header to walk: UDP, TCP or another upper layer right after the header.
      this.cDelivered.inc();
      this.dispatch(nh, packet.subarray(8, 24), dst, packet.subarray(IPV6_HEADER_LEN, end), packet, end, undefined, rx, multicast);
      return;
    }
    // Trailing link padding is excluded from here on.
    const pkt = packet.subarray(0, end);
    const w = walkIpv6Chain(pkt);
    if (w.drop !== null) {
      c.drop(w.drop);
      if (w.icmp) this.icmp.sendParamProblem(pkt, rx, w.icmp.code, w.icmp.pointer, w.icmp.allowMulticast);
      return;
    }
    const f = w.fragment;
    if (f && (f.fragOffset !== 0 || f.more)) {
      c.inc('ipv6.frag_rx');
      let header: Uint8Array | undefined;
      if (f.fragOffset === 0) {
        // The unfragmentable part, with the Next Header that named the Fragment header patched
        // to the fragment's Next Header (RFC 8200 §4.5 reassembly).
        header = pkt.slice(0, f.headerOffset);
        header[f.prevNextHeaderOffset] = f.nextHeader;
      }
      const r = this.reassembler.add({
        key: `${v6Key(pkt.subarray(8, 24))}|${v6Key(dst)}|${f.ident}`,
        offset: f.fragOffset,
        more: f.more,
        data: pkt.subarray(w.offset, w.end),
        header,
        packet: f.fragOffset === 0 ? pkt : undefined,
      });
      if (r === null || typeof r === 'string') return;
      const len = r.header.length + r.payload.length;
      if (len - IPV6_HEADER_LEN > 0xffff) {
        c.drop('ipv6.reasm_too_big');
        return;
      }
      const whole = new Uint8Array(len);
      whole.set(r.header, 0);
      whole.set(r.payload, r.header.length);
      write16(whole, 4, len - IPV6_HEADER_LEN);
      const w2 = walkIpv6Chain(whole);
      if (w2.drop !== null) {
        c.drop(w2.drop);
        if (w2.icmp) this.icmp.sendParamProblem(whole, rx, w2.icmp.code, w2.icmp.pointer, w2.icmp.allowMulticast);
        return;
      }
      if (w2.fragment && w2.protocol === PROTO_FRAG) {
        c.drop('ipv6.nested_fragment');
        return;
      }
      // Reassembled: any checksum flag of the last fragment does not cover the packet.
      this.deliver(whole, w2, rx.csumValid === true ? { ...rx, csumValid: false } : rx, multicast);
      return;
    }
    this.deliver(pkt, w, rx, multicast);
  }

  private deliver(pkt: Uint8Array, w: Ipv6ChainOk, rx: RxInfo, multicast: boolean): void {
    this.cDelivered.inc();
    const src = pkt.subarray(8, 24);
    const dst = pkt.subarray(24, 40);
    const payload = pkt.subarray(w.offset, w.end);
    if (w.protocol === PROTO_ICMPV6) {
      const meta: Ipv6Meta = { src, dst, hopLimit: pkt[7]!, packet: pkt, multicast, chain: w };
      this.icmp.input(payload, meta, rx);
      return;
    }
    this.dispatch(w.protocol, src, dst, payload, pkt, pkt.length, w, rx, multicast);
  }

  /**
   * UDP, No Next Header or a registered protocol (TCP). `packet[0..end)` is the whole packet
   * (for ICMPv6 errors) and `w` its extension-header walk, when one was done.
   */
  private dispatch(
    protocol: number,
    src: Uint8Array,
    dst: Uint8Array,
    payload: Uint8Array,
    packet: Uint8Array,
    end: number,
    w: Ipv6ChainOk | undefined,
    rx: RxInfo,
    multicast: boolean,
  ): void {
    switch (protocol) {
      case UDP_PROTOCOL: {
        const r = this.ctx.udp.input6(src, dst, payload, multicast, rx.iface.index, rx.csumValid === true);
        if (r === 'no_socket') {
          const meta = this.meta(packet, end, w, multicast);
          if (meta) this.icmp.sendError(meta, rx, 1, 4, 0); // port unreachable
        }
        return;
      }
      case PROTO_NONE:
        this.ctx.counters.drop('ipv6.no_next_header');
        return;
      default: {
        const h = this.ctx.protocols6.get(protocol);
        if (h) {
          h(src, dst, payload, rx);
          return;
        }
        this.ctx.counters.drop('ipv6.unknown_next_header');
        // RFC 8200 §4: Parameter Problem code 1, pointer to the Next Header field.
        const pkt = packet.subarray(0, end);
        const chain = w ?? walkIpv6Chain(pkt);
        if (chain.drop === null) this.icmp.sendParamProblem(pkt, rx, 1, chain.nextHeaderOffset, false);
      }
    }
  }

  /** What ICMPv6 errors need about a delivered packet (walking its chain if not done yet). */
  private meta(packet: Uint8Array, end: number, w: Ipv6ChainOk | undefined, multicast: boolean): Ipv6Meta | undefined {
    const pkt = packet.subarray(0, end);
    const chain = w ?? walkIpv6Chain(pkt);
    if (chain.drop !== null) return undefined; // unreachable: no extension headers to reject
    return { src: pkt.subarray(8, 24), dst: pkt.subarray(24, 40), hopLimit: pkt[7]!, packet: pkt, multicast, chain };
  }

  private reassemblyTimeout(first: Uint8Array): void {
    // RFC 8200 §4.5: Time Exceeded code 1 when the first fragment had arrived.
    const src = first.subarray(8, 24);
    const iface = this.ctx.routes.lookup6(src, undefined, this.ctx.interfaces)?.iface;
    if (!iface) return;
    const w = walkIpv6Chain(first);
    if (w.drop !== null) return;
    const meta: Ipv6Meta = { src, dst: first.subarray(24, 40), hopLimit: first[7]!, packet: first, multicast: isIpv6Multicast(first.subarray(24, 40)), chain: w };
    this.icmp.sendError(meta, { iface, linkMulticast: false }, 3, 1, 0);
  }

  // ---- addresses ------------------------------------------------------------------------------

  /** The MTU towards `dst`: the interface MTU, lowered by a learned path MTU. */
  pathMtu(iface: NetInterface, dst: Uint8Array): number {
    // (Asked for every packet sent: skip building the key while nothing was learned.)
    if (this.pmtu.size === 0) return iface.mtu;
    const p = this.pmtu.get(v6Key(dst));
    return p === undefined ? iface.mtu : Math.min(p, iface.mtu);
  }

  /**
   * Packet Too Big about a packet we sent (`invoking` quotes it): lower the path MTU to its
   * destination; values below 1280 are raised to 1280 (RFC 8201 §4, RFC 8021).
   */
  packetTooBig(invoking: Uint8Array, mtu: number): void {
    if (invoking.length < 40 || invoking[0]! >>> 4 !== 6) return;
    const iface = this.localInterface(invoking.subarray(8, 24));
    if (!iface) {
      this.ctx.counters.drop('icmp6.packet_too_big_not_ours');
      return;
    }
    const dst = invoking.subarray(24, 40);
    const r = this.ctx.routes.lookup6(dst, undefined, this.ctx.interfaces);
    const m = this.pmtu.update(v6Key(dst), mtu, (r?.iface ?? iface).mtu);
    if (m !== undefined) this.ctx.counters.inc('ipv6.pmtu_update');
  }

  /** The interface owning unicast address `a`, if it is ours. */
  localInterface(a: Uint8Array): NetInterface | undefined {
    for (const i of this.ctx.interfaces) if (i.hasIpv6(a)) return i;
    return undefined;
  }

  isLocal(a: Uint8Array): boolean {
    for (const i of this.ctx.interfaces) if (i.hasIpv6(a)) return true;
    return false;
  }

  /** The interface and next hop for `dst`, or ENETUNREACH. */
  routeFor(dst: Uint8Array, iface?: NetInterface): { iface: NetInterface; nextHop: Uint8Array } | string {
    const r = this.ctx.routes.lookup6(dst, iface, this.ctx.interfaces);
    if (r) return r;
    if (iface && !v6NeedsScope(dst)) {
      const r2 = this.ctx.routes.lookup6(dst, undefined, this.ctx.interfaces);
      if (r2) return r2;
    }
    return 'ENETUNREACH';
  }

  /**
   * Source address selection (RFC 6724 §5, simplified): on the outgoing interface, prefer an
   * address of the destination's scope (link-local for fe80::/ff02::, global otherwise), then
   * the longest common prefix (rule 8).
   */
  source(dst: Uint8Array, iface?: NetInterface): Uint8Array | string {
    const r = this.routeFor(dst, iface);
    if (typeof r === 'string') {
      this.ctx.counters.drop('ipv6.no_route');
      return r;
    }
    const wantLink = isIpv6LinkLocal(dst) || (isIpv6Multicast(dst) && (dst[1]! & 0x0f) <= 2);
    let best: Uint8Array | undefined;
    let bestScore = -1;
    for (const a of r.iface.addrs6) {
      const sameScope = (a.scope === 'link') === wantLink;
      const score = (sameScope ? 1000 : 0) + v6CommonPrefixLen(a.addr, dst);
      if (score > bestScore) {
        bestScore = score;
        best = a.addr;
      }
    }
    return best ?? 'EADDRNOTAVAIL';
  }

  // ---- output ---------------------------------------------------------------------------------

  /** Sends `payload` with Next Header `nh`. Null or an errno code (ENETUNREACH, EMSGSIZE). */
  output(src: Uint8Array, dst: Uint8Array, nh: number, payload: Uint8Array, opts: Output6Options = {}): string | null {
    const buf = new Uint8Array(IPV6_HEADER_LEN + payload.length);
    buf.set(payload, IPV6_HEADER_LEN);
    return this.outputInPlace(src, dst, nh, buf, IPV6_HEADER_LEN, payload.length, opts, undefined);
  }

  /**
   * Like `output` for the segment `buf[off, off + len)`, with the IPv6 header written into
   * `buf[off - 40, off)`, which the caller leaves free. `offload`: see the module comment (its
   * l4Offset is set here). The caller may reuse `buf` when this returns.
   */
  outputInPlace(
    src: Uint8Array,
    dst: Uint8Array,
    nh: number,
    buf: Uint8Array,
    off: number,
    len: number,
    opts: Output6Options,
    offload: TxOffload | undefined,
  ): string | null {
    const c = this.ctx.counters;
    const local = this.localInterface(dst);
    const route = local ? { iface: local, nextHop: dst } : this.routeFor(dst, opts.iface);
    if (typeof route === 'string') {
      c.drop('ipv6.no_route');
      return route;
    }
    if (len > 0xffff || off < IPV6_HEADER_LEN) {
      c.drop('ipv6.too_big');
      return 'EMSGSIZE';
    }
    const gso = offload !== undefined && offload.gsoType !== GsoType.NONE;
    const hopLimit = opts.hopLimit ?? this.ctx.limits.defaultHopLimit;
    const mtu = this.pathMtu(route.iface, dst);
    const total = IPV6_HEADER_LEN + len;
    // A super-segment leaves as segments of headers + gsoSize bytes: those must fit.
    const wire = gso ? IPV6_HEADER_LEN + offload.l4HeaderLength + offload.gsoSize : total;
    if (wire > mtu && !local) {
      if (opts.dontFrag || gso) {
        c.drop('ipv6.frag_needed_df');
        return 'EMSGSIZE';
      }
      if (mtu < IPV6_HEADER_LEN + IPV6_FRAG_HEADER_LEN + 8) {
        c.drop('ipv6.mtu_too_small');
        return 'EMSGSIZE';
      }
    }
    const at = off - IPV6_HEADER_LEN;
    writeHeader6(buf, at, src, dst, nh, hopLimit, len);
    const pkt = buf.subarray(at, off + len);
    if (offload !== undefined) offload.l4Offset = IPV6_HEADER_LEN;
    if (local) {
      c.inc('ipv6.loopback');
      const copy = pkt.slice();
      if (offload === undefined) this.ctx.loopback(local, copy);
      else this.software(copy, offload, (seg) => this.ctx.loopback(local, seg.slice()));
      return null;
    }
    const iface = route.iface;
    if (!iface.ethernet && offload === undefined && total <= mtu) {
      c.inc('ipv6.tx');
      iface.link.send(pkt);
      return null;
    }
    this.transmit(iface, route.nextHop, pkt, offload);
    return null;
  }

  /** Completes a partial checksum, or cuts a super-segment, in software (see ipv4.ts). */
  private software(pkt: Uint8Array, o: TxOffload, send: (p: Uint8Array) => void): void {
    if (o.gsoType === GsoType.NONE) {
      completeChecksum(pkt, o);
      send(pkt);
      return;
    }
    this.gsoScratch ??= new Uint8Array(0x10000);
    const n = segmentTcp(pkt, o, this.gsoScratch, send);
    if (n === 0) this.ctx.counters.drop('ipv6.gso_bad');
    else this.ctx.counters.inc('ipv6.gso_software', n);
  }

  /**
   * Hands a whole packet to the link (TUN directly; TAP via NDP or a multicast MAC). It is
   * fragmented here, after resolution (one neighbour-queue slot per packet, not per fragment).
   */
  transmit(iface: NetInterface, nextHop: Uint8Array, pkt: Uint8Array, offload?: TxOffload): void {
    if (offload !== undefined) {
      const lo = iface.link.offloads;
      const gso = offload.gsoType & ~GsoType.ECN;
      if (
        !iface.ethernet &&
        lo !== undefined &&
        lo.txCsum &&
        (gso === GsoType.NONE || (gso === GsoType.TCPV6 && lo.tso6)) &&
        pkt.length <= lo.maxGsoBytes
      ) {
        this.ctx.counters.inc('ipv6.tx');
        if (gso !== GsoType.NONE) this.ctx.counters.inc('ipv6.tx_gso');
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
    if (isIpv6Multicast(nextHop)) {
      this.sendTo(iface, ipv6MulticastMac(nextHop), pkt);
      return;
    }
    if (iface.ndp) iface.ndp.send(nextHop, pkt);
    else this.ctx.counters.drop('ipv6.no_ndp');
  }

  /** Sends a whole packet to a resolved MAC. */
  sendTo(iface: NetInterface, mac: Uint8Array, pkt: Uint8Array): void {
    this.emitFragments(iface, pkt, (f) => this.ctx.sendEthernet(iface, mac, 0x86dd, f));
  }

  private emitFragments(iface: NetInterface, pkt: Uint8Array, send: (f: Uint8Array) => void): void {
    const c = this.ctx.counters;
    // RFC 7739: an unpredictable Identification per fragmented packet.
    const mtu = this.pathMtu(iface, pkt.subarray(24, 40));
    const frags = pkt.length <= mtu ? [pkt] : fragmentIpv6(pkt, mtu, this.ctx.random.u32());
    if (frags.length === 0) {
      c.drop('ipv6.mtu_too_small');
      return;
    }
    if (frags.length > 1) c.inc('ipv6.frag_tx', frags.length);
    for (const f of frags) {
      c.inc('ipv6.tx');
      send(f);
    }
  }
}

/** Writes the 40-byte IPv6 header (traffic class and flow label 0) at `buf[at]` (RFC 8200 §3). */
function writeHeader6(buf: Uint8Array, at: number, src: Uint8Array, dst: Uint8Array, nh: number, hopLimit: number, payloadLength: number): void {
  buf[at] = 0x60;
  buf[at + 1] = 0;
  buf[at + 2] = 0;
  buf[at + 3] = 0;
  buf[at + 4] = payloadLength >>> 8;
  buf[at + 5] = payloadLength & 0xff;
  buf[at + 6] = nh;
  buf[at + 7] = hopLimit;
  for (let i = 0; i < 16; i++) {
    buf[at + 8 + i] = src[i]!;
    buf[at + 24 + i] = dst[i]!;
  }
}
