/**
 * Two stacks in one process over the in-memory link (src/link/memory.ts): one TCP bulk flow from
 * stack A (10.0.0.1) to stack B (10.0.0.2), Gbit/s of payload delivered to B's application,
 * measured on the real clock (wall time).
 *
 * How it is driven: both stacks use the Node clock and randomness (src/node/runtime.ts) and the
 * link has no automatic delivery; one synchronous loop delivers each end's queued frames as one
 * batch (receive each frame, then flush, as a device's wake-up does) and runs each stack's
 * timers when they are due (what NodeDriver.pollIfDue does). So all the time measured is spent
 * in the two stacks and in the link's per-frame copy (MemoryLink.send copies, as a wire would),
 * not in event-loop round trips of the harness. A bulk flow with a zero-latency link never
 * waits for a timer, so nothing is lost by not sleeping.
 *
 * The data is checked: A writes a pattern with a prime period from a running offset; every chunk
 * B's application receives is compared byte for byte (memcmp) with the pattern at B's running
 * offset, so a gap, a duplicate or a reordering anywhere fails the measure. At the end, bytes
 * acknowledged to A ≤ bytes delivered to B ≤ bytes written by A must hold.
 *
 * This is the measure the issue compares with tcpip.js (lwIP in WASM), which moved 0.56 Gbit/s
 * between two stacks in one process on this machine kind: a figure quoted from the issue text,
 * not measured in the same run.
 */
import { MemoryLink } from '../src/link/memory.js';
import { Stack } from '../src/stack.js';
import { nodeClock, cryptoRandom } from '../src/node/runtime.js';
import type { TcpSocket } from '../src/transport/tcp/socket.js';

/** A prime, so that no chunk size lines up with the pattern. */
const PERIOD = 65_521;
const CHUNK = 64 * 1024;
/** Longest run the pattern buffer can be compared against in one piece. */
const PATTERN_SPAN = 1 << 20;
const PATTERN: Uint8Array = (() => {
  const p = new Uint8Array(PERIOD + PATTERN_SPAN);
  for (let i = 0; i < p.length; i++) {
    const j = i % PERIOD;
    p[i] = (j * 31 + (j >>> 7) * 17 + 11) & 0xff;
  }
  return p;
})();

export interface MemoryRun {
  mtu: number;
  gbps: number;
  /** Payload bytes delivered to B's application during the measured window. */
  bytes: number;
  seconds: number;
  /** Payload bytes compared byte for byte with the pattern (everything B received, warm-up included). */
  verified: number;
  retransmits: number;
  /** Frames the link dropped (its queue limit); should be 0. */
  linkDropped: number;
  /** Loop iterations in which no frame moved and the loop waited for a timer. */
  idleSpins: number;
}

/** The sender's stream: `len` bytes from stream offset `off` (a copy; for tests). */
export function patternBytes(off: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = PATTERN[(off + i) % PERIOD]!;
  return out;
}

/** Equal bytes: `a` against PATTERN from stream offset `off` (a may span several periods). */
export function matches(a: Uint8Array, off: number): boolean {
  let done = 0;
  while (done < a.length) {
    const n = Math.min(a.length - done, PATTERN_SPAN);
    const at = (off + done) % PERIOD;
    if (Buffer.compare(a.subarray(done, done + n), PATTERN.subarray(at, at + n)) !== 0) return false;
    done += n;
  }
  return true;
}

/**
 * One flow for `warmupS + seconds`; throughput over the last `seconds`. Throws if the data
 * arrives damaged, the connection fails, or nothing moves.
 */
export function memoryFlow(mtu: number, seconds: number, warmupS = 1): MemoryRun {
  const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu, queueLimit: 100_000 });
  const a = new Stack({ clock: nodeClock, random: cryptoRandom });
  const b = new Stack({ clock: nodeClock, random: cryptoRandom });
  a.addInterface(la, { name: 'mem0', addresses: ['10.0.0.1/24'] });
  b.addInterface(lb, { name: 'mem0', addresses: ['10.0.0.2/24'] });

  let writeOff = 0;
  let readOff = 0;
  let failure: string | undefined;
  let server: TcpSocket | undefined;
  let connected = false;
  let pumping = true;

  b.tcp.listen({ family: 4, port: 5001 }, (s) => {
    server = s;
    s.onData = (d) => {
      if (failure === undefined && !matches(d, readOff)) failure = `data mismatch in the ${d.length}-byte chunk at stream offset ${readOff}`;
      readOff += d.length;
    };
    s.onError = (e) => {
      failure ??= `server: ${e.code} ${e.message}`;
    };
  });
  const c = a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 5001 });
  const pump = (): void => {
    while (pumping) {
      const at = writeOff % PERIOD;
      const n = c.write(PATTERN.subarray(at, at + CHUNK));
      writeOff += n;
      if (n < CHUNK) return;
    }
  };
  c.onConnect = () => {
    connected = true;
    pump();
  };
  c.onDrain = pump;
  c.onError = (e) => {
    failure ??= `client: ${e.code} ${e.message}`;
  };

  const pollIfDue = (s: Stack, now: number): void => {
    const d = s.nextDeadline();
    if (d !== undefined && d <= now) s.poll();
  };

  let idleSpins = 0;
  const t0 = performance.now();
  const warmEnd = t0 + warmupS * 1000;
  const end = warmEnd + seconds * 1000;
  let mark: { t: number; bytes: number } | undefined;
  let now = t0;
  for (;;) {
    // One batch per end: everything queued for it (MemoryLink delivers its whole queue, often
    // hundreds of segments), then the clock is read again, so the window edges are exact to one
    // batch.
    const moved = lb.deliver() + la.deliver();
    now = performance.now();
    if (mark === undefined && now >= warmEnd) mark = { t: now, bytes: readOff };
    if (now >= end) break;
    if (!connected && now - t0 > 5000) throw new Error(`MTU ${mtu}: not connected after 5 s`);
    pollIfDue(a, now);
    pollIfDue(b, now);
    if (moved === 0) idleSpins++;
    if (failure !== undefined) break;
  }
  pumping = false;
  const t1 = now;
  const acked = writeOff - c.bufferedSend;
  const retransmits = c.retransmits;
  const linkDropped = la.dropped + lb.dropped;
  c.abort();
  server?.abort();
  a.close();
  b.close();
  if (failure !== undefined) throw new Error(`MTU ${mtu}: ${failure}`);
  if (!(acked <= readOff && readOff <= writeOff)) throw new Error(`MTU ${mtu}: inconsistent counts: acknowledged ${acked}, delivered ${readOff}, written ${writeOff}`);
  if (mark === undefined || readOff === 0) throw new Error(`MTU ${mtu}: no data delivered`);
  const bytes = readOff - mark.bytes;
  const secs = (t1 - mark.t) / 1000;
  return { mtu, gbps: (bytes * 8) / secs / 1e9, bytes, seconds: secs, verified: readOff, retransmits, linkDropped, idleSpins };
}

export interface MemoryBenchResult {
  /** Runs per MTU. */
  runs: Record<'1500' | '65535', MemoryRun[]>;
  seconds: number;
}

export function runMemoryBench(opts: { quick: boolean; log: (m: string) => void }): MemoryBenchResult {
  const seconds = opts.quick ? 2 : 4;
  const reps = opts.quick ? 1 : 3;
  const runs: MemoryBenchResult['runs'] = { '1500': [], '65535': [] };
  // Warm the JIT once (not recorded).
  memoryFlow(1500, 0.5, 0.5);
  for (let rep = 0; rep < reps; rep++) {
    for (const mtu of [1500, 65535] as const) {
      const r = memoryFlow(mtu, seconds);
      runs[String(mtu) as '1500' | '65535'].push(r);
      opts.log(`  in-memory link, MTU ${mtu}, one flow: ${r.gbps.toFixed(2)} Gbit/s (${(r.verified / 2 ** 20).toFixed(0)} MiB verified, ${r.retransmits} retransmits)`);
    }
  }
  return { runs, seconds };
}
