/**
 * `npm run bench` (add `-- --quick` for a few seconds per measure): compares netstack's host
 * with a minimal C program that answers on a TUN device (bench/c/tun_echo.c), under the same
 * traffic from the same kernel, inside a network namespace this benchmark creates and deletes.
 *
 * Measures (each against both targets, one target running at a time):
 * - UDP echo rate: bench/c/udp_flood.c sends N datagrams with at most W unanswered and counts
 *   the echoes (64 B and 1400 B payloads, IPv4; 64 B over IPv6).
 * - UDP round trip with one datagram in flight (udp_flood, window 1): median and mean.
 * - ping round trip: `ping -c N -i 0.002 -q`, avg and mdev.
 *
 * - TCP throughput (bench/tcp.ts): netstack's TCP over TUN against the kernel's, stack → kernel
 *   and kernel → stack, one flow and eight, beside kernel-to-kernel TCP over a veth pair with
 *   offloads on and off. `--tcp-only` runs only this part, `--no-tcp` skips it.
 *
 * Prints markdown tables and machine info; writes JSON to bench/results/latest.json.
 * Needs root (namespaces, TUN devices) and a C compiler. Everything is bounded in count and time.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTcpBenchTools, runTcpBench, tcpMedians, tcpTable, type TcpBenchResult } from './tcp.js';

const here = dirname(fileURLToPath(import.meta.url));
/** Project root: this file runs as dist/bench/main.js. */
const root = join(here, '..', '..');
const cSources = join(root, 'bench', 'c');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');

const quick = process.argv.includes('--quick');
const tcpOnly = process.argv.includes('--tcp-only');
const noTcp = process.argv.includes('--no-tcp');
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    'Usage: npm run bench [-- --quick] [-- --tcp-only | --no-tcp]\n' +
      '  --quick     a few seconds per measure instead of the full runs (5 repetitions, median)\n' +
      '  --tcp-only  only the TCP throughput measures\n' +
      '  --no-tcp    only the UDP/ICMP measures\n',
  );
  process.exit(0);
}

const PORT = 8000;
/** Both targets run at once, each on its own device and subnet; measures alternate between them. */
const TARGETS = {
  netstack: { v4: '10.0.0.2', v6: 'fd00::2' },
  c: { v4: '10.0.1.2', v6: 'fd01::2' },
} as const;
type Target = keyof typeof TARGETS;
const REPS = quick ? 1 : 5;
const FLOOD_LIMIT_S = quick ? 3 : 10;
/** The whole benchmark stops, whatever state it is in, after this long. */
const OVERALL_LIMIT_MS = (quick ? 5 : 20) * 60_000;

interface Measure {
  key: string;
  label: string;
  unit: string;
  higherIsBetter: boolean;
  run(target: Target): number;
}

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

let ns: string | undefined;
let tmp: string | undefined;
const children: ChildProcess[] = [];

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function inNs(cmd: string, args: string[], timeoutMs: number): string {
  return execFileSync('ip', ['netns', 'exec', ns!, cmd, ...args], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

function flood(addr: string, count: number, window: number, size: number): FloodResult {
  const out = inNs(join(tmp!, 'udp_flood'), [addr, String(PORT), String(count), String(window), String(size), String(FLOOD_LIMIT_S), '100'], (FLOOD_LIMIT_S + 10) * 1000);
  const r = JSON.parse(out) as FloodResult;
  if (r.corrupt > 0) throw new Error(`udp_flood saw ${r.corrupt} corrupted echoes from ${addr}`);
  if (r.received < r.sent * 0.5) log(`warning: only ${r.received}/${r.sent} echoes from ${addr} (size ${size}, window ${window})`);
  else if (r.lost > 0) log(`    (${r.lost} of ${r.sent} datagrams unanswered)`);
  if (r.timed_out) log(`    (stopped at the ${FLOOD_LIMIT_S} s limit after ${r.sent} datagrams)`);
  return r;
}

function pingRtt(addr: string): { avg: number; mdev: number } {
  const count = quick ? 100 : 300;
  const r = spawnSync('ip', ['netns', 'exec', ns!, 'ping', '-n', '-q', '-c', String(count), '-i', '0.002', '-W', '1', '-w', '20', addr], { encoding: 'utf8', timeout: 30_000 });
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
  if (!m) throw new Error(`ping ${addr} gave no rtt line: ${r.stdout} ${r.stderr}`);
  return { avg: Number(m[2]) * 1000, mdev: Number(m[4]) * 1000 };
}

const big = quick ? 30_000 : 200_000;
const measures: Measure[] = [
  { key: 'udp4_64_kpps', label: 'UDP echo, IPv4, 64 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v4, big, 32, 64).pps / 1000 },
  { key: 'udp4_1400_kpps', label: 'UDP echo, IPv4, 1400 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v4, big, 32, 1400).pps / 1000 },
  { key: 'udp6_64_kpps', label: 'UDP echo, IPv6, 64 B, window 32', unit: 'kpps', higherIsBetter: true, run: (t) => flood(TARGETS[t].v6, big, 32, 64).pps / 1000 },
  { key: 'udp4_rtt_p50_us', label: 'UDP round trip, 1 in flight, median', unit: 'µs', higherIsBetter: false, run: (t) => flood(TARGETS[t].v4, quick ? 3000 : 20_000, 1, 64).rtt_us.p50 },
  { key: 'ping4_rtt_avg_us', label: 'ping (IPv4) round trip, avg', unit: 'µs', higherIsBetter: false, run: (t) => pingRtt(TARGETS[t].v4).avg },
  { key: 'ping6_rtt_avg_us', label: 'ping (IPv6) round trip, avg', unit: 'µs', higherIsBetter: false, run: (t) => pingRtt(TARGETS[t].v6).avg },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function waitReady(child: ChildProcess, what: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const t = setTimeout(() => done(new Error(`${what}: not ready after ${ms} ms; stdout: ${out} stderr: ${err}`)), ms);
    const onOut = (d: Buffer): void => {
      out += d.toString();
      if (/^ready/m.test(out)) done();
    };
    const onErr = (d: Buffer): void => {
      err += d.toString();
    };
    const onExit = (code: number | null): void => done(new Error(`${what} exited (${code}) before ready; stdout: ${out} stderr: ${err}`));
    const done = (e?: Error): void => {
      clearTimeout(t);
      child.stdout!.off('data', onOut);
      child.stderr!.off('data', onErr);
      child.off('exit', onExit);
      if (e) reject(e);
      else resolve();
    };
    child.stdout!.on('data', onOut);
    child.stderr!.on('data', onErr);
    child.on('exit', onExit);
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
}

async function startNetstack(): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns!, process.execPath, cli, 'host', '--dev', 'tun0', '--udp-echo', String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  await waitReady(child, 'netstack host', 15_000);
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

async function startCEcho(): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', ns!, join(tmp!, 'tun_echo'), 'tunc', String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  await waitReady(child, 'tun_echo', 10_000);
  inNs('ip', ['addr', 'add', '10.0.1.1/24', 'dev', 'tunc'], 5000);
  inNs('ip', ['-6', 'addr', 'add', 'fd01::1/64', 'dev', 'tunc', 'nodad'], 5000);
  inNs('ip', ['link', 'set', 'tunc', 'mtu', '1500', 'up'], 5000);
  child.stdout!.resume();
  child.stderr!.resume();
  return child;
}

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (ns) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  ns = undefined;
  tmp = undefined;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    log('needs root: it creates a network namespace and TUN devices (try: sudo npm run bench)');
    return 1;
  }
  for (const tool of ['cc', 'ip', 'ping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
      log(`'${tool}' is not installed`);
      return 1;
    }
  }
  const overall = setTimeout(() => {
    log(`overall limit of ${OVERALL_LIMIT_MS / 1000} s reached, stopping`);
    cleanup();
    process.exit(1);
  }, OVERALL_LIMIT_MS);
  overall.unref();

  const loadAtStart = Number(loadavg()[0]!.toFixed(2));
  if (loadAtStart > 0.5 * availableParallelism()) log(`note: load average is ${loadAtStart} on ${availableParallelism()} CPUs; expect noisy numbers`);
  tmp = mkdtempSync(join(tmpdir(), 'netstack-bench-'));
  for (const prog of ['tun_echo', 'udp_flood']) {
    execFileSync('cc', ['-O2', '-Wall', '-o', join(tmp, prog), join(cSources, `${prog}.c`)], { stdio: 'inherit', timeout: 60_000 });
  }
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', join(tmp, 'tcp_bulk'), join(cSources, 'tcp_bulk.c')], { stdio: 'inherit', timeout: 60_000 });
  if (!noTcp) ensureTcpBenchTools(log);
  const results: Record<string, { netstack: number[]; c: number[] }> = {};
  for (const m of measures) results[m.key] = { netstack: [], c: [] };
  if (!tcpOnly) await runUdp(results);
  let tcp: TcpBenchResult | undefined;
  if (!noTcp) tcp = await runTcpBench({ quick, binDir: tmp, log });
  return report(results, loadAtStart, tcp);
}

async function runUdp(results: Record<string, { netstack: number[]; c: number[] }>): Promise<void> {
  ns = `nsbench-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  inNs('ip', ['link', 'set', 'lo', 'up'], 5000);

  const netstack = await startNetstack();
  const cEcho = await startCEcho();
  try {
    // Warm-up (JIT, neighbour and route caches); not measured.
    for (const t of ['netstack', 'c'] as const) {
      flood(TARGETS[t].v4, 5000, 32, 64);
      flood(TARGETS[t].v6, 2000, 32, 64);
    }
    // Each measure runs on both targets back to back, so that both see the same machine load;
    // the order alternates between repetitions.
    for (let rep = 0; rep < REPS; rep++) {
      log(`run ${rep + 1}/${REPS}`);
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
    await stop(netstack);
    await stop(cEcho);
  }
  spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  ns = undefined;
}

function report(results: Record<string, { netstack: number[]; c: number[] }>, loadAtStart: number, tcp: TcpBenchResult | undefined): number {
  const info = {
    date: new Date().toISOString(),
    /** 1-minute load average before and after: other work on the machine skews the numbers. */
    loadBefore: loadAtStart,
    loadAfter: Number(loadavg()[0]!.toFixed(2)),
    quick,
    repetitions: REPS,
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    netstack: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
  };
  const rows = (tcpOnly ? [] : measures).map((m) => {
    const n = median(results[m.key]!.netstack);
    const c = median(results[m.key]!.c);
    // Each run measured both targets back to back: the median of the paired ratios is less
    // sensitive to load that changes between runs than the ratio of the medians.
    const runs = results[m.key]!;
    const ratio = median(runs.netstack.map((v, i) => v / runs.c[i]!));
    return { key: m.key, measure: `${m.label} (${m.unit}, ${m.higherIsBetter ? 'higher' : 'lower'} is better)`, unit: m.unit, netstack: n, c, ratio, runs };
  });

  const lines = [
    `Machine: ${info.nproc} CPU (${info.cpu}), ${info.memGiB} GiB, Linux ${info.kernel}, Node ${info.node}; load average ${info.loadBefore} before, ${info.loadAfter} after; ${quick ? 'quick run' : `median of ${REPS} runs`}, ${info.date}`,
    '',
  ];
  if (!tcpOnly) {
    lines.push(
      '| measure | netstack | C echo | ratio netstack / C |',
      '|---|---:|---:|---:|',
      ...rows.map((r) => `| ${r.measure} | ${fmt(r.netstack)} | ${fmt(r.c)} | ${r.ratio.toFixed(2)} |`),
      '',
      `Values are medians${quick ? '' : ` of ${REPS} runs`}; the ratio is the median of the per-run ratios (both targets measured back to back).`,
    );
  }
  if (tcp) {
    lines.push(
      ...(tcpOnly ? [] : ['']),
      ...tcpTable(tcp),
      '',
      `TCP: medians of ${tcp.repetitions} run(s) of ${tcp.seconds} s each after a 1 s warm-up; the ratios are medians of the per-run ratios; netstack's device has no offloads (one packet per segment, MTU 1500).`,
      ...tcp.notes.map((n) => `Note: ${n}.`),
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ info, rows, tcp: tcp ? { seconds: tcp.seconds, repetitions: tcp.repetitions, notes: tcp.notes, rows: tcpMedians(tcp) } : undefined }, null, 2) + '\n');
  log(`wrote bench/results/latest.json`);
  return 0;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    cleanup();
    process.exit(130);
  });
}

main()
  .then((code) => {
    cleanup();
    process.exit(code);
  })
  .catch((e: unknown) => {
    log(`failed: ${(e as Error).stack ?? e}`);
    cleanup();
    process.exit(1);
  });
