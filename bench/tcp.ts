/**
 * The TCP throughput part of `npm run bench`: netstack's TCP over a TUN device against the
 * kernel's TCP, beside kernel-to-kernel TCP over a veth pair, measured in the same run.
 *
 * - netstack: a Stack runs in this process on a TUN device inside a namespace created here
 *   (the same device set-up as `netstack host`, src/cli/host.ts); the kernel side is
 *   bench/c/tcp_bulk.c (`server PORT sink|source`). stack → kernel: the stack's connections
 *   write as fast as the send buffer drains; measured as bytes acknowledged. kernel → stack:
 *   the kernel's server writes; measured as bytes the stack delivered. One flow and eight.
 *   The device has no offloads (no virtio-net header): every segment is one packet ≤ MTU.
 * - kernel: two namespaces joined by a veth pair (MTU 1500); tcp_bulk's client sends (or
 *   receives) for the same time over the same number of flows, with the veth's offloads as
 *   they come (TSO/GSO on) and with TSO, GSO and GRO off (`ethtool -K`), which makes the kernel
 *   handle every 1500-byte packet as netstack does.
 *
 * Each measure runs for SECONDS after a one-second warm-up (slow start, JIT), REPS times;
 * medians are reported. Everything happens inside namespaces created and deleted here.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseHostArgs } from '../src/cli/args.js';
import { setUpDevice, type Device } from '../src/cli/host.js';
import type { TcpSocket } from '../src/transport/tcp/socket.js';
import { createNs, deleteNs, runAsync, spawnTracked } from './util.js';

export interface TcpBenchOptions {
  quick: boolean;
  /** Directory holding the compiled tcp_bulk binary. */
  binDir: string;
  log: (msg: string) => void;
}

export interface TcpRow {
  key: string;
  label: string;
  netstack: number[];
  kernelOffloadOn: number[];
  kernelOffloadOff: number[];
}

export interface TcpBenchResult {
  rows: TcpRow[];
  seconds: number;
  repetitions: number;
  notes: string[];
}

const SINK_PORT = 5201;
const SOURCE_PORT = 5202;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Installs ethtool with apt-get when missing and we are root (as scripts/test.mjs does for its tools). */
export function ensureTcpBenchTools(log: (m: string) => void): void {
  if (has('ethtool') || process.getuid?.() !== 0 || !has('apt-get')) return;
  log('installing ethtool with apt-get (to switch the veth offloads off)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'ethtool'], { stdio: 'ignore', env, timeout: 5 * 60_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env, timeout: 5 * 60_000 });
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'ethtool'], { stdio: 'ignore', env, timeout: 5 * 60_000 });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function waitLine(child: ChildProcess, prefix: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`no '${prefix}' after ${ms} ms: ${out} ${err}`)), ms);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').some((l) => l.startsWith(prefix))) {
        clearTimeout(t);
        resolve();
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`exited (${code}) before '${prefix}': ${out} ${err}`));
    });
  });
}

/**
 * `flows` connections from the stack to the kernel's tcp_bulk server; returns Gbit/s of
 * payload over `seconds` after a one-second warm-up.
 */
async function stackFlows(device: Device, direction: 'upload' | 'download', flows: number, seconds: number): Promise<number> {
  const { stack } = device;
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const socks: TcpSocket[] = [];
  const written: number[] = [];
  const received: number[] = [];
  let running = true;
  let failure: string | undefined;
  let connected = 0;
  for (let i = 0; i < flows; i++) {
    const s = stack.tcp.connect({ family: 4, remoteAddress: '10.0.0.1', remotePort: direction === 'upload' ? SINK_PORT : SOURCE_PORT });
    socks.push(s);
    written.push(0);
    received.push(0);
    const pump = (): void => {
      while (running) {
        const n = s.write(chunk);
        written[i]! += n;
        if (n < chunk.length) return;
      }
    };
    s.onConnect = () => {
      connected++;
      if (direction === 'upload') pump();
    };
    s.onDrain = () => {
      if (direction === 'upload') pump();
    };
    s.onData = (d) => {
      received[i]! += d.length;
    };
    s.onError = (e) => {
      if (running) failure = `flow ${i}: ${e.code} ${e.message}`;
    };
  }
  const measure = (): number => {
    let sum = 0;
    for (let i = 0; i < flows; i++) sum += direction === 'upload' ? written[i]! - socks[i]!.bufferedSend : received[i]!;
    return sum;
  };
  try {
    const deadline = Date.now() + 10_000;
    while (connected < flows && !failure) {
      if (Date.now() > deadline) throw new Error(`only ${connected} of ${flows} connections established`);
      await sleep(10);
    }
    await sleep(1000); // warm-up
    const b0 = measure();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const b1 = measure();
    const t1 = performance.now();
    if (failure) throw new Error(failure);
    return ((b1 - b0) * 8) / ((t1 - t0) / 1000) / 1e9;
  } finally {
    running = false;
    for (const s of socks) s.abort();
    await sleep(200);
  }
}

function ns(name: string, cmd: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', name, cmd, ...args], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function runTcpBench(opts: TcpBenchOptions): Promise<TcpBenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 2 : 4;
  const reps = opts.quick ? 1 : 3;
  const notes: string[] = [];
  const bin = join(opts.binDir, 'tcp_bulk');
  const tag = process.pid;
  const nsTun = `nsbtcp-${tag}`;
  const nsA = `nsbva-${tag}`;
  const nsB = `nsbvb-${tag}`;
  const children: ChildProcess[] = [];
  let device: Device | undefined;
  const rows: TcpRow[] = [
    { key: 'tcp_up_1', label: 'TCP stack → kernel, 1 flow', netstack: [], kernelOffloadOn: [], kernelOffloadOff: [] },
    { key: 'tcp_up_8', label: 'TCP stack → kernel, 8 flows', netstack: [], kernelOffloadOn: [], kernelOffloadOff: [] },
    { key: 'tcp_down_1', label: 'TCP kernel → stack, 1 flow', netstack: [], kernelOffloadOn: [], kernelOffloadOff: [] },
    { key: 'tcp_down_8', label: 'TCP kernel → stack, 8 flows', netstack: [], kernelOffloadOn: [], kernelOffloadOff: [] },
  ];
  const spec = (r: TcpRow): { dir: 'upload' | 'download'; flows: number } => ({ dir: r.key.startsWith('tcp_up') ? 'upload' : 'download', flows: r.key.endsWith('_8') ? 8 : 1 });
  const ethtool = has('ethtool');
  if (!ethtool) notes.push('ethtool is not installed: the "offloads off" column could not be measured');
  try {
    for (const n of [nsTun, nsA, nsB]) createNs(n);
    // Kernel-to-kernel: veth between nsA (10.9.0.1) and nsB (10.9.0.2).
    ns(nsA, 'ip', ['link', 'add', 'vb0', 'type', 'veth', 'peer', 'name', 'vb1', 'netns', nsB]);
    ns(nsA, 'ip', ['addr', 'add', '10.9.0.1/24', 'dev', 'vb0']);
    ns(nsB, 'ip', ['addr', 'add', '10.9.0.2/24', 'dev', 'vb1']);
    ns(nsA, 'ip', ['link', 'set', 'vb0', 'mtu', '1500', 'up']);
    ns(nsB, 'ip', ['link', 'set', 'vb1', 'mtu', '1500', 'up']);
    for (const [n, port, mode] of [[nsB, SINK_PORT, 'sink'], [nsB, SOURCE_PORT, 'source'], [nsTun, SINK_PORT, 'sink'], [nsTun, SOURCE_PORT, 'source']] as const) {
      const c = spawnTracked('ip', ['netns', 'exec', n, bin, 'server', String(port), mode]);
      c.stdin!.end();
      children.push(c);
      await waitLine(c, 'ready', 5000);
    }
    // netstack on a TUN device in nsTun, with the same set-up as `netstack host`.
    const cfg = parseHostArgs('host', ['--netns', nsTun, '--dev', 'tun0']);
    device = await setUpDevice(cfg);
    // A longer device queue: the kernel's default 500 packets overflow silently under bulk TCP.
    ns(nsTun, 'ip', ['link', 'set', 'tun0', 'txqueuelen', '10000']);

    const kernel = async (row: TcpRow): Promise<number> => {
      const { dir, flows } = spec(row);
      const out = await runAsync('ip', ['netns', 'exec', nsA, bin, 'client', '10.9.0.2', String(dir === 'upload' ? SINK_PORT : SOURCE_PORT), dir === 'upload' ? 'send' : 'recv', String(flows), String(seconds)], (seconds + 20) * 1000);
      const r = JSON.parse(out) as { gbps: number };
      return r.gbps;
    };
    const setOffloads = (on: boolean): void => {
      if (!ethtool) return;
      for (const [n, dev] of [[nsA, 'vb0'], [nsB, 'vb1']] as const) {
        ns(n, 'ethtool', ['-K', dev, 'tso', on ? 'on' : 'off', 'gso', on ? 'on' : 'off', 'gro', on ? 'on' : 'off']);
      }
    };

    // Warm-up, not measured.
    await stackFlows(device, 'upload', 1, 1);
    for (let rep = 0; rep < reps; rep++) {
      log(`tcp run ${rep + 1}/${reps}`);
      for (const row of rows) {
        const { dir, flows } = spec(row);
        const v = await stackFlows(device, dir, flows, seconds);
        row.netstack.push(v);
        log(`  ${row.label}, netstack: ${v.toFixed(3)} Gbit/s`);
        setOffloads(true);
        const on = await kernel(row);
        row.kernelOffloadOn.push(on);
        log(`  ${row.label}, kernel veth, offloads on: ${on.toFixed(2)} Gbit/s`);
        if (ethtool) {
          setOffloads(false);
          const off = await kernel(row);
          row.kernelOffloadOff.push(off);
          log(`  ${row.label}, kernel veth, offloads off: ${off.toFixed(2)} Gbit/s`);
          setOffloads(true);
        }
      }
    }
    const retrans = device.stack.counters.get('tcp.retransmits');
    notes.push(`netstack retransmitted ${retrans} segments over the whole TCP run`);
  } finally {
    await device?.close().catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const n of [nsTun, nsA, nsB]) deleteNs(n);
  }
  return { rows, seconds, repetitions: reps, notes };
}

/** Markdown rows: measure | netstack | kernel on | kernel off | ratios. */
export function tcpTable(r: TcpBenchResult): string[] {
  const f = (xs: number[]): string => (xs.length === 0 ? 'n/a' : median(xs).toFixed(2));
  // Each run measured netstack and the kernel back to back: the median of the paired ratios is
  // less sensitive to load that changes between runs than the ratio of the medians.
  const ratio = (a: number[], b: number[]): string => (a.length === 0 || b.length !== a.length ? 'n/a' : median(a.map((v, i) => v / b[i]!)).toFixed(3));
  return [
    '| TCP throughput, Gbit/s of payload (higher is better) | netstack over TUN | kernel over veth, offloads on | kernel over veth, TSO/GSO/GRO off | netstack / kernel on | netstack / kernel off |',
    '|---|---:|---:|---:|---:|---:|',
    ...r.rows.map((row) => `| ${row.label} | ${f(row.netstack)} | ${f(row.kernelOffloadOn)} | ${f(row.kernelOffloadOff)} | ${ratio(row.netstack, row.kernelOffloadOn)} | ${ratio(row.netstack, row.kernelOffloadOff)} |`),
  ];
}

export function tcpMedians(r: TcpBenchResult): Array<{ key: string; label: string; netstack: number; kernelOffloadOn: number; kernelOffloadOff: number; runs: TcpRow }> {
  return r.rows.map((row) => ({
    key: row.key,
    label: row.label,
    netstack: row.netstack.length ? median(row.netstack) : NaN,
    kernelOffloadOn: row.kernelOffloadOn.length ? median(row.kernelOffloadOn) : NaN,
    kernelOffloadOff: row.kernelOffloadOff.length ? median(row.kernelOffloadOff) : NaN,
    runs: row,
  }));
}
