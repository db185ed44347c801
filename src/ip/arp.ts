/**
 * ARP for one Ethernet interface (RFC 826, RFC 1122 §2.3.2, RFC 5227 for announcements).
 *
 * - Requests for one of our addresses are answered. Per RFC 826's merge rule, the sender of any
 *   ARP packet updates an existing entry; an entry is created when we are the target.
 * - Resolution uses the shared NeighborCache (retries, bounded queue, timeouts).
 * - `announce()` sends a gratuitous ARP (an ARP request with sender = target = our address,
 *   RFC 5227 §3 / RFC 5944 §4.6) for each address when the interface comes up.
 * - A packet with a sender address of ours or a broadcast/multicast/zero sender MAC is dropped
 *   (`drop.arp.bad_sender`); a probe (sender IP 0, RFC 5227) is answered but not cached.
 */
import { ArpOp, ARP_LEN, emitArp, parseArp } from '../wire/arp.js';
import { EtherType } from '../wire/ethernet.js';
import { MAC_ZERO, isMacMulticast, macEqual } from '../wire/address.js';
import type { IpContext } from './context.js';
import type { NetInterface } from './interface.js';
import { NeighborCache } from './neighbors.js';
import { MAC_BROADCAST as BROADCAST_MAC } from '../wire/address.js';

export class Arp {
  readonly cache: NeighborCache<number>;

  constructor(
    private readonly ctx: IpContext,
    private readonly iface: NetInterface,
  ) {
    const l = ctx.limits;
    this.cache = new NeighborCache<number>(
      ctx.timers,
      () => ctx.clock.now(),
      ctx.counters,
      'arp',
      (k) => String(k),
      {
        solicit: (ip, mac) => this.request(ip, mac),
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

  /** Set by the Stack: sends a whole (possibly over-MTU) datagram to a resolved MAC. */
  transmit: (pkt: Uint8Array, mac: Uint8Array) => void = (pkt, mac) => this.ctx.sendEthernet(this.iface, mac, EtherType.IPV4, pkt);

  /** Sends an IPv4 packet to on-link `nextHop`, resolving its MAC first if needed. */
  send(nextHop: number, packet: Uint8Array): void {
    this.cache.send(nextHop, packet);
  }

  input(payload: Uint8Array): void {
    const c = this.ctx.counters;
    c.inc('arp.rx');
    const a = parseArp(payload);
    if (typeof a === 'string') {
      c.drop(a);
      return;
    }
    const mine = this.iface.mac!;
    if (isMacMulticast(a.senderMac) || macEqual(a.senderMac, MAC_ZERO) || macEqual(a.senderMac, mine)) {
      c.drop('arp.bad_sender');
      return;
    }
    if (a.senderIp !== 0 && this.iface.hasIpv4(a.senderIp)) {
      // Someone else claims our address (RFC 5227 §2.4 conflict): log by counter, do not cache.
      c.drop('arp.address_conflict');
      return;
    }
    const forUs = this.iface.hasIpv4(a.targetIp);
    if (a.senderIp !== 0) {
      // RFC 826 merge: update if present; create if we are the target. A reply to us confirms
      // reachability; a request only tells us the sender's MAC (STALE, as Linux/RFC 4861).
      this.cache.update(a.senderIp, a.senderMac, {
        create: forUs,
        reachable: forUs && a.op === ArpOp.REPLY,
        override: true,
      });
    }
    if (a.senderIp === a.targetIp) {
      // Gratuitous ARP / announcement (RFC 5227 §3): only updates an existing entry (above).
      c.inc('arp.rx.gratuitous');
      return;
    }
    if (a.op === ArpOp.REQUEST) {
      c.inc('arp.rx.request');
      if (!forUs) {
        c.drop('arp.not_for_us');
        return;
      }
      const buf = new Uint8Array(ARP_LEN);
      emitArp({ op: ArpOp.REPLY, senderMac: mine, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp }, buf);
      c.inc('arp.tx.reply');
      this.ctx.sendEthernet(this.iface, a.senderMac, EtherType.ARP, buf);
    } else {
      c.inc('arp.rx.reply');
    }
  }

  /** A request for `ip`: broadcast, or unicast to `mac` when re-probing a stale entry. */
  private request(ip: number, mac: Uint8Array | undefined): void {
    const src = this.sourceFor(ip);
    const buf = new Uint8Array(ARP_LEN);
    emitArp({ op: ArpOp.REQUEST, senderMac: this.iface.mac!, senderIp: src, targetMac: MAC_ZERO, targetIp: ip }, buf);
    this.ctx.counters.inc('arp.tx.request');
    this.ctx.sendEthernet(this.iface, mac ?? BROADCAST_MAC, EtherType.ARP, buf);
  }

  private sourceFor(ip: number): number {
    for (const a of this.iface.addrs4) if (((ip & a.mask) >>> 0) === a.network) return a.addr;
    return this.iface.addrs4[0]?.addr ?? 0;
  }

  /** Gratuitous ARP for every address (RFC 5227 §3 announcement). */
  announce(): void {
    for (const a of this.iface.addrs4) {
      const buf = new Uint8Array(ARP_LEN);
      emitArp({ op: ArpOp.REQUEST, senderMac: this.iface.mac!, senderIp: a.addr, targetMac: MAC_ZERO, targetIp: a.addr }, buf);
      this.ctx.counters.inc('arp.tx.gratuitous');
      this.ctx.sendEthernet(this.iface, BROADCAST_MAC, EtherType.ARP, buf);
    }
  }
}
