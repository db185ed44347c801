/**
 * HTTP with `wrk`: Node's `http` server over netstack (`netstack host`, port 80, in a namespace
 * created here) against the same server code (bench/http-server.ts: the host's own handler)
 * over the kernel's TCP in the same namespace (loopback), measured back to back in one run.
 *
 * - keep-alive: `wrk -t2 -c64 -dS http://ADDR/` → requests/s;
 * - new connection per request: the same with `-H 'Connection: close'` → connections/s (each
 *   request opens, uses and closes one connection; the server closes first);
 * - keep-alive bulk: `/bytes/65536` → requests/s (64 KiB responses).
 *
 * wrk's socket errors and non-2xx responses are recorded with each run; a run with more errors
 * than 1 % of its requests is reported as such.
 */
import { join } from 'node:path';
import { HostProcess } from './host.js';
import { createNs, deleteNs, ensureTool, median, root, runAsync, spawnTracked, stopChild, tryInNs, waitLine, type Log } from './util.js';

export interface WrkResult {
  rps: number;
  requests: number;
  seconds: number;
  /** Socket errors (connect + read + write + timeout) and non-2xx/3xx responses. */
  errors: number;
  errorText: string;
}

export interface HttpRow {
  key: string;
  label: string;
  unit: string;
  netstack: WrkResult[];
  kernel: WrkResult[];
}

export interface HttpBenchResult {
  rows: HttpRow[];
  seconds: number;
  repetitions: number;
  notes: string[];
  /** Set when the measure could not run (no wrk). */
  skipped?: string;
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const reqs = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(out);
  if (!rps || !reqs) throw new Error(`unexpected wrk output: ${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errs = sock ? sock.slice(1, 5).map(Number) : [0, 0, 0, 0];
  const bad = non2xx ? Number(non2xx[1]) : 0;
  const unit = reqs[3] === 'ms' ? 0.001 : reqs[3] === 'm' ? 60 : 1;
  const errorText = [sock ? `socket errors: connect ${errs[0]}, read ${errs[1]}, write ${errs[2]}, timeout ${errs[3]}` : '', bad ? `${bad} non-2xx/3xx` : ''].filter(Boolean).join('; ');
  return { rps: Number(rps[1]), requests: Number(reqs[1]), seconds: Number(reqs[2]) * unit, errors: errs.reduce((a, b) => a + b, 0) + bad, errorText };
}

async function wrk(ns: string, url: string, seconds: number, close: boolean): Promise<WrkResult> {
  const args = ['netns', 'exec', ns, 'wrk', '-t2', '-c64', `-d${seconds}s`, '--timeout', '5s'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  return parseWrk(await runAsync('ip', args, (seconds + 30) * 1000));
}

const MEASURES = [
  { key: 'http_keepalive_rps', label: 'HTTP keep-alive, GET / (wrk -t2 -c64)', unit: 'requests/s', path: '/', close: false },
  { key: 'http_close_cps', label: 'HTTP new connection per request, GET / (Connection: close)', unit: 'connections/s', path: '/', close: true },
  { key: 'http_bytes64k_rps', label: 'HTTP keep-alive, GET /bytes/65536', unit: 'requests/s', path: '/bytes/65536', close: false },
];

export async function runHttpBench(opts: { quick: boolean; log: Log }): Promise<HttpBenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 3 : 8;
  const reps = opts.quick ? 1 : 2;
  const rows: HttpRow[] = MEASURES.map((m) => ({ key: m.key, label: m.label, unit: m.unit, netstack: [], kernel: [] }));
  const notes: string[] = [];
  if (!ensureTool('wrk', 'wrk', log)) {
    const why = 'wrk is not installed (Debian package wrk) and could not be installed';
    if (process.env.CI === 'true') throw new Error(why);
    return { rows, seconds, repetitions: 0, notes: [why], skipped: why };
  }
  const ns = createNs(`nsbhttp-${process.pid}`);
  let host: HostProcess | undefined;
  let server: ReturnType<typeof spawnTracked> | undefined;
  try {
    // Room for the new-connection measure: the client side's ephemeral ports (this namespace only).
    tryInNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
    host = await HostProcess.start(ns, [], { txqueuelen: 10_000 });
    server = spawnTracked('ip', ['netns', 'exec', ns, process.execPath, join(root, 'dist', 'bench', 'http-server.js'), '127.0.0.1', '8080']);
    server.stdin!.end();
    await waitLine(server, /^ready/, 'http-server', 15_000);
    server.stdout!.resume();
    server.stderr!.resume();
    const targets = { netstack: 'http://10.0.0.2', kernel: 'http://127.0.0.1:8080' } as const;
    // Warm-up of both servers (JIT): not measured.
    for (const base of Object.values(targets)) await wrk(ns, `${base}/`, 1, false);
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, m] of MEASURES.entries()) {
        // Alternate which server goes first, so that both see the same drift in machine load.
        const order = rep % 2 === 0 ? (['netstack', 'kernel'] as const) : (['kernel', 'netstack'] as const);
        for (const who of order) {
          const r = await wrk(ns, `${targets[who]}${m.path}`, seconds, m.close);
          rows[i]![who].push(r);
          log(`  ${m.label}, ${who === 'netstack' ? 'netstack' : 'kernel TCP'}: ${r.rps.toFixed(0)} ${m.unit}${r.errors ? ` (${r.errorText})` : ''}`);
          if (r.errors > 0.01 * r.requests) notes.push(`${m.label}, ${who}: ${r.errorText} in ${r.requests} requests`);
        }
      }
      if (!host.alive) throw new Error('the host exited');
    }
    const c = await host.counters();
    notes.push(`HTTP: netstack counted ${c['tcp.passive_opens'] ?? 0} passive opens, ${c['tcp.retransmits'] ?? 0} retransmitted segments, ${c['drop.total'] ?? 0} drops`);
  } finally {
    if (server) await stopChild(server);
    await host?.stop();
    deleteNs(ns);
  }
  return { rows, seconds, repetitions: reps, notes };
}

export function httpMedian(row: HttpRow, who: 'netstack' | 'kernel'): number {
  return median(row[who].map((r) => r.rps));
}
