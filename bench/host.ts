/**
 * `netstack host` as its own process inside a namespace the benchmark creates, and the measures
 * taken against it from the kernel side of its TUN device:
 *
 * - TCP throughput through the host's services (tcp_bulk client from the kernel): kernel → stack
 *   by sending to the discard service (port 9), stack → kernel by reading the chargen service
 *   (port 19). Plain host, `--offload` (IFF_VNET_HDR, TSO/GSO/checksum offloads), and
 *   `--shards 1` / `--shards 2` (multi-queue, one stack per worker thread) with eight flows.
 *   `--offload` and `--shards` come from other branches; a build without them says so in its
 *   `--help`, and these rows then read "not supported by this build".
 * - RSS and counters of the host process (/proc/PID/status, SIGUSR1 counter tables).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cli, createNs, deleteNs, inNs, median, runAsync, sleep, spawnTracked, stopChild, waitLine, type Log } from './util.js';

export const DISCARD = 9;
export const CHARGEN = 19;

let helpText: string | undefined;
/** `netstack host --help` of this build (cached). */
export function hostHelp(): string {
  helpText ??= execFileSync(process.execPath, [cli, 'host', '--help'], { encoding: 'utf8', timeout: 30_000 });
  return helpText;
}

/** Whether this build's `netstack host` documents the option (e.g. '--offload'). */
export function hostSupports(option: string): boolean {
  return new RegExp(`(^|\\s)${option.replace(/[-]/g, '\\-')}(\\s|=|$)`, 'm').test(hostHelp());
}

export class HostProcess {
  private stderrBuf = '';

  private constructor(
    readonly ns: string,
    readonly child: ChildProcess,
    readonly pid: number,
    readonly readyLine: string,
  ) {
    child.stderr!.on('data', (d: Buffer) => {
      this.stderrBuf += d.toString();
      if (this.stderrBuf.length > 4_000_000) this.stderrBuf = this.stderrBuf.slice(-1_000_000);
    });
    child.stdout!.resume();
  }

  /** Starts `netstack host ARGS` in `ns` (tun0, default addresses) and waits for its ready line. */
  static async start(ns: string, args: string[], opts: { txqueuelen?: number } = {}): Promise<HostProcess> {
    const child = spawnTracked('ip', ['netns', 'exec', ns, process.execPath, cli, 'host', '--dev', 'tun0', ...args]);
    child.stdin!.end();
    const line = await waitLine(child, /^ready /, `netstack host ${args.join(' ')}`, 30_000);
    const m = /\bpid=(\d+)/.exec(line);
    const pid = m ? Number(m[1]) : child.pid!;
    const h = new HostProcess(ns, child, pid, line);
    // The kernel's default device queue (500 packets) overflows silently under bulk TCP.
    if (opts.txqueuelen !== undefined) {
      for (const dev of listTunDevices(ns)) inNs(ns, 'ip', ['link', 'set', dev, 'txqueuelen', String(opts.txqueuelen)]);
    }
    return h;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resident set size of the host process, KiB (VmRSS). */
  rssKiB(): number {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new Error(`no VmRSS for pid ${this.pid}`);
    return Number(m[1]);
  }

  /** The host's counters (SIGUSR1 prints them on stderr); name → value for numeric rows. */
  async counters(): Promise<Record<string, number>> {
    const before = this.stderrBuf.length;
    process.kill(this.pid, 'SIGUSR1');
    const deadline = Date.now() + 5000;
    for (;;) {
      await sleep(100);
      const text = this.stderrBuf.slice(before);
      // The table ends with the link section; wait until output has settled.
      if (/netstack counters/.test(text)) {
        await sleep(200);
        break;
      }
      if (Date.now() > deadline) throw new Error('the host printed no counters after SIGUSR1');
    }
    const out: Record<string, number> = {};
    for (const line of this.stderrBuf.slice(before).split('\n')) {
      const m = /^\s+([\w.:-]+)\s+(\d+(?:\.\d+)?)$/.exec(line);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
    }
    return out;
  }

  async stop(): Promise<void> {
    await stopChild(this.child);
  }
}

/** TUN devices in a namespace (a multi-queue host may create one device with several queues). */
function listTunDevices(ns: string): string[] {
  const out = inNs(ns, 'ip', ['-o', 'link', 'show', 'type', 'tun']);
  const names = out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
  return names.length > 0 ? names : ['tun0'];
}

/**
 * Gbit/s of payload from tcp_bulk's client in `ns` to HOST:PORT ('send' to discard, 'recv' from
 * chargen); `cc` sets the client's congestion control (TCP_BULK_CC) instead of the default.
 */
export async function bulk(binDir: string, ns: string, host: string, port: number, mode: 'send' | 'recv', flows: number, seconds: number, cc?: string): Promise<number> {
  const prog = [join(binDir, 'tcp_bulk'), 'client', host, String(port), mode, String(flows), String(seconds)];
  const out = await runAsync('ip', ['netns', 'exec', ns, ...(cc ? ['env', `TCP_BULK_CC=${cc}`] : []), ...prog], (seconds + 30) * 1000);
  const r = JSON.parse(out) as { gbps: number; bytes: number };
  if (!(r.bytes > 0)) throw new Error(`no data moved (${host}:${port} ${mode})`);
  return r.gbps;
}

export interface HostRow {
  key: string;
  label: string;
  /** Gbit/s per run; empty when not measured. */
  runs: number[];
  /** Why not measured ("not supported by this build", an error). */
  status?: string;
}

export interface HostBenchResult {
  rows: HostRow[];
  seconds: number;
  repetitions: number;
  notes: string[];
  /** 8 flows, 2 shards over 1 shard, per direction (undefined when not measured). */
  shardScaling: { down?: number; up?: number };
}

interface Config {
  name: string;
  args: string[];
  /** Option whose presence in `host --help` this configuration needs. */
  needs?: string;
  rows: Array<{ key: string; label: string; mode: 'send' | 'recv'; flows: number }>;
}

const CONFIGS: Config[] = [
  {
    name: 'plain',
    args: [],
    rows: [
      { key: 'host_down_1', label: 'TCP kernel → `netstack host` (discard), 1 flow', mode: 'send', flows: 1 },
      { key: 'host_up_1', label: 'TCP `netstack host` (chargen) → kernel, 1 flow', mode: 'recv', flows: 1 },
    ],
  },
  {
    name: 'offload',
    args: ['--offload'],
    needs: '--offload',
    rows: [
      { key: 'offload_down_1', label: 'TCP kernel → `netstack host --offload`, 1 flow', mode: 'send', flows: 1 },
      { key: 'offload_up_1', label: 'TCP `netstack host --offload` → kernel, 1 flow', mode: 'recv', flows: 1 },
    ],
  },
  {
    name: 'shards1',
    args: ['--shards', '1'],
    needs: '--shards',
    rows: [
      { key: 'shards1_down_8', label: 'TCP kernel → `netstack host --shards 1`, 8 flows', mode: 'send', flows: 8 },
      { key: 'shards1_up_8', label: 'TCP `netstack host --shards 1` → kernel, 8 flows', mode: 'recv', flows: 8 },
    ],
  },
  {
    name: 'shards2',
    args: ['--shards', '2'],
    needs: '--shards',
    rows: [
      { key: 'shards2_down_8', label: 'TCP kernel → `netstack host --shards 2`, 8 flows', mode: 'send', flows: 8 },
      { key: 'shards2_up_8', label: 'TCP `netstack host --shards 2` → kernel, 8 flows', mode: 'recv', flows: 8 },
    ],
  },
];

/** Throughput through `netstack host` processes: plain, --offload, --shards 1/2. */
export async function runHostBench(opts: { quick: boolean; binDir: string; log: Log }): Promise<HostBenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 2 : 4;
  const reps = opts.quick ? 1 : 3;
  const notes: string[] = [];
  const rows: HostRow[] = [];
  for (const cfg of CONFIGS) {
    const cfgRows: HostRow[] = cfg.rows.map((r) => ({ key: r.key, label: r.label, runs: [] }));
    rows.push(...cfgRows);
    if (cfg.needs !== undefined && !hostSupports(cfg.needs)) {
      for (const r of cfgRows) r.status = 'not supported by this build';
      log(`  netstack host ${cfg.needs}: not supported by this build (not in 'netstack host --help')`);
      continue;
    }
    const ns = createNs(`nsbh${cfg.name}-${process.pid}`);
    let host: HostProcess | undefined;
    try {
      host = await HostProcess.start(ns, cfg.args, { txqueuelen: 10_000 });
      // Warm-up (JIT, slow start, caches): not measured.
      await bulk(opts.binDir, ns, '10.0.0.2', DISCARD, 'send', 1, 1);
      for (let rep = 0; rep < reps; rep++) {
        for (const [i, r] of cfg.rows.entries()) {
          const v = await bulk(opts.binDir, ns, '10.0.0.2', r.mode === 'send' ? DISCARD : CHARGEN, r.mode, r.flows, seconds);
          cfgRows[i]!.runs.push(v);
          log(`  ${r.label}: ${v.toFixed(2)} Gbit/s`);
          if (!host.alive) throw new Error('the host exited');
        }
      }
      const c = await host.counters();
      notes.push(`netstack host ${cfg.args.join(' ') || '(no options)'}: ${c['tcp.retransmits'] ?? 0} retransmitted segments, ${c['drop.total'] ?? 0} drops`);
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      for (const r of cfgRows) if (r.runs.length === 0) r.status = `failed: ${msg.slice(0, 200)}`;
      log(`  netstack host ${cfg.args.join(' ')}: failed: ${msg}`);
    } finally {
      await host?.stop();
      deleteNs(ns);
    }
  }
  const m = (k: string): number => median(rows.find((r) => r.key === k)!.runs);
  const scale = (a: string, b: string): number | undefined => {
    const v = m(b) / m(a);
    return Number.isFinite(v) ? v : undefined;
  };
  return { rows, seconds, repetitions: reps, notes, shardScaling: { down: scale('shards1_down_8', 'shards2_down_8'), up: scale('shards1_up_8', 'shards2_up_8') } };
}
