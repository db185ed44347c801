/**
 * UDP (RFC 768; RFC 1122 §4.1; RFC 8085 for API guidance).
 *
 * - A socket table per family: IPv4 and IPv6 sockets are separate (an IPv6 wildcard socket does
 *   not receive IPv4, like `IPV6_V6ONLY`), keyed by (local address, local port); a wildcard
 *   bind (0.0.0.0 / ::) conflicts with any bind on the same port, and vice versa (EADDRINUSE)
 *   unless every socket involved was opened with `reuseAddr`.
 * - Ephemeral ports: RFC 6056 §3.3.1 Algorithm 1 (simple port randomization) over 49152–65535
 *   (the IANA dynamic range, RFC 6335 §6), moving to the next port on collision.
 * - Checksums are always computed on send and verified on receive (zero means "none" on IPv4 and
 *   is an error on IPv6, RFC 8200 §8.1).
 * - Delivery: the socket bound to the exact destination address wins over a wildcard one;
 *   broadcast/multicast datagrams go to every matching socket (RFC 1122 §4.1.3.5 leaves this to
 *   the host; this is what Linux does with SO_REUSEADDR). A datagram for a port nobody listens
 *   on is counted `drop.udp.no_socket` and the IP layer answers ICMP port unreachable
 *   (RFC 1122 §4.1.3.1), rate-limited.
 * - Payload limits: 65507 bytes on IPv4 (65535 - 20 - 8), 65527 on IPv6 (65535 - 8; no
 *   jumbograms): larger sends fail with EMSGSIZE. The IP layer fragments anything over the MTU.
 *
 * Part of the core: no Node imports. Errors thrown by the socket API (never by the receive path)
 * are `SocketError` with an errno-style `code`.
 */
import type { Counter, Counters } from '../core/counters.js';
import type { RandomSource } from '../core/clock.js';
import { finish, pseudoHeaderSumV4, pseudoHeaderSumV6, sumBytes } from '../wire/checksum.js';
import { UDP_HEADER_LEN, UdpDrop, UdpPacket, emitUdp } from '../wire/udp.js';
import { read16, read32 } from '../wire/bytes.js';
import { SocketError } from './errors.js';
import { TX_HEADROOM } from '../link/link.js';
import { formatIpv4, formatIpv6, parseIpv4, parseIpv6, splitZone, isIpv6LinkLocal } from '../wire/address.js';

export const UDP_PROTOCOL = 17;
export const EPHEMERAL_MIN = 49152;
export const EPHEMERAL_MAX = 65535;
export const UDP_MAX_PAYLOAD_V4 = 65535 - 20 - 8;
export const UDP_MAX_PAYLOAD_V6 = 65535 - 8;

/** Errors of the socket API (shared with TCP, src/transport/errors.ts): errno-style `code`. */
export { SocketError };

export type Family = 4 | 6;

export interface RemoteInfo {
  address: string;
  family: Family;
  port: number;
  size: number;
}

/** What UDP needs from the IP layer (implemented by the Stack). Error results are errno codes. */
export interface UdpNetwork {
  /** One of our unicast addresses (bind validation). */
  isLocal4(a: number): boolean;
  isLocal6(a: Uint8Array): boolean;
  /** Limited or one of our directed broadcast addresses. */
  isBroadcast4(a: number): boolean;
  /** The source address for sending to `dst`, or an errno code (ENETUNREACH). */
  source4(dst: number): number | string;
  source6(dst: Uint8Array, scope: number | undefined): Uint8Array | string;
  /**
   * In-place sends (optional; send4/send6 otherwise): the datagram is `buf[off, off + len)` and
   * the IP header is written into the room before it (`off` ≥ TX_HEADROOM): no copy on the way
   * to the link.
   */
  sendInPlace4?(src: number, dst: number, protocol: number, buf: Uint8Array, off: number, len: number, opts: { ttl?: number; df?: boolean }): string | null;
  sendInPlace6?(
    src: Uint8Array,
    dst: Uint8Array,
    protocol: number,
    buf: Uint8Array,
    off: number,
    len: number,
    opts: { hopLimit?: number; dontFrag?: boolean },
    scope: number | undefined,
  ): string | null;
  /** Sends a transport payload; null on success, else an errno code (EMSGSIZE, ENETUNREACH). */
  send4(src: number, dst: number, protocol: number, payload: Uint8Array, opts: { ttl?: number; df?: boolean }): string | null;
  send6(
    src: Uint8Array,
    dst: Uint8Array,
    protocol: number,
    payload: Uint8Array,
    opts: { hopLimit?: number; dontFrag?: boolean },
    scope: number | undefined,
  ): string | null;
  /** Zone (interface) names and indexes, for `fe80::1%eth0`. */
  scopeIndex(zone: string): number | undefined;
  scopeName(index: number): string | undefined;
}

/** The result of input: delivered, no socket (caller sends port unreachable) or another drop. */
export type UdpInputResult = 'delivered' | 'no_socket' | 'dropped';

type Addr = number | Uint8Array;

export class UdpSocket {
  /** Called for every datagram; `data` is a copy the handler may keep. */
  onMessage: ((data: Uint8Array, info: RemoteInfo) => void) | undefined;
  /**
   * Takes precedence over `onMessage`, for adapters that copy anyway (api/dgram.ts): `view` is
   * the payload inside the received frame, valid only during the call; `address` is the
   * sender's address text (with a %zone for IPv6 link-local), `port` its port.
   */
  onMessageView: ((view: Uint8Array, address: string, port: number) => void) | undefined;
  /** TTL / hop limit for unicast sends; undefined = the stack default (64). */
  ttl: number | undefined;
  /** Don't fragment (IP_PMTUDISC_DO / IPV6_DONTFRAG): over-MTU sends fail with EMSGSIZE. */
  dontFragment = false;
  /** Allow sending to broadcast addresses (SO_BROADCAST); otherwise EACCES. */
  broadcast = false;
  readonly reuseAddr: boolean;
  /** Local address (0 / :: for wildcard) and port once bound. */
  localAddr: Addr | undefined;
  localPort = 0;
  /** For a link-local bind: the interface index. */
  scope: number | undefined;
  /** The connected peer (connect()): only its datagrams are received, sends default to it. */
  remoteAddr: Addr | undefined;
  remotePort = 0;
  remoteScope: number | undefined;
  /**
   * Errors reported by ICMP about datagrams this connected socket sent (like Linux, only
   * "hard" errors on connected sockets: ECONNREFUSED for port unreachable, ENOPROTOOPT, EACCES,
   * EHOSTUNREACH for administratively prohibited, EPROTO for a parameter problem).
   */
  onError: ((code: string) => void) | undefined;
  private closed = false;

  constructor(
    private readonly layer: UdpLayer,
    readonly family: Family,
    opts: { reuseAddr?: boolean } = {},
  ) {
    this.reuseAddr = opts.reuseAddr ?? false;
  }

  get bound(): boolean {
    return this.localAddr !== undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Binds to `addr` (default wildcard) and `port` (default 0: an ephemeral port). */
  bind(addr?: string, port = 0): void {
    if (this.closed) throw new SocketError('EBADF', 'socket is closed', 'bind');
    if (this.bound) throw new SocketError('EINVAL', 'socket is already bound', 'bind');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SocketError('EINVAL', 'bad port', 'bind');
    this.layer.bindSocket(this, addr, port);
  }

  /**
   * Sends `data` to `addr`:`port` (binding to an ephemeral port first if needed). Throws
   * SocketError: EMSGSIZE (over 65507/65527 bytes), EINVAL (bad address/port), ENETUNREACH (no
   * route), EACCES (broadcast without `broadcast`).
   */
  sendTo(data: Uint8Array, addr: string, port: number): void {
    if (this.closed) throw new SocketError('EBADF', 'socket is closed', 'send');
    this.layer.sendFrom(this, data, addr, port);
  }

  /**
   * Connects to `addr`:`port` (binding first if needed): afterwards only datagrams from that
   * peer are delivered, `send` goes there, and ICMP errors about it are reported to onError.
   */
  connect(addr: string, port: number): void {
    if (this.closed) throw new SocketError('EBADF', 'socket is closed', 'connect');
    this.layer.connectSocket(this, addr, port);
  }

  /** Forgets the peer (datagrams from anyone are delivered again). */
  disconnect(): void {
    this.remoteAddr = undefined;
    this.remotePort = 0;
    this.remoteScope = undefined;
  }

  get connected(): boolean {
    return this.remoteAddr !== undefined;
  }

  /** Sends to the connected peer; ENOTCONN when not connected. */
  send(data: Uint8Array): void {
    if (this.closed) throw new SocketError('EBADF', 'socket is closed', 'send');
    if (this.remoteAddr === undefined) throw new SocketError('ENOTCONN', 'socket is not connected', 'send');
    this.layer.sendFrom(this, data, this.layer.formatAddr(this.remoteAddr, this.remoteScope), this.remotePort);
  }

  /** The connected peer, or undefined. */
  remote(): { address: string; family: Family; port: number } | undefined {
    if (this.remoteAddr === undefined) return undefined;
    return { address: this.layer.formatAddr(this.remoteAddr, this.remoteScope), family: this.family, port: this.remotePort };
  }

  /** The bound address, or undefined before binding. */
  address(): { address: string; family: Family; port: number } | undefined {
    if (this.localAddr === undefined) return undefined;
    return { address: this.layer.formatAddr(this.localAddr, this.scope), family: this.family, port: this.localPort };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
    this.onMessage = undefined;
    this.onMessageView = undefined;
    this.onError = undefined;
  }
}

export class UdpLayer {
  /** Bound sockets by family and port. */
  private readonly ports: [Map<number, UdpSocket[]>, Map<number, UdpSocket[]>] = [new Map(), new Map()];
  /** Per-datagram counters, resolved once. */
  private readonly cRx: Counter;
  private readonly cTx: Counter;
  private readonly cDelivered: Counter;
  /** Text of the last IPv4 source seen (a flow's datagrams share it): formatted once. */
  private lastSrc4 = -1;
  private lastSrc4Text = '';
  /** The same for IPv6: a copy of the address, its receiving interface and its text. */
  private readonly lastSrc6 = new Uint8Array(16);
  private lastSrc6Index = -1;
  private lastSrc6Text = '';
  /** The last destination text parsed by sendFrom (replies go to the same peer). */
  private lastDst4Text = '';
  private lastDst4 = 0;
  /** Where datagrams are built, with room in front for the IP header (see `build`). */
  private readonly txBuf = new Uint8Array(TX_HEADROOM + UDP_HEADER_LEN + 0xffff);

  constructor(
    private readonly net: UdpNetwork,
    private readonly random: RandomSource,
    private readonly counters: Counters,
  ) {
    this.cRx = counters.counter('udp.rx');
    this.cTx = counters.counter('udp.tx');
    this.cDelivered = counters.counter('udp.delivered');
  }

  /** A new unbound socket. */
  open(family: Family, opts: { reuseAddr?: boolean } = {}): UdpSocket {
    if (family !== 4 && family !== 6) throw new SocketError('EAFNOSUPPORT', 'family must be 4 or 6', 'socket');
    return new UdpSocket(this, family, opts);
  }

  /** Number of bound sockets. */
  get socketCount(): number {
    let n = 0;
    for (const m of this.ports) for (const l of m.values()) n += l.length;
    return n;
  }

  // ---- binding --------------------------------------------------------------------------------

  /** @internal */
  bindSocket(s: UdpSocket, addrText: string | undefined, port: number): void {
    let addr: Addr;
    let scope: number | undefined;
    if (s.family === 4) {
      const a = addrText === undefined || addrText === '' ? 0 : parseIpv4(addrText);
      if (a === null) throw new SocketError('EINVAL', `invalid IPv4 address ${addrText}`, 'bind');
      if (a !== 0 && !this.net.isLocal4(a) && !this.net.isBroadcast4(a) && a >>> 28 !== 0xe)
        throw new SocketError('EADDRNOTAVAIL', `${addrText} is not a local address`, 'bind');
      addr = a;
    } else {
      const p = this.parse6(addrText ?? '::', 'bind');
      addr = p.addr;
      scope = p.scope;
      if (!isZero(addr) && !this.net.isLocal6(addr) && addr[0] !== 0xff)
        throw new SocketError('EADDRNOTAVAIL', `${addrText} is not a local address`, 'bind');
    }
    if (port === 0) {
      port = this.ephemeral(s.family);
      if (port === 0) throw new SocketError('EADDRINUSE', 'no ephemeral port available', 'bind');
    } else if (this.conflicts(s.family, addr, port, s.reuseAddr)) {
      throw new SocketError('EADDRINUSE', `address in use: ${this.formatAddr(addr, scope)}:${port}`, 'bind');
    }
    s.localAddr = addr;
    s.localPort = port;
    s.scope = scope;
    const m = this.ports[s.family === 4 ? 0 : 1];
    const list = m.get(port);
    if (list) list.push(s);
    else m.set(port, [s]);
  }

  /** @internal */
  unbind(s: UdpSocket): void {
    if (s.localAddr === undefined) return;
    const m = this.ports[s.family === 4 ? 0 : 1];
    const list = m.get(s.localPort);
    if (!list) return;
    const i = list.indexOf(s);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) m.delete(s.localPort);
  }

  private conflicts(family: Family, addr: Addr, port: number, reuse: boolean): boolean {
    const list = this.ports[family === 4 ? 0 : 1].get(port);
    if (!list) return false;
    for (const o of list) {
      if (reuse && o.reuseAddr) continue;
      if (isZero(addr) || isZero(o.localAddr!) || addrEqual(addr, o.localAddr!)) return true;
    }
    return false;
  }

  /** RFC 6056 §3.3.1 Algorithm 1; 0 when every port is taken. */
  private ephemeral(family: Family): number {
    const num = EPHEMERAL_MAX - EPHEMERAL_MIN + 1;
    let next = EPHEMERAL_MIN + (this.random.u32() % num);
    for (let count = num; count > 0; count--) {
      if (!this.ports[family === 4 ? 0 : 1].has(next)) return next;
      next = next === EPHEMERAL_MAX ? EPHEMERAL_MIN : next + 1;
    }
    return 0;
  }

  // ---- sending --------------------------------------------------------------------------------

  /** @internal */
  connectSocket(s: UdpSocket, addrText: string, port: number): void {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new SocketError('EINVAL', `bad port ${port}`, 'connect');
    let addr: Addr;
    let scope: number | undefined;
    if (s.family === 4) {
      const a = parseIpv4(addrText);
      if (a === null) throw new SocketError('EINVAL', `invalid IPv4 address ${addrText}`, 'connect');
      if (this.net.isBroadcast4(a) && !s.broadcast) throw new SocketError('EACCES', 'broadcast not enabled', 'connect');
      const r = this.net.source4(a);
      if (typeof r === 'string') throw new SocketError(r, `cannot connect to ${addrText}`, 'connect');
      addr = a;
    } else {
      const p = this.parse6(addrText, 'connect');
      addr = p.addr;
      scope = p.scope ?? s.scope;
      const r = this.net.source6(addr, scope);
      if (typeof r === 'string') throw new SocketError(r, `cannot connect to ${addrText}`, 'connect');
    }
    if (!s.bound) this.bindSocket(s, undefined, 0);
    s.remoteAddr = addr;
    s.remotePort = port;
    s.remoteScope = scope;
  }

  /** @internal */
  sendFrom(s: UdpSocket, data: Uint8Array, addrText: string, port: number): void {
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new SocketError('EINVAL', `bad port ${port}`, 'send');
    const max = s.family === 4 ? UDP_MAX_PAYLOAD_V4 : UDP_MAX_PAYLOAD_V6;
    if (data.length > max) throw new SocketError('EMSGSIZE', `message too long (${data.length} > ${max})`, 'send');
    if (s.family === 4) {
      let dst: number | null;
      if (addrText === this.lastDst4Text) dst = this.lastDst4;
      else {
        dst = parseIpv4(addrText);
        if (dst === null) throw new SocketError('EINVAL', `invalid IPv4 address ${addrText}`, 'send');
        this.lastDst4Text = addrText;
        this.lastDst4 = dst;
      }
      if (this.net.isBroadcast4(dst) && !s.broadcast) throw new SocketError('EACCES', 'broadcast not enabled', 'send');
      if (!s.bound) this.bindSocket(s, undefined, 0);
      let src = s.localAddr as number;
      if (src === 0 || this.net.isBroadcast4(src) || src >>> 28 === 0xe) {
        const r = this.net.source4(dst);
        if (typeof r === 'string') throw new SocketError(r, `cannot send to ${addrText}`, 'send');
        src = r;
      }
      const dgram = this.build(s, data, port, pseudoHeaderSumV4(src, dst, UDP_PROTOCOL, data.length + UDP_HEADER_LEN));
      const net = this.net;
      const err = net.sendInPlace4
        ? net.sendInPlace4(src, dst, UDP_PROTOCOL, this.txBuf, TX_HEADROOM, dgram.length, sendOpts4(s))
        : net.send4(src, dst, UDP_PROTOCOL, dgram, sendOpts4(s));
      if (err) throw new SocketError(err, `cannot send to ${addrText}`, 'send');
    } else {
      const { addr: dst, scope: zscope } = this.parse6(addrText, 'send');
      if (!s.bound) this.bindSocket(s, undefined, 0);
      const scope = zscope ?? s.scope;
      let src = s.localAddr as Uint8Array;
      if (isZero(src) || src[0] === 0xff) {
        const r = this.net.source6(dst, scope);
        if (typeof r === 'string') throw new SocketError(r, `cannot send to ${addrText}`, 'send');
        src = r;
      }
      const dgram = this.build(s, data, port, pseudoHeaderSumV6(src, dst, UDP_PROTOCOL, data.length + UDP_HEADER_LEN));
      const net = this.net;
      const err = net.sendInPlace6
        ? net.sendInPlace6(src, dst, UDP_PROTOCOL, this.txBuf, TX_HEADROOM, dgram.length, sendOpts6(s), scope)
        : net.send6(src, dst, UDP_PROTOCOL, dgram, sendOpts6(s), scope);
      if (err) throw new SocketError(err, `cannot send to ${addrText}`, 'send');
    }
    this.cTx.inc();
  }

  /**
   * Writes the datagram at TX_HEADROOM in the layer's transmit buffer (reused: the network
   * copies what it sends, or writes the IP header in front and the link copies) and returns it.
   */
  private build(s: UdpSocket, data: Uint8Array, dstPort: number, pseudo: number): Uint8Array {
    const buf = this.txBuf.subarray(TX_HEADROOM, TX_HEADROOM + UDP_HEADER_LEN + data.length);
    buf.set(data, UDP_HEADER_LEN);
    emitUdp({ srcPort: s.localPort, dstPort }, buf, pseudo);
    return buf;
  }


  // ---- receiving ------------------------------------------------------------------------------

  /**
   * A UDP datagram (the IPv4 payload) for `dst`; `multicast`: the destination is a broadcast or
   * multicast address; `ifindex`: the receiving interface. Never throws.
   */
  input4(src: number, dst: number, segment: Uint8Array, multicast: boolean, ifindex: number, csumValid = false): UdpInputResult {
    this.cRx.inc();
    const bad = this.check(segment, pseudoHeaderSumV4(src, dst, UDP_PROTOCOL, segment.length), false, csumValid);
    if (bad !== null) {
      this.counters.drop(bad);
      return 'dropped';
    }
    // RFC 768 length vs IP length: UdpPacket.check rejects a length past the buffer; a shorter
    // length field means trailing garbage, which the payload view excludes.
    return this.deliver(0, dst, src, segment, multicast, ifindex);
  }

  input6(src: Uint8Array, dst: Uint8Array, segment: Uint8Array, multicast: boolean, ifindex: number, csumValid = false): UdpInputResult {
    this.cRx.inc();
    const bad = this.check(segment, pseudoHeaderSumV6(src, dst, UDP_PROTOCOL, segment.length), true, csumValid);
    if (bad !== null) {
      this.counters.drop(bad);
      return 'dropped';
    }
    return this.deliver(1, dst, src, segment, multicast, ifindex);
  }

  /**
   * What parseUdp checks (wire/udp.ts), without building the Repr: a drop reason or null.
   * `csumValid`: the link vouches for the checksum (a virtio-net header's DATA_VALID or
   * NEEDS_CSUM, RxInfo.csumValid), so it is not verified.
   */
  private check(segment: Uint8Array, pseudoSum: number, v6: boolean, csumValid: boolean): string | null {
    const err = UdpPacket.check(segment);
    if (err) return err;
    if (csumValid) return null;
    if (read16(segment, 6) === 0) return v6 ? UdpDrop.zeroChecksumV6 : null;
    return finish(sumBytes(segment, 0, read16(segment, 4), pseudoSum)) === 0 ? null : UdpDrop.badChecksum;
  }

  /** The sender's address text, formatted once per peer rather than once per datagram. */
  private sourceText(src: Addr, ifindex: number): string {
    if (typeof src === 'number') {
      if (src !== this.lastSrc4) {
        this.lastSrc4Text = formatIpv4(src);
        this.lastSrc4 = src;
      }
      return this.lastSrc4Text;
    }
    const last = this.lastSrc6;
    const linkLocal = isIpv6LinkLocal(src);
    if (!addrEqual(last, src) || (linkLocal && this.lastSrc6Index !== ifindex) || this.lastSrc6Text === '') {
      const text = formatIpv6(src);
      this.lastSrc6Text = linkLocal ? text + '%' + (this.net.scopeName(ifindex) ?? String(ifindex)) : text;
      last.set(src);
      this.lastSrc6Index = ifindex;
    }
    return this.lastSrc6Text;
  }

  private deliver(fi: 0 | 1, dst: Addr, src: Addr, segment: Uint8Array, multicast: boolean, ifindex: number): UdpInputResult {
    const srcPort = read16(segment, 0);
    const dstPort = read16(segment, 2);
    const list = this.ports[fi].get(dstPort);
    if (!list || list.length === 0) {
      this.counters.drop('udp.no_socket');
      return 'no_socket';
    }
    // (A source port of 0 is allowed: RFC 768 makes it optional.)
    const payload = segment.subarray(UDP_HEADER_LEN, read16(segment, 4));
    if (multicast) {
      let targets: UdpSocket[] | undefined;
      for (const s of list) if ((isZero(s.localAddr!) || addrEqual(s.localAddr!, dst)) && peerOk(s, src, srcPort)) (targets ??= []).push(s);
      if (!targets) {
        this.counters.drop('udp.no_socket');
        return 'no_socket';
      }
      for (const s of targets) this.hand(s, fi, payload, src, srcPort, ifindex);
      return 'delivered';
    }
    // Like Linux's UDP lookup scoring: an exact local address beats a wildcard, a connected
    // socket matching the peer beats an unconnected one; the most recently bound wins ties.
    let best: UdpSocket | undefined;
    let bestScore = -1;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.scope !== undefined && s.scope !== ifindex) continue;
      let score: number;
      if (addrEqual(s.localAddr!, dst)) score = 2;
      else if (isZero(s.localAddr!)) score = 1;
      else continue;
      if (s.remoteAddr !== undefined) {
        if (!peerOk(s, src, srcPort)) continue;
        score += 4;
      }
      if (score >= bestScore) {
        best = s;
        bestScore = score;
      }
    }
    if (!best) {
      this.counters.drop('udp.no_socket');
      return 'no_socket';
    }
    this.hand(best, fi, payload, src, srcPort, ifindex);
    return 'delivered';
  }

  /** Gives one datagram to one socket's handler (a copy for `onMessage`: the frame is only valid until the batch's flush, link.ts). */
  private hand(s: UdpSocket, fi: 0 | 1, payload: Uint8Array, src: Addr, srcPort: number, ifindex: number): void {
    const view = s.onMessageView;
    const h = s.onMessage;
    if (!view && !h) {
      this.counters.drop('udp.no_handler');
      return;
    }
    this.cDelivered.inc();
    const address = this.sourceText(src, ifindex);
    try {
      if (view) view(payload, address, srcPort);
      else h!(payload.slice(), { address, family: fi === 0 ? 4 : 6, port: srcPort, size: payload.length });
    } catch {
      // An application callback must not break the receive path.
      this.counters.inc('udp.handler_exception');
    }
  }

  // ---- ICMP errors ----------------------------------------------------------------------------

  /**
   * An ICMP error quoting `invoking` (our IPv4 datagram, header first) with errno `code`: passed
   * to the connected socket that sent it, if any (Linux reports only to connected sockets
   * without IP_RECVERR). Never throws.
   */
  icmpError4(invoking: Uint8Array, code: string): void {
    if (invoking.length < 20 || invoking[0]! >>> 4 !== 4 || invoking[9] !== UDP_PROTOCOL) return;
    const hl = (invoking[0]! & 0x0f) * 4;
    if (invoking.length < hl + 4) return;
    const src = read32(invoking, 12);
    const dst = read32(invoking, 16);
    this.icmpError(0, src, dst, read16(invoking, hl), read16(invoking, hl + 2), code);
  }

  /** The same for IPv6 (UDP directly after the fixed header). */
  icmpError6(invoking: Uint8Array, code: string): void {
    if (invoking.length < 44 || invoking[0]! >>> 4 !== 6 || invoking[6] !== UDP_PROTOCOL) return;
    this.icmpError(1, invoking.slice(8, 24), invoking.slice(24, 40), read16(invoking, 40), read16(invoking, 42), code);
  }

  /**
   * Whether a socket of ours could have sent the quoted UDP datagram (one bound to its source
   * port, on its source address or the wildcard). A "fragmentation needed" / "packet too big"
   * quoting a datagram no socket sent is ignored, as Linux's __udp4_lib_err does: otherwise a
   * blind attacker could lower the path MTU to any host.
   */
  ownsQuoted(invoking: Uint8Array): boolean {
    let fi: 0 | 1;
    let src: Addr;
    let sport: number;
    if (invoking.length >= 20 && invoking[0]! >>> 4 === 4 && invoking[9] === UDP_PROTOCOL) {
      const hl = (invoking[0]! & 0x0f) * 4;
      if (invoking.length < hl + 4) return false;
      fi = 0;
      src = read32(invoking, 12);
      sport = read16(invoking, hl);
    } else if (invoking.length >= 44 && invoking[0]! >>> 4 === 6 && invoking[6] === UDP_PROTOCOL) {
      fi = 1;
      src = invoking.subarray(8, 24);
      sport = read16(invoking, 40);
    } else if (
      // Our own fragmented datagrams: a Fragment header (44), the first fragment (offset 0).
      invoking.length >= 52 && invoking[0]! >>> 4 === 6 && invoking[6] === 44 &&
      invoking[40] === UDP_PROTOCOL && (read16(invoking, 42) & 0xfff8) === 0
    ) {
      fi = 1;
      src = invoking.subarray(8, 24);
      sport = read16(invoking, 48);
    } else {
      return false;
    }
    const list = this.ports[fi].get(sport);
    if (!list) return false;
    for (const s of list) if (isZero(s.localAddr!) || addrEqual(s.localAddr!, src)) return true;
    return false;
  }

  private icmpError(fi: 0 | 1, src: Addr, dst: Addr, sport: number, dport: number, code: string): void {
    const list = this.ports[fi].get(sport);
    if (!list) return;
    for (const s of list) {
      if (s.remoteAddr === undefined || s.remotePort !== dport || !addrEqual(s.remoteAddr, dst)) continue;
      if (!isZero(s.localAddr!) && !addrEqual(s.localAddr!, src)) continue;
      this.counters.inc('udp.icmp_error');
      try {
        s.onError?.(code);
      } catch {
        this.counters.inc('udp.handler_exception');
      }
    }
  }

  // ---- addresses ------------------------------------------------------------------------------

  /** @internal */
  formatAddr(a: Addr, scope: number | undefined): string {
    if (typeof a === 'number') return formatIpv4(a);
    const t = formatIpv6(a);
    return scope !== undefined && isIpv6LinkLocal(a) ? t + '%' + (this.net.scopeName(scope) ?? String(scope)) : t;
  }

  private parse6(text: string, syscall: string): { addr: Uint8Array; scope: number | undefined } {
    const { addr, zone } = splitZone(text);
    const a = parseIpv6(addr);
    if (!a) throw new SocketError('EINVAL', `invalid IPv6 address ${text}`, syscall);
    let scope: number | undefined;
    if (zone !== null) {
      scope = this.net.scopeIndex(zone);
      if (scope === undefined) throw new SocketError('EINVAL', `unknown zone ${zone}`, syscall);
    }
    return { addr: a, scope };
  }
}

/** A connected socket takes only its peer's datagrams. */
function peerOk(s: UdpSocket, src: Addr, srcPort: number): boolean {
  return s.remoteAddr === undefined || (s.remotePort === srcPort && addrEqual(s.remoteAddr, src));
}

function isZero(a: Addr): boolean {
  if (typeof a === 'number') return a === 0;
  for (let i = 0; i < 16; i++) if (a[i] !== 0) return false;
  return true;
}

function addrEqual(a: Addr, b: Addr): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sendOpts4(s: UdpSocket): { ttl?: number; df?: boolean } {
  const o: { ttl?: number; df?: boolean } = { df: s.dontFragment };
  if (s.ttl !== undefined) o.ttl = s.ttl;
  return o;
}

function sendOpts6(s: UdpSocket): { hopLimit?: number; dontFrag?: boolean } {
  const o: { hopLimit?: number; dontFrag?: boolean } = { dontFrag: s.dontFragment };
  if (s.ttl !== undefined) o.hopLimit = s.ttl;
  return o;
}
