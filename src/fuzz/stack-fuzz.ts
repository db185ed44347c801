/**
 * The stack fuzzer: two Stacks in a SimWorld run a TCP upload, UDP echo and (fragmented) pings
 * over IPv4 and IPv6; a first, clean run captures every delivered frame; a second run of the
 * same world (same seed, so the same ISNs, ports and timings until the first injection) gets
 * mutated copies of captured frames injected into one stack's link at random virtual times,
 * alongside the real traffic.
 *
 * Invariants of the fuzz run (`FuzzRunResult.failures`):
 *  - no exception reached a last-resort catch: `drop.internal.exception`, `tcp.internal_error`,
 *    `tcp.callback_exception`, `udp.handler_exception` all stay 0 on both stacks;
 *  - the transfer completes within a virtual-time bound (no stall), byte-exact, with onEnd and
 *    onClose on both sides and no onError;
 *  - every injected frame leaves a trace: a drop counter with a reason, or a counter of the
 *    layer that accepted it (see `classifyDelta`); a frame that changes nothing but the link
 *    receive counters is a "silent" drop and a failure.
 *
 * Mutated frames that a correct stack may legitimately act on and that would break the
 * transfer (a valid TCP segment of the connection with other sequence numbers, flags, payload
 * or timestamps; a valid ARP or ND message with other contents: spoofing, not robustness) are
 * not injected: `filtered` counts those left out when the case is generated
 * (`legitimatelyHarmful`), `skipped` those left out at injection time because they claim more
 * than the peer has done at that instant (`spoofsPeer`: ACKs of data it has not received, data
 * it has not sent, timestamps from its future; `hardErrorWhileConnecting`).
 *
 * A case (`FuzzCase`) is plain JSON: the parameters and the exact frames injected with their
 * times and targets, so a failing case replays without the mutators (`runFuzzCase`).
 * Deterministic from the seed; no Node imports.
 */
import { SeededRandom } from '../core/clock.js';
import { SimWorld } from '../sim/world.js';
import { PatternReceiver, fillPattern } from '../sim/pattern.js';
import type { LinkKind } from '../link/link.js';
import type { LinkReceiver } from '../link/link.js';
import type { Stack } from '../stack.js';
import { parseIpv4 } from '../wire/ipv4.js';
import { walkIpv6Chain } from '../wire/ipv6-ext.js';
import { parseTcp } from '../wire/tcp.js';
import { ArpPacket } from '../wire/arp.js';
import { pseudoHeaderSumV4, pseudoHeaderSumV6, finish, sumBytes } from '../wire/checksum.js';
import { bytesEqual, read16 } from '../wire/bytes.js';
import { fromHex, ipOffset, mutateFrame, randInt, synthesizeIcmpError, toHex, transportOf } from './mutate.js';

export interface FuzzParams {
  /** World seed (ISNs, ports, network) and the mutation seed. */
  seed: number;
  kind: LinkKind;
  /** Family of the TCP transfer (UDP and ping use both). */
  family: 4 | 6;
  /** Bytes uploaded over TCP. */
  bytes: number;
  /** Injection events in the fuzz run. */
  injections: number;
  /** Which stack gets the injected frames. */
  target: 'client' | 'server' | 'both';
  /** Virtual-time bound of the fuzz run, ms. */
  maxTimeMs: number;
  /** Link MTU. */
  mtu: number;
  /** Loss, reordering and duplication probability of the simulated wire (both directions). */
  impair: number;
}

export const DEFAULT_FUZZ_PARAMS: FuzzParams = {
  seed: 1,
  kind: 'ethernet',
  family: 4,
  bytes: 96 * 1024,
  injections: 300,
  target: 'both',
  maxTimeMs: 180_000,
  mtu: 1500,
  impair: 0,
};

/** The parameters a seed picks (kind, family, target), for `npm run fuzz` and the tests. */
export function fuzzParamsForSeed(seed: number, o: Partial<FuzzParams> = {}): FuzzParams {
  const r = new SeededRandom(seed ^ 0x5a5a1234);
  return {
    ...DEFAULT_FUZZ_PARAMS,
    seed,
    kind: r.u32() % 2 === 0 ? 'ethernet' : 'ip',
    family: r.u32() % 2 === 0 ? 4 : 6,
    target: (['client', 'server', 'both'] as const)[r.u32() % 3]!,
    mtu: [1500, 1500, 1280, 9000][r.u32() % 4]!,
    impair: [0, 0, 0.01, 0.03][r.u32() % 4]!,
    ...o,
  };
}

export interface Injection {
  /** Virtual time, ms. */
  t: number;
  target: 'client' | 'server';
  /** Frames (hex), delivered as one batch. */
  frames: string[];
  /** The mutations applied (informational). */
  ops: string[];
}

export interface FuzzCase {
  version: 1;
  params: FuzzParams;
  injections: Injection[];
  /** Mutated frames left out as legitimately harmful (see the module comment). */
  filtered: number;
  /** Failures seen when the case was saved (informational). */
  failures?: string[];
  /** Inject even what `spoofsPeer` would leave out (known-issue cases that need it). */
  unfiltered?: boolean;
}

export interface FuzzRunResult {
  ok: boolean;
  failures: string[];
  /** Virtual ms the run took. */
  timeMs: number;
  injected: number;
  /** Injections left out at run time by `spoofsPeer` (legitimately harmful in this run). */
  skipped: number;
  /** Injected frames by fate. */
  fate: { dropped: number; accepted: number; silent: number };
  /** Drop reasons caused by injections (summed over both stacks). */
  dropReasons: Record<string, number>;
  /** The silent injections (index into the case's injections, and counter changes). */
  silent: Array<{ index: number; ops: string[]; changed: string[] }>;
  udpEchoes: number;
  pingReplies: number;
  /** Drop counters of both stacks at the end (`SimWorld.drops()`). */
  drops: Record<string, Record<string, number>>;
  /** Other counters of both stacks at the end. */
  counters: Record<string, Record<string, number>>;
}

const TCP_PORT = 8080;
/** ICMP errors are injected after this (virtual ms): the handshake is over by then. */
const HANDSHAKE_DONE_MS = 30;
/** The UDP and ping traffic ends here (virtual ms); runs last at least this long. */
const TRAFFIC_END_MS = 290;
/** How long after its capture time a valid data segment of the connection may be replayed, ms. */
const REPLAY_SLACK_MS = 30;
const UDP_PORT = 7;
/** Counters that only say a frame arrived, not what became of it. */
const ARRIVAL = new Set(['link.rx', 'ethernet.rx', 'ipv4.rx', 'ipv6.rx']);
/** Counters whose increase means a catch-all caught an exception: a bug. */
export const EXCEPTION_COUNTERS = ['drop.internal.exception', 'tcp.internal_error', 'tcp.callback_exception', 'udp.handler_exception'];

interface Scenario {
  world: SimWorld;
  client: Stack;
  server: Stack;
  receivers: { client: LinkReceiver; server: LinkReceiver };
  /** True once the transfer is over (both sides closed) or failed. */
  finished: () => boolean;
  check: () => string[];
  stats: () => { udpEchoes: number; pingReplies: number };
}

/** Builds the world and schedules the traffic. Deterministic from `p`. */
function buildScenario(p: FuzzParams): Scenario {
  const world = new SimWorld({ seed: p.seed, trace: false });
  const client = world.addStack('client');
  const server = world.addStack('server');
  const { linkA, linkB } = world.connect(client, server, {
    kind: p.kind,
    mtu: p.mtu,
    addressesA: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'],
    addressesB: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
    both: { delayMs: 2, bandwidthBps: 20e6, loss: p.impair, reorder: p.impair, duplicate: p.impair },
  });
  const failures: string[] = [];
  const up = new PatternReceiver(p.seed);
  let serverClosed = false;
  let clientClosed = false;
  let serverEnded = false;
  let clientEnded = false;
  let accepted = 0;
  let udpEchoes = 0;
  let pingReplies = 0;

  const tryEcho = (fn: () => void): void => {
    try {
      fn();
    } catch {
      // counted by nobody: an echo we could not send
    }
  };
  const tcp = server.tcp;
  let clientPort = -1;
  tcp.listen({ family: p.family, port: TCP_PORT }, (s) => {
    // Only the test client's connection; others (from injected SYNs) are aborted.
    if (s.remotePort !== clientPort || ++accepted > 1) {
      s.abort();
      return;
    }
    s.onData = (d: Uint8Array) => up.push(d);
    s.onEnd = () => {
      serverEnded = true;
      s.shutdown();
    };
    s.onError = (e: { code: string; message: string }) => failures.push(`server: error ${e.code}: ${e.message}`);
    s.onClose = () => {
      serverClosed = true;
    };
  });

  // UDP echo on the server, a client sending every 7 ms over both families.
  const echo4 = server.udp.open(4);
  echo4.bind(undefined, UDP_PORT);
  // sendTo throws on what a hostile peer may put in a source (port 0, ...): that is the API's
  // contract, not a stack failure, so the echo handler catches it.
  echo4.onMessage = (d, from) => tryEcho(() => echo4.sendTo(d, from.address, from.port));
  const echo6 = server.udp.open(6);
  echo6.bind(undefined, UDP_PORT);
  echo6.onMessage = (d, from) => tryEcho(() => echo6.sendTo(d, from.address, from.port));
  const u4 = client.udp.open(4);
  const u6 = client.udp.open(6);
  u4.onMessage = () => udpEchoes++;
  u6.onMessage = () => udpEchoes++;
  client.icmp4.onEchoReply = () => pingReplies++;
  client.icmp6.onEchoReply = () => pingReplies++;

  const start = 1;
  let written = 0;
  const CHUNK = 16 * 1024;
  const chunk = new Uint8Array(CHUNK);
  world.at(start, () => {
    const c = tcp === undefined ? undefined : client.tcp.connect({ family: p.family, remoteAddress: p.family === 4 ? '10.0.0.2' : 'fd00::2', remotePort: TCP_PORT });
    if (!c) return;
    clientPort = c.localPort;
    const fill = (): void => {
      while (written < p.bytes) {
        const n = Math.min(CHUNK, p.bytes - written);
        const b = chunk.subarray(0, n);
        fillPattern(p.seed, written, b);
        const k = c.write(b);
        written += k;
        if (k < n) return;
      }
      if (written !== Infinity) {
        written = Infinity;
        c.shutdown();
      }
    };
    c.onConnect = fill;
    c.onDrain = fill;
    c.onData = (d: Uint8Array) => failures.push(`client: unexpected ${d.length} bytes`);
    c.onEnd = () => {
      clientEnded = true;
    };
    c.onError = (e: { code: string; message: string }) => failures.push(`client: error ${e.code}: ${e.message}`);
    c.onClose = () => {
      clientClosed = true;
    };
  });
  const small = new Uint8Array(100).fill(0x55);
  const big = new Uint8Array(2000).fill(0xaa);
  for (let i = 0; i < 40; i++) {
    world.at(start + 2 + i * 7, () => {
      u4.sendTo(small, '10.0.0.2', UDP_PORT);
      u6.sendTo(small, 'fd00::2', UDP_PORT);
      if (i % 3 === 0) {
        client.ping('10.0.0.2', big, 0x1234, i);
        client.ping('fd00::2', big, 0x1235, i);
      }
      if (i % 5 === 0) client.ping('fe80::2%1', small, 0x1236, i);
    });
  }
  return {
    world,
    client,
    server,
    receivers: { client: linkA.rx.receiver!, server: linkB.rx.receiver! },
    finished: () => (clientClosed && serverClosed && world.clock.now() >= TRAFFIC_END_MS) || failures.length > 0,
    check: () => {
      const f = [...failures];
      if (up.received !== p.bytes) f.push(`server: received ${up.received} of ${p.bytes} bytes`);
      if (up.firstError >= 0) f.push(`server: data differs from offset ${up.firstError}`);
      if (!serverEnded) f.push('server: no onEnd');
      if (!clientEnded) f.push('client: no onEnd');
      if (!serverClosed) f.push('server: no onClose');
      if (!clientClosed) f.push('client: no onClose');
      return f;
    },
    stats: () => ({ udpEchoes, pingReplies }),
  };
}

interface Captured {
  t: number;
  /** 'client' when the client received it. */
  to: 'client' | 'server';
  frame: Uint8Array;
}

/** The clean run: every delivered frame, in order. */
export function captureTraffic(p: FuzzParams): { frames: Captured[]; endMs: number; failures: string[] } {
  const sc = buildScenario(p);
  const frames: Captured[] = [];
  sc.world.onEvent = (e) => {
    if (e.what === 'deliver') frames.push({ t: e.time, to: e.dir.endsWith('a>b') ? 'server' : 'client', frame: e.frame.slice() });
  };
  const r = sc.world.run({ until: sc.finished, maxTimeMs: p.maxTimeMs });
  const failures = sc.check();
  if (!r.done) failures.push(`clean run: not finished (${r.reason})`);
  return { frames, endMs: r.timeMs, failures };
}

// ---- the legitimacy filter -------------------------------------------------------------------

interface TcpView {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  tsVal: number | undefined;
  payload: Uint8Array;
}

/** A fully valid (checksums included) TCP segment in a frame, or null. */
function validTcp(frame: Uint8Array, kind: LinkKind): TcpView | null {
  const ip = ipOffset(frame, kind);
  if (ip < 0) return null;
  const pkt = frame.subarray(ip);
  const v = pkt[0]! >>> 4;
  let seg: Uint8Array;
  let pseudo: number;
  let src: string;
  let dst: string;
  if (v === 4) {
    const r = parseIpv4(pkt);
    if (typeof r === 'string' || r.protocol !== 6 || r.moreFrags || r.fragOffset !== 0) return null;
    seg = r.payload;
    pseudo = pseudoHeaderSumV4(r.src, r.dst, 6, seg.length);
    src = String(r.src);
    dst = String(r.dst);
  } else if (v === 6) {
    const w = walkIpv6Chain(pkt);
    if (w.drop !== null || w.protocol !== 6 || (w.fragment && !(w.fragment.fragOffset === 0 && !w.fragment.more))) return null;
    seg = pkt.subarray(w.offset, w.end);
    pseudo = pseudoHeaderSumV6(pkt.subarray(8, 24), pkt.subarray(24, 40), 6, seg.length);
    src = toHex(pkt.subarray(8, 24));
    dst = toHex(pkt.subarray(24, 40));
  } else {
    return null;
  }
  const t = parseTcp(seg, pseudo);
  if (typeof t === 'string') return null;
  return { src, dst, sport: t.srcPort, dport: t.dstPort, seq: t.seq, ack: t.ack, flags: t.flags, tsVal: t.options.tsVal, payload: t.payload };
}

function sameTcp(a: TcpView, b: TcpView): boolean {
  return (
    a.src === b.src &&
    a.dst === b.dst &&
    a.sport === b.sport &&
    a.dport === b.dport &&
    a.seq === b.seq &&
    a.ack === b.ack &&
    (a.flags & 0x3f) === (b.flags & 0x3f) && // FIN SYN RST PSH ACK URG; ECN bits may change
    a.tsVal === b.tsVal &&
    bytesEqual(a.payload, b.payload)
  );
}

/** A valid ND message (ICMPv6 133..137 with a good checksum) in a frame. */
function validNdp(frame: Uint8Array, kind: LinkKind): Uint8Array | null {
  const ip = ipOffset(frame, kind);
  if (ip < 0) return null;
  const pkt = frame.subarray(ip);
  if (pkt[0]! >>> 4 !== 6) return null;
  const w = walkIpv6Chain(pkt);
  if (w.drop !== null || w.protocol !== 58 || w.fragment) return null;
  const m = pkt.subarray(w.offset, w.end);
  if (m.length < 8 || m[0]! < 133 || m[0]! > 137) return null;
  const pseudo = pseudoHeaderSumV6(pkt.subarray(8, 24), pkt.subarray(24, 40), 58, m.length);
  return finish(sumBytes(m, 0, m.length, pseudo)) === 0 ? m : null;
}

/**
 * True when a correct stack may act on `mutated` in a way that legitimately breaks the test
 * transfer: a valid TCP segment of the test connection (the test port and, when given, the
 * client's port) that differs from the original in what matters (addresses, ports, seq, ack,
 * flags, timestamp, payload), or a valid ARP / ND message
 * that differs from the original (cache poisoning).
 */
export function legitimatelyHarmful(orig: Uint8Array, mutated: Uint8Array, kind: LinkKind, clientPort?: number): boolean {
  const m = validTcp(mutated, kind);
  if (m && (m.sport === TCP_PORT || m.dport === TCP_PORT)) {
    // Another connection to the listener (a SYN with mangled options, an ACK to nobody ...).
    if (clientPort !== undefined && (m.sport === TCP_PORT ? m.dport : m.sport) !== clientPort) return false;
    const o = validTcp(orig, kind);
    return !o || !sameTcp(o, m);
  }
  if (kind === 'ethernet' && mutated.length >= 14 && read16(mutated, 12) === 0x0806) {
    const a = mutated.subarray(14);
    if (ArpPacket.check(a) === null) {
      const oa = orig.length >= 42 && read16(orig, 12) === 0x0806 ? orig.subarray(14, 42) : null;
      return !oa || !bytesEqual(oa.subarray(8), a.subarray(8, 28));
    }
  }
  const nd = validNdp(mutated, kind);
  if (nd) {
    const o = validNdp(orig, kind);
    return !o || !bytesEqual(o, nd);
  }
  return false;
}

interface ConnView {
  rcvNxt: number;
  sndNxt: number;
  tsOffset: number;
  localPort: number;
  remotePort: number;
}

const seqLe = (a: number, b: number): boolean => ((b - a) | 0) >= 0;

/**
 * True when `frame` is a valid segment of the test connection that claims more than the peer
 * (whose segment it pretends to be) has really done at this instant: acknowledging data the
 * peer has not received (an optimistic / spoofed ACK: the sender frees data that is then never
 * retransmitted), carrying data or a FIN beyond what the peer has sent, or a timestamp from the
 * peer's future (PAWS then discards the peer's real segments), a RST while the peer's
 * connection is alive, any ACK while the peer is in SYN-SENT. Replays of captured segments do
 * that when the fuzzed run lags behind the clean one; a correct stack acts on them, so they
 * are not injected.
 */
export function spoofsPeer(frame: Uint8Array, kind: LinkKind, peer: Stack): boolean {
  const t = validTcp(frame, kind);
  if (!t || (t.sport !== TCP_PORT && t.dport !== TCP_PORT)) return false;
  for (const s of peer.tcp.connections()) {
    const c = (s as unknown as { conn: ConnView }).conn;
    if (c.localPort !== t.sport || c.remotePort !== t.dport) continue;
    // The peer has not seen a SYN-ACK yet: any ACK from it is made up (a replayed one would
    // complete the other side's handshake and leave the peer in SYN-SENT for good).
    if (t.flags & 0x10 && s.state === 'SYN-SENT') return true;
    // The peer has not reset the connection: a RST (a replay of one it sent later in the
    // clean run, with the exact sequence number) is a legitimate reset, not a robustness test.
    if (t.flags & 0x04) return true;
    if (t.flags & 0x10 && !seqLe(t.ack, c.rcvNxt)) return true;
    const end = (t.seq + t.payload.length + (t.flags & 1) + (t.flags & 2 ? 1 : 0)) >>> 0;
    if (!seqLe(end, c.sndNxt)) return true;
    if (t.tsVal !== undefined && !seqLe(t.tsVal, (Math.floor(peer.clock.now()) + c.tsOffset) >>> 0)) return true;
    return false;
  }
  return false;
}

/**
 * The datagram that a batch of IPv4 fragments (as `mutateFrame` makes them) reassembles to, as
 * a frame of the same kind; null when they are not such a batch. Overlaps: the last one wins
 * (the mutator's overlapping pieces carry the same bytes).
 */
export function reassembleIpv4(frames: readonly Uint8Array[], kind: LinkKind): Uint8Array | null {
  let first: Uint8Array | null = null;
  let total = -1;
  const pieces: Array<[number, Uint8Array]> = [];
  for (const f of frames) {
    const ip = ipOffset(f, kind);
    if (ip < 0 || f.length < ip + 20 || f[ip]! >>> 4 !== 4) return null;
    const hl = (f[ip]! & 15) * 4;
    const len = read16(f, ip + 2);
    if (hl < 20 || len < hl || ip + len > f.length) return null;
    const fo = read16(f, ip + 6);
    const off = (fo & 0x1fff) * 8;
    const data = f.subarray(ip + hl, ip + len);
    if (off === 0) first = f.subarray(0, ip + hl);
    if ((fo & 0x2000) === 0) total = off + data.length;
    pieces.push([off, data]);
  }
  if (!first || total < 0) return null;
  const ip = ipOffset(first, kind);
  const out = new Uint8Array(first.length + total);
  out.set(first);
  for (const [off, d] of pieces) if (off + d.length <= total) out.set(d, first.length + off);
  const hl = first.length - ip;
  out[ip + 2] = ((hl + total) >>> 8) & 0xff;
  out[ip + 3] = (hl + total) & 0xff;
  out[ip + 6] = 0;
  out[ip + 7] = 0;
  out[ip + 10] = 0;
  out[ip + 11] = 0;
  const ck = finish(sumBytes(out, ip, ip + hl));
  out[ip + 10] = ck >>> 8;
  out[ip + 11] = ck & 0xff;
  return out;
}

/**
 * True when `frame` is an ICMP or ICMPv6 error while `target` has a TCP connection in
 * SYN-SENT: a hard error then legitimately fails the connect (RFC 1122 §4.2.3.9; Linux), so
 * errors are injected only once the handshake is over.
 */
export function hardErrorWhileConnecting(frame: Uint8Array, kind: LinkKind, target: Stack): boolean {
  const t = transportOf(frame, kind);
  if (!t || t.off + 1 > frame.length) return false;
  const type = frame[t.off]!;
  const isError = t.proto === 1 ? type === 3 || type === 11 || type === 12 : t.proto === 58 ? type >= 1 && type <= 4 : false;
  return isError && target.tcp.connections().some((s) => s.state === 'SYN-SENT');
}

/** As `reassembleIpv4`, for IPv6 fragments with the Fragment header right after the fixed header. */
export function reassembleIpv6(frames: readonly Uint8Array[], kind: LinkKind): Uint8Array | null {
  let head: Uint8Array | null = null;
  let nh = -1;
  let total = -1;
  const pieces: Array<[number, Uint8Array]> = [];
  for (const f of frames) {
    const ip = ipOffset(f, kind);
    if (ip < 0 || f.length < ip + 48 || f[ip]! >>> 4 !== 6 || f[ip + 6] !== 44) return null;
    const end = ip + 40 + read16(f, ip + 4);
    if (end > f.length || end < ip + 48) return null;
    const fo = read16(f, ip + 42);
    const off = fo & 0xfff8;
    const data = f.subarray(ip + 48, end);
    if (off === 0) {
      head = f.subarray(0, ip + 40);
      nh = f[ip + 40]!;
    }
    if ((fo & 1) === 0) total = off + data.length;
    pieces.push([off, data]);
  }
  if (!head || total < 0 || total > 0xffff) return null;
  const ip = ipOffset(head, kind);
  const out = new Uint8Array(head.length + total);
  out.set(head);
  for (const [off, d] of pieces) if (off + d.length <= total) out.set(d, head.length + off);
  out[ip + 4] = total >>> 8;
  out[ip + 5] = total & 0xff;
  out[ip + 6] = nh;
  return out;
}

// ---- case generation and runs ----------------------------------------------------------------

/** Captures the clean traffic and draws the injections from the seed. */
export function generateFuzzCase(params: Partial<FuzzParams> & { seed: number }): FuzzCase {
  const p: FuzzParams = { ...DEFAULT_FUZZ_PARAMS, ...params };
  const cap = captureTraffic(p);
  if (cap.frames.length === 0) throw new Error('the clean run delivered no frames');
  const rng = new SeededRandom(p.seed ^ 0x0f0f_f00d);
  const pool = cap.frames.map((c) => c.frame);
  const injections: Injection[] = [];
  let filtered = 0;
  // Spread over the clean run's traffic (up to its last frame), on a 0.1 ms grid.
  const span = Math.max(10, cap.frames[cap.frames.length - 1]!.t + 5);
  let clientPort: number | undefined;
  for (const f of cap.frames) {
    const t = transportOf(f.frame, p.kind);
    if (t?.proto === 6 && t.off + 4 <= f.frame.length && read16(f.frame, t.off + 2) === TCP_PORT) {
      clientPort = read16(f.frame, t.off);
      break;
    }
  }
  let tcpEnd = 10;
  for (const f of cap.frames) if (transportOf(f.frame, p.kind)?.proto === 6) tcpEnd = f.t;
  const toClient = cap.frames.filter((f) => f.to === 'client');
  const toServer = cap.frames.filter((f) => f.to === 'server');
  for (let i = 0; i < p.injections; i++) {
    const target = p.target === 'both' ? (rng.u32() & 1 ? 'client' : 'server') : p.target;
    // Mostly frames that were addressed to the target (else they stop at the address check).
    const mine = target === 'client' ? toClient : toServer;
    const from = rng.float() < 0.85 && mine.length > 0 ? mine : cap.frames;
    let src = from[randInt(rng, from.length)]!;
    // Most injections while the TCP transfer runs, the rest over the whole capture.
    const within = rng.float() < 0.6 ? tcpEnd : span;
    let t = 1 + Math.floor(rng.float() * within * 10) / 10;
    let m = null as ReturnType<typeof mutateFrame> | null;
    if (rng.float() < 0.1) {
      // An ICMP error about a packet the target sent, after the handshake (during it, a hard
      // error legitimately fails the connect).
      // Quote the last packet the target sent before t (in flight, so its sequence number is
      // in SND.UNA..SND.NXT and TCP acts on the error), or now and then any.
      const sent = target === 'client' ? toServer : toClient;
      t = HANDSHAKE_DONE_MS + Math.floor(rng.float() * Math.max(1, tcpEnd - HANDSHAKE_DONE_MS) * 10) / 10;
      let k = randInt(rng, sent.length);
      if (rng.float() < 0.8) {
        k = 0;
        while (k + 1 < sent.length && sent[k + 1]!.t <= t) k++;
      }
      src = sent[k]!;
      m = synthesizeIcmpError(rng, src.frame, p.kind);
    }
    m ??= mutateFrame(rng, src.frame, p.kind, pool);
    // Unmutated fragments reassemble to the original: judge the original.
    const judged = /^ipv[46]\.fragment/.test(m.ops[0] ?? '') ? [src.frame] : m.frames;
    if (judged.some((f) => legitimatelyHarmful(src.frame, f, p.kind, clientPort))) {
      filtered++;
      continue;
    }
    // A replay of the connection's data (or SYN/FIN) before it was sent hands the receiver
    // bytes from the future: it then acknowledges data the sender has not sent, which no
    // blind attacker can do and which desynchronizes the connection for good. Replays must
    // come well after the original (perturbed runs are slower than the clean one).
    const tcp = judged.length > 0 ? validTcp(judged[0]!, p.kind) : null;
    if (tcp && (tcp.sport === TCP_PORT || tcp.dport === TCP_PORT) && (tcp.payload.length > 0 || (tcp.flags & 3) !== 0) && t < src.t + REPLAY_SLACK_MS) {
      filtered++;
      continue;
    }
    injections.push({ t, target, frames: m.frames.map(toHex), ops: m.ops });
  }
  injections.sort((a, b) => a.t - b.t);
  return { version: 1, params: p, injections, filtered };
}

function snapshot(s: Stack): Map<string, number> {
  return new Map(Object.entries(s.counters.snapshot()));
}

/** Which counters changed and how an injected batch fared. */
export function classifyDelta(before: Map<string, number>, after: Map<string, number>): { fate: 'dropped' | 'accepted' | 'silent'; changed: string[]; drops: string[] } {
  const changed: string[] = [];
  const drops: string[] = [];
  for (const [k, v] of after) {
    if ((before.get(k) ?? 0) === v) continue;
    changed.push(k);
    if (k.startsWith('drop.') && k !== 'drop.total') drops.push(k.slice(5));
  }
  if (drops.length > 0) return { fate: 'dropped', changed, drops };
  return { fate: changed.some((k) => !ARRIVAL.has(k)) ? 'accepted' : 'silent', changed, drops };
}

/** Runs a case: the scenario with the case's injections; checks the invariants. */
export function runFuzzCase(c: FuzzCase, hooks: { onWorld?: (w: SimWorld, client: Stack, server: Stack) => void } = {}): FuzzRunResult {
  const p: FuzzParams = { ...DEFAULT_FUZZ_PARAMS, ...c.params };
  const sc = buildScenario(p);
  hooks.onWorld?.(sc.world, sc.client, sc.server);
  const fate = { dropped: 0, accepted: 0, silent: 0 };
  const dropReasons: Record<string, number> = {};
  const silent: FuzzRunResult['silent'] = [];
  let skipped = 0;
  c.injections.forEach((inj, index) => {
    sc.world.at(inj.t, () => {
      const stack = inj.target === 'client' ? sc.client : sc.server;
      const peer = inj.target === 'client' ? sc.server : sc.client;
      const frames = inj.frames.map(fromHex);
      const whole = frames.length > 1 ? (reassembleIpv4(frames, p.kind) ?? reassembleIpv6(frames, p.kind)) : null;
      if (!c.unfiltered && ([...frames, ...(whole ? [whole] : [])].some((f) => spoofsPeer(f, p.kind, peer)) || frames.some((f) => hardErrorWhileConnecting(f, p.kind, stack)))) {
        skipped++;
        return;
      }
      const rx = sc.receivers[inj.target];
      const before = snapshot(stack);
      for (const f of frames) rx.receive(f);
      rx.flush();
      const d = classifyDelta(before, snapshot(stack));
      fate[d.fate]++;
      for (const r of d.drops) dropReasons[r] = (dropReasons[r] ?? 0) + 1;
      if (d.fate === 'silent') silent.push({ index, ops: inj.ops, changed: d.changed });
    });
  });
  // Run at least until the last injection, so every injection is made.
  const lastT = c.injections.length > 0 ? c.injections[c.injections.length - 1]!.t : 0;
  const r = sc.world.run({ until: () => sc.finished() && sc.world.clock.now() > lastT, maxTimeMs: p.maxTimeMs });
  const failures = sc.check();
  if (!r.done) failures.push(`not finished within ${p.maxTimeMs} ms of virtual time (run ended by ${r.reason} at ${r.timeMs.toFixed(1)} ms)`);
  for (const [name, s] of [['client', sc.client], ['server', sc.server]] as const) {
    for (const k of EXCEPTION_COUNTERS) {
      const n = s.counters.get(k);
      if (n > 0) {
        const e = k.startsWith('tcp') ? (s.tcp as unknown as { lastInternalError?: unknown; lastCallbackError?: unknown }) : undefined;
        const detail = e ? ` (${String((k === 'tcp.internal_error' ? e.lastInternalError : e.lastCallbackError) ?? '')})` : '';
        failures.push(`${name}: ${k} = ${n}${detail}`);
      }
    }
  }
  for (const [name, s] of [['client', sc.client], ['server', sc.server]] as const) {
    const sum = Object.values(s.counters.drops()).reduce((x, y) => x + y, 0);
    if (sum !== s.counters.get('drop.total')) failures.push(`${name}: drop counters add up to ${sum}, drop.total is ${s.counters.get('drop.total')}`);
  }
  if (silent.length > 0) {
    const s = silent[0]!;
    failures.push(`${silent.length} injected frame(s) vanished without a counter, e.g. injection #${s.index} (${s.ops.join(' ')}): changed ${s.changed.join(', ') || 'nothing'}`);
  }
  const st = sc.stats();
  return {
    ok: failures.length === 0,
    failures,
    timeMs: r.timeMs,
    injected: c.injections.length - skipped,
    skipped,
    fate,
    dropReasons,
    silent,
    udpEchoes: st.udpEchoes,
    pingReplies: st.pingReplies,
    drops: sc.world.drops(),
    counters: { client: sc.client.counters.snapshot(), server: sc.server.counters.snapshot() },
  };
}

/** Generates and runs the case of a seed. */
export function fuzzOnce(params: Partial<FuzzParams> & { seed: number }): { fuzzCase: FuzzCase; result: FuzzRunResult } {
  const fuzzCase = generateFuzzCase(params);
  return { fuzzCase, result: runFuzzCase(fuzzCase) };
}

/**
 * Shrinks a failing case: drops injections (halves, then one by one) while the run still fails
 * with a failure of the same kind (first word of the first failure). Bounded by `maxRuns`.
 */
export function minimizeFuzzCase(c: FuzzCase, maxRuns = 200): FuzzCase {
  const kindOf = (r: FuzzRunResult): string => (r.failures[0] ?? '').split(/[ :]/).slice(0, 2).join(' ');
  const first = runFuzzCase(c);
  if (first.ok) return c;
  const want = kindOf(first);
  let cur = c.injections;
  let runs = 0;
  const fails = (inj: Injection[]): boolean => {
    runs++;
    const r = runFuzzCase({ ...c, injections: inj });
    return !r.ok && kindOf(r) === want;
  };
  let chunk = Math.ceil(cur.length / 2);
  while (chunk >= 1 && runs < maxRuns) {
    let changed = false;
    for (let i = 0; i < cur.length && runs < maxRuns; ) {
      const cand = cur.slice(0, i).concat(cur.slice(i + chunk));
      if (cand.length < cur.length && fails(cand)) {
        cur = cand;
        changed = true;
      } else {
        i += chunk;
      }
    }
    if (!changed) chunk = Math.floor(chunk / 2);
  }
  return { ...c, injections: cur };
}

// ---- corpus frames (pcap) ----------------------------------------------------------------------

/** The frames of a classic little- or big-endian pcap file (src/link/pcap.ts writes them). */
export function readPcap(bytes: Uint8Array): { linkType: number; frames: Uint8Array[] } | string {
  if (bytes.length < 24) return 'pcap: truncated file header';
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && v.getUint32(0, false) !== 0xa1b2c3d4 && v.getUint32(0, false) !== 0xa1b23c4d) return 'pcap: bad magic';
  const linkType = v.getUint32(20, le);
  const frames: Uint8Array[] = [];
  let o = 24;
  while (o + 16 <= bytes.length) {
    const incl = v.getUint32(o + 8, le);
    if (o + 16 + incl > bytes.length) return 'pcap: truncated record';
    frames.push(bytes.slice(o + 16, o + 16 + incl));
    o += 16 + incl;
  }
  return { linkType, frames };
}

/**
 * Stateless corpus fuzzing: `rounds` mutations of every corpus frame fed one by one to a fresh
 * stack (the capture's addresses, so the frames are for it) with a UDP echo and a TCP listener.
 * Returns the failures: exceptions caught by a catch-all, or frames that left no counter.
 */
export function fuzzCorpusFrames(frames: readonly Uint8Array[], kind: LinkKind, seed: number, rounds: number): { failures: string[]; injected: number; dropped: number } {
  const world = new SimWorld({ seed, trace: false });
  const a = world.addStack('client');
  const b = world.addStack('server');
  const { linkB } = world.connect(a, b, {
    kind,
    mtu: 1500,
    addressesA: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'],
    addressesB: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
  });
  b.tcp.listen({ family: 4, port: TCP_PORT }, () => {});
  b.tcp.listen({ family: 6, port: TCP_PORT }, () => {});
  const u = b.udp.open(4);
  u.bind(undefined, UDP_PORT);
  world.run({ maxTimeMs: 10 });
  const rx = linkB.rx.receiver!;
  const rng = new SeededRandom(seed);
  const failures: string[] = [];
  let injected = 0;
  let dropped = 0;
  for (let r = 0; r < rounds; r++) {
    for (const f of frames) {
      const m = mutateFrame(rng, f, kind, frames);
      const before = snapshot(b);
      for (const x of m.frames) rx.receive(x);
      rx.flush();
      injected++;
      const d = classifyDelta(before, snapshot(b));
      if (d.fate === 'dropped') dropped++;
      if (d.fate === 'silent' && failures.length < 5) failures.push(`silent: ${m.ops.join(' ')} ${m.frames.map(toHex).join(' ')}`);
    }
    world.run({ maxTimeMs: 1000 });
  }
  for (const k of EXCEPTION_COUNTERS) {
    const n = b.counters.get(k) + a.counters.get(k);
    if (n > 0) failures.push(`${k} = ${n}`);
  }
  return { failures, injected, dropped };
}
