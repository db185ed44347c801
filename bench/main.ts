/**
 * `npm run bench`: every measure of the performance issue's targets, each beside its same-run
 * baseline, inside network namespaces this benchmark creates and deletes.
 *
 * Parts (each in its own file, run in this order):
 * - udp     (udp.ts)    UDP echo rate and round trip, ping: netstack host vs a C echo on a TUN.
 * - tcp     (tcp.ts)    TCP over TUN, the stack in this process, both directions, 1 and 8 flows,
 *                       vs kernel↔kernel TCP over veth with offloads on and off.
 * - memory  (memory.ts) two stacks in one process over the in-memory link, MTU 1500 and 65535.
 * - http    (http.ts)   wrk against Node `http` over netstack vs the same server over kernel TCP.
 * - idle    (idle.ts)   100,000 idle connections held by netstack host: its RSS.
 * - host    (host.ts)   TCP through netstack host: plain, --offload, --shards 1/2 (8 flows).
 * - loss    (loss.ts)   1 % loss, 10 ms RTT: netstack host --impair vs kernel↔kernel with netem.
 *
 * Prints the targets table, the detailed tables and machine info; writes JSON to
 * bench/results/latest.json. `--check` runs a quick run and compares it with the figures kept
 * for this kind of machine (check.ts), exiting 1 on a regression of more than 30 %;
 * `--save-baseline` keeps this run's figures as those. Needs root (namespaces, TUN devices) and
 * a C compiler. Everything is bounded in count and time; only its own processes are killed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ensureTcpBenchTools, runTcpBench, tcpMedians } from './tcp.js';
import { runUdpBench } from './udp.js';
import { runMemoryBench } from './memory.js';
import { runHttpBench } from './http.js';
import { runIdleBench } from './idle.js';
import { runHostBench } from './host.js';
import { runLossBench } from './loss.js';
import { baselinePath, bestOf, checkAgainstBaseline, machineKind, saveBaseline, type BaselineFile, type Figure } from './check.js';
import { detailTables, figures, targetRows, targetsTable, type BenchResults } from './report.js';
import { cleanupAll, has, root } from './util.js';

const PARTS = ['udp', 'tcp', 'memory', 'http', 'idle', 'host', 'loss'] as const;
type Part = (typeof PARTS)[number];

const argv = process.argv.slice(2);
if (argv.includes('--help') || argv.includes('-h')) {
  process.stdout.write(
    'Usage: npm run bench [-- OPTIONS]\n' +
      '  --quick           a few seconds per measure (one repetition) instead of the full runs\n' +
      '  --check           a quick run compared with bench/baselines/<machine kind>.json; exits 1\n' +
      '                    when a netstack figure is more than 30 % worse (run it on a quiet machine,\n' +
      '                    before and after performance work)\n' +
      '  --save-baseline   keep this run\'s figures as bench/baselines/<machine kind>.json\n' +
      `  --only P,Q        run only these parts (${PARTS.join(', ')})\n` +
      '  --skip P,Q        run all parts but these\n' +
      '  --tcp-only        same as --only tcp;  --no-tcp: same as --skip tcp\n' +
      `Machine kind of this machine: ${machineKind()}\n`,
  );
  process.exit(0);
}
const check = argv.includes('--check');
const quick = argv.includes('--quick') || check;
const saveBase = argv.includes('--save-baseline');
const listArg = (name: string): string[] | undefined => {
  const i = argv.findIndex((a) => a === name || a.startsWith(`${name}=`));
  if (i < 0) return undefined;
  const v = argv[i]!.includes('=') ? argv[i]!.slice(name.length + 1) : argv[i + 1];
  return (v ?? '').split(',').filter(Boolean);
};
let only = listArg('--only');
let skip = listArg('--skip') ?? [];
if (argv.includes('--tcp-only')) only = ['tcp'];
if (argv.includes('--no-tcp')) skip = [...skip, 'tcp'];
for (const p of [...(only ?? []), ...skip]) {
  if (!(PARTS as readonly string[]).includes(p)) {
    process.stderr.write(`[bench] unknown part '${p}' (parts: ${PARTS.join(', ')})\n`);
    process.exit(2);
  }
}
const selected = (p: Part): boolean => (only === undefined || only.includes(p)) && !skip.includes(p);

/** The whole benchmark stops, whatever state it is in, after this long. */
const OVERALL_LIMIT_MS = (quick ? 12 : 40) * 60_000;

let tmp: string | undefined;

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

function cleanup(): void {
  cleanupAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    log('needs root: it creates network namespaces and TUN devices (try: sudo npm run bench)');
    return 1;
  }
  for (const tool of ['cc', 'ip', 'ping']) {
    if (!has(tool)) {
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

  const started = Date.now();
  const loadAtStart = Number(loadavg()[0]!.toFixed(2));
  if (loadAtStart > 0.5 * availableParallelism()) log(`note: load average is ${loadAtStart} on ${availableParallelism()} CPUs; expect noisy numbers`);
  tmp = mkdtempSync(join(tmpdir(), 'netstack-bench-'));
  const cSources = join(root, 'bench', 'c');
  for (const prog of ['tun_echo', 'udp_flood', 'idle_conns', 'tun_relay']) {
    execFileSync('cc', ['-O2', '-Wall', '-o', join(tmp, prog), join(cSources, `${prog}.c`)], { stdio: 'inherit', timeout: 60_000 });
  }
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', join(tmp, 'tcp_bulk'), join(cSources, 'tcp_bulk.c')], { stdio: 'inherit', timeout: 60_000 });
  if (selected('tcp')) ensureTcpBenchTools(log);

  const opts = { quick, binDir: tmp, log };
  const timings: Record<string, number> = {};
  const results = await runParts(PARTS.filter(selected), opts, timings);
  const { code, figs, info } = report(results, loadAtStart, started, timings);
  if (!check) return code;
  const partial = only !== undefined || skip.length > 0;
  let outcome = checkAgainstBaseline(figs, quick, partial);
  const notes: string[] = [];
  if (!outcome.ok && existsSync(baselinePath())) {
    // Confirm before believing: re-run the parts with a figure that looks worse, and let the
    // better of the two measurements count. Load from other work makes single runs jump.
    const kept = JSON.parse(readFileSync(baselinePath(), 'utf8')) as BaselineFile;
    const partOf = (key: string): string | undefined => figs.find((f) => f.key === key)?.part ?? kept.figures.find((f) => f.key === key)?.part;
    const again = PARTS.filter((p) => outcome.regressedKeys.some((k) => partOf(k) === p));
    if (again.length > 0) {
      log(`--- check: re-running ${again.join(', ')} to confirm ${outcome.regressedKeys.length} figure(s) more than 30 % worse`);
      const second = await runParts(again, opts, {});
      outcome = checkAgainstBaseline(bestOf(figs, figures(second)), quick, partial);
      notes.push(`The part(s) with a figure more than 30 % worse (${again.join(', ')}) ran a second time; the better of the two measurements counts.`);
    }
  }
  if (info.loadBefore > 0.5 * info.nproc || info.loadAfter > 0.5 * info.nproc) {
    notes.push(`Warning: load average ${info.loadBefore} before and ${info.loadAfter} after on ${info.nproc} CPUs: other work competed with the benchmark, so the figures are unreliable; run the check again on a quiet machine.`);
  }
  process.stdout.write('\n' + [...outcome.lines, ...notes.flatMap((n) => ['', n])].join('\n') + '\n');
  return outcome.ok ? code : 1;
}

/** Runs the given parts in order; a part that fails is recorded in `errors` and the rest go on. */
async function runParts(parts: readonly Part[], opts: { quick: boolean; binDir: string; log: (m: string) => void }, timings: Record<string, number>): Promise<BenchResults> {
  const results: BenchResults = { errors: {}, skipped: PARTS.filter((p) => !parts.includes(p)) };
  const run = async <T>(part: Part, fn: () => Promise<T> | T, set: (v: T) => void): Promise<void> => {
    if (!parts.includes(part)) return;
    log(`--- ${part}`);
    const t0 = Date.now();
    try {
      set(await fn());
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      results.errors[part] = msg.split('\n')[0]!.slice(0, 300);
      log(`${part} failed: ${(e as Error).stack ?? msg}`);
    }
    timings[part] = Math.round((Date.now() - t0) / 1000);
  };
  await run('udp', () => runUdpBench(opts), (v) => (results.udp = v));
  await run('tcp', () => runTcpBench(opts), (v) => (results.tcp = v));
  await run('memory', () => runMemoryBench(opts), (v) => (results.memory = v));
  await run('http', () => runHttpBench(opts), (v) => (results.http = v));
  await run('idle', () => runIdleBench(opts), (v) => (results.idle = v));
  await run('host', () => runHostBench(opts), (v) => (results.host = v));
  await run('loss', () => runLossBench(opts), (v) => (results.loss = v));
  return results;
}

function report(results: BenchResults, loadAtStart: number, started: number, timings: Record<string, number>): { code: number; figs: Figure[]; info: { loadBefore: number; loadAfter: number; nproc: number } } {
  const info = {
    date: new Date().toISOString(),
    /** 1-minute load average before and after: other work on the machine skews the numbers. */
    loadBefore: loadAtStart,
    loadAfter: Number(loadavg()[0]!.toFixed(2)),
    quick,
    kind: machineKind(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    netstack: (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version,
    durationS: Math.round((Date.now() - started) / 1000),
    partSeconds: timings,
  };
  const targets = targetRows(results, quick);
  const figs = figures(results);
  const lines = [
    `Machine: ${info.nproc} CPU (${info.cpu}), ${info.memGiB} GiB, Linux ${info.kernel}, Node ${info.node}; kind ${info.kind}; load average ${info.loadBefore} before, ${info.loadAfter} after; ${quick ? 'quick run' : 'full run'}, ${info.durationS} s, ${info.date}`,
    '',
    '### Targets',
    '',
    ...targetsTable(targets),
    ...detailTables(results),
  ];
  process.stdout.write(lines.join('\n') + '\n');

  const json = {
    info,
    targets,
    figures: figs,
    errors: results.errors,
    skipped: results.skipped,
    udp: results.udp,
    tcp: results.tcp ? { seconds: results.tcp.seconds, repetitions: results.tcp.repetitions, notes: results.tcp.notes, rows: tcpMedians(results.tcp) } : undefined,
    memory: results.memory,
    http: results.http,
    idle: results.idle,
    host: results.host,
    loss: results.loss,
  };
  const outDir = join(root, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  // A check run must not replace the figures of the last real run.
  const outFile = check ? 'check.json' : 'latest.json';
  writeFileSync(join(outDir, outFile), JSON.stringify(json, null, 2) + '\n');
  log(`wrote bench/results/${outFile}`);
  let code = Object.keys(results.errors).length > 0 ? 1 : 0;
  if (saveBase) {
    if (Object.keys(results.errors).length > 0) log('not saving the baseline: some parts failed');
    else log(`kept this run's figures in ${saveBaseline(figs, { nproc: info.nproc, cpu: info.cpu, memGiB: info.memGiB, kernel: info.kernel, node: info.node, loadBefore: info.loadBefore, loadAfter: info.loadAfter }, quick).slice(root.length + 1)}`);
  }
  return { code, figs, info };
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
