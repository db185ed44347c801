/**
 * One TCP transfer between two stacks over a SimNetwork, as a pure function of its parameters:
 * the unit tests (test/unit/sim-tcp.test.ts), the replay/fuzz script (scripts/sim.mjs) and the
 * throughput matrix all run cases through `runTcpCase`, and `tcpCaseCommand` prints the exact
 * command line that replays a case.
 *
 * Modes:
 *  - 'upload': the client writes `bytes` of the seeded pattern, then shutdown() (half-close);
 *    the server checks every byte, and on onEnd shuts down too.
 *  - 'echo': the server echoes everything back (respecting write backpressure, with
 *    setReading(false) while its send buffer is full); the client checks the echoed bytes; the
 *    client half-closes after writing, the server shuts down after echoing everything.
 * Success: byte-exact data, onEnd and onClose on both sides, no onError, within `maxTimeMs`.
 *
 * Part of the core: no Node imports. The TCP API is reached through a narrow adapter
 * (`TcpApi`), so this file compiles whatever else the Stack exposes.
 */
import type { Stack } from '../stack.js';
import type { LinkKind } from '../link/link.js';
import { SimWorld } from './world.js';
import type { DirectionConfig, DirectionStats } from './network.js';
import { PatternReceiver, fillPattern } from './pattern.js';

export interface TcpCaseParams {
  seed: number;
  /** Bytes the client sends. */
  bytes: number;
  mode: 'upload' | 'echo';
  kind: LinkKind;
  family: 4 | 6;
  mtu: number;
  /** One-way delay, both directions, ms. */
  delayMs: number;
  /** Both directions, bits per second. */
  bandwidthBps: number;
  /** Transmit queue limit in frames per direction (0 = unlimited). */
  queueLimit: number;
  /** Probabilities (both directions). */
  loss: number;
  reorder: number;
  duplicate: number;
  corrupt: number;
  /** Receive buffer of both sockets, bytes (0 = the stack default). */
  rcvBuf: number;
  /** Send buffer of both sockets (0 = default). */
  sndBuf: number;
  cc: 'cubic' | 'newreno' | 'default';
  /**
   * Upload mode: the server stops reading (setReading(false)) for this many ms after every
   * 128 KiB it receives, so the window closes and the sender probes it (0 = never pauses).
   */
  pauseMs: number;
  /**
   * A link outage: once the server has a third of the data, both directions lose every frame
   * for this many ms (RTO backoff, then recovery). 0 = none.
   */
  outageMs: number;
  /** Virtual-time bound, ms (0 = computed from the other parameters, see `timeBound`). */
  maxTimeMs: number;
}

/** Upload mode with `pauseMs`: the server pauses reading after every this many bytes. */
export const PAUSE_EVERY = 128 * 1024;

export const DEFAULT_CASE: TcpCaseParams = {
  seed: 1,
  bytes: 256 * 1024,
  mode: 'upload',
  kind: 'ip',
  family: 4,
  mtu: 1500,
  delayMs: 10,
  bandwidthBps: 100e6,
  queueLimit: 0,
  loss: 0,
  reorder: 0,
  duplicate: 0,
  corrupt: 0,
  rcvBuf: 0,
  sndBuf: 0,
  cc: 'default',
  pauseMs: 0,
  outageMs: 0,
  maxTimeMs: 0,
};

export interface TcpCaseResult {
  params: TcpCaseParams;
  ok: boolean;
  /** What went wrong (empty when ok). */
  failures: string[];
  /** Virtual ms from connect() to the client's onClose (or the end of the run). */
  timeMs: number;
  /** Virtual ms from connect() until the server had received every byte. */
  transferMs: number;
  /** bytes * 8 / transferMs, Mbit/s of virtual time (upload direction). */
  goodputMbps: number;
  /** `estimateMs(params)`: timeMs / estimateMs shows cases much slower than the model. */
  estimateMs: number;
  steps: number;
  traceHash: string;
  net: DirectionStats[];
  drops: Record<string, Record<string, number>>;
  client: SideReport;
  server: SideReport;
}

export interface SideReport {
  connected: boolean;
  received: number;
  firstError: number;
  ended: boolean;
  closed: boolean;
  error: string | undefined;
  retransmits: number;
  state: string;
}

// ---- the narrow TCP adapter ------------------------------------------------------------------

/** What this file uses of a TCP socket (src/transport/tcp/socket.ts). */
export interface TcpSocketLike {
  onConnect?: (() => void) | undefined;
  onData?: ((data: Uint8Array) => void) | undefined;
  onEnd?: (() => void) | undefined;
  onDrain?: (() => void) | undefined;
  onError?: ((err: { code: string; message: string }) => void) | undefined;
  onClose?: (() => void) | undefined;
  readonly state: string;
  readonly retransmits: number;
  write(data: Uint8Array): number;
  shutdown(): void;
  setReading(on: boolean): void;
}

export interface TcpSocketOptionsLike {
  receiveBufferSize?: number;
  sendBufferSize?: number;
  congestionControl?: 'cubic' | 'newreno';
}

/** The adapter: how to listen and connect on a stack. */
export interface TcpApi {
  listen(stack: Stack, family: 4 | 6, port: number, opts: TcpSocketOptionsLike, onConnection: (s: TcpSocketLike) => void): void;
  connect(stack: Stack, family: 4 | 6, address: string, port: number, opts: TcpSocketOptionsLike): TcpSocketLike;
}

interface TcpLayerLike {
  listen(...args: unknown[]): unknown;
  connect(...args: unknown[]): unknown;
}

/** The stack's TCP layer, if this build has one. */
export function tcpLayerOf(stack: Stack): TcpLayerLike | undefined {
  const t = (stack as unknown as { tcp?: TcpLayerLike }).tcp;
  return t !== undefined && typeof t.listen === 'function' && typeof t.connect === 'function' ? t : undefined;
}

/** Whether this build's Stack has TCP (`stack.tcp`). */
export function tcpAvailable(): boolean {
  const w = new SimWorld({ seed: 0, trace: false });
  return tcpLayerOf(w.addStack()) !== undefined;
}

/**
 * The adapter over `stack.tcp` (src/transport/tcp/layer.ts):
 *   listen({ family, address?, port, backlog?, socketOptions? }, onConnection): TcpListener
 *   connect({ family, remoteAddress, remotePort, localAddress?, localPort? }, socketOptions): TcpSocket
 */
export const stackTcpApi: TcpApi = {
  listen(stack, family, port, opts, onConnection) {
    const tcp = tcpLayerOf(stack);
    if (!tcp) throw new Error('this Stack has no TCP layer (stack.tcp)');
    tcp.listen({ family, port, socketOptions: opts }, onConnection);
  },
  connect(stack, family, address, port, opts) {
    const tcp = tcpLayerOf(stack);
    if (!tcp) throw new Error('this Stack has no TCP layer (stack.tcp)');
    return tcp.connect({ family, remoteAddress: address, remotePort: port }, opts) as TcpSocketLike;
  },
};

// ---- the case -------------------------------------------------------------------------------

/**
 * A rough estimate of a case's virtual duration, ms: the slowest of serialization, the window
 * (send/receive buffer per RTT) and the loss-limited rate of the Padhye et al. model
 * (SIGCOMM '98) with the loss, corruption (both directions) and half the reordering probability
 * as the loss rate and 1 s (the initial RTO) as the timeout; plus pauses and outages.
 */
export function estimateMs(p: TcpCaseParams): number {
  const mss = Math.max(64, p.mtu - (p.family === 4 ? 40 : 60) - 12);
  const frameMs = ((p.mtu + 14) * 8 * 1000) / p.bandwidthBps;
  const rtt = 2 * p.delayMs + 2 * frameMs + (p.queueLimit > 0 ? p.queueLimit * frameMs : 0);
  const serializeRate = p.bandwidthBps / 8 / 1000; // bytes per ms
  const window = Math.min(p.rcvBuf > 0 ? p.rcvBuf : 1 << 20, p.sndBuf > 0 ? p.sndBuf / 2 : 1 << 20);
  const windowRate = window / rtt;
  const loss = Math.min(0.5, 2 * (p.loss + p.corrupt) + p.reorder / 2);
  let lossRate = Infinity;
  if (loss > 0) {
    const b = 2;
    const t0 = Math.max(1000, 2 * rtt);
    const perSegment = rtt * Math.sqrt((2 * b * loss) / 3) + t0 * Math.min(1, 3 * Math.sqrt((3 * b * loss) / 8)) * loss * (1 + 32 * loss * loss);
    lossRate = mss / perSegment;
  }
  const rate = Math.min(serializeRate, windowRate, lossRate);
  const dirs = p.mode === 'echo' ? 2 : 1;
  const pauses = p.mode === 'upload' && p.pauseMs > 0 ? Math.floor(p.bytes / PAUSE_EVERY) * (p.pauseMs + 2 * rtt) : 0;
  return (p.bytes / rate) * dirs + 10 * rtt + pauses + 3 * p.outageMs;
}

/**
 * A generous bound on the virtual time a case may take, to catch stalls rather than to judge
 * performance: 60 s (SYN/FIN retransmissions with backoff) + 4 × `estimateMs`, unless
 * `maxTimeMs` is given.
 */
export function timeBound(p: TcpCaseParams): number {
  if (p.maxTimeMs > 0) return p.maxTimeMs;
  return Math.ceil(60_000 + 4 * estimateMs(p));
}

export interface RunCaseHooks {
  /** Network events, for a verbose replay. */
  onEvent?: SimWorld['onEvent'];
  /** Called once the world exists, before connecting. */
  onWorld?: (w: SimWorld) => void;
  api?: TcpApi;
}

const CHUNK = 64 * 1024;

export function runTcpCase(params: Partial<TcpCaseParams>, hooks: RunCaseHooks = {}): TcpCaseResult {
  const p: TcpCaseParams = { ...DEFAULT_CASE, ...params };
  const api = hooks.api ?? stackTcpApi;
  const world = new SimWorld({ seed: p.seed });
  if (hooks.onEvent) world.onEvent = hooks.onEvent;
  hooks.onWorld?.(world);
  const a = world.addStack('client');
  const b = world.addStack('server');
  const dirCfg: DirectionConfig = {
    delayMs: p.delayMs,
    bandwidthBps: p.bandwidthBps,
    loss: p.loss,
    reorder: p.reorder > 0 ? { probability: p.reorder, extraDelayMs: [0.5, Math.max(1, 2 * p.delayMs)] } : 0,
    duplicate: p.duplicate,
    corrupt: p.corrupt,
  };
  if (p.queueLimit > 0) dirCfg.queueLimit = p.queueLimit;
  const { linkA, linkB } = world.connect(a, b, {
    kind: p.kind,
    mtu: p.mtu,
    addressesA: ['10.0.0.1/24', 'fd00::1/64'],
    addressesB: ['10.0.0.2/24', 'fd00::2/64'],
    both: dirCfg,
  });
  const opts: TcpSocketOptionsLike = {};
  if (p.rcvBuf > 0) opts.receiveBufferSize = p.rcvBuf;
  if (p.sndBuf > 0) opts.sendBufferSize = p.sndBuf;
  if (p.cc !== 'default') opts.congestionControl = p.cc;

  const side = (): SideReport => ({
    connected: false,
    received: 0,
    firstError: -1,
    ended: false,
    closed: false,
    error: undefined,
    retransmits: 0,
    state: '',
  });
  const cr = side();
  const sr = side();
  const failures: string[] = [];
  let serverSock: TcpSocketLike | undefined;
  let serverDoneAt = -1;
  const start = world.clock.now() + 1;
  const upRx = new PatternReceiver(p.seed);
  const downRx = new PatternReceiver(p.seed);

  // Server.
  api.listen(b, p.family, 8080, opts, (s) => {
    if (serverSock !== undefined) {
      failures.push('server: a second connection was accepted');
      return;
    }
    serverSock = s;
    sr.connected = true;
    const pending: Uint8Array[] = [];
    let shutdownOwed = false;
    const pump = (): void => {
      while (pending.length > 0) {
        const c = pending[0]!;
        const n = s.write(c);
        if (n < c.length) {
          pending[0] = c.subarray(n);
          s.setReading(false);
          return;
        }
        pending.shift();
      }
      s.setReading(true);
      if (shutdownOwed) {
        shutdownOwed = false;
        s.shutdown();
      }
    };
    let nextPause = PAUSE_EVERY;
    let outage = p.outageMs > 0;
    s.onData = (d) => {
      upRx.push(d);
      if (outage && upRx.received * 3 >= p.bytes) {
        outage = false;
        const before = [linkA.tx.config, linkB.tx.config];
        linkA.tx.configure({ loss: 1 });
        linkB.tx.configure({ loss: 1 });
        world.after(p.outageMs, () => {
          linkA.tx.setConfig(before[0]!);
          linkB.tx.setConfig(before[1]!);
        });
      }
      sr.received = upRx.received;
      if (upRx.received >= p.bytes && serverDoneAt < 0) serverDoneAt = world.clock.now();
      if (p.mode === 'echo') {
        pending.push(d);
        pump();
      } else if (p.pauseMs > 0 && upRx.received >= nextPause) {
        nextPause = upRx.received + PAUSE_EVERY;
        s.setReading(false);
        world.after(p.pauseMs, () => s.setReading(true));
      }
    };
    s.onDrain = () => pump();
    s.onEnd = () => {
      sr.ended = true;
      if (p.mode === 'echo' && pending.length > 0) shutdownOwed = true;
      else s.shutdown();
    };
    s.onError = (e) => {
      sr.error = `${e.code}: ${e.message}`;
    };
    s.onClose = () => {
      sr.closed = true;
    };
  });

  // Client, at t = 1 ms (after the ARP/NDP announcements).
  let client: TcpSocketLike | undefined;
  let written = 0;
  const buf = new Uint8Array(CHUNK);
  const fill = (): void => {
    const c = client!;
    while (written < p.bytes) {
      const n = Math.min(CHUNK, p.bytes - written);
      const chunk = buf.subarray(0, n);
      fillPattern(p.seed, written, chunk);
      const k = c.write(chunk);
      written += k;
      if (k < n) return;
    }
    c.shutdown();
    written = Infinity;
  };
  world.at(start, () => {
    const c = api.connect(a, p.family, p.family === 4 ? '10.0.0.2' : 'fd00::2', 8080, opts);
    client = c;
    c.onConnect = () => {
      cr.connected = true;
      fill();
    };
    c.onDrain = () => {
      if (written < p.bytes) fill();
    };
    c.onData = (d) => {
      downRx.push(d);
      cr.received = downRx.received;
      if (p.mode === 'upload') failures.push(`client: unexpected ${d.length} bytes from the server`);
    };
    c.onEnd = () => {
      cr.ended = true;
    };
    c.onError = (e) => {
      cr.error = `${e.code}: ${e.message}`;
    };
    c.onClose = () => {
      cr.closed = true;
    };
  });

  const bound = timeBound(p);
  const res = world.run({ until: () => (cr.closed && sr.closed) || failures.length > 0, maxTimeMs: bound + 1 });
  const end = world.clock.now();

  cr.retransmits = client?.retransmits ?? 0;
  cr.state = client?.state ?? 'none';
  sr.retransmits = serverSock?.retransmits ?? 0;
  sr.state = serverSock?.state ?? 'none';
  cr.firstError = downRx.firstError;
  sr.firstError = upRx.firstError;

  if (!res.done) failures.push(`not finished after ${(end - start).toFixed(1)} ms of virtual time (bound ${bound} ms; run ended by ${res.reason})`);
  if (!cr.connected) failures.push('client: never connected');
  if (!sr.connected) failures.push('server: never accepted');
  if (sr.received !== p.bytes) failures.push(`server: received ${sr.received} of ${p.bytes} bytes`);
  if (upRx.firstError >= 0) failures.push(`server: data differs from offset ${upRx.firstError}`);
  if (p.mode === 'echo') {
    if (cr.received !== p.bytes) failures.push(`client: received ${cr.received} of ${p.bytes} echoed bytes`);
    if (downRx.firstError >= 0) failures.push(`client: echoed data differs from offset ${downRx.firstError}`);
  }
  if (!sr.ended) failures.push('server: no onEnd');
  if (!cr.ended) failures.push('client: no onEnd');
  if (!sr.closed) failures.push(`server: no onClose (state ${sr.state})`);
  if (!cr.closed) failures.push(`client: no onClose (state ${cr.state})`);
  if (sr.error !== undefined) failures.push(`server: error ${sr.error}`);
  if (cr.error !== undefined) failures.push(`client: error ${cr.error}`);

  const transferMs = serverDoneAt >= 0 ? serverDoneAt - start : NaN;
  return {
    params: p,
    ok: failures.length === 0,
    failures,
    timeMs: end - start,
    transferMs,
    goodputMbps: serverDoneAt >= 0 ? (p.bytes * 8) / (transferMs * 1000) : 0,
    estimateMs: estimateMs(p),
    steps: res.steps,
    traceHash: world.traceHash(),
    net: world.net.stats(),
    drops: world.drops(),
    client: cr,
    server: sr,
  };
}

// ---- command lines --------------------------------------------------------------------------

const FLAGS: Array<[keyof TcpCaseParams, string]> = [
  ['seed', '--seed'],
  ['bytes', '--bytes'],
  ['mode', '--mode'],
  ['kind', '--kind'],
  ['family', '--family'],
  ['mtu', '--mtu'],
  ['delayMs', '--delay'],
  ['bandwidthBps', '--bandwidth'],
  ['queueLimit', '--queue'],
  ['loss', '--loss'],
  ['reorder', '--reorder'],
  ['duplicate', '--duplicate'],
  ['corrupt', '--corrupt'],
  ['rcvBuf', '--rcvbuf'],
  ['sndBuf', '--sndbuf'],
  ['cc', '--cc'],
  ['pauseMs', '--pause'],
  ['outageMs', '--outage'],
  ['maxTimeMs', '--max-time'],
];

/** The flags of `scripts/sim.mjs` for a case (only values that differ from the defaults). */
export function tcpCaseArgs(params: Partial<TcpCaseParams>): string[] {
  const p: TcpCaseParams = { ...DEFAULT_CASE, ...params };
  const out: string[] = [];
  for (const [k, flag] of FLAGS) {
    if (k !== 'seed' && p[k] === DEFAULT_CASE[k]) continue;
    out.push(flag, String(p[k]));
  }
  return out;
}

/** The command that replays a case verbosely. */
export function tcpCaseCommand(params: Partial<TcpCaseParams>): string {
  return ['npm run build && node scripts/sim.mjs', ...tcpCaseArgs(params), '--verbose'].join(' ');
}

/** Parses `scripts/sim.mjs` flags into case parameters (unknown flags → Error). */
export function parseTcpCaseArgs(argv: string[]): { params: Partial<TcpCaseParams>; rest: string[] } {
  const params: Partial<TcpCaseParams> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const f = FLAGS.find(([, flag]) => flag === a);
    if (!f) {
      rest.push(a);
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    const k = f[0];
    const d = DEFAULT_CASE[k];
    if (typeof d === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`${a}: not a number: ${v}`);
      (params as Record<string, unknown>)[k] = n;
    } else {
      (params as Record<string, unknown>)[k] = v;
    }
  }
  return { params, rest };
}

// ---- random cases ---------------------------------------------------------------------------

/** Picks a case's settings from its seed (the same seed → the same case). */
export function randomTcpCase(seed: number, o: { maxBytes?: number } = {}): TcpCaseParams {
  // A small local generator so the choice does not depend on anything else.
  let s = (seed ^ 0x2545f491) >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 0x1_0000_0000;
  };
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const chance = (q: number): boolean => next() < q;
  const maxBytes = o.maxBytes ?? 2 * 1024 * 1024;
  const sizes = [64 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024, 2 * 1024 * 1024].filter((x) => x <= maxBytes);
  // Now and then a tiny transfer (0 bytes: connect, then half-close at once).
  const bytes = chance(0.05) ? pick([0, 1, 1000]) : pick(sizes) + Math.floor(next() * 4096);
  const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;
  const mode = chance(0.3) ? 'echo' : 'upload';
  const kind = chance(0.5) ? 'ip' : 'ethernet';
  const family = chance(0.6) ? 4 : 6;
  // IPv6 needs an MTU of at least 1280 (RFC 8200 §5).
  const mtu = family === 4 ? pick([576, 1280, 1500, 9000]) : pick([1280, 1500, 9000]);
  return {
    seed,
    bytes,
    mode,
    kind,
    family,
    mtu,
    delayMs: pick([1, 2, 5, 10, 20, 50, 100]),
    bandwidthBps: pick([1e6, 10e6, 100e6, 1000e6]),
    queueLimit: chance(0.4) ? pick([20, 50, 100, 500]) : 0,
    loss: chance(0.5) ? round(next() * 0.1, 3) : 0,
    reorder: chance(0.3) ? round(next() * 0.1, 3) : 0,
    duplicate: chance(0.2) ? round(next() * 0.05, 3) : 0,
    corrupt: chance(0.2) ? round(next() * 0.05, 3) : 0,
    rcvBuf: chance(0.5) ? pick([16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]) : 0,
    sndBuf: chance(0.3) ? pick([16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024]) : 0,
    cc: pick(['default', 'cubic', 'newreno'] as const),
    pauseMs: mode === 'upload' && chance(0.2) ? pick([10, 100, 1000, 5000]) : 0,
    outageMs: chance(0.1) ? pick([100, 1000, 10_000, 30_000]) : 0,
    maxTimeMs: 0,
  };
}
