/**
 * IPv6 Neighbor Discovery for one Ethernet interface (RFC 4861): address resolution and
 * neighbour unreachability detection (through the shared NeighborCache), answering Neighbor
 * Solicitations for our addresses, and unsolicited Neighbor Advertisements on start.
 *
 * - NS for one of our addresses (§7.2.3): cache the SLLA (create/update, STALE) and answer a
 *   solicited NA (S=1, O=1, TLLA) to the source. An NS from the unspecified address is a DAD
 *   probe (§7.2.4): answer to ff02::1 with S=0.
 * - NA (§7.2.5): updates an existing entry; S=1 makes it REACHABLE; O=0 does not override a
 *   different cached address. An NA for one of our own addresses signals a duplicate
 *   (`ndp.address_conflict`, counted; no DAD state machine here).
 * - Resolution (§7.2.2): NS to the solicited-node multicast of the target, hop limit 255, with
 *   our SLLA; unicast NS to the cached address when probing.
 * - Router Solicitation/Advertisement and Redirect are counted and ignored (static config).
 */
import type { NdpNeighborAdvertRepr, NdpNeighborSolicitRepr, NdpRepr } from '../wire/ndp.js';
import { NDP_HOP_LIMIT } from '../wire/ndp.js';
import { IPV6_ALL_NODES, isIpv6LinkLocal, isIpv6Multicast, isIpv6Unspecified, solicitedNodeMulticast } from '../wire/address.js';
import type { IpContext } from './context.js';
import type { NetInterface } from './interface.js';
import type { Ipv6Layer, Ipv6Meta } from './ipv6.js';
import { NeighborCache } from './neighbors.js';
import { v6CommonPrefixLen, v6Key } from './prefix.js';

export class Ndp {
  readonly cache: NeighborCache<Uint8Array>;

  constructor(
    private readonly ctx: IpContext,
    private readonly iface: NetInterface,
    private readonly ip: Ipv6Layer,
  ) {
    const l = ctx.limits;
    this.cache = new NeighborCache<Uint8Array>(
      ctx.timers,
      () => ctx.clock.now(),
      ctx.counters,
      'ndp',
      v6Key,
      {
        solicit: (target, mac) => this.solicit(target, mac),
        transmit: (pkt, mac) => this.transmit(pkt, mac),
      },
      {
        maxEntries: l.neighborEntries,
        maxPending: l.neighborPending,
        maxPendingBytes: l.neighborPendingBytes,
        maxRetries: l.neighborRetries,
        retransmitMs: l.neighborRetransmitMs,
        reachableMs: l.neighborReachableMs,
      },
    );
  }

  /** Sends a whole (possibly over-MTU) packet to a resolved MAC; fragments via the IPv6 layer. */
  transmit: (pkt: Uint8Array, mac: Uint8Array) => void = (pkt, mac) => this.ip.sendTo(this.iface, mac, pkt);

  /** Sends an IPv6 packet to on-link `nextHop` (copied into the cache key when new). */
  send(nextHop: Uint8Array, packet: Uint8Array): void {
    this.cache.send(nextHop.slice(), packet);
  }

  input(m: NdpRepr, meta: Ipv6Meta): void {
    switch (m.kind) {
      case 'neighborSolicit':
        this.onSolicit(m, meta);
        return;
      case 'neighborAdvert':
        this.onAdvert(m);
        return;
      default:
        this.ctx.counters.inc('ndp.ignored.' + m.kind);
        return;
    }
  }

  private onSolicit(m: NdpNeighborSolicitRepr, meta: Ipv6Meta): void {
    const c = this.ctx.counters;
    if (!this.iface.hasIpv6(m.target)) {
      c.drop('ndp.not_for_us');
      return;
    }
    const target = m.target.slice();
    const mac = this.iface.mac!;
    if (isIpv6Unspecified(meta.src)) {
      // §7.2.4: a DAD probe for our address; answer to all nodes, S=0.
      c.inc('ndp.tx.neighbor_advert');
      this.sendNdp(target, IPV6_ALL_NODES, {
        kind: 'neighborAdvert',
        router: false,
        solicited: false,
        override: true,
        target,
        options: { targetLinkAddr: mac },
      });
      return;
    }
    const slla = m.options.sourceLinkAddr;
    if (slla) this.cache.update(meta.src.slice(), slla, { create: true, reachable: false, override: true });
    else if (isIpv6Multicast(meta.dst)) {
      // §7.1.1: a multicast NS from a unicast source must carry an SLLA.
      c.drop('ndp.missing_slla');
      return;
    }
    c.inc('ndp.tx.neighbor_advert');
    this.sendNdp(target, meta.src.slice(), {
      kind: 'neighborAdvert',
      router: false,
      solicited: true,
      override: true,
      target,
      options: { targetLinkAddr: mac },
    });
  }

  private onAdvert(m: NdpNeighborAdvertRepr): void {
    const c = this.ctx.counters;
    if (this.iface.hasIpv6(m.target)) {
      c.drop('ndp.address_conflict');
      return;
    }
    const e = this.cache.get(m.target);
    if (!e) {
      // §7.2.5: no entry, silently discard (unsolicited NAs do not create entries).
      c.inc('ndp.na_no_entry');
      return;
    }
    const tlla = m.options.targetLinkAddr;
    if (!tlla) {
      if (e.state === 'incomplete') {
        c.drop('ndp.na_without_tlla');
        return;
      }
      if (m.solicited) this.cache.update(m.target, e.mac!, { create: false, reachable: true, override: false });
      return;
    }
    this.cache.update(m.target, tlla, { create: false, reachable: m.solicited, override: m.override || e.state === 'incomplete' });
  }

  /** NS for `target`: to its solicited-node group, or unicast to `mac` when probing. */
  private solicit(target: Uint8Array, mac: Uint8Array | undefined): void {
    const src = this.sourceFor(target);
    if (!src) {
      this.ctx.counters.drop('ndp.no_source');
      return;
    }
    this.ctx.counters.inc('ndp.tx.neighbor_solicit');
    this.sendNdp(src, mac ? target : solicitedNodeMulticast(target), {
      kind: 'neighborSolicit',
      target,
      options: { sourceLinkAddr: this.iface.mac! },
    });
  }

  private sourceFor(target: Uint8Array): Uint8Array | undefined {
    const wantLink = isIpv6LinkLocal(target);
    let best: Uint8Array | undefined;
    let score = -1;
    for (const a of this.iface.addrs6) {
      const s = ((a.scope === 'link') === wantLink ? 1000 : 0) + v6CommonPrefixLen(a.addr, target);
      if (s > score) {
        score = s;
        best = a.addr;
      }
    }
    return best;
  }

  private sendNdp(src: Uint8Array, dst: Uint8Array, repr: NdpRepr): void {
    this.ip.icmp.send(src, dst, repr, this.iface, NDP_HOP_LIMIT);
  }

  /** Unsolicited NAs to all nodes for every address (RFC 4861 §7.2.6), when the link comes up. */
  announce(): void {
    for (const a of this.iface.addrs6) {
      this.ctx.counters.inc('ndp.tx.unsolicited_advert');
      this.sendNdp(a.addr, IPV6_ALL_NODES, {
        kind: 'neighborAdvert',
        router: false,
        solicited: false,
        override: true,
        target: a.addr,
        options: { targetLinkAddr: this.iface.mac! },
      });
    }
  }
}
