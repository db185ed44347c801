/**
 * A two-host simulation for TCP tests: two TcpLayers joined by a fake TransportNetwork on one
 * VirtualClock and one TimerQueue, with per-segment loss, duplication, reordering (extra delay),
 * a serialisation rate and a drop-tail queue, a path MTU (oversized DF packets are dropped and
 * answered with ICMP frag-needed / packet-too-big), and hooks to inspect or drop segments.
 */
import { VirtualClock, SeededRandom } from '../../src/core/clock.js';
import { Counters } from '../../src/core/counters.js';
import { TimerQueue } from '../../src/core/timers.js';
import { formatIpv4, parseIpv4, parseIpv6 } from '../../src/wire/address.js';
import { TcpPacket, readTcpOptions, TcpOptionsScratch, emitTcp, tcpHeaderLength, type TcpOptions, type TcpRepr } from '../../src/wire/tcp.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import { TcpLayer, type TcpDefaults, type TcpLimits, type TransportNetwork } from '../../src/transport/tcp/layer.js';
import type { RxInfo } from '../../src/ip/context.js';
import type { TcpSocket, TcpSocketOptions } from '../../src/transport/tcp/socket.js';
import assert from 'node:assert/strict';

export interface LinkParams {
  /** One-way latency, ms. */
  delayMs: number;
  /** Probability a segment is lost. */
  loss: number;
  /** Probability a segment is duplicated. */
  dup: number;
  /** Probability a segment gets `reorderMs` extra delay. */
  reorder: number;
  reorderMs: number;
  /** Bytes per ms (0 = infinite). */
  rateBytesPerMs: number;
  /** Drop-tail queue bound in ms of backlog (0 = unbounded). */
  queueMs: number;
}

export interface Packet {
  family: 4 | 6;
  from: Host;
  to: Host;
  src: number | Uint8Array;
  dst: number | Uint8Array;
  bytes: Uint8Array;
  at: number;
  order: number;
}

export interface SegInfo {
  from: string;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  len: number;
  opts: ReturnType<TcpOptionsScratch['toOptions']>;
  time: number;
}

export class Host {
  readonly counters = new Counters();
  readonly tcp: TcpLayer;
  readonly addr4: number;
  readonly addr6: Uint8Array;
  /** MTU of this host's interface (what mtu4/mtu6 report). */
  mtu = 1500;
  readonly sent: SegInfo[] = [];
  constructor(
    readonly sim: Sim,
    readonly name: string,
    addr4: string,
    addr6: string,
    opts: Partial<TcpLimits & TcpDefaults>,
  ) {
    this.addr4 = parseIpv4(addr4)!;
    this.addr6 = parseIpv6(addr6)!;
    const self = this;
    const net: TransportNetwork = {
      isLocal4: (a) => a === self.addr4,
      isBroadcast4: (a) => a === 0xffffffff,
      isLocal6: (a) => eq6(a, self.addr6),
      source4: (dst) => (sim.hostFor4(dst) ? self.addr4 : 'ENETUNREACH'),
      source6: (dst) => (sim.hostFor6(dst) ? self.addr6 : 'ENETUNREACH'),
      send4: (src, dst, _p, payload) => sim.send(self, 4, src, dst, payload),
      send6: (src, dst, _p, payload) => sim.send(self, 6, src, dst, payload),
      scopeIndex: () => undefined,
      scopeName: () => undefined,
      mtu4: () => self.mtu,
      mtu6: () => self.mtu,
    };
    this.tcp = new TcpLayer({ network: net, clock: sim.clock, random: new SeededRandom(sim.seed * 7 + name.charCodeAt(0)), timers: sim.timers, counters: this.counters }, opts);
  }
  get ip4(): string {
    return formatIpv4(this.addr4);
  }
}

function eq6(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

const rx: RxInfo = { iface: { index: 1 } as RxInfo['iface'], linkMulticast: false };

export class Sim {
  readonly clock = new VirtualClock(1_000_000);
  readonly timers = new TimerQueue();
  readonly rand: SeededRandom;
  readonly a: Host;
  readonly b: Host;
  link: LinkParams = { delayMs: 5, loss: 0, dup: 0, reorder: 0, reorderMs: 10, rateBytesPerMs: 0, queueMs: 0 };
  /** Path MTU between the hosts (bytes of IP packet); oversized packets are dropped + ICMP. */
  pathMtu = 65535;
  /** Return true to drop a packet (after tracing). */
  dropIf: ((p: Packet, seg: SegInfo) => boolean) | undefined;
  /** Called for every segment sent. */
  onSegment: ((p: Packet, seg: SegInfo) => void) | undefined;
  private inFlight: Packet[] = [];
  private order = 0;
  private linkFree = new Map<Host, number>();
  delivered = 0;
  dropped = 0;
  private readonly scratch = new TcpOptionsScratch();

  constructor(
    readonly seed = 1,
    opts: Partial<TcpLimits & TcpDefaults> = {},
    optsB?: Partial<TcpLimits & TcpDefaults>,
  ) {
    this.rand = new SeededRandom(seed);
    this.a = new Host(this, 'a', '10.0.0.1', 'fd00::1', opts);
    this.b = new Host(this, 'b', '10.0.0.2', 'fd00::2', optsB ?? opts);
  }

  get now(): number {
    return this.clock.now();
  }

  hostFor4(a: number): Host | undefined {
    return a === this.a.addr4 ? this.a : a === this.b.addr4 ? this.b : undefined;
  }
  hostFor6(a: Uint8Array): Host | undefined {
    return eq6(a, this.a.addr6) ? this.a : eq6(a, this.b.addr6) ? this.b : undefined;
  }

  /** Parses a segment for tracing. */
  info(from: Host, bytes: Uint8Array): SegInfo {
    const p = new TcpPacket(bytes);
    readTcpOptions(bytes, this.scratch);
    return { from: from.name, seq: p.seq, ack: p.ack, flags: p.flags, window: p.window, len: bytes.length - p.headerLength, opts: this.scratch.toOptions(), time: this.now };
  }

  send(from: Host, family: 4 | 6, src: number | Uint8Array, dst: number | Uint8Array, payload: Uint8Array): string | null {
    const to = family === 4 ? this.hostFor4(dst as number) : this.hostFor6(dst as Uint8Array);
    if (!to) return 'EHOSTUNREACH';
    const bytes = payload.slice();
    const seg = this.info(from, bytes);
    from.sent.push(seg);
    const pkt: Packet = { family, from, to, src, dst, bytes, at: 0, order: 0 };
    this.onSegment?.(pkt, seg);
    if (this.dropIf?.(pkt, seg)) {
      this.dropped++;
      return null;
    }
    const ipLen = bytes.length + (family === 4 ? 20 : 40);
    if (ipLen > this.pathMtu) {
      // DF set by TCP: drop and answer with ICMP frag-needed / packet-too-big.
      this.dropped++;
      const quoted = family === 4 ? ipv4Quote(src as number, dst as number, bytes) : ipv6Quote(src as Uint8Array, dst as Uint8Array, bytes);
      const mtu = this.pathMtu;
      this.schedule({ family, from: to, to: from, src: dst, dst: src, bytes: quoted, at: 0, order: 0 }, this.link.delayMs, () => {
        if (family === 4) from.tcp.icmpError4('frag-needed', mtu, quoted);
        else from.tcp.icmpError6('packet-too-big', mtu, quoted);
      });
      return null;
    }
    const L = this.link;
    if (L.loss > 0 && this.rand.float() < L.loss) {
      this.dropped++;
      return null;
    }
    let at = this.now;
    if (L.rateBytesPerMs > 0) {
      const free = Math.max(this.linkFree.get(from) ?? 0, at);
      if (L.queueMs > 0 && free - at > L.queueMs) {
        this.dropped++;
        return null;
      }
      at = free + ipLen / L.rateBytesPerMs;
      this.linkFree.set(from, at);
    }
    let delay = at - this.now + L.delayMs;
    if (L.reorder > 0 && this.rand.float() < L.reorder) delay += this.rand.float() * L.reorderMs;
    this.schedule(pkt, delay);
    if (L.dup > 0 && this.rand.float() < L.dup) this.schedule({ ...pkt, bytes: bytes.slice() }, delay + this.rand.float() * 2);
    return null;
  }

  private icmpActions = new Map<Packet, () => void>();

  private schedule(p: Packet, delay: number, action?: () => void): void {
    p.at = this.now + delay;
    p.order = this.order++;
    if (action) this.icmpActions.set(p, action);
    this.inFlight.push(p);
  }

  /** Delivers due packets and runs due timers until `until()` or `maxMs` of simulated time pass. */
  run(until: () => boolean = () => false, maxMs = 600_000, maxSteps = 5_000_000): boolean {
    const end = this.now + maxMs;
    for (let step = 0; step < maxSteps; step++) {
      if (until()) return true;
      // Deliver everything due now (earliest first).
      let progressed = false;
      if (this.inFlight.length > 0) {
        const now = this.now;
        const due = this.inFlight.filter((p) => p.at <= now);
        if (due.length > 0) {
          this.inFlight = this.inFlight.filter((p) => p.at > now);
          due.sort((x, y) => x.at - y.at || x.order - y.order);
          for (const p of due) {
            const act = this.icmpActions.get(p);
            if (act) {
              this.icmpActions.delete(p);
              act();
            } else {
              this.delivered++;
              if (p.family === 4) p.to.tcp.input4(p.src as number, p.dst as number, p.bytes, rx);
              else p.to.tcp.input6(p.src as Uint8Array, p.dst as Uint8Array, p.bytes, rx);
            }
          }
          progressed = true;
        }
      }
      if (this.timers.run(this.now) > 0) progressed = true;
      if (progressed) continue;
      // Advance to the next event.
      let next = Infinity;
      for (const p of this.inFlight) if (p.at < next) next = p.at;
      const t = this.timers.nextDeadline();
      if (t !== undefined && t < next) next = t;
      if (next === Infinity || next > end) {
        if (end > this.now && next !== Infinity) this.clock.set(end);
        return until();
      }
      this.clock.set(next);
    }
    return until();
  }

  /** Advances simulated time by `ms`, processing everything on the way. */
  advance(ms: number): void {
    const end = this.now + ms;
    this.run(() => this.now >= end, ms + 1);
    if (this.now < end) this.clock.set(end);
    this.timers.run(this.now);
  }
}

export function ipv4Quote(src: number, dst: number, seg: Uint8Array): Uint8Array {
  const b = new Uint8Array(20 + Math.min(seg.length, 28));
  b[0] = 0x45;
  const len = 20 + seg.length;
  b[2] = len >>> 8;
  b[3] = len & 0xff;
  b[8] = 64;
  b[9] = 6;
  b.set([src >>> 24, (src >>> 16) & 0xff, (src >>> 8) & 0xff, src & 0xff], 12);
  b.set([dst >>> 24, (dst >>> 16) & 0xff, (dst >>> 8) & 0xff, dst & 0xff], 16);
  b.set(seg.subarray(0, b.length - 20), 20);
  return b;
}

export function ipv6Quote(src: Uint8Array, dst: Uint8Array, seg: Uint8Array): Uint8Array {
  const b = new Uint8Array(40 + Math.min(seg.length, 64));
  b[0] = 0x60;
  b[4] = seg.length >>> 8;
  b[5] = seg.length & 0xff;
  b[6] = 6;
  b[7] = 64;
  b.set(src, 8);
  b.set(dst, 24);
  b.set(seg.subarray(0, b.length - 40), 40);
  return b;
}

/** Deterministic test data. */
export function pattern(n: number, seed = 1): Uint8Array {
  const r = new SeededRandom(seed);
  const out = new Uint8Array(n);
  r.fill(out);
  return out;
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Opens a connection a→b (b listening on port 80); returns both ends once established. */
export function openPair(sim: Sim, family: 4 | 6 = 4, opts: { clientOpts?: TcpSocketOptions; serverOpts?: TcpSocketOptions; port?: number } = {}) {
  let server: TcpSocket | undefined;
  const listener = sim.b.tcp.listen({ family, port: 80, socketOptions: opts.serverOpts }, (s) => {
    server = s;
  });
  const client = sim.a.tcp.connect({ family, remoteAddress: family === 4 ? '10.0.0.2' : 'fd00::2', remotePort: 80 }, opts.clientOpts);
  let connected = false;
  client.onConnect = () => {
    connected = true;
  };
  sim.run(() => connected && server !== undefined, 30_000);
  assert.ok(connected, 'client connected');
  assert.ok(server, 'server accepted');
  return { client, server: server!, listener };
}


/** Builds a segment from `from` to `to` (IPv4) and hands it to `to`'s TCP input directly. */
export function inject(
  sim: Sim,
  from: Host,
  to: Host,
  r: { srcPort: number; dstPort: number; seq: number; ack?: number; flags: number; window?: number; options?: TcpOptions; payload?: Uint8Array },
): void {
  const repr: TcpRepr = {
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    seq: r.seq >>> 0,
    ack: (r.ack ?? 0) >>> 0,
    flags: r.flags,
    window: r.window ?? 65535,
    urgent: 0,
    options: r.options ?? {},
    payload: r.payload ?? new Uint8Array(0),
  };
  const hlen = tcpHeaderLength(repr);
  const buf = new Uint8Array(hlen + repr.payload.length);
  emitTcp(repr, buf, pseudoHeaderSumV4(from.addr4, to.addr4, 6, buf.length));
  void sim;
  to.tcp.input4(from.addr4, to.addr4, buf, rx);
}

/** Segments a host sent since index `from`. */
export function sentSince(h: Host, from: number): SegInfo[] {
  return h.sent.slice(from);
}
