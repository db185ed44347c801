/**
 * A deterministic world: one `VirtualClock` shared by N Stacks and a `SimNetwork`, and a driver
 * loop that delivers due frames, polls due stacks and jumps the clock to the next deadline.
 * Nothing here uses host timers or Date: a run is a pure function of the seed, the
 * configuration and what the test does from its callbacks, so a failing case replays exactly
 * from its seed (`traceHash()` proves two runs identical).
 *
 * Part of the core: imports nothing from Node.
 *
 *   const w = new SimWorld({ seed: 42 });
 *   const a = w.addStack('a'), b = w.addStack('b');
 *   w.connect(a, b, { kind: 'ip', mtu: 1500, addressesA: ['10.0.0.1/24'], addressesB: ['10.0.0.2/24'],
 *                     both: { delayMs: 10, bandwidthBps: 100e6, loss: 0.01 } });
 *   ... open sockets, send ...
 *   const r = w.run({ until: () => done, maxTimeMs: 60_000 });
 */
import { SeededRandom, VirtualClock } from '../core/clock.js';
import { TimerQueue, type Timer } from '../core/timers.js';
import { Stack, type StackLimits } from '../stack.js';
import type { NetInterface } from '../ip/interface.js';
import { SimNetwork, deriveSeed, type PathOptions, type SimEvent, type SimLink } from './network.js';

export interface SimWorldOptions {
  seed: number;
  /** Virtual start time, ms (default 0). */
  startMs?: number;
  /** Hash every network event into `traceHash()` (default true; costs one pass over each frame). */
  trace?: boolean;
  /** Limits for every stack (overridable per stack). */
  limits?: Partial<StackLimits>;
}

export interface ConnectOptions extends PathOptions {
  /** Interface addresses of A and B (CIDR). */
  addressesA: string[];
  addressesB: string[];
  nameA?: string;
  nameB?: string;
}

export interface RunOptions {
  /** Stop as soon as this returns true (checked before each step). */
  until?: () => boolean;
  /** Virtual time this run may take, ms (default: unbounded). */
  maxTimeMs?: number;
  /** Steps (instants at which something happened) this run may take (default 10 million). */
  maxSteps?: number;
}

export interface RunResult {
  /** The clock at return, ms. */
  timeMs: number;
  steps: number;
  /** `until()` held (without `until`: the world went idle, nothing left to do). */
  done: boolean;
  /** Why the run ended. */
  reason: 'until' | 'idle' | 'maxTime' | 'maxSteps';
}

export class SimWorld {
  readonly clock: VirtualClock;
  readonly seed: number;
  readonly net: SimNetwork;
  readonly stacks: Stack[] = [];
  readonly names: string[] = [];
  /** Test-level events (`at`/`after`), fired by the run loop like the stacks' timers. */
  readonly timers = new TimerQueue();
  /** Verbose observer of network events (in addition to the trace hash). */
  onEvent: ((e: SimEvent) => void) | undefined;
  private readonly limits: Partial<StackLimits>;
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  private events = 0;
  private readonly f64 = new Float64Array(1);
  private readonly f64b = new Uint8Array(this.f64.buffer);

  constructor(opts: SimWorldOptions) {
    this.seed = opts.seed >>> 0;
    this.clock = new VirtualClock(opts.startMs ?? 0);
    this.limits = opts.limits ?? {};
    this.net = new SimNetwork({ clock: this.clock, seed: deriveSeed(this.seed, 0x5eed) });
    const trace = opts.trace ?? true;
    this.net.onEvent = (e) => {
      if (trace) this.hashEvent(e);
      this.onEvent?.(e);
    };
  }

  /** A new Stack on the world's clock, with its own SeededRandom derived from the world seed. */
  addStack(name?: string, opts: { limits?: Partial<StackLimits> } = {}): Stack {
    const i = this.stacks.length;
    const s = new Stack({
      clock: this.clock,
      random: new SeededRandom(deriveSeed(this.seed, i)),
      limits: { ...this.limits, ...opts.limits },
    });
    this.stacks.push(s);
    this.names.push(name ?? `s${i}`);
    return s;
  }

  /** Connects two stacks with a new path and adds an interface on each end. */
  connect(a: Stack, b: Stack, o: ConnectOptions): { linkA: SimLink; linkB: SimLink; ifaceA: NetInterface; ifaceB: NetInterface } {
    const [linkA, linkB] = this.net.connect(o);
    const ifaceA = a.addInterface(linkA, { name: o.nameA ?? `if${a.interfaces.length + 1}`, addresses: o.addressesA });
    const ifaceB = b.addInterface(linkB, { name: o.nameB ?? `if${b.interfaces.length + 1}`, addresses: o.addressesB });
    return { linkA, linkB, ifaceA, ifaceB };
  }

  /** Runs `fn` at virtual time `t` (from the run loop, after that instant's deliveries). */
  at(t: number, fn: (now: number) => void): Timer {
    return this.timers.schedule(t, fn);
  }

  /** Runs `fn` `ms` from now. */
  after(ms: number, fn: (now: number) => void): Timer {
    return this.timers.schedule(this.clock.now() + ms, fn);
  }

  /** The earliest deadline of the network, the stacks and the world's own timers. */
  nextDeadline(): number | undefined {
    let d = this.net.nextDeadline();
    const t = this.timers.nextDeadline();
    if (t !== undefined && (d === undefined || t < d)) d = t;
    for (const s of this.stacks) {
      const sd = s.nextDeadline();
      if (sd !== undefined && (d === undefined || sd < d)) d = sd;
    }
    return d;
  }

  /**
   * Drives the world: at each instant, delivers due frames (a batch per link), fires due world
   * timers and polls stacks whose deadlines are due, until nothing is due now; then jumps the
   * clock to the earliest next deadline. Stops when `until()` holds, when nothing is left to do,
   * or at a limit.
   */
  run(o: RunOptions = {}): RunResult {
    const start = this.clock.now();
    const limitT = o.maxTimeMs !== undefined ? start + o.maxTimeMs : Infinity;
    const maxSteps = o.maxSteps ?? 10_000_000;
    const until = o.until;
    let steps = 0;
    for (;;) {
      if (until?.()) return this.result(steps, true, 'until');
      if (steps >= maxSteps) return this.result(steps, false, 'maxSteps');
      const now = this.clock.now();
      let did = false;
      const nd = this.net.nextDeadline();
      if (nd !== undefined && nd <= now) {
        this.net.run(now);
        did = true;
      }
      const td = this.timers.nextDeadline();
      if (td !== undefined && td <= now) {
        this.timers.run(now);
        did = true;
      }
      for (const s of this.stacks) {
        const sd = s.nextDeadline();
        if (sd !== undefined && sd <= now) {
          s.poll();
          did = true;
        }
      }
      if (did) {
        steps++;
        continue;
      }
      const next = this.nextDeadline();
      if (next === undefined) return this.result(steps, until === undefined, 'idle');
      if (next > limitT) {
        this.clock.set(limitT);
        return this.result(steps, false, 'maxTime');
      }
      this.clock.set(next);
    }
  }

  private result(steps: number, done: boolean, reason: RunResult['reason']): RunResult {
    return { timeMs: this.clock.now(), steps, done, reason };
  }

  // ---- tracing --------------------------------------------------------------------------------

  /** Events hashed so far. */
  get traceEvents(): number {
    return this.events;
  }

  /** A 64-bit hash (16 hex digits) of every network event so far: time, direction, kind, bytes. */
  traceHash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  private mix(b: number): void {
    this.h1 = Math.imul(this.h1 ^ b, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ b, 0x5bd1e995) ^ (this.h2 >>> 15);
  }

  private hashEvent(e: SimEvent): void {
    this.events++;
    this.f64[0] = e.time;
    for (let i = 0; i < 8; i++) this.mix(this.f64b[i]!);
    for (let i = 0; i < e.dir.length; i++) this.mix(e.dir.charCodeAt(i));
    this.mix(e.what.charCodeAt(0) ^ (e.what.length << 4));
    if (e.cause !== undefined) this.mix(e.cause.charCodeAt(0));
    const f = e.frame;
    this.mix(f.length & 0xff);
    this.mix(f.length >>> 8);
    for (let i = 0; i < f.length; i++) this.mix(f[i]!);
  }

  // ---- reporting ------------------------------------------------------------------------------

  /** Non-zero drop counters of every stack, `{ name: { reason: n } }`. */
  drops(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    this.stacks.forEach((s, i) => {
      out[this.names[i]!] = s.counters.drops();
    });
    return out;
  }
}
