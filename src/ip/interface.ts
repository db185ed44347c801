/**
 * A network interface: one Link plus the addresses the stack owns on it. A host may have several
 * IPv4 (CIDR) and IPv6 (global and link-local) addresses per interface.
 *
 * This is the address book only; input/output lives in ipv4.ts / ipv6.ts, and neighbour
 * resolution (on Ethernet links) in arp.ts / ndp.ts.
 */
import type { Link } from '../link/link.js';
import type { Arp } from './arp.js';
import type { Ndp } from './ndp.js';
import {
  IPV6_ALL_NODES as V6_ALL_NODES,
  MAC_BROADCAST as BROADCAST_MAC,
  ipv4Mask as v4Mask,
  ipv4MulticastMac as v4MulticastMac,
  ipv6Equal as v6Equal,
  ipv6InPrefix as v6PrefixMatch,
  ipv6MulticastMac as v6MulticastMac,
  isIpv6LinkLocal as v6IsLinkLocal,
  macEqual,
  solicitedNodeMulticast as v6SolicitedNode,
} from '../wire/address.js';
import { v6Key } from './prefix.js';

/** 224.0.0.1, all hosts (RFC 1112 §4). */
const V4_ALL_HOSTS = 0xe0000001;
const V4_BROADCAST = 0xffffffff;

export interface Ipv4Address {
  addr: number;
  prefixLen: number;
  mask: number;
  network: number;
  /** The directed (subnet) broadcast address; equals `addr` for /31 and /32. */
  broadcast: number;
}

export interface Ipv6Address {
  addr: Uint8Array;
  prefixLen: number;
  /** 'link' for fe80::/10, otherwise 'global' (ULA fd00::/8 counts as global scope, RFC 4193 §3.3). */
  scope: 'link' | 'global';
}

export class NetInterface {
  readonly addrs4: Ipv4Address[] = [];
  readonly addrs6: Ipv6Address[] = [];
  gateway4: number | undefined;
  gateway6: Uint8Array | undefined;
  /** Neighbour resolution, on Ethernet links only. */
  arp: Arp | undefined;
  ndp: Ndp | undefined;
  /** IPv6 multicast groups we listen to, by v6Key: ff02::1 and solicited-node groups. */
  private readonly groups6 = new Map<string, Uint8Array>();
  /** Ethernet multicast MACs accepted on this interface (hex key). */
  private readonly macs = new Set<string>();

  constructor(
    /** 1-based interface index, the IPv6 scope id. */
    readonly index: number,
    readonly name: string,
    readonly link: Link,
    readonly mtu: number,
  ) {
    this.joinGroup6(V6_ALL_NODES);
    this.macs.add(macKey(v4MulticastMac(V4_ALL_HOSTS)));
  }

  get ethernet(): boolean {
    return this.link.kind === 'ethernet';
  }

  get mac(): Uint8Array | undefined {
    return this.link.mac;
  }

  addIpv4(addr: number, prefixLen: number): Ipv4Address {
    const mask = v4Mask(prefixLen);
    const network = (addr & mask) >>> 0;
    const broadcast = prefixLen >= 31 ? addr : (network | ~mask) >>> 0;
    const a = { addr, prefixLen, mask, network, broadcast };
    this.addrs4.push(a);
    return a;
  }

  addIpv6(addr: Uint8Array, prefixLen: number): Ipv6Address {
    const a: Ipv6Address = { addr: Uint8Array.from(addr), prefixLen, scope: v6IsLinkLocal(addr) ? 'link' : 'global' };
    this.addrs6.push(a);
    // RFC 4861 §7.2.1: join the solicited-node multicast group of every unicast address.
    this.joinGroup6(v6SolicitedNode(a.addr));
    return a;
  }

  joinGroup6(group: Uint8Array): void {
    this.groups6.set(v6Key(group), Uint8Array.from(group));
    this.macs.add(macKey(v6MulticastMac(group)));
  }

  /** One of our unicast IPv4 addresses. */
  hasIpv4(a: number): boolean {
    for (const x of this.addrs4) if (x.addr === a) return true;
    return false;
  }

  /** 255.255.255.255 or the directed broadcast of one of our subnets. */
  isIpv4Broadcast(a: number): boolean {
    if (a === V4_BROADCAST) return true;
    for (const x of this.addrs4) if (x.prefixLen < 31 && x.broadcast === a) return true;
    return false;
  }

  /** Accepted IPv4 destinations: ours, broadcasts, 224.0.0.1 (RFC 1112 §4). */
  acceptsIpv4(a: number): boolean {
    return this.hasIpv4(a) || this.isIpv4Broadcast(a) || a === V4_ALL_HOSTS;
  }

  findIpv6(a: Uint8Array): Ipv6Address | undefined {
    for (const x of this.addrs6) if (v6Equal(x.addr, a)) return x;
    return undefined;
  }

  hasIpv6(a: Uint8Array): boolean {
    return this.findIpv6(a) !== undefined;
  }

  /** A multicast group we joined (ff02::1, our solicited-node groups). */
  inGroup6(a: Uint8Array): boolean {
    return this.groups6.has(v6Key(a));
  }

  acceptsIpv6(a: Uint8Array): boolean {
    return this.hasIpv6(a) || this.inGroup6(a);
  }

  /** On-link: inside the prefix of one of our IPv4 addresses. */
  onLink4(a: number): boolean {
    for (const x of this.addrs4) if (((a & x.mask) >>> 0) === x.network) return true;
    return false;
  }

  onLink6(a: Uint8Array): boolean {
    if (v6IsLinkLocal(a)) return true;
    for (const x of this.addrs6) if (v6PrefixMatch(a, x.addr, x.prefixLen)) return true;
    return false;
  }

  /** Ethernet destination filter: our MAC, broadcast, or a multicast MAC of a group we joined. */
  acceptsMac(dst: Uint8Array): boolean {
    const mine = this.mac;
    if (mine && macEqual(dst, mine)) return true;
    if (macEqual(dst, BROADCAST_MAC)) return true;
    if ((dst[0]! & 1) === 1) return this.macs.has(macKey(dst));
    return false;
  }

  /** The link-local address, if any (for NDP sources). */
  linkLocal6(): Ipv6Address | undefined {
    for (const x of this.addrs6) if (x.scope === 'link') return x;
    return undefined;
  }
}

function macKey(m: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (m[i]! < 16 ? '0' : '') + m[i]!.toString(16);
  return s;
}
