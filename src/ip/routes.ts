/**
 * The routing table of a host (no forwarding): on-link prefixes derived from interface
 * addresses, plus default gateways. Lookup is longest-prefix match (RFC 1812 §5.2.4.3); among
 * equal prefixes the lower metric, then the earlier route, wins.
 *
 * IPv6 link-local destinations (fe80::/10, ff02::/16) are ambiguous without a zone: the caller
 * passes a scope (interface index, RFC 4007 §6); without one the first interface having a
 * link-local address is used.
 */
import type { NetInterface } from './interface.js';
import { v6NeedsScope } from './prefix.js';
import { ipv4Mask as v4Mask, ipv6InPrefix as v6PrefixMatch, ipv6Network as v6Prefix } from '../wire/address.js';

export interface Route4 {
  prefix: number;
  prefixLen: number;
  iface: NetInterface;
  /** Next hop; undefined for on-link routes. */
  gateway?: number;
  metric: number;
}

export interface Route6 {
  prefix: Uint8Array;
  prefixLen: number;
  iface: NetInterface;
  gateway?: Uint8Array;
  metric: number;
}

export interface NextHop4 {
  iface: NetInterface;
  /** The address to resolve on the link: the destination itself, or the gateway. */
  nextHop: number;
  route: Route4;
}

export interface NextHop6 {
  iface: NetInterface;
  nextHop: Uint8Array;
  route?: Route6;
}

export class RouteTable {
  readonly v4: Route4[] = [];
  readonly v6: Route6[] = [];

  add4(iface: NetInterface, prefix: number, prefixLen: number, gateway?: number, metric = 0): Route4 {
    const r: Route4 = { prefix: (prefix & v4Mask(prefixLen)) >>> 0, prefixLen, iface, metric };
    if (gateway !== undefined) r.gateway = gateway;
    this.v4.push(r);
    return r;
  }

  add6(iface: NetInterface, prefix: Uint8Array, prefixLen: number, gateway?: Uint8Array, metric = 0): Route6 {
    const r: Route6 = { prefix: v6Prefix(prefix, prefixLen), prefixLen, iface, metric };
    if (gateway !== undefined) r.gateway = Uint8Array.from(gateway);
    this.v6.push(r);
    return r;
  }

  removeInterface(iface: NetInterface): void {
    for (const list of [this.v4, this.v6] as { iface: NetInterface }[][]) {
      for (let i = list.length - 1; i >= 0; i--) if (list[i]!.iface === iface) list.splice(i, 1);
    }
  }

  lookup4(dst: number): NextHop4 | undefined {
    let best: Route4 | undefined;
    for (const r of this.v4) {
      if (((dst & v4Mask(r.prefixLen)) >>> 0) !== r.prefix) continue;
      if (!best || r.prefixLen > best.prefixLen || (r.prefixLen === best.prefixLen && r.metric < best.metric)) best = r;
    }
    if (!best) return undefined;
    return { iface: best.iface, nextHop: best.gateway ?? dst, route: best };
  }

  /**
   * `scope` is the interface for link-scoped destinations (RFC 4007 zone). Link-local
   * destinations are always on-link on the chosen interface (RFC 4861 §5.2).
   */
  lookup6(dst: Uint8Array, scope?: NetInterface, interfaces?: readonly NetInterface[]): NextHop6 | undefined {
    if (v6NeedsScope(dst)) {
      let iface = scope;
      if (!iface && interfaces) iface = interfaces.find((i) => i.linkLocal6() !== undefined) ?? interfaces[0];
      if (!iface) return undefined;
      return { iface, nextHop: dst };
    }
    let best: Route6 | undefined;
    for (const r of this.v6) {
      if (scope && r.iface !== scope) continue;
      if (!v6PrefixMatch(dst, r.prefix, r.prefixLen)) continue;
      if (!best || r.prefixLen > best.prefixLen || (r.prefixLen === best.prefixLen && r.metric < best.metric)) best = r;
    }
    if (!best) return undefined;
    return { iface: best.iface, nextHop: best.gateway ?? dst, route: best };
  }
}
