/**
 * TCP over the deterministic network simulator: byte-exact transfers with clean closes over
 * hundreds of seeds and impairment settings, determinism, and the throughput-matrix snapshot
 * (test/sim/throughput-matrix.json; `UPDATE_SNAPSHOTS=1 npm test` rewrites it).
 *
 * Every failing case prints the command that replays it verbosely:
 *   npm run build && node scripts/sim.mjs --seed S --loss L ... --verbose
 * More seeds outside npm test: node scripts/sim.mjs --count 5000.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTcpCase, randomTcpCase, tcpAvailable, tcpCaseCommand, type TcpCaseParams, type TcpCaseResult } from '../../src/sim/tcp-case.js';
import { throughputMatrix, formatMatrix, type ThroughputMatrix } from '../../src/sim/matrix.js';

const HAVE_TCP = tcpAvailable();
const skip = HAVE_TCP ? false : 'stack.tcp is not available in this build';

/** Random cases in npm test (seeds 1..RANDOM_CASES); `SIM_CASES=n` overrides. */
const RANDOM_CASES = Number(process.env.SIM_CASES ?? 400);
/** Largest transfer of a random case in npm test (scripts/sim.mjs goes to 2 MiB). */
const RANDOM_MAX_BYTES = 2 * 1024 * 1024;

function explain(r: TcpCaseResult): string {
  const net = r.net.map((d) => `${d.name} sent ${d.sent} delivered ${d.delivered} dropped ${JSON.stringify(d.dropped)}`).join('; ');
  return [
    ...r.failures,
    `client ${JSON.stringify(r.client)}`,
    `server ${JSON.stringify(r.server)}`,
    `net: ${net}`,
    `stack drops: ${JSON.stringify(r.drops)}`,
    `replay: ${tcpCaseCommand(r.params)}`,
  ].join('\n  ');
}

function check(p: Partial<TcpCaseParams>): TcpCaseResult {
  const r = runTcpCase(p);
  assert.ok(r.ok, explain(r));
  return r;
}

describe('TCP over SimNetwork: fixed cases', { skip }, () => {
  test('perfect path, 1 MiB upload: byte-exact, clean close, no retransmissions', () => {
    const r = check({ seed: 1, bytes: 1024 * 1024, delayMs: 5, bandwidthBps: 100e6 });
    assert.equal(r.client.retransmits, 0, explain(r));
    assert.deepEqual(r.drops, { client: {}, server: {} });
    // 1 MiB at 100 Mbit/s is 84 ms of serialization at least; slow start adds a few RTTs.
    assert.ok(r.transferMs > 84 && r.transferMs < 2000, `${r.transferMs}`);
  });

  test('perfect path, 512 KiB echo over Ethernet/IPv6', () => {
    check({ seed: 2, bytes: 512 * 1024, mode: 'echo', kind: 'ethernet', family: 6, delayMs: 20, bandwidthBps: 10e6 });
  });

  for (const loss of [0.01, 0.03, 0.1]) {
    for (const mtu of [576, 1280, 1500, 9000]) {
      test(`loss ${loss * 100} %, MTU ${mtu}, 256 KiB upload`, () => {
        check({ seed: 100 + mtu + Math.round(loss * 1000), bytes: 256 * 1024, loss, mtu, delayMs: 10, bandwidthBps: 100e6 });
      });
    }
  }

  test('reordering, duplication and corruption together, echo', () => {
    check({ seed: 3, bytes: 256 * 1024, mode: 'echo', reorder: 0.05, duplicate: 0.03, corrupt: 0.02, delayMs: 15, bandwidthBps: 50e6 });
  });

  test('a shallow bottleneck queue (tail drops) at 1 Mbit/s with a 4 MiB window', () => {
    const r = check({ seed: 4, bytes: 256 * 1024, bandwidthBps: 1e6, queueLimit: 10, rcvBuf: 4 * 1024 * 1024, delayMs: 50 });
    assert.ok(r.net[0]!.dropped.queue > 0, 'the queue overflowed');
  });

  test('a receiver that pauses reading: zero window, persist probes, window updates', () => {
    const r = check({ seed: 7, bytes: 512 * 1024, rcvBuf: 64 * 1024, pauseMs: 1000, delayMs: 5 });
    // Four pauses of 1 s, each after 128 KiB.
    assert.ok(r.transferMs > 3000, `${r.transferMs}`);
  });

  test('a 10 s outage mid-transfer: RTO backoff, then recovery', () => {
    const r = check({ seed: 8, bytes: 512 * 1024, outageMs: 10_000, mode: 'echo' });
    assert.ok(r.transferMs > 10_000 && r.transferMs < 40_000, `${r.transferMs}`);
    assert.ok(r.net[0]!.dropped.loss > 0);
  });

  test('tiny transfers: 0 and 1 bytes, echo of 1000', () => {
    check({ seed: 9, bytes: 0 });
    check({ seed: 9, bytes: 1 });
    check({ seed: 9, bytes: 1000, mode: 'echo', kind: 'ethernet', family: 6 });
  });

  test('same seed → same trace; a different seed → a different trace', () => {
    const p: Partial<TcpCaseParams> = { seed: 5, bytes: 128 * 1024, loss: 0.03, reorder: 0.05, duplicate: 0.02, corrupt: 0.01, mode: 'echo' };
    const r1 = check(p);
    const r2 = check(p);
    const r3 = check({ ...p, seed: 6 });
    assert.equal(r1.traceHash, r2.traceHash);
    assert.equal(r1.timeMs, r2.timeMs);
    assert.deepEqual(r1.net, r2.net);
    assert.notEqual(r1.traceHash, r3.traceHash);
  });
});

describe(`TCP over SimNetwork: ${RANDOM_CASES} random cases`, { skip }, () => {
  for (let seed = 1; seed <= RANDOM_CASES; seed++) {
    const p = randomTcpCase(seed, { maxBytes: RANDOM_MAX_BYTES });
    const name =
      `seed ${seed}: ${p.mode} ${p.bytes} B ${p.kind}/IPv${p.family} mtu ${p.mtu} ${p.delayMs} ms ${p.bandwidthBps / 1e6} Mbit/s` +
      ` q ${p.queueLimit} loss ${p.loss} reo ${p.reorder} dup ${p.duplicate} cor ${p.corrupt} rcvbuf ${p.rcvBuf} cc ${p.cc}` +
      (p.pauseMs > 0 ? ` pause ${p.pauseMs}` : '') +
      (p.outageMs > 0 ? ` outage ${p.outageMs}` : '');
    test(name, () => {
      // Every random case without corruption also checks the senders against the right edges
      // the peers advertised (corrupted frames are delivered, then dropped by the checksum).
      const w = p.corrupt === 0 ? watchRightEdges(p.kind) : undefined;
      const r = runTcpCase(p, w ? { onWorld: w.hook } : {});
      assert.ok(r.ok, explain(r));
      if (w) assert.deepEqual(w.violations.slice(0, 5), [], explain(r));
    });
  }
});

// ---- TCP issues the simulator found (regression tests; new ones start as `todo`) -----------------

/** The TCP header of a frame on a SimLink (IPv4/IPv6, over 'ip' or 'ethernet'), or undefined. */
function tcpOf(kind: 'ip' | 'ethernet', f: Uint8Array) {
  let off = 0;
  if (kind === 'ethernet') {
    if (((f[12]! << 8) | f[13]!) === 0x0806) return undefined;
    off = 14;
  }
  const v = f[off]! >> 4;
  let l4: number;
  let end: number;
  if (v === 4) {
    if (f[off + 9] !== 6 || (((f[off + 6]! << 8) | f[off + 7]!) & 0x3fff) !== 0) return undefined;
    l4 = off + (f[off]! & 15) * 4;
    end = off + ((f[off + 2]! << 8) | f[off + 3]!);
  } else if (v === 6) {
    if (f[off + 6] !== 6) return undefined;
    l4 = off + 40;
    end = l4 + ((f[off + 4]! << 8) | f[off + 5]!);
  } else return undefined;
  const u32 = (i: number) => ((f[i]! << 24) | (f[i + 1]! << 16) | (f[i + 2]! << 8) | f[i + 3]!) >>> 0;
  const doff = (f[l4 + 12]! >> 4) * 4;
  const flags = f[l4 + 13]!;
  let wscale: number | undefined;
  for (let i = l4 + 20; i < l4 + doff; ) {
    const k = f[i]!;
    if (k === 0) break;
    if (k === 1) {
      i++;
      continue;
    }
    if (k === 3) wscale = f[i + 2]!;
    i += Math.max(2, f[i + 1]!);
  }
  const fin = flags & 1 ? 1 : 0;
  const syn = flags & 2 ? 1 : 0;
  return { seq: u32(l4 + 4), ack: u32(l4 + 8), ackFlag: (flags & 16) !== 0, syn: syn === 1, window: (f[l4 + 14]! << 8) | f[l4 + 15]!, wscale, len: end - l4 - doff + fin + syn };
}

/**
 * Watches the wire: every segment a side sends must end at or before the largest right edge
 * (SEG.ACK + SEG.WND, scaled) among the segments the other side delivered to it so far (RFC
 * 9293 §3.8.6.2.1: the usable window is SND.UNA + SND.WND - SND.NXT). Returns the violations.
 * Needs a case without corruption (a corrupted frame is delivered, then dropped by its checksum).
 */
function watchRightEdges(kind: 'ip' | 'ethernet', onWorld?: (w: import('../../src/sim/world.js').SimWorld) => void) {
  const violations: string[] = [];
  const edge = new Map<string, number>(); // by sending direction: the edge the sender knows
  const synWscale = new Map<string, number>(); // by direction: shift announced in that direction's SYN
  const other = (dir: string) => dir.replace(/(\w)>(\w)$/, '$2>$1');
  const hook = (w: import('../../src/sim/world.js').SimWorld) => {
    w.onEvent = (e) => {
      const t = tcpOf(kind, e.frame);
      if (!t) return;
      if (t.syn && t.wscale !== undefined) synWscale.set(e.dir, t.wscale);
      if (e.what === 'deliver' && t.ackFlag) {
        // The receiver of this frame (the sender of data in the other direction) learns an edge.
        const both = synWscale.has(e.dir) && synWscale.has(other(e.dir));
        const shift = t.syn || !both ? 0 : synWscale.get(e.dir)!;
        const right = (t.ack + (t.window << shift)) >>> 0;
        const prev = edge.get(other(e.dir));
        if (prev === undefined || ((right - prev) | 0) > 0) edge.set(other(e.dir), right);
      } else if (e.what === 'send' && !t.syn && t.len > 0) {
        const right = edge.get(e.dir);
        const segEnd = (t.seq + t.len) >>> 0;
        if (right !== undefined && ((segEnd - right) | 0) > 0) {
          violations.push(`${e.time.toFixed(3)} ${e.dir}: seq ${t.seq} len ${t.len} ends ${(segEnd - right) | 0} bytes beyond the advertised edge ${right}`);
        }
      }
    };
    onWorld?.(w);
  };
  return { violations, hook };
}

describe('TCP over SimNetwork: issues found by the simulator', { skip }, () => {
  test('the sender never sends beyond the right edge the peer advertised', () => {
    // Found with seed 148: a window update skipped for an ACK-advancing segment with
    // SEG.SEQ < SND.WL1 left SND.WND anchored to an old SND.UNA (fixed in input.ts, Linux
    // tcp_may_update_window). Old duplicates (a retransmission of data the peer already has)
    // are counted as tcp.old_duplicate, not tcp.out_of_window.
    const cases: Partial<TcpCaseParams>[] = [
      { seed: 148, bytes: 263045, mode: 'echo', family: 6, mtu: 1280, delayMs: 1, bandwidthBps: 1e6, rcvBuf: 16384, sndBuf: 65536, cc: 'cubic', outageMs: 100 },
      { seed: 11, bytes: 300_000, mode: 'echo', rcvBuf: 8192, loss: 0.03, reorder: 0.05, delayMs: 5, bandwidthBps: 10e6 },
      { seed: 12, bytes: 512 * 1024, kind: 'ethernet', rcvBuf: 64 * 1024, pauseMs: 300, loss: 0.01, delayMs: 10 },
      { seed: 13, bytes: 1024 * 1024, rcvBuf: 4 * 1024 * 1024, queueLimit: 50, bandwidthBps: 20e6, delayMs: 20 },
    ];
    for (const p of cases) {
      const w = watchRightEdges(p.kind ?? 'ip');
      const r = runTcpCase(p, { onWorld: w.hook });
      assert.ok(r.ok, explain(r));
      assert.deepEqual(w.violations.slice(0, 5), [], explain(r));
      assert.equal(r.drops.server!['tcp.out_of_window'] ?? 0, 0, explain(r));
      assert.equal(r.drops.client!['tcp.out_of_window'] ?? 0, 0, explain(r));
    }
    const r = runTcpCase(cases[0]!);
    assert.ok(r.timeMs < 3 * r.estimateMs, `${r.timeMs} ms, estimate ${r.estimateMs} ms\n  ${explain(r)}`);
  });

  test('a lost retransmission is detected by RACK (SACKs of later segments), not by the RTO', () => {
    // RFC 8985 §6.2 step 2: SACKed retransmissions advance RACK.xmit_ts although the ACK's TSecr
    // (RFC 7323 §4.3: an older in-order segment's TSval) predates them.
    let world: import('../../src/sim/world.js').SimWorld | undefined;
    const p: Partial<TcpCaseParams> = { seed: 1, bytes: 2 * 1024 * 1024, queueLimit: 200, sndBuf: 4 * 1024 * 1024, rcvBuf: 1024 * 1024 };
    const r = runTcpCase(p, { onWorld: (w) => (world = w) });
    assert.ok(r.ok, explain(r));
    const client = world!.stacks[0]!.counters;
    assert.equal(client.get('tcp.rto_timeouts'), 0, explain(r));
    assert.ok(r.net[0]!.dropped.queue > 0 && client.get('tcp.rack_losses') >= r.net[0]!.dropped.queue, explain(r));
  });

  test('a receive buffer under 2 MSS does not wait for the delayed ACK after each segment', () => {
    // Seed 50132: 16 KiB buffer, 8928-byte MSS. The sender can have one full segment in flight;
    // the receiver must announce the reopened window when the application reads (Linux
    // __tcp_cleanup_rbuf; RFC 9293 §3.8.6.2.2), not 40 ms later with the delayed ACK.
    const p: Partial<TcpCaseParams> = { seed: 50132, bytes: 1052109, family: 6, mtu: 9000, bandwidthBps: 10e6, rcvBuf: 16384, cc: 'newreno' };
    const r = check(p);
    const segments = Math.ceil(p.bytes! / 8928);
    // One segment per round trip: ~10 ms each way + 7.2 ms of serialization, no 40 ms delay.
    assert.ok(r.transferMs < segments * 30, `${r.transferMs} ms for ${segments} segments\n  ${explain(r)}`);
  });

  test('pure reordering (25 %, no loss) causes few spurious retransmissions', () => {
    // Measured against the Linux receiver (5 ms, 25 % reordering, 10 MiB upload): 1217
    // retransmissions, nearly all reported duplicate by the kernel, 6.4 Mbit/s. Simulated
    // before the fix (seed 1, 10 MiB): 587 retransmissions, 549 duplicates at the receiver,
    // 5.7 Mbit/s. Causes: DupThresh (RFC 6675 IsLost, NextSeg rules 3/4) still marked losses
    // after RACK had seen reordering; spurious recoveries were never undone. Now: RACK alone
    // once reordering is seen (RFC 8985 §6.2), D-SACK/Eifel undo, PAWS lets disordered
    // duplicate ACKs through (Linux tcp_disordered_ack).
    for (const seed of [1, 2]) {
      let world: import('../../src/sim/world.js').SimWorld | undefined;
      const p: Partial<TcpCaseParams> = { seed, bytes: 4 * 1024 * 1024, reorder: 0.25, delayMs: 5 };
      const r = runTcpCase(p, { onWorld: (w) => (world = w) });
      assert.ok(r.ok, explain(r));
      const client = world!.stacks[0]!.counters;
      const server = world!.stacks[1]!.counters;
      const segments = Math.ceil(p.bytes! / 1448);
      const dup = server.get('tcp.duplicate_data');
      const rtx = client.get('tcp.retransmits');
      assert.ok(dup < 0.05 * segments, `${dup} duplicate segments at the receiver of ${segments}\n  ${explain(r)}`);
      assert.ok(rtx < 0.05 * segments, `${rtx} retransmissions of ${segments} segments\n  ${explain(r)}`);
      assert.ok(client.get('tcp.rack_losses') < 0.05 * segments, explain(r));
      // 100 Mbit/s link: before the fix ~6 Mbit/s.
      assert.ok(r.goodputMbps > 40, `${r.goodputMbps} Mbit/s\n  ${explain(r)}`);
    }
  });
});

// ---- throughput matrix snapshot ----------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url));
/** dist/test/unit → <root>/test/sim (SIM_SNAPSHOT_DIR overrides). */
const SNAPSHOT = join(process.env.SIM_SNAPSHOT_DIR ?? join(here, '..', '..', '..', 'test', 'sim'), 'throughput-matrix.json');

function diffMatrix(old: ThroughputMatrix, now: ThroughputMatrix): string {
  const lines: string[] = [];
  if (JSON.stringify(old.base) !== JSON.stringify(now.base)) lines.push(`base: ${JSON.stringify(old.base)} → ${JSON.stringify(now.base)}`);
  for (const c of now.cells) {
    const o = old.cells.find((x) => x.loss === c.loss && x.rcvBuf === c.rcvBuf);
    if (!o) lines.push(`new cell loss ${c.loss} rcvbuf ${c.rcvBuf}: ${JSON.stringify(c)}`);
    else if (JSON.stringify(o) !== JSON.stringify(c)) {
      lines.push(
        `loss ${c.loss} rcvbuf ${c.rcvBuf}: goodput ${o.goodputMbps} → ${c.goodputMbps} Mbit/s, ` +
          `transfer ${o.transferMs} → ${c.transferMs} ms, retransmits ${o.retransmits} → ${c.retransmits}, ok ${o.ok} → ${c.ok}`,
      );
    }
  }
  for (const o of old.cells) if (!now.cells.some((c) => c.loss === o.loss && c.rcvBuf === o.rcvBuf)) lines.push(`removed cell ${JSON.stringify(o)}`);
  return lines.join('\n');
}

describe('TCP throughput matrix', { skip }, () => {
  test('goodput over loss × receive buffer matches test/sim/throughput-matrix.json', (t) => {
    const m = throughputMatrix();
    for (const c of m.cells) assert.ok(c.ok, `cell loss ${c.loss} rcvbuf ${c.rcvBuf} failed: replay with node scripts/sim.mjs --matrix`);
    const text = JSON.stringify(m, null, 2) + '\n';
    if (process.env.UPDATE_SNAPSHOTS === '1' || !existsSync(SNAPSHOT)) {
      mkdirSync(dirname(SNAPSHOT), { recursive: true });
      writeFileSync(SNAPSHOT, text);
      t.diagnostic(`wrote ${SNAPSHOT}\n${formatMatrix(m)}`);
      return;
    }
    const old = JSON.parse(readFileSync(SNAPSHOT, 'utf8')) as ThroughputMatrix;
    const diff = diffMatrix(old, m);
    assert.ok(
      diff === '' && JSON.stringify(old) === JSON.stringify(m),
      `the throughput matrix changed (UPDATE_SNAPSHOTS=1 npm test accepts it):\n${diff}\n` +
        `snapshot:\n${formatMatrix(old)}\nnow:\n${formatMatrix(m)}`,
    );
    // Sanity, independent of the snapshot: no loss beats 3 % loss; a bigger window helps without loss.
    const at = (loss: number, buf: number) => m.cells.find((c) => c.loss === loss && c.rcvBuf === buf)!.goodputMbps;
    assert.ok(at(0, 1024 * 1024) > at(0.03, 1024 * 1024));
    assert.ok(at(0, 1024 * 1024) > at(0, 64 * 1024));
  });
});
