/**
 * One-flow TCP throughput over a TUN device, netstack against the kernel, with and without
 * IFF_VNET_HDR offloads: the quick A/B measurement behind the transmit-path and offload work
 * (bench/tcp.ts is the full benchmark; this reuses its method for one flow per direction).
 *
 *   node dist/bench/tun-tput.js [--offload] [--seconds N] [--family 4|6] [--dir up|down|both] [--reps N]
 *
 * Needs root (a namespace is created and deleted here) and a C compiler (bench/c/tcp_bulk.c).
 * Run it under `node --cpu-prof` to profile the stack. Prints one JSON line per measure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHostArgs } from '../src/cli/args.js';
import { setUpDevice, type Device } from '../src/cli/host.js';
import type { TcpSocket } from '../src/transport/tcp/socket.js';

const SINK_PORT = 5201;
const SOURCE_PORT = 5202;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** Gbit/s, and the CPU this process used meanwhile (all threads, user + system) as a share of one core. */
async function flow(device: Device, dir: 'up' | 'down', family: 4 | 6, seconds: number): Promise<{ gbps: number; cpu: number; user: number; sys: number }> {
  const chunk = new Uint8Array(256 * 1024).fill(0x61);
  const s: TcpSocket = device.stack.tcp.connect({
    family,
    remoteAddress: family === 4 ? '10.0.0.1' : 'fd00::1',
    remotePort: dir === 'up' ? SINK_PORT : SOURCE_PORT,
  });
  let written = 0;
  let received = 0;
  let running = true;
  let connected = false;
  let failure: string | undefined;
  const pump = (): void => {
    while (running) {
      const n = s.write(chunk);
      written += n;
      if (n < chunk.length) return;
    }
  };
  s.onConnect = () => {
    connected = true;
    if (dir === 'up') pump();
  };
  s.onDrain = () => {
    if (dir === 'up') pump();
  };
  s.onData = (d) => {
    received += d.length;
  };
  s.onError = (e) => {
    if (running) failure = `${e.code} ${e.message}`;
  };
  const measure = (): number => (dir === 'up' ? written - s.bufferedSend : received);
  try {
    const deadline = Date.now() + 10_000;
    while (!connected && !failure) {
      if (Date.now() > deadline) throw new Error('no connection');
      await sleep(10);
    }
    await sleep(1000);
    const b0 = measure();
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await sleep(seconds * 1000);
    const b1 = measure();
    const t1 = performance.now();
    const c = process.cpuUsage(c0);
    if (failure) throw new Error(failure);
    const ms = t1 - t0;
    return { gbps: ((b1 - b0) * 8) / (ms / 1000) / 1e9, cpu: (c.user + c.system) / 1000 / ms, user: c.user / 1000 / ms, sys: c.system / 1000 / ms };
  } finally {
    running = false;
    s.abort();
    await sleep(200);
  }
}

async function main(): Promise<void> {
  const offload = process.argv.includes('--offload');
  const seconds = Number(arg('--seconds') ?? 3);
  const reps = Number(arg('--reps') ?? 1);
  const families = (arg('--family') ?? '4').split(',').map(Number) as Array<4 | 6>;
  const dirArg = arg('--dir') ?? 'both';
  const dirs: Array<'up' | 'down'> = dirArg === 'both' ? ['down', 'up'] : [dirArg as 'up' | 'down'];
  const here = dirname(fileURLToPath(import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'tun-tput-'));
  const bin = join(tmp, 'tcp_bulk');
  execFileSync('cc', ['-O2', '-Wall', '-pthread', '-o', bin, join(here, '../../bench/c/tcp_bulk.c')], { stdio: 'inherit' });
  const ns = `nstput-${process.pid}`;
  const children: ChildProcess[] = [];
  let device: Device | undefined;
  try {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    for (const [port, mode] of [[SINK_PORT, 'sink'], [SOURCE_PORT, 'source']] as const) {
      const c = spawn('ip', ['netns', 'exec', ns, bin, 'server', String(port), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(c);
      await new Promise<void>((resolve, reject) => {
        c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        c.once('exit', () => reject(new Error('tcp_bulk exited')));
      });
    }
    const cfg = parseHostArgs('host', ['--netns', ns, '--dev', 'tun0', ...(offload ? ['--offload'] : [])]);
    device = await setUpDevice(cfg);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'tun0', 'txqueuelen', '10000']);
    await flow(device, 'up', 4, 0.5); // warm-up
    for (let r = 0; r < reps; r++) {
      for (const family of families) {
        for (const dir of dirs) {
          const { gbps, cpu, user, sys } = await flow(device, dir, family, seconds);
          // gbpcs: Gbit per CPU-second of this process, which other load on the machine disturbs less than Gbit/s.
          console.log(JSON.stringify({ offload, family, dir, gbps: Number(gbps.toFixed(3)), cpu: Number(cpu.toFixed(2)), user: Number(user.toFixed(2)), sys: Number(sys.toFixed(2)), gbpcs: Number((gbps / cpu).toFixed(3)), seconds }));
        }
      }
    }
    if (process.argv.includes('--stats')) process.stderr.write(device.formatStats());
  } finally {
    await device?.close();
    for (const c of children) if (c.pid !== undefined) c.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
