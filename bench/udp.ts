/**
 * UDP echo and ping: netstack's host against a minimal C program that answers on a TUN device
 * (bench/c/tun_echo.c), under the same traffic from the same kernel, inside a network namespace
 * created here. Both targets run at once, each on its own device and subnet; the measures
 * alternate between them.
 *
 * - UDP echo rate: bench/c/udp_flood.c sends N datagrams with at most W unanswered and counts
 *   the echoes (64 B and 1400 B payloads, IPv4; 64 B over IPv6).
 * - UDP round trip with one datagram in flight (udp_flood, window 1): median.
 * - ping round trip: `ping -c N -i 0.002 -q`, avg.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, createNs, deleteNs, fmt, inNs, median, spawnTracked, stopChild, waitLine, type Log } from './util.js';

const PORT = 8000;
const TARGETS = {
  netstack: { v4: '10.0.0.2', v6: 'fd00::2' },
  c: { v4: '10.0.1.2', v6: 'fd01::2' },
} as const;
type Target = keyof typeof TARGETS;

interface FloodResult {
  sent: number;
  received: number;
  lost: number;
  corrupt: number;
  timed_out: boolean;
  elapsed_s: number;
  pps: number;
  rtt_us: { min: number; avg: number; p50: number; p99: number; max: number };
}

export interface UdpRow {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  netstack: number;
  c: number;
  /** Median of the per-run ratios netstack / C. */
  ratio: number;
  runs: { netstack: number[]; c: number[] };
}

export interface UdpBenchResult {
  rows: UdpRow[];
  repetitions: number;
}

export async function runUdpBench(opts: { quick: boolean; binDir: string; log: Log }): Promise<UdpBenchResult> {
  const { quick, log } = opts;
  const reps = quick ? 1 : 5;
  const floodLimitS = quick ? 3 : 10;
  const ns = createNs(`nsbench-${process.pid}`);

  const flood = (addr: string, count: number, window: number, size: number): FloodResult => {
    const out = inNs(ns, join(opts.binDir, 'udp_flood'), [addr, String(PORT), String(count), String(window), String(size), String(floodLimitS), '100'], (floodLimitS + 10) * 1000);
    const r = JSON.parse(out) as FloodResult;
    if (r.corrupt > 0) throw new Error(`udp_flood saw ${r.corrupt} corrupted echoes from ${addr}`);
    if (r.received < r.sent * 0.5) log(`warning: only ${r.received}/${r.sent} echoes from ${addr} (size ${size}, window ${window})`);
    else if (r.lost > 0) log(`    (${r.lost} of ${r.sent} datagrams unanswered)`);
    if (r.timed_out) log(`    (stopped at the ${floodLimitS} s limit after ${r.sent} datagrams)`);
    return r;
  };
  const pingRtt = (addr: string): number => {
    const count = quick ? 100 : 300;
    const r = spawnSync('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', String(count), '-i', '0.002', '-W', '1', '-w', '20', addr], { encoding: 'utf8', timeout: 30_000 });
    const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
    if (!m) throw new Error(`ping ${addr} gave no rtt line: ${r.stdout} ${r.stderr}`);
    return Number(m[2]) * 1000;
  };
  const big = quick ? 30_000 : 200_000;
  const measures: Array<{ key: string; label: string; unit: string; higherIsBetter: boolean; run: (t: Target) => number }> = [
    { key: 'udp4_64_kpps', label: 'UDP echo, IPv4, 64 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v4, big, 32, 64).pps / 1000 },
    { key: 'udp4_1400_kpps', label: 'UDP echo, IPv4, 1400 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v4, big, 32, 1400).pps / 1000 },
    { key: 'udp6_64_kpps', label: 'UDP echo, IPv6, 64 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v6, big, 32, 64).pps / 1000 },
    { key: 'udp4_rtt_p50_us', label: 'UDP round trip, 1 in flight, median', unit: 'µs', higherIsBetter: false, run: (t) => flood(TARGETS[t].v4, quick ? 3000 : 20_000, 1, 64).rtt_us.p50 },
    { key: 'ping4_rtt_avg_us', label: 'ping (IPv4) round trip, avg', unit: 'µs', higherIsBetter: false, run: (t) => pingRtt(TARGETS[t].v4) },
    { key: 'ping6_rtt_avg_us', label: 'ping (IPv6) round trip, avg', unit: 'µs', higherIsBetter: false, run: (t) => pingRtt(TARGETS[t].v6) },
  ];
  const results: Record<string, { netstack: number[]; c: number[] }> = {};
  for (const m of measures) results[m.key] = { netstack: [], c: [] };

  const netstack = spawnTracked('ip', ['netns', 'exec', ns, process.execPath, cli, 'host', '--dev', 'tun0', '--udp-echo', String(PORT)]);
  const cEcho = spawnTracked('ip', ['netns', 'exec', ns, join(opts.binDir, 'tun_echo'), 'tunc', String(PORT)]);
  try {
    for (const c of [netstack, cEcho]) c.stdin!.end();
    await waitLine(netstack, /^ready/, 'netstack host', 30_000);
    await waitLine(cEcho, /^ready/, 'tun_echo', 10_000);
    inNs(ns, 'ip', ['addr', 'add', '10.0.1.1/24', 'dev', 'tunc']);
    inNs(ns, 'ip', ['-6', 'addr', 'add', 'fd01::1/64', 'dev', 'tunc', 'nodad']);
    inNs(ns, 'ip', ['link', 'set', 'tunc', 'mtu', '1500', 'up']);
    for (const c of [netstack, cEcho]) {
      c.stdout!.resume();
      c.stderr!.resume();
    }
    // Warm-up (JIT, neighbour and route caches); not measured.
    for (const t of ['netstack', 'c'] as const) {
      flood(TARGETS[t].v4, 5000, 32, 64);
      flood(TARGETS[t].v6, 2000, 32, 64);
    }
    // Each measure runs on both targets back to back, so that both see the same machine load;
    // the order alternates between repetitions.
    for (let rep = 0; rep < reps; rep++) {
      log(`udp run ${rep + 1}/${reps}`);
      for (const m of measures) {
        const order: Target[] = rep % 2 === 0 ? ['netstack', 'c'] : ['c', 'netstack'];
        for (const t of order) {
          const v = m.run(t);
          results[m.key]![t].push(v);
          log(`  ${m.label}, ${t === 'c' ? 'C echo' : 'netstack'}: ${fmt(v)} ${m.unit}`);
        }
      }
    }
  } finally {
    await stopChild(netstack);
    await stopChild(cEcho);
    deleteNs(ns);
  }
  const rows = measures.map((m) => {
    const runs = results[m.key]!;
    // Each run measured both targets back to back: the median of the paired ratios is less
    // sensitive to load that changes between runs than the ratio of the medians.
    return {
      key: m.key,
      label: m.label,
      unit: m.unit,
      higherIsBetter: m.higherIsBetter,
      netstack: median(runs.netstack),
      c: median(runs.c),
      ratio: median(runs.netstack.map((v, i) => v / runs.c[i]!)),
      runs,
    };
  });
  return { rows, repetitions: reps };
}
