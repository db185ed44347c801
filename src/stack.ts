/**
 * The Stack: composes interfaces, IPv4/IPv6, ARP/NDP, ICMP and UDP over one `TimerQueue`, with
 * time and randomness as parameters (see docs/ARCHITECTURE.md). This file is the contract other
 * modules code against; it imports nothing from Node.
 *
 * Receive path: each interface's LinkReceiver → `Stack.receive(iface, frame)`: Ethernet II
 * demultiplexing on TAP links (frames to our MAC, broadcast, or a multicast MAC we joined),
 * version nibble on TUN links. The per-frame entry point catches exceptions as a last line of
 * defence (`drop.internal.exception`); nothing below is meant to throw.
 */
import type { Clock, RandomSource } from './core/clock.js';
import { Counters, type Counter } from './core/counters.js';
import { TimerQueue } from './core/timers.js';
import { RxFlags, type Link, type LinkOffloads, type LinkReceiver } from './link/link.js';
import { ETHERNET_HEADER_LEN, EtherType, emitEthernet, parseEthernet } from './wire/ethernet.js';
import { formatIpv4, formatIpv6, isMacMulticast, parseCidr, parseIpv4, parseIpv6 } from './wire/address.js';
import { NetInterface } from './ip/interface.js';
import { RouteTable } from './ip/routes.js';
import { ReassemblyBudget } from './ip/reassembly.js';
import { TokenBucket } from './ip/ratelimit.js';
import { DEFAULT_LIMITS, type StackLimits } from './ip/limits.js';
import type { IcmpErrorHandler, IpContext, ProtocolHandler4, ProtocolHandler6, RxInfo } from './ip/context.js';
import { Ipv4Layer, type Output4Options } from './ip/ipv4.js';
import { Ipv6Layer, type Output6Options } from './ip/ipv6.js';
import { Icmp4 } from './ip/icmp.js';
import { Icmp6 } from './ip/icmp6.js';
import { Arp } from './ip/arp.js';
import { Ndp } from './ip/ndp.js';
import { UdpLayer, type UdpNetwork } from './transport/udp.js';
import {
  TcpLayer,
  tcpIcmp4Kind,
  tcpIcmp6Kind,
  type TcpDefaults,
  type TcpLimits,
  type TransportNetwork,
} from './transport/tcp/layer.js';

export type { StackLimits } from './ip/limits.js';
export { DEFAULT_LIMITS } from './ip/limits.js';
export { NetInterface } from './ip/interface.js';

export interface StackOptions {
  clock: Clock;
  random: RandomSource;
  /** Overrides for the defaults in `DEFAULT_LIMITS` (src/ip/limits.ts). */
  limits?: Partial<StackLimits>;
  /** TCP limits and defaults (see `DEFAULT_TCP_CONFIG` in src/transport/tcp/layer.ts). */
  tcp?: Partial<TcpLimits & TcpDefaults>;
}

export interface InterfaceConfig {
  name?: string;
  /** CIDR: '10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'. */
  addresses: string[];
  gateway4?: string;
  gateway6?: string;
  /** Default: link.mtu. */
  mtu?: number;
}

export class Stack implements IpContext {
  readonly counters = new Counters();
  readonly timers = new TimerQueue();
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly limits: StackLimits;
  readonly interfaces: NetInterface[] = [];
  readonly routes = new RouteTable();
  readonly icmpErrors: TokenBucket;
  /** Fragment reassembly memory, shared by IPv4 and IPv6 (`limits.reassemblyBytes`). */
  readonly reassembly: ReassemblyBudget;
  readonly protocols4 = new Map<number, ProtocolHandler4>();
  readonly protocols6 = new Map<number, ProtocolHandler6>();
  readonly icmpErrorHandlers4 = new Map<number, IcmpErrorHandler>();
  readonly icmpErrorHandlers6 = new Map<number, IcmpErrorHandler>();
  readonly ipv4: Ipv4Layer;
  readonly ipv6: Ipv6Layer;
  readonly icmp4: Icmp4;
  readonly icmp6: Icmp6;
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  /** Called after each receive batch (e.g. TCP flushes ACKs), before the flush listeners. */
  onFlush: (() => void) | undefined;
  private flushListeners: ReadonlyArray<() => void> = [];
  private closed = false;
  private readonly loopQueue: Array<{ iface: NetInterface; packet: Uint8Array }> = [];
  /** Per-packet counters, resolved once (src/core/counters.ts). */
  private readonly cLinkRx: Counter = this.counters.counter('link.rx');
  /** The receive context of each interface's unicast frames (immutable, shared by every packet). */
  private readonly rxUnicast = new Map<NetInterface, RxInfo>();
  private readonly loopTimer = this.timers.create(() => this.runLoopback());

  constructor(opts: StackOptions) {
    this.clock = opts.clock;
    this.random = opts.random;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.icmpErrors = new TokenBucket(() => this.clock.now(), this.limits.icmpErrorRate, this.limits.icmpErrorBurst);
    const budget = (this.reassembly = new ReassemblyBudget(this.limits.reassemblyBytes));
    this.udp = new UdpLayer(this.udpNetwork(), this.random, this.counters);
    this.ipv4 = new Ipv4Layer(this, budget);
    this.ipv6 = new Ipv6Layer(this, budget);
    this.icmp4 = new Icmp4(this, this.ipv4);
    this.icmp6 = new Icmp6(this, this.ipv6);
    this.ipv4.icmp = this.icmp4;
    this.ipv6.icmp = this.icmp6;
    this.tcp = new TcpLayer(
      { network: this.transportNetwork(), clock: this.clock, random: this.random, timers: this.timers, counters: this.counters },
      opts.tcp,
    );
    const TCP = 6;
    this.registerProtocol(4, TCP, this.tcp.input4, (type, code, invoking, mtu) => {
      const kind = tcpIcmp4Kind(type, code);
      if (kind !== undefined) this.tcp.icmpError4(kind, mtu, invoking);
    });
    this.registerProtocol(6, TCP, this.tcp.input6, (type, code, invoking, mtu) => {
      const kind = tcpIcmp6Kind(type, code);
      if (kind !== undefined) this.tcp.icmpError6(kind, mtu, invoking);
    });
  }

  /**
   * Adds an interface over `link` with the given addresses and gateways, installs on-link and
   * default routes, and attaches the receiver. On Ethernet links it sends a gratuitous ARP and
   * unsolicited NAs. Throws TypeError on a malformed configuration.
   */
  addInterface(link: Link, cfg: InterfaceConfig): NetInterface {
    if (this.closed) throw new Error('stack is closed');
    const index = this.interfaces.length + 1;
    const mtu = cfg.mtu ?? link.mtu;
    const iface = new NetInterface(index, cfg.name ?? `if${index}`, link, mtu);
    for (const text of cfg.addresses) {
      const c = parseCidr(text);
      if (!c) throw new TypeError(`invalid interface address ${text}`);
      if (c.family === 4) {
        const a = iface.addIpv4(c.addr, c.prefix);
        this.routes.add4(iface, a.network, c.prefix);
      } else {
        const a = iface.addIpv6(c.addr, c.prefix);
        if (a.scope !== 'link') this.routes.add6(iface, c.addr, c.prefix);
      }
    }
    if (cfg.gateway4 !== undefined) {
      const g = parseIpv4(cfg.gateway4);
      if (g === null) throw new TypeError(`invalid gateway4 ${cfg.gateway4}`);
      iface.gateway4 = g;
      this.routes.add4(iface, 0, 0, g);
    }
    if (cfg.gateway6 !== undefined) {
      const g = parseIpv6(cfg.gateway6.split('%')[0]!);
      if (g === null) throw new TypeError(`invalid gateway6 ${cfg.gateway6}`);
      iface.gateway6 = g;
      this.routes.add6(iface, new Uint8Array(16), 0, g);
    }
    if (link.kind === 'ethernet') {
      if (!link.mac) throw new TypeError('an ethernet link needs a MAC address');
      iface.arp = new Arp(this, iface);
      iface.arp.transmit = (pkt, mac) => this.ipv4.sendTo(iface, mac, pkt);
      iface.ndp = new Ndp(this, iface, this.ipv6);
    }
    this.interfaces.push(iface);
    // The receive contexts of unicast frames, shared by every frame: with and without the
    // link vouching for the transport checksum (RxFlags.CSUM_VALID, a virtio-net header).
    const rx: RxInfo = { iface, linkMulticast: false, csumValid: false };
    const rxValid: RxInfo = { iface, linkMulticast: false, csumValid: true };
    this.rxUnicast.set(iface, rx);
    const receiver: LinkReceiver = {
      receive: (frame, flags) => this.receiveOn(iface, flags !== undefined && flags & RxFlags.CSUM_VALID ? rxValid : rx, frame),
      flush: () => this.flush(),
    };
    link.attach(receiver);
    if (iface.arp) iface.arp.announce();
    if (iface.ndp) iface.ndp.announce();
    return iface;
  }

  /** Looks up an interface by name or index. */
  getInterface(nameOrIndex: string | number): NetInterface | undefined {
    return typeof nameOrIndex === 'number'
      ? this.interfaces[nameOrIndex - 1]
      : this.interfaces.find((i) => i.name === nameOrIndex);
  }

  /**
   * Registers a transport protocol handler (e.g. TCP = 6) for IPv4 or IPv6, and optionally a
   * handler for ICMP errors quoting that protocol's packets (after PMTU updates).
   */
  registerProtocol(family: 4, protocol: number, handler: ProtocolHandler4, onIcmpError?: IcmpErrorHandler): void;
  registerProtocol(family: 6, protocol: number, handler: ProtocolHandler6, onIcmpError?: IcmpErrorHandler): void;
  registerProtocol(family: 4 | 6, protocol: number, handler: ProtocolHandler4 | ProtocolHandler6, onIcmpError?: IcmpErrorHandler): void {
    if (family === 4) this.protocols4.set(protocol, handler as ProtocolHandler4);
    else this.protocols6.set(protocol, handler as ProtocolHandler6);
    if (onIcmpError) (family === 4 ? this.icmpErrorHandlers4 : this.icmpErrorHandlers6).set(protocol, onIcmpError);
  }

  /** Runs timers due at clock.now(). */
  poll(): void {
    this.timers.run(this.clock.now());
  }

  nextDeadline(): number | undefined {
    return this.timers.nextDeadline();
  }

  /** Stops everything: cancels pending resolution and reassembly, closes links. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tcp.close();
    for (const i of this.interfaces) {
      i.arp?.cache.clear();
      i.ndp?.cache.clear();
      void i.link.close();
    }
    this.ipv4.reassembler.clear();
    this.ipv6.reassembler.clear();
  }

  /** Bytes held by IPv4 + IPv6 fragment reassembly now (bounded by limits.reassemblyBytes). */
  get reassemblyBytes(): number {
    return this.reassembly.used;
  }

  /** Packets waiting in the loopback queue (bounded: 1024). */
  get loopbackQueued(): number {
    return this.loopQueue.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---- receive --------------------------------------------------------------------------------

  /** One frame from `iface`'s link (with the link's `RxFlags`), processed completely (not part of a batch). Never throws. */
  receive(iface: NetInterface, frame: Uint8Array, flags = 0): void {
    const csumValid = (flags & RxFlags.CSUM_VALID) !== 0;
    this.receiveFrame(iface, csumValid ? { iface, linkMulticast: false, csumValid } : (this.rxUnicast.get(iface) ?? { iface, linkMulticast: false }), frame);
  }

  /**
   * A frame of a link batch (the link calls flush() after it), with the interface's unicast
   * receive context already looked up: TCP defers its output and events to the flush.
   */
  private receiveOn(iface: NetInterface, rx: RxInfo, frame: Uint8Array): void {
    if (this.closed) return;
    this.tcp.batching = true;
    this.receiveFrame(iface, rx, frame);
  }

  private receiveFrame(iface: NetInterface, rx: RxInfo, frame: Uint8Array): void {
    if (this.closed) return;
    try {
      this.cLinkRx.inc();
      if (iface.ethernet) this.receiveEthernet(iface, frame, rx);
      else this.receiveIp(frame, rx);
    } catch {
      this.counters.drop('internal.exception');
    }
  }

  /** Adds a listener called after each receive batch; returns a function that removes it. */
  addFlushListener(fn: () => void): () => void {
    // Copy on write: flush() iterates the current array without copying it per batch.
    this.flushListeners = [...this.flushListeners, fn];
    return () => {
      const i = this.flushListeners.indexOf(fn);
      if (i >= 0) this.flushListeners = this.flushListeners.filter((_, k) => k !== i);
    };
  }

  private flush(): void {
    try {
      this.tcp.endBatch();
    } catch {
      this.counters.drop('internal.exception');
    }
    try {
      this.onFlush?.();
    } catch {
      this.counters.drop('internal.exception');
    }
    for (const fn of this.flushListeners) {
      try {
        fn();
      } catch {
        this.counters.drop('internal.exception');
      }
    }
  }

  private receiveIp(frame: Uint8Array, rx: RxInfo): void {
    if (frame.length === 0) {
      this.counters.drop('link.empty');
      return;
    }
    const v = frame[0]! >>> 4;
    if (v === 4) this.ipv4.input(frame, rx);
    else if (v === 6) this.ipv6.input(frame, rx);
    else this.counters.drop('link.bad_version');
  }

  private receiveEthernet(iface: NetInterface, frame: Uint8Array, unicastRx: RxInfo): void {
    const c = this.counters;
    const eth = parseEthernet(frame);
    if (typeof eth === 'string') {
      c.drop(eth);
      return;
    }
    c.inc('ethernet.rx');
    if (!iface.acceptsMac(eth.dst)) {
      c.drop('ethernet.not_for_us');
      return;
    }
    const payload = frame.subarray(ETHERNET_HEADER_LEN);
    const rx: RxInfo = isMacMulticast(eth.dst) ? { iface, linkMulticast: true, csumValid: unicastRx.csumValid } : unicastRx;
    switch (eth.ethertype) {
      case EtherType.IPV4:
        this.ipv4.input(payload, rx);
        return;
      case EtherType.IPV6:
        this.ipv6.input(payload, rx);
        return;
      case EtherType.ARP:
        iface.arp!.input(payload);
        return;
      default:
        c.drop('ethernet.unknown_ethertype');
    }
  }

  // ---- output helpers -------------------------------------------------------------------------

  /** Bounded queue of packets to ourselves, delivered on the next poll (not re-entrantly). */
  loopback(iface: NetInterface, packet: Uint8Array): void {
    if (this.loopQueue.length >= 1024) {
      this.counters.drop('loopback.queue_full');
      return;
    }
    this.loopQueue.push({ iface, packet });
    if (!this.loopTimer.scheduled) this.timers.arm(this.loopTimer, this.clock.now());
  }

  private runLoopback(): void {
    const batch = this.loopQueue.splice(0, this.loopQueue.length);
    for (const { iface, packet } of batch) {
      if (this.closed) return;
      try {
        const rx: RxInfo = { iface, linkMulticast: false };
        if (packet[0]! >>> 4 === 4) this.ipv4.input(packet, rx);
        else this.ipv6.input(packet, rx);
      } catch {
        this.counters.drop('internal.exception');
      }
    }
  }

  sendEthernet(iface: NetInterface, dst: Uint8Array, ethertype: number, payload: Uint8Array): void {
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + payload.length);
    emitEthernet({ dst, src: iface.mac!, ethertype }, frame);
    frame.set(payload, ETHERNET_HEADER_LEN);
    this.counters.inc('ethernet.tx');
    iface.link.send(frame);
  }

  // ---- ping -----------------------------------------------------------------------------------

  /**
   * Sends an ICMP/ICMPv6 echo request to `addr` (text, IPv4 or IPv6, optional %zone).
   * Replies arrive on `icmp4.onEchoReply` / `icmp6.onEchoReply`. Returns null or an errno code.
   */
  ping(addr: string, data: Uint8Array, ident = 0, seq = 0): string | null {
    const v4 = parseIpv4(addr);
    if (v4 !== null) return this.icmp4.sendEcho(v4, ident, seq, data);
    const [a, zone] = addr.split('%');
    const v6 = parseIpv6(a!);
    if (v6 === null) return 'EINVAL';
    const iface = zone !== undefined ? (this.getInterface(zone) ?? this.getInterface(Number(zone))) : undefined;
    return this.icmp6.sendEcho(v6, ident, seq, data, iface);
  }

  // ---- transport glue -------------------------------------------------------------------------

  /** What TCP needs from the IP layer: UDP's needs plus the path MTU towards a destination. */
  private transportNetwork(): TransportNetwork {
    const udp = this.udpNetwork();
    const TCP = 6;
    return {
      ...udp,
      sendSegment4: (src, dst, buf, off, len, offload) => this.ipv4.outputInPlace(src, dst, TCP, buf, off, len, DF4, offload),
      sendSegment6: (src, dst, buf, off, len, offload, scope) => {
        let opts: Output6Options = DF6;
        if (scope !== undefined) {
          const i = this.getInterface(scope);
          if (!i) return 'ENXIO';
          opts = { dontFrag: true, iface: i };
        }
        return this.ipv6.outputInPlace(src, dst, TCP, buf, off, len, opts, offload);
      },
      offloads4: (dst) => {
        if (this.ipv4.isLocal(dst)) return undefined;
        const r = this.routes.lookup4(dst);
        return r ? linkTxOffloads(r.iface) : undefined;
      },
      offloads6: (dst, scope) => {
        if (this.ipv6.isLocal(dst)) return undefined;
        const iface = scope !== undefined ? this.getInterface(scope) : undefined;
        const r = this.routes.lookup6(dst, iface, this.interfaces);
        return r ? linkTxOffloads(r.iface) : undefined;
      },
      mtu4: (dst) => {
        const local = this.ipv4.localInterface(dst);
        if (local) return local.mtu;
        const r = this.routes.lookup4(dst);
        return r ? this.ipv4.pathMtu(r.iface, dst) : 1280;
      },
      mtu6: (dst, scope) => {
        const iface = scope !== undefined ? this.getInterface(scope) : undefined;
        const r = this.routes.lookup6(dst, iface, this.interfaces);
        return r ? this.ipv6.pathMtu(r.iface, dst) : 1280;
      },
    };
  }

  private udpNetwork(): UdpNetwork {
    return {
      isLocal4: (a) => this.ipv4.isLocal(a),
      isLocal6: (a) => this.ipv6.isLocal(a),
      isBroadcast4: (a) => this.ipv4.isAnyBroadcast(a),
      source4: (dst) => this.ipv4.source(dst),
      source6: (dst, scope) => this.ipv6.source(dst, scope !== undefined ? this.getInterface(scope) : undefined),
      send4: (src, dst, proto, payload, opts) => this.ipv4.output(src, dst, proto, payload, opts),
      sendInPlace4: (src, dst, proto, buf, off, len, opts) => this.ipv4.outputInPlace(src, dst, proto, buf, off, len, opts, undefined),
      sendInPlace6: (src, dst, proto, buf, off, len, opts, scope) => {
        const o: { hopLimit?: number; iface?: NetInterface; dontFrag?: boolean } = { ...opts };
        if (scope !== undefined) {
          const i = this.getInterface(scope);
          if (!i) return 'ENXIO';
          o.iface = i;
        }
        return this.ipv6.outputInPlace(src, dst, proto, buf, off, len, o, undefined);
      },
      send6: (src, dst, proto, payload, opts, scope) => {
        const o: { hopLimit?: number; iface?: NetInterface; dontFrag?: boolean } = { ...opts };
        if (scope !== undefined) {
          const i = this.getInterface(scope);
          if (!i) return 'ENXIO';
          o.iface = i;
        }
        return this.ipv6.output(src, dst, proto, payload, o);
      },
      scopeIndex: (zone) => {
        const n = Number(zone);
        if (Number.isInteger(n) && n > 0 && n <= this.interfaces.length) return n;
        return this.getInterface(zone)?.index;
      },
      scopeName: (index) => this.getInterface(index)?.name,
    };
  }

  /** Text form of addresses (for logs and tests). */
  static formatAddress(a: number | Uint8Array): string {
    return typeof a === 'number' ? formatIpv4(a) : formatIpv6(a);
  }
}

const DF4: Output4Options = Object.freeze({ df: true });
const DF6: Output6Options = Object.freeze({ dontFrag: true });

/**
 * The transmit offloads TCP may use on `iface`: its link's, on links that carry IP packets
 * (TUN). On Ethernet links a packet may wait for ARP/NDP, so it is finished in software there.
 */
function linkTxOffloads(iface: NetInterface): LinkOffloads | undefined {
  return iface.ethernet ? undefined : iface.link.offloads;
}
