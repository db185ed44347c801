/**
 * The TCP layer: demultiplexing, listeners with a bounded SYN queue (half-open connections) and
 * an accept queue (backlog), SYN cookies when the SYN queue is full (RFC 4987 §3.6,
 * syn-cookie.ts), TIME-WAIT, RST generation for segments that match no connection
 * (RFC 9293 §3.10.7.1 CLOSED, §3.10.7.2 LISTEN), ephemeral ports (RFC 6056, ports.ts), ISNs
 * (RFC 6528, isn.ts), ICMP error delivery (RFC 1122 §4.2.3.9, RFC 5927 validation, RFC 1191 /
 * RFC 8201 PMTU), and the active/passive OPEN calls (RFC 9293 §3.10.1).
 *
 * Nothing in input4/input6/icmpError4/icmpError6 throws: every discarded segment is counted as
 * `drop.tcp.<reason>`.
 */
import type { Clock, RandomSource } from '../../core/clock.js';
import type { Counters } from '../../core/counters.js';
import type { SipKey } from '../../core/siphash.js';
import type { TimerQueue } from '../../core/timers.js';
import type { ProtocolHandler4, ProtocolHandler6, RxInfo } from '../../ip/context.js';
import { PmtuCache } from '../../ip/pmtu.js';
import { formatIpv4, formatIpv6, isIpv4Multicast, isIpv6Multicast, parseIpv4, parseIpv6, splitZone } from '../../wire/address.js';
import { pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../../wire/checksum.js';
import { TcpFlags, TcpOptionsScratch, TcpPacket, emitTcp, readTcpOptions, tcpHeaderLength, type TcpRepr } from '../../wire/tcp.js';
import { SocketError } from '../errors.js';
import { EphemeralPortSelector, hashFlow, randomSipKey, type IpAddr } from '../ports.js';
import { St, TcpConnection, wscaleFor } from './connection.js';
import { Segment, applySynOptions, segmentArrives } from './input.js';
import { IsnGenerator } from './isn.js';
import { output, sendSyn, sentRange, startGoBack } from './output.js';
import { seqAdd, seqGt } from './seq.js';
import { SYN_COOKIE_MSS_V4, SYN_COOKIE_MSS_V6, SynCookies, cookieTsOptions, cookieTsval } from './syn-cookie.js';
import type { TcpListener, TcpSocket, TcpSocketOptions } from './socket.js';

const { SYN, RST, ACK } = TcpFlags;

/** What TCP needs from the IP layer (the Stack implements it; structurally UdpNetwork + MTU). */
export interface TransportNetwork {
  isLocal4(a: number): boolean;
  isLocal6(a: Uint8Array): boolean;
  /** Limited or one of our directed broadcast addresses. */
  isBroadcast4(a: number): boolean;
  source4(dst: number): number | string;
  source6(dst: Uint8Array, scope: number | undefined): Uint8Array | string;
  send4(src: number, dst: number, protocol: number, payload: Uint8Array, opts: { ttl?: number; df?: boolean }): string | null;
  send6(src: Uint8Array, dst: Uint8Array, protocol: number, payload: Uint8Array, opts: { hopLimit?: number; dontFrag?: boolean }, scope: number | undefined): string | null;
  scopeIndex(zone: string): number | undefined;
  scopeName?(index: number): string | undefined;
  /** The MTU of the route to `dst` (link MTU, or a smaller route/PMTU value). */
  mtu4(dst: number): number;
  mtu6(dst: Uint8Array, scope?: number): number;
}

export interface TcpLimits {
  /** Half-open (SYN-RECEIVED) connections per listener before SYN cookies / drops (Linux tcp_max_syn_backlog). */
  maxSynBacklog: number;
  /** Default accept queue length (listen backlog). */
  backlog: number;
  /** Send SYN cookies when the SYN queue is full (Linux tcp_syncookies = 1). */
  syncookies: boolean;
  /** RFC 5961 §7 challenge ACKs per second (Linux tcp_challenge_ack_limit). */
  challengeAckLimit: number;
  /**
   * Least interval between the duplicate ACKs that answer unacceptable pure ACKs (failed PAWS or
   * out of window) on one connection (Linux sysctl tcp_invalid_ratelimit, 500 ms). 0 answers each.
   */
  oowAckIntervalMs: number;
  ephemeralMin: number;
  ephemeralMax: number;
  /**
   * Connections in the table (every state but LISTEN, TIME-WAIT included) before new ones are
   * refused: a SYN or a valid cookie ACK is dropped (`drop.tcp.conn_limit`) and connect() throws
   * ENOBUFS. Linux has no single knob; this bounds the memory an outsider can make us hold.
   */
  maxConnections: number;
}

export interface TcpDefaults {
  /** TIME-WAIT duration, 2·MSL (Linux: 60 s). */
  timeWaitMs: number;
  /** FIN-WAIT-2 timeout after close() (Linux tcp_fin_timeout 60 s). */
  finWait2Ms: number;
  /** SYN retransmissions before ETIMEDOUT (Linux tcp_syn_retries 6). */
  synRetries: number;
  /** SYN-ACK retransmissions (Linux tcp_synack_retries 5). */
  synAckRetries: number;
  /** Data retransmissions before ETIMEDOUT (Linux tcp_retries2 15). */
  retries2: number;
  delayedAckMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  initialRtoMs: number;
  keepAliveIdleMs: number;
  keepAliveIntervalMs: number;
  keepAliveProbes: number;
  sendBufferSize: number;
  receiveBufferSize: number;
  congestionControl: 'cubic' | 'newreno';
  /** SYN cookie counter period (syn-cookie.ts). */
  syncookiePeriodMs: number;
}

export const DEFAULT_TCP_CONFIG: TcpLimits & TcpDefaults = {
  maxSynBacklog: 256,
  backlog: 511,
  syncookies: true,
  challengeAckLimit: 1000,
  oowAckIntervalMs: 500,
  ephemeralMin: 32768,
  ephemeralMax: 60999,
  maxConnections: 262_144,
  timeWaitMs: 60_000,
  finWait2Ms: 60_000,
  synRetries: 6,
  synAckRetries: 5,
  retries2: 15,
  delayedAckMs: 40,
  minRtoMs: 200,
  maxRtoMs: 120_000,
  initialRtoMs: 1000,
  keepAliveIdleMs: 7_200_000,
  keepAliveIntervalMs: 75_000,
  keepAliveProbes: 9,
  sendBufferSize: 1 << 20,
  receiveBufferSize: 1 << 20,
  congestionControl: 'cubic',
  syncookiePeriodMs: 60_000,
};

export type TcpIcmpKind =
  | 'net-unreachable'
  | 'host-unreachable'
  | 'port-unreachable'
  | 'proto-unreachable'
  | 'admin-prohibited'
  | 'unreachable'
  | 'frag-needed'
  | 'packet-too-big'
  | 'time-exceeded'
  | 'param-problem';

/** Maps an ICMPv4 error type/code (RFC 792, RFC 1122 §3.2.2.1) to the kind `icmpError4` takes. */
export function tcpIcmp4Kind(type: number, code: number): TcpIcmpKind | undefined {
  if (type === 3) {
    switch (code) {
      case 0:
      case 6:
      case 11:
        return 'net-unreachable';
      case 2:
        return 'proto-unreachable';
      case 3:
        return 'port-unreachable';
      case 4:
        return 'frag-needed';
      case 9:
      case 10:
      case 13:
        return 'admin-prohibited';
      default:
        return 'host-unreachable';
    }
  }
  if (type === 11) return 'time-exceeded';
  if (type === 12) return 'param-problem';
  return undefined;
}

/** Maps an ICMPv6 error type/code (RFC 4443 §3) to the kind `icmpError6` takes. */
export function tcpIcmp6Kind(type: number, code: number): TcpIcmpKind | undefined {
  if (type === 1) {
    switch (code) {
      case 0:
        return 'net-unreachable';
      case 1:
      case 5:
      case 6:
        return 'admin-prohibited';
      case 4:
        return 'port-unreachable';
      default:
        return 'host-unreachable';
    }
  }
  if (type === 2) return 'packet-too-big';
  if (type === 3) return 'time-exceeded';
  if (type === 4) return code === 1 ? 'proto-unreachable' : 'param-problem';
  return undefined;
}

export interface TcpLayerDeps {
  network: TransportNetwork;
  clock: Clock;
  random: RandomSource;
  timers: TimerQueue;
  counters: Counters;
}

/** @internal */
export class ListenerImpl implements TcpListener {
  closed = false;
  synQueue = 0;
  /** Established connections waiting to be handed to onConnection. */
  readonly pending: TcpConnection[] = [];
  /** Half-open connections (SYN-RECEIVED). */
  readonly halfOpen = new Set<TcpConnection>();
  lastCookieTime = -Infinity;
  constructor(
    private readonly layer: TcpLayer,
    readonly family: 4 | 6,
    readonly addr: IpAddr,
    readonly port: number,
    readonly backlog: number,
    readonly onConnection: (s: TcpSocket) => void,
    readonly sockOpts: TcpSocketOptions,
  ) {}
  get address(): string {
    return typeof this.addr === 'number' ? formatIpv4(this.addr) : formatIpv6(this.addr);
  }
  close(): void {
    this.layer.closeListener(this);
  }
}

export class TcpLayer {
  readonly config: TcpLimits & TcpDefaults;
  readonly network: TransportNetwork;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly timers: TimerQueue;
  readonly counters: Counters;
  readonly input4: ProtocolHandler4;
  readonly input6: ProtocolHandler6;

  /** @internal reusable output buffer and repr (the network's send copies). */
  readonly txBuf = new Uint8Array(65536 + 64);
  readonly txRepr: TcpRepr = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
  readonly txSack: Array<[number, number]> = [];
  private readonly rawRepr: TcpRepr = { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, options: {}, payload: new Uint8Array(0) };
  private readonly rxSeg = new Segment();
  private readonly rxOpts = new TcpOptionsScratch();
  /** @internal */
  inInput = false;
  private dirty: TcpConnection[] = [];
  private readyListeners: ListenerImpl[] = [];
  /** @internal diagnostics */
  lastInternalError: unknown;
  lastCallbackError: unknown;

  private readonly conns = new Map<string, TcpConnection>();
  private readonly listeners = new Map<string, ListenerImpl[]>();
  private readonly isn: IsnGenerator;
  private readonly cookies: SynCookies;
  private readonly ports: EphemeralPortSelector;
  private readonly tsKey: SipKey;
  /**
   * Path MTUs learned from ICMP by TCP itself (the Stack's IP layer keeps its own; outside a Stack
   * the network may not): bounded and aged like the IP layer's (RFC 1191 §6.3: 10 minutes).
   */
  private readonly pmtu4: PmtuCache<string>;
  private readonly pmtu6: PmtuCache<string>;
  private challengeWindowStart = -Infinity;
  private challengeCount = 0;

  constructor(deps: TcpLayerDeps, options: Partial<TcpLimits & TcpDefaults> = {}) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...options };
    this.network = deps.network;
    this.clock = deps.clock;
    this.random = deps.random;
    this.timers = deps.timers;
    this.counters = deps.counters;
    this.isn = IsnGenerator.fromRandom(deps.random);
    this.cookies = SynCookies.fromRandom(deps.random, { periodMs: this.config.syncookiePeriodMs });
    this.ports = new EphemeralPortSelector(deps.random, { min: this.config.ephemeralMin, max: this.config.ephemeralMax });
    this.tsKey = randomSipKey(deps.random);
    this.pmtu4 = new PmtuCache<string>(() => this.clock.now(), 576);
    this.pmtu6 = new PmtuCache<string>(() => this.clock.now(), 1280);
    this.input4 = (src, dst, payload, rx) => this.input(4, src, dst, payload, rx);
    this.input6 = (src, dst, payload, rx) => this.input(6, src, dst, payload, rx);
  }

  /** Destinations with a path MTU learned by TCP (bounded: 1024 per family). */
  get pmtuEntries(): number {
    return this.pmtu4.size + this.pmtu6.size;
  }

  /** Connections in the table (any state but LISTEN, including TIME-WAIT). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Snapshot of the connections (for stats). */
  connections(): TcpSocket[] {
    return [...this.conns.values()].map((c) => c.socket);
  }

  // ---- OPEN (RFC 9293 §3.10.1) ------------------------------------------------------------

  listen(opts: { family: 4 | 6; address?: string; port: number; backlog?: number; socketOptions?: TcpSocketOptions }, onConnection: (s: TcpSocket) => void): TcpListener {
    const family = opts.family;
    if (family !== 4 && family !== 6) throw new SocketError('EAFNOSUPPORT', 'family must be 4 or 6', 'listen');
    const port = opts.port;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SocketError('EINVAL', `bad port ${port}`, 'listen');
    let addr: IpAddr;
    if (family === 4) {
      const a = opts.address === undefined || opts.address === '' ? 0 : parseIpv4(opts.address);
      if (a === null) throw new SocketError('EINVAL', `invalid IPv4 address ${opts.address}`, 'listen');
      if (a !== 0 && !this.network.isLocal4(a)) throw new SocketError('EADDRNOTAVAIL', `${opts.address} is not a local address`, 'listen');
      addr = a;
    } else {
      const a = parseIpv6(splitZone(opts.address ?? '::').addr);
      if (!a) throw new SocketError('EINVAL', `invalid IPv6 address ${opts.address}`, 'listen');
      if (!isZero(a) && !this.network.isLocal6(a)) throw new SocketError('EADDRNOTAVAIL', `${opts.address} is not a local address`, 'listen');
      addr = a;
    }
    let p = port;
    if (p === 0) {
      p = this.ports.select(addr, 0, 0, (q) => this.listeners.has(family + '|' + q)) ?? 0;
      if (p === 0) throw new SocketError('EADDRINUSE', 'no free port', 'listen');
    }
    const key = family + '|' + p;
    const list = this.listeners.get(key) ?? [];
    for (const l of list) {
      if (isZero(l.addr) || isZero(addr) || addrEq(l.addr, addr)) throw new SocketError('EADDRINUSE', `address in use: port ${p}`, 'listen');
    }
    const backlog = Math.max(1, opts.backlog ?? this.config.backlog);
    const l = new ListenerImpl(this, family, addr, p, backlog, onConnection, opts.socketOptions ?? {});
    list.push(l);
    this.listeners.set(key, list);
    return l;
  }

  /** Active OPEN: returns at once; onConnect or onError follows. */
  connect(
    opts: { family: 4 | 6; remoteAddress: string; remotePort: number; localAddress?: string; localPort?: number },
    sockOpts: TcpSocketOptions = {},
  ): TcpSocket {
    const family = opts.family;
    if (family !== 4 && family !== 6) throw new SocketError('EAFNOSUPPORT', 'family must be 4 or 6', 'connect');
    const rport = opts.remotePort;
    if (!Number.isInteger(rport) || rport <= 0 || rport > 65535) throw new SocketError('EINVAL', `bad port ${rport}`, 'connect');
    let remote: IpAddr;
    let local: IpAddr | string;
    let scope: number | undefined;
    if (family === 4) {
      const r = parseIpv4(opts.remoteAddress);
      if (r === null || r === 0) throw new SocketError('EINVAL', `invalid IPv4 address ${opts.remoteAddress}`, 'connect');
      remote = r;
      if (opts.localAddress !== undefined && opts.localAddress !== '' && opts.localAddress !== '0.0.0.0') {
        const a = parseIpv4(opts.localAddress);
        if (a === null) throw new SocketError('EINVAL', `invalid IPv4 address ${opts.localAddress}`, 'connect');
        if (!this.network.isLocal4(a)) throw new SocketError('EADDRNOTAVAIL', `${opts.localAddress} is not a local address`, 'connect');
        local = a;
      } else local = this.network.source4(r);
    } else {
      const z = splitZone(opts.remoteAddress);
      const r = parseIpv6(z.addr);
      if (!r || isZero(r)) throw new SocketError('EINVAL', `invalid IPv6 address ${opts.remoteAddress}`, 'connect');
      remote = r;
      if (z.zone !== null) {
        scope = this.network.scopeIndex(z.zone);
        if (scope === undefined) throw new SocketError('EINVAL', `unknown zone ${z.zone}`, 'connect');
      }
      if (opts.localAddress !== undefined && opts.localAddress !== '' && opts.localAddress !== '::') {
        const a = parseIpv6(splitZone(opts.localAddress).addr);
        if (!a) throw new SocketError('EINVAL', `invalid IPv6 address ${opts.localAddress}`, 'connect');
        if (!this.network.isLocal6(a)) throw new SocketError('EADDRNOTAVAIL', `${opts.localAddress} is not a local address`, 'connect');
        local = a;
      } else local = this.network.source6(r, scope);
    }
    const unreachable = typeof local === 'string' ? local : undefined;
    const localAddr: IpAddr = typeof local === 'string' ? (family === 4 ? 0 : new Uint8Array(16)) : local;
    let lport = opts.localPort ?? 0;
    if (lport !== 0) {
      if (!Number.isInteger(lport) || lport < 0 || lport > 65535) throw new SocketError('EINVAL', `bad port ${lport}`, 'connect');
      if (this.conns.has(connKey(family, localAddr, lport, remote, rport))) throw new SocketError('EADDRINUSE', `address in use: port ${lport}`, 'connect');
    } else {
      lport =
        this.ports.select(localAddr, remote, rport, (p) => this.listeners.has(family + '|' + p) || this.conns.has(connKey(family, localAddr, p, remote, rport))) ?? 0;
      if (lport === 0) throw new SocketError('EADDRNOTAVAIL', 'no ephemeral port available', 'connect');
    }
    if (this.conns.size >= this.config.maxConnections) {
      this.counters.drop('tcp.conn_limit');
      throw new SocketError('ENOBUFS', `connection limit reached (${this.config.maxConnections})`, 'connect');
    }
    const c = new TcpConnection(this, family, localAddr, lport, remote, rport, scope, sockOpts, false);
    if (unreachable) {
      // No route: fail asynchronously (onError, onClose).
      c.evError = new SocketError(unreachable, `cannot connect to ${opts.remoteAddress}`, 'connect');
      c.released = true;
      c.notifyClose();
      return c.socket;
    }
    c.initSend(this.isn.isn(this.clock.now(), localAddr, lport, remote, rport));
    c.tsOffset = this.tsOffset(localAddr, lport, remote, rport);
    c.key = connKey(family, localAddr, lport, remote, rport);
    this.conns.set(c.key, c);
    c.setState(St.SYN_SENT);
    this.counters.inc('tcp.active_opens');
    sendSyn(c);
    this.timers.arm(c.rtxTimer, this.clock.now() + c.rtt.rto);
    return c.socket;
  }

  /** Aborts every connection and closes every listener. */
  close(): void {
    for (const list of [...this.listeners.values()]) for (const l of [...list]) this.closeListener(l);
    for (const c of [...this.conns.values()]) {
      if (c.state === St.TIME_WAIT) c.destroy();
      else c.userAbort();
    }
  }

  // ---- input ------------------------------------------------------------------------------

  private input(family: 4 | 6, src: number | Uint8Array, dst: number | Uint8Array, buf: Uint8Array, rx: RxInfo): void {
    const wasIn = this.inInput;
    this.inInput = true;
    try {
      this.process(family, src, dst, buf, rx);
    } catch (e) {
      this.counters.inc('tcp.internal_error');
      this.lastInternalError = e;
    } finally {
      this.inInput = wasIn;
    }
    if (!wasIn) this.flushDirty();
  }

  private flushDirty(): void {
    for (let guard = 0; guard < 100 && (this.dirty.length > 0 || this.readyListeners.length > 0); guard++) {
      const ls = this.readyListeners;
      this.readyListeners = [];
      for (const l of ls) this.deliverPending(l);
      const d = this.dirty;
      this.dirty = [];
      for (const c of d) c.flushEvents();
    }
  }

  /** @internal */
  markDirty(c: TcpConnection): void {
    if (!this.dirty.includes(c)) this.dirty.push(c);
  }

  private process(family: 4 | 6, src: number | Uint8Array, dst: number | Uint8Array, buf: Uint8Array, rx: RxInfo): void {
    const C = this.counters;
    C.inc('tcp.rx');
    const bad = TcpPacket.check(buf);
    if (bad) {
      C.drop(bad);
      return;
    }
    const pseudo = family === 4 ? pseudoHeaderSumV4(src as number, dst as number, 6, buf.length) : pseudoHeaderSumV6(src as Uint8Array, dst as Uint8Array, 6, buf.length);
    const p = new TcpPacket(buf);
    if (!p.verifyChecksum(pseudo)) {
      C.drop('tcp.bad_checksum');
      return;
    }
    const optErr = readTcpOptions(buf, this.rxOpts);
    if (optErr) {
      C.drop(optErr);
      return;
    }
    const sport = p.srcPort;
    const dport = p.dstPort;
    if (sport === 0 || dport === 0) {
      C.drop('tcp.port_zero');
      return;
    }
    // TCP is unicast only: a segment to a broadcast or multicast address — at the link layer
    // (TAP) or the IP layer (any link: a TUN has no link layer) — gets no reply and creates no
    // state (RFC 1122 §4.2.3.10; RFC 9293 §3.10.7.2).
    if (
      rx.linkMulticast ||
      (family === 4
        ? isIpv4Multicast(dst as number) || this.network.isBroadcast4(dst as number)
        : isIpv6Multicast(dst as Uint8Array))
    ) {
      C.drop('tcp.multicast');
      return;
    }
    const s = this.rxSeg;
    s.seq = p.seq;
    s.ack = p.ack;
    s.flags = p.flags;
    s.window = p.window;
    s.payload = p.payload();
    s.opts = this.rxOpts;
    const scope = family === 6 && isLinkLocal6(src as Uint8Array) ? rx.iface.index : undefined;
    const key = connKey(family, dst, dport, src, sport);
    let c = this.conns.get(key);
    if (c && c.state === St.TIME_WAIT && s.flags & SYN && !(s.flags & (ACK | RST))) {
      // A new SYN for a TIME-WAIT connection (RFC 9293 §3.10.7.4 note, RFC 6191 / Linux
      // tcp_timewait_state_process): accept when its sequence number (or timestamp) is newer.
      const newer = seqGt(s.seq, c.rcvNxt) || (c.tsOk && this.rxOpts.hasTimestamps && seqGt(this.rxOpts.tsVal, c.tsRecent));
      if (newer && this.findListener(family, dst, dport)) {
        c.destroy();
        c = undefined;
      }
    }
    if (c) {
      segmentArrives(c, s);
      return;
    }
    const l = this.findListener(family, dst, dport);
    if (l) {
      this.listenInput(l, family, src, dst, sport, dport, s, scope);
      return;
    }
    // RFC 9293 §3.10.7.1: CLOSED.
    if (s.flags & RST) {
      C.drop('tcp.no_socket_rst');
      return;
    }
    C.drop('tcp.no_listener');
    if (s.flags & ACK) this.sendRstRaw(family, dst, src, dport, sport, s.ack, 0, false, scope);
    else this.sendRstRaw(family, dst, src, dport, sport, 0, seqAdd(s.seq, s.len), true, scope);
  }

  private findListener(family: 4 | 6, dst: number | Uint8Array, port: number): ListenerImpl | undefined {
    const list = this.listeners.get(family + '|' + port);
    if (!list) return undefined;
    let wild: ListenerImpl | undefined;
    for (const l of list) {
      if (addrEq(l.addr, dst)) return l;
      if (isZero(l.addr)) wild = l;
    }
    return wild;
  }

  /** RFC 9293 §3.10.7.2: LISTEN. */
  private listenInput(l: ListenerImpl, family: 4 | 6, src: IpAddr, dst: IpAddr, sport: number, dport: number, s: Segment, scope: number | undefined): void {
    const C = this.counters;
    const now = this.clock.now();
    if (s.flags & RST) {
      C.drop('tcp.listen_rst');
      return;
    }
    if (s.flags & ACK) {
      if (!(s.flags & SYN) && this.config.syncookies && now - l.lastCookieTime < 2 * this.config.syncookiePeriodMs) {
        if (this.cookieAck(l, family, src, dst, sport, dport, s, scope)) return;
      }
      C.drop('tcp.listen_ack');
      this.sendRstRaw(family, dst, src, dport, sport, s.ack, 0, false, scope);
      return;
    }
    if (!(s.flags & SYN)) {
      C.drop('tcp.listen_no_syn');
      return;
    }
    if (l.pending.length >= l.backlog) {
      C.drop('tcp.listen_overflow'); // Linux: the accept queue is full, drop the SYN
      return;
    }
    if (this.conns.size >= this.config.maxConnections) {
      // No cookie either: its ACK would be refused by the same limit.
      C.drop('tcp.conn_limit');
      return;
    }
    if (l.synQueue >= this.config.maxSynBacklog) {
      if (!this.config.syncookies) {
        C.drop('tcp.syn_queue_full');
        return;
      }
      this.sendCookieSynAck(l, family, src, dst, sport, dport, s, scope);
      return;
    }
    // A new half-open connection: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    const c = new TcpConnection(this, family, ownAddr(dst), dport, ownAddr(src), sport, scope, l.sockOpts, true);
    c.listener = l;
    c.initSend(this.isn.isn(now, dst, dport, src, sport));
    c.tsOffset = this.tsOffset(dst, dport, src, sport);
    c.irs = s.seq;
    c.rcvNxt = seqAdd(s.seq, 1);
    c.lastAckSent = c.rcvNxt;
    c.lastRecvTime = now;
    applySynOptions(c, s.opts, true);
    c.initCongestion();
    c.sndWnd = s.window;
    c.maxSndWnd = s.window;
    c.sndWl1 = s.seq;
    c.sndWl2 = c.iss;
    c.key = connKey(family, dst, dport, src, sport);
    this.conns.set(c.key, c);
    c.inSynQueue = true;
    l.synQueue++;
    l.halfOpen.add(c);
    c.setState(St.SYN_RECEIVED);
    C.inc('tcp.passive_opens');
    sendSyn(c);
    this.timers.arm(c.rtxTimer, now + c.rtt.rto);
  }

  private sendCookieSynAck(l: ListenerImpl, family: 4 | 6, src: IpAddr, dst: IpAddr, sport: number, dport: number, s: Segment, scope: number | undefined): void {
    const now = this.clock.now();
    const o = s.opts;
    const table = family === 4 ? SYN_COOKIE_MSS_V4 : SYN_COOKIE_MSS_V6;
    const peerMss = o.mss > 0 ? o.mss : family === 4 ? 536 : 1220;
    const { cookie } = this.cookies.make(now, dst, dport, src, sport, s.seq, peerMss, table);
    l.lastCookieTime = now;
    this.counters.inc('tcp.syncookies_sent');
    const r = this.rawRepr;
    const opts = r.options;
    opts.sack = undefined;
    opts.mss = this.routeMssTo(family, src, scope);
    const rcvBuf = l.sockOpts.receiveBufferSize ?? this.config.receiveBufferSize;
    opts.wscale = o.wscale >= 0 && o.hasTimestamps ? wscaleFor(rcvBuf) : undefined;
    opts.sackPermitted = o.sackPermitted && o.hasTimestamps ? true : undefined;
    if (o.hasTimestamps) {
      const tsNow = (Math.floor(now) + this.tsOffset(dst, dport, src, sport)) >>> 0;
      opts.tsVal = cookieTsval(tsNow, { wscale: o.wscale >= 0 ? Math.min(o.wscale, 14) : undefined, sackOk: o.sackPermitted, ecnOk: false });
      opts.tsEcr = o.tsVal;
    } else {
      opts.tsVal = undefined;
      opts.tsEcr = undefined;
    }
    this.emitRaw(family, dst, src, dport, sport, cookie, seqAdd(s.seq, 1), SYN | ACK, Math.min(rcvBuf, 0xffff), scope);
  }

  /** The final ACK of a cookie handshake: rebuild the connection (RFC 4987 §3.6). */
  private cookieAck(l: ListenerImpl, family: 4 | 6, src: IpAddr, dst: IpAddr, sport: number, dport: number, s: Segment, scope: number | undefined): boolean {
    const now = this.clock.now();
    const table = family === 4 ? SYN_COOKIE_MSS_V4 : SYN_COOKIE_MSS_V6;
    const mss = this.cookies.check(now, dst, dport, src, sport, s.ack, s.seq, table);
    if (mss === undefined) {
      this.counters.inc('tcp.syncookies_failed');
      return false;
    }
    if (l.pending.length >= l.backlog) {
      this.counters.drop('tcp.listen_overflow');
      return true;
    }
    if (this.conns.size >= this.config.maxConnections) {
      this.counters.drop('tcp.conn_limit');
      return true;
    }
    this.counters.inc('tcp.syncookies_ok');
    const o = s.opts;
    const c = new TcpConnection(this, family, ownAddr(dst), dport, ownAddr(src), sport, scope, l.sockOpts, true);
    c.listener = l;
    c.initSend((s.ack - 1) >>> 0);
    c.sndNxt = s.ack;
    c.tsOffset = this.tsOffset(dst, dport, src, sport);
    c.irs = (s.seq - 1) >>> 0;
    c.rcvNxt = s.seq;
    c.lastAckSent = c.rcvNxt;
    c.lastRecvTime = now;
    c.peerMss = mss;
    if (o.hasTimestamps) {
      const t = cookieTsOptions(o.tsEcr);
      c.tsOk = true;
      c.tsRecent = o.tsVal;
      c.tsRecentAt = now;
      c.sackOk = t.sackOk;
      if (t.wscale !== undefined) {
        c.wscaleOk = true;
        c.sndWscale = t.wscale;
      } else c.rcvWscale = 0;
    } else c.rcvWscale = 0;
    c.initCongestion();
    c.rcvAdvRight = seqAdd(c.rcvNxt, Math.min(c.rcvBufSize, 0xffff));
    c.key = connKey(family, dst, dport, src, sport);
    this.conns.set(c.key, c);
    c.state = St.SYN_RECEIVED;
    this.counters.inc('tcp.passive_opens');
    segmentArrives(c, s);
    return true;
  }

  // ---- connection bookkeeping (internal) ----------------------------------------------------

  /** @internal */
  onStateChange(c: TcpConnection, from: St, to: St): void {
    if (from === St.SYN_RECEIVED && c.inSynQueue) {
      c.inSynQueue = false;
      if (c.listener) {
        c.listener.synQueue--;
        c.listener.halfOpen.delete(c);
      }
    }
    if (to === St.ESTABLISHED) this.counters.inc('tcp.established');
    if (to === St.TIME_WAIT) this.counters.inc('tcp.time_wait');
  }

  /** @internal a passive connection reached ESTABLISHED: queue it for onConnection. */
  acceptReady(c: TcpConnection): void {
    const l = c.listener;
    if (!l || l.closed) {
      c.userAbort();
      return;
    }
    l.pending.push(c);
    if (!this.readyListeners.includes(l)) this.readyListeners.push(l);
    if (!this.inInput) this.flushDirty();
  }

  private deliverPending(l: ListenerImpl): void {
    const q = l.pending.splice(0);
    for (const c of q) {
      c.listener = undefined;
      if (c.released) continue;
      c.accepted = true;
      try {
        l.onConnection(c.socket);
      } catch (e) {
        this.counters.inc('tcp.callback_exception');
        this.lastCallbackError = e;
      }
      c.flushEvents();
    }
  }

  /** @internal the TCB is deleted. */
  release(c: TcpConnection): void {
    if (c.released) return;
    c.released = true;
    if (c.inSynQueue && c.listener) {
      c.listener.synQueue--;
      c.listener.halfOpen.delete(c);
      c.inSynQueue = false;
    }
    if (c.listener) {
      const i = c.listener.pending.indexOf(c);
      if (i >= 0) c.listener.pending.splice(i, 1);
    }
    if (this.conns.get(c.key) === c) this.conns.delete(c.key);
    this.timers.cancel(c.eventTimer);
    if (c.accepted) c.scheduleEvents();
  }

  /** @internal */
  closeListener(l: ListenerImpl): void {
    if (l.closed) return;
    l.closed = true;
    const key = l.family + '|' + l.port;
    const list = this.listeners.get(key);
    if (list) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.listeners.delete(key);
    }
    for (const c of [...l.halfOpen, ...l.pending]) c.userAbort();
    l.pending.length = 0;
  }

  /** @internal RFC 5961 §7 rate limit. */
  takeChallengeAck(): boolean {
    const now = this.clock.now();
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.config.challengeAckLimit) return false;
    this.challengeCount++;
    return true;
  }

  // ---- MTU / MSS -----------------------------------------------------------------------------

  /** @internal the largest payload for a segment to `c`'s peer (route MTU or PMTU - headers). */
  routeMss(c: TcpConnection): number {
    return this.routeMssTo(c.family, c.remoteAddr, c.scope);
  }

  private routeMssTo(family: 4 | 6, remote: IpAddr, scope: number | undefined): number {
    let mtu = family === 4 ? this.network.mtu4(remote as number) : this.network.mtu6(remote as Uint8Array, scope);
    const p = (family === 4 ? this.pmtu4 : this.pmtu6).get(addrKey(remote));
    if (p !== undefined && p < mtu) mtu = p;
    const hdr = family === 4 ? 40 : 60;
    const min = family === 4 ? 536 : 1220;
    return Math.max(Math.min(min, mtu - hdr), mtu - hdr, 64);
  }

  // ---- ICMP errors ---------------------------------------------------------------------------

  /**
   * An ICMP(v4) error quoting one of our segments: `quoted` is the original IPv4 packet (header
   * and at least the first 8 bytes of TCP). `mtu` is the next-hop MTU for 'frag-needed'.
   */
  icmpError4(kind: TcpIcmpKind, mtu: number, quoted: Uint8Array): void {
    try {
      if (quoted.length < 20) return this.counters.drop('tcp.icmp_short');
      const ihl = (quoted[0]! & 0x0f) * 4;
      if (quoted[9] !== 6 || quoted.length < ihl + 8) return this.counters.drop('tcp.icmp_short');
      const src = ((quoted[12]! << 24) | (quoted[13]! << 16) | (quoted[14]! << 8) | quoted[15]!) >>> 0;
      const dst = ((quoted[16]! << 24) | (quoted[17]! << 16) | (quoted[18]! << 8) | quoted[19]!) >>> 0;
      this.icmpError(4, kind, mtu, src, dst, quoted.subarray(ihl));
    } catch (e) {
      this.counters.inc('tcp.internal_error');
      this.lastInternalError = e;
    }
  }

  /** ICMPv6: `quoted` is the original IPv6 packet; only next header = TCP (no extension headers) is handled. */
  icmpError6(kind: TcpIcmpKind, mtu: number, quoted: Uint8Array): void {
    try {
      if (quoted.length < 48 || quoted[6] !== 6) return this.counters.drop('tcp.icmp_short');
      this.icmpError(6, kind, mtu, quoted.slice(8, 24), quoted.slice(24, 40), quoted.subarray(40));
    } catch (e) {
      this.counters.inc('tcp.internal_error');
      this.lastInternalError = e;
    }
  }

  private icmpError(family: 4 | 6, kind: TcpIcmpKind, mtu: number, local: IpAddr, remote: IpAddr, tcp: Uint8Array): void {
    const C = this.counters;
    C.inc('tcp.icmp_errors');
    const lport = (tcp[0]! << 8) | tcp[1]!;
    const rport = (tcp[2]! << 8) | tcp[3]!;
    const seq = ((tcp[4]! << 24) | (tcp[5]! << 16) | (tcp[6]! << 8) | tcp[7]!) >>> 0;
    const c = this.conns.get(connKey(family, local, lport, remote, rport));
    if (!c || c.state === St.TIME_WAIT) return C.drop('tcp.icmp_no_connection');
    // RFC 5927 §4.1: the quoted sequence number must be in SND.UNA..SND.NXT.
    if (!sentRange(c, seq)) return C.drop('tcp.icmp_bad_seq');
    if (kind === 'frag-needed' || kind === 'packet-too-big') {
      // RFC 1191 / RFC 8201: lower the MSS and resend (no congestion response, like Linux).
      const minMtu = family === 4 ? 576 : 1280;
      const m = Math.max(mtu | 0, minMtu);
      const routeMtu = family === 4 ? this.network.mtu4(remote as number) : this.network.mtu6(remote as Uint8Array, c.scope);
      (family === 4 ? this.pmtu4 : this.pmtu6).update(addrKey(remote), m, Math.max(routeMtu, m));
      C.inc('tcp.pmtu_updates');
      if (c.lowerRouteMss(m - (family === 4 ? 40 : 60))) {
        startGoBack(c);
        output(c);
      }
      c.flushEvents();
      return;
    }
    const code =
      kind === 'port-unreachable' || kind === 'proto-unreachable'
        ? 'ECONNREFUSED'
        : kind === 'net-unreachable'
          ? 'ENETUNREACH'
          : kind === 'time-exceeded' || kind === 'param-problem'
            ? 'EHOSTUNREACH'
            : 'EHOSTUNREACH';
    if (c.state === St.SYN_SENT && kind !== 'time-exceeded' && kind !== 'param-problem') {
      // A hard error while connecting (Linux: the connect fails at once).
      c.fail(code, code === 'ECONNREFUSED' ? 'connection refused' : 'host unreachable');
      c.flushEvents();
      return;
    }
    // RFC 1122 §4.2.3.9: soft error — record it, report if the connection later times out.
    c.softError = code;
    C.inc('tcp.icmp_soft_errors');
  }

  // ---- sending ---------------------------------------------------------------------------------

  /** @internal */
  sendSegment(family: 4 | 6, src: IpAddr, dst: IpAddr, seg: Uint8Array, scope: number | undefined): string | null {
    this.counters.inc('tcp.tx');
    return family === 4
      ? this.network.send4(src as number, dst as number, 6, seg, { df: true })
      : this.network.send6(src as Uint8Array, dst as Uint8Array, 6, seg, { dontFrag: true }, scope);
  }

  /**
   * @internal <SEQ=seq><CTL=RST> or, with `withAck`, <SEQ=seq><ACK=ack><CTL=RST,ACK>, from
   * src:sport to dst:dport.
   */
  sendRstRaw(family: 4 | 6, src: IpAddr, dst: IpAddr, sport: number, dport: number, seq: number, ack: number, withAck: boolean, scope: number | undefined): void {
    const o = this.rawRepr.options;
    o.mss = o.wscale = o.tsVal = o.tsEcr = undefined;
    o.sackPermitted = undefined;
    o.sack = undefined;
    this.counters.inc('tcp.resets_sent');
    this.emitRaw(family, src, dst, sport, dport, seq, withAck ? ack : 0, RST | (withAck ? ACK : 0), 0, scope);
  }

  private emitRaw(family: 4 | 6, src: IpAddr, dst: IpAddr, sport: number, dport: number, seq: number, ack: number, flags: number, window: number, scope: number | undefined): void {
    const r = this.rawRepr;
    r.srcPort = sport;
    r.dstPort = dport;
    r.seq = seq >>> 0;
    r.ack = ack >>> 0;
    r.flags = flags;
    r.window = window;
    r.urgent = 0;
    const hlen = tcpHeaderLength(r);
    const buf = this.txBuf.subarray(0, hlen);
    r.payload = buf.subarray(hlen);
    const pseudo = family === 4 ? pseudoHeaderSumV4(src as number, dst as number, 6, hlen) : pseudoHeaderSumV6(src as Uint8Array, dst as Uint8Array, 6, hlen);
    emitTcp(r, buf, pseudo);
    this.sendSegment(family, src, dst, buf, scope);
  }

  private tsOffset(local: IpAddr, lport: number, remote: IpAddr, rport: number): number {
    return hashFlow(this.tsKey, local, lport, remote, rport).lo;
  }
}

function addrKey(a: IpAddr): string {
  if (typeof a === 'number') return String(a);
  let s = '';
  for (let i = 0; i < 16; i++) s += (a[i]! < 16 ? '0' : '') + a[i]!.toString(16);
  return s;
}

/**
 * An address the connection can keep: IPv6 addresses arrive as views into the receive buffer,
 * which the driver reuses for later frames (found by the soak: IPv6 connections sent to bytes of
 * a later IPv4 header, drop.ipv6.no_route).
 */
function ownAddr(a: IpAddr): IpAddr {
  return typeof a === 'number' ? a : a.slice();
}

function connKey(family: 4 | 6, local: IpAddr, lport: number, remote: IpAddr, rport: number): string {
  return family + '|' + addrKey(local) + '|' + lport + '|' + addrKey(remote) + '|' + rport;
}

function isZero(a: IpAddr): boolean {
  if (typeof a === 'number') return a === 0;
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}

function addrEq(a: IpAddr, b: IpAddr): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isLinkLocal6(a: Uint8Array): boolean {
  return a[0] === 0xfe && (a[1]! & 0xc0) === 0x80;
}

