/**
 * A simulated network for deterministic tests: point-to-point paths between `SimLink`s, on a
 * virtual clock, with every random decision drawn from a seeded generator. The same seed and
 * configuration give the same frames at the same virtual instants, bit for bit.
 *
 * Part of the core: imports nothing from Node, arms no host timer, never reads Date.
 *
 * Each path has two directions (A→B, B→A), each with its own impairments (`DirectionConfig`)
 * and its own random stream (derived from the network seed and the direction's index, so a
 * change to one direction's settings does not change the other's random decisions).
 *
 * Per frame, in this order:
 *  1. the link is closed / has no peer → dropped `closed`;
 *  2. larger than the direction's MTU (IP MTU; the Ethernet header is not counted) → `mtu`,
 *     as a real link would discard it;
 *  3. the transmit queue (frames waiting for or in serialization) is full (`queueLimit` frames
 *     or bytes) → tail drop, `queue`;
 *  4. serialization: with `bandwidthBps`, the frame occupies the sender for
 *     `bytes * 8 / bandwidthBps` seconds after the frames queued before it;
 *  5. `loss` → dropped on the wire, `loss` (it still used the sender's bandwidth);
 *  6. `corrupt` → one random bit of one random byte flipped (checksums must catch it);
 *  7. propagation: arrives `delayMs` after serialization ends, plus with probability
 *     `reorder.probability` an extra uniformly random delay in `reorder.extraDelayMs`, so later
 *     frames overtake it;
 *  8. `duplicate` → a second copy arrives at the same instant, right after the first.
 *
 * Delivery: all frames of a direction due at the same instant are handed to the receiving
 * link's receiver as one batch (receive() for each, in order of arrival and then of sending,
 * then flush()). Frames sent during a batch are delivered in a later batch, never re-entrantly.
 *
 * The network's events live in its own `TimerQueue` (`timers`); the driver (see world.ts)
 * calls `run(now)` and asks `nextDeadline()`.
 */
import { SeededRandom } from '../core/clock.js';
import { TimerQueue, type Timer } from '../core/timers.js';
import type { Link, LinkKind, LinkReceiver } from '../link/link.js';
import type { Clock } from '../core/clock.js';

const ETH_HEADER = 14;

/** Impairments of one direction of a path. Every field is optional: the default is a perfect wire. */
export interface DirectionConfig {
  /** One-way propagation delay, ms (default 0). */
  delayMs?: number;
  /** Serialization rate in bits per second (default: infinite). */
  bandwidthBps?: number;
  /**
   * Transmit-queue limit: a number is frames; or { frames, bytes }. Frames waiting for or in
   * serialization count; only meaningful with a finite `bandwidthBps`. Default: unlimited.
   */
  queueLimit?: number | { frames?: number; bytes?: number };
  /** Probability that a frame is lost on the wire (0..1). */
  loss?: number;
  /** Probability of a later delivery: `extraDelayMs` is [min, max] (default [1, 10]). */
  reorder?: number | { probability: number; extraDelayMs?: [number, number] };
  /** Probability that a frame arrives twice. */
  duplicate?: number;
  /** Probability that one bit of a frame is flipped. */
  corrupt?: number;
  /** Largest IP packet the wire carries (default: the link's MTU). Larger frames are dropped. */
  mtu?: number;
}

export interface PathOptions {
  kind: LinkKind;
  /** The MTU the links report to their stacks. */
  mtu: number;
  /** MACs of the two ends ('ethernet'); defaults 02:00:00:00:<path>:0a / 0b. */
  macA?: Uint8Array;
  macB?: Uint8Array;
  /** A→B settings (default: both use `both`). */
  ab?: DirectionConfig;
  /** B→A settings. */
  ba?: DirectionConfig;
  /** Settings for both directions, overridden field by field by `ab` / `ba`. */
  both?: DirectionConfig;
  /** A label for stats and traces (default `p<index>`). */
  name?: string;
}

export type DropCause = 'loss' | 'queue' | 'mtu' | 'closed';

export interface DirectionStats {
  /** `<path>:a>b` or `<path>:b>a`. */
  name: string;
  /** Frames handed to send(). */
  sent: number;
  bytesSent: number;
  /** Frames handed to the receiver (duplicates included). */
  delivered: number;
  bytesDelivered: number;
  dropped: Record<DropCause, number>;
  corrupted: number;
  duplicated: number;
  reordered: number;
  /** Frames in flight (serialization or propagation) now. */
  inFlight: number;
  /** Largest transmit-queue occupancy seen (frames). */
  maxQueueFrames: number;
}

/** A trace event, for verbose replays and trace hashing. */
export interface SimEvent {
  time: number;
  dir: string;
  what: 'send' | 'deliver' | 'drop' | 'corrupt' | 'duplicate' | 'reorder';
  cause?: DropCause;
  frame: Uint8Array;
}

interface Resolved {
  delayMs: number;
  bandwidthBps: number;
  queueFrames: number;
  queueBytes: number;
  loss: number;
  reorderP: number;
  reorderMin: number;
  reorderMax: number;
  duplicate: number;
  corrupt: number;
  mtu: number;
}

interface InFlight {
  at: number;
  seq: number;
  frame: Uint8Array;
}

function prob(p: number | undefined, what: string): number {
  const v = p ?? 0;
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${what} must be a probability in [0, 1], got ${p}`);
  return v;
}

function resolve(c: DirectionConfig, linkMtu: number): Resolved {
  const ql = c.queueLimit;
  const queueFrames = typeof ql === 'number' ? ql : (ql?.frames ?? Infinity);
  const queueBytes = typeof ql === 'number' ? Infinity : (ql?.bytes ?? Infinity);
  const r = c.reorder;
  const reorderP = prob(typeof r === 'number' ? r : r?.probability, 'reorder');
  const range = (typeof r === 'object' ? r.extraDelayMs : undefined) ?? [1, 10];
  const delayMs = c.delayMs ?? 0;
  const bw = c.bandwidthBps ?? Infinity;
  if (!(delayMs >= 0)) throw new RangeError(`delayMs must be >= 0, got ${c.delayMs}`);
  if (!(bw > 0)) throw new RangeError(`bandwidthBps must be > 0, got ${c.bandwidthBps}`);
  if (!(range[0] >= 0 && range[1] >= range[0])) throw new RangeError('reorder extraDelayMs must be [min, max], 0 <= min <= max');
  return {
    delayMs,
    bandwidthBps: bw,
    queueFrames,
    queueBytes,
    loss: prob(c.loss, 'loss'),
    reorderP,
    reorderMin: range[0],
    reorderMax: range[1],
    duplicate: prob(c.duplicate, 'duplicate'),
    corrupt: prob(c.corrupt, 'corrupt'),
    mtu: c.mtu ?? linkMtu,
  };
}

/** One direction of a path: the sender's transmit queue, the wire, and the frames in flight. */
export class SimDirection {
  readonly stats: DirectionStats;
  /** Frames in flight, sorted by (at, seq). `head` is the first live index. */
  private flight: InFlight[] = [];
  private head = 0;
  /** Serialization end times and sizes of frames still in the transmit queue (FIFO). */
  private txEnd: number[] = [];
  private txBytes: number[] = [];
  private txHead = 0;
  private queuedBytes = 0;
  /** When the transmitter is free. */
  private txFreeAt = 0;
  private seq = 0;
  private readonly timer: Timer;
  receiver: LinkReceiver | undefined;
  closed = false;

  private cfg: Resolved;

  constructor(
    private readonly net: SimNetwork,
    readonly name: string,
    /** The settings as given (for `configure`). */
    private given: DirectionConfig,
    private readonly linkMtu: number,
    private readonly rng: SeededRandom,
    private readonly kind: LinkKind,
  ) {
    this.cfg = resolve(given, linkMtu);
    this.stats = {
      name,
      sent: 0,
      bytesSent: 0,
      delivered: 0,
      bytesDelivered: 0,
      dropped: { loss: 0, queue: 0, mtu: 0, closed: 0 },
      corrupted: 0,
      duplicated: 0,
      reordered: 0,
      inFlight: 0,
      maxQueueFrames: 0,
    };
    this.timer = net.timers.create((now) => this.deliver(now));
  }

  /** The current settings. */
  get config(): DirectionConfig {
    return { ...this.given };
  }

  /**
   * Changes settings from now on (fields given replace the current ones; e.g. `{ loss: 1 }`
   * for an outage). Frames already in flight keep their arrival times.
   */
  configure(changes: DirectionConfig): void {
    this.setConfig({ ...this.given, ...changes });
  }

  /** Replaces all settings (e.g. restores a saved `config`). */
  setConfig(cfg: DirectionConfig): void {
    this.cfg = resolve(cfg, this.linkMtu);
    this.given = { ...cfg };
  }

  private drop(cause: DropCause, frame: Uint8Array, now: number): void {
    this.stats.dropped[cause]++;
    this.net.emit({ time: now, dir: this.name, what: 'drop', cause, frame });
  }

  send(frame: Uint8Array): void {
    const now = this.net.clock.now();
    const st = this.stats;
    st.sent++;
    st.bytesSent += frame.length;
    this.net.emit({ time: now, dir: this.name, what: 'send', frame });
    const c = this.cfg;
    if (this.closed) {
      this.drop('closed', frame, now);
      return;
    }
    const ipLen = frame.length - (this.kind === 'ethernet' ? ETH_HEADER : 0);
    if (ipLen > c.mtu) {
      this.drop('mtu', frame, now);
      return;
    }
    // Transmit queue: forget frames whose serialization has ended.
    while (this.txHead < this.txEnd.length && this.txEnd[this.txHead]! <= now) {
      this.queuedBytes -= this.txBytes[this.txHead]!;
      this.txHead++;
    }
    if (this.txHead > 1024 && this.txHead * 2 > this.txEnd.length) {
      this.txEnd = this.txEnd.slice(this.txHead);
      this.txBytes = this.txBytes.slice(this.txHead);
      this.txHead = 0;
    }
    const queued = this.txEnd.length - this.txHead;
    if (queued + 1 > c.queueFrames || this.queuedBytes + frame.length > c.queueBytes) {
      this.drop('queue', frame, now);
      return;
    }
    let departs = now;
    if (c.bandwidthBps !== Infinity) {
      departs = Math.max(now, this.txFreeAt) + (frame.length * 8 * 1000) / c.bandwidthBps;
      this.txFreeAt = departs;
      this.txEnd.push(departs);
      this.txBytes.push(frame.length);
      this.queuedBytes += frame.length;
      if (queued + 1 > st.maxQueueFrames) st.maxQueueFrames = queued + 1;
    }
    const rng = this.rng;
    if (c.loss > 0 && rng.float() < c.loss) {
      this.drop('loss', frame, now);
      return;
    }
    let copy = frame.slice();
    if (c.corrupt > 0 && rng.float() < c.corrupt && copy.length > 0) {
      const i = rng.u32() % copy.length;
      copy[i]! ^= 1 << (rng.u32() & 7);
      st.corrupted++;
      this.net.emit({ time: now, dir: this.name, what: 'corrupt', frame: copy });
    }
    let at = departs + c.delayMs;
    if (c.reorderP > 0 && rng.float() < c.reorderP) {
      at += c.reorderMin + rng.float() * (c.reorderMax - c.reorderMin);
      st.reordered++;
      this.net.emit({ time: now, dir: this.name, what: 'reorder', frame: copy });
    }
    this.enqueue(at, copy);
    if (c.duplicate > 0 && rng.float() < c.duplicate) {
      st.duplicated++;
      this.net.emit({ time: now, dir: this.name, what: 'duplicate', frame: copy });
      this.enqueue(at, copy.slice());
    }
  }

  private enqueue(at: number, frame: Uint8Array): void {
    const f = this.flight;
    const item: InFlight = { at, seq: this.seq++, frame };
    // Usually the latest arrival: insert from the end (stable for equal times).
    let i = f.length;
    while (i > this.head && f[i - 1]!.at > at) i--;
    if (i === f.length) f.push(item);
    else f.splice(i, 0, item);
    this.stats.inFlight++;
    if (i === this.head) this.net.timers.arm(this.timer, at);
  }

  /** Delivers every frame due at `now` as one batch. */
  private deliver(now: number): void {
    const f = this.flight;
    let end = this.head;
    while (end < f.length && f[end]!.at <= now) end++;
    const batch = f.slice(this.head, end);
    this.head = end;
    if (this.head > 1024 && this.head * 2 > f.length) {
      this.flight = f.slice(this.head);
      this.head = 0;
    }
    if (this.head < this.flight.length) this.net.timers.arm(this.timer, this.flight[this.head]!.at);
    this.stats.inFlight -= batch.length;
    const r = this.receiver;
    if (r === undefined || this.closed) {
      for (const b of batch) this.drop('closed', b.frame, now);
      return;
    }
    for (const b of batch) {
      this.stats.delivered++;
      this.stats.bytesDelivered += b.frame.length;
      this.net.emit({ time: now, dir: this.name, what: 'deliver', frame: b.frame });
      r.receive(b.frame);
    }
    r.flush();
  }

  clear(): void {
    this.flight = [];
    this.head = 0;
    this.stats.inFlight = 0;
    this.net.timers.cancel(this.timer);
  }
}

/** One end of a simulated path. Implements `Link`. */
export class SimLink implements Link {
  /** Frames this end sends. */
  readonly tx: SimDirection;
  /** Frames this end receives. */
  readonly rx: SimDirection;

  /** @internal */
  constructor(
    readonly kind: LinkKind,
    readonly mtu: number,
    readonly mac: Uint8Array | undefined,
    tx: SimDirection,
    rx: SimDirection,
    /** `<path>:a` or `<path>:b`. */
    readonly name: string,
  ) {
    this.tx = tx;
    this.rx = rx;
  }

  attach(receiver: LinkReceiver): void {
    this.rx.receiver = receiver;
  }

  send(frame: Uint8Array): void {
    this.tx.send(frame);
  }

  close(): Promise<void> {
    this.rx.closed = true;
    this.rx.receiver = undefined;
    this.rx.clear();
    this.tx.closed = true;
    return Promise.resolve();
  }
}

export interface SimNetworkOptions {
  clock: Clock;
  /** Seed of every random decision of the network. */
  seed: number;
}

/** Mixes a seed and an index into a new seed (splitmix32 finaliser). */
export function deriveSeed(seed: number, index: number): number {
  let z = (seed + Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export class SimNetwork {
  readonly timers = new TimerQueue();
  readonly clock: Clock;
  readonly seed: number;
  /** Called for every send/deliver/drop/corrupt/duplicate/reorder (tracing, verbose replays). */
  onEvent: ((e: SimEvent) => void) | undefined;
  private readonly directions: SimDirection[] = [];
  private paths = 0;

  constructor(opts: SimNetworkOptions) {
    this.clock = opts.clock;
    this.seed = opts.seed >>> 0;
  }

  /** @internal */
  emit(e: SimEvent): void {
    this.onEvent?.(e);
  }

  /** Creates a point-to-point path; returns its two ends [A, B]. */
  connect(o: PathOptions): [SimLink, SimLink] {
    const index = this.paths++;
    const name = o.name ?? `p${index}`;
    const eth = o.kind === 'ethernet';
    if (!(Number.isInteger(o.mtu) && o.mtu >= 68)) throw new RangeError(`mtu must be an integer >= 68, got ${o.mtu}`);
    const macA = eth ? new Uint8Array(o.macA ?? [2, 0, 0, 0, index & 0xff, 0x0a]) : undefined;
    const macB = eth ? new Uint8Array(o.macB ?? [2, 0, 0, 0, index & 0xff, 0x0b]) : undefined;
    const both = o.both ?? {};
    const dAB = new SimDirection(this, `${name}:a>b`, { ...both, ...o.ab }, o.mtu, new SeededRandom(deriveSeed(this.seed, 2 * index)), o.kind);
    const dBA = new SimDirection(this, `${name}:b>a`, { ...both, ...o.ba }, o.mtu, new SeededRandom(deriveSeed(this.seed, 2 * index + 1)), o.kind);
    this.directions.push(dAB, dBA);
    const a = new SimLink(o.kind, o.mtu, macA, dAB, dBA, `${name}:a`);
    const b = new SimLink(o.kind, o.mtu, macB, dBA, dAB, `${name}:b`);
    return [a, b];
  }

  /** Delivers every batch due at `now`; returns the number of timer firings. */
  run(now: number): number {
    return this.timers.run(now);
  }

  nextDeadline(): number | undefined {
    return this.timers.nextDeadline();
  }

  /** Per-direction counters (copies). */
  stats(): DirectionStats[] {
    return this.directions.map((d) => ({ ...d.stats, dropped: { ...d.stats.dropped } }));
  }

  /** Frames in flight on all paths. */
  get inFlight(): number {
    let n = 0;
    for (const d of this.directions) n += d.stats.inFlight;
    return n;
  }
}
