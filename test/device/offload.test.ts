/**
 * `--offload` (IFF_VNET_HDR with checksum and TSO offloads) against the kernel, in a namespace
 * of its own:
 * - 100 MiB downloads and uploads over IPv4 and IPv6, byte-exact (SHA-256 on both sides);
 * - tcpdump on the device (opened before the stack attaches to it) sees TCP super-packets
 *   (larger than the 1500-byte MTU) in both directions: the kernel hands them to the stack
 *   whole (TSO to user space) and the stack sends them for the kernel to cut;
 * - ping and UDP echo still work with offloads on (the kernel's UDP datagrams then carry
 *   partial checksums that the virtio-net header vouches for);
 * - the offloads are reset when the stack closes the device.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECV_PY, SEND_PY, killRunningClis, pyServer, runCli } from '../helpers/transfer.js';
import { Netns, deviceTestOptions, requireDevice, waitExit } from '../helpers/netns.js';
import { startHost, stopAllHosts, ping, UDP_ECHO_PY } from '../helpers/host.js';
import { chargenSha256 } from '../../src/cli/services.js';
import { openTun } from '../../src/node/tun.js';
import { finish, pseudoHeaderSumV4, sumBytes } from '../../src/wire/checksum.js';
import { read16, read32 } from '../../src/wire/bytes.js';

const MiB = 1024 * 1024;
const DEV = 'tofl0';


/** tcpdump on the device, headers only, from before the stack attaches until stop(). */
async function capture(ns: Netns, file: string): Promise<{ stop(): Promise<void> }> {
  const dump = ns.spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-i', DEV, '-nn', '-s', '128', '-U', '-w', file, 'tcp']);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
    dump.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (/listening on/.test(err)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 300));
      dump.kill('SIGINT');
      await waitExit(dump, 5000);
    },
  };
}

/** How many captured packets match the filter. */
function count(file: string, filter: string): number {
  const r = spawnSync('tcpdump', ['-nn', '-r', file, filter], { encoding: 'utf8', maxBuffer: 256 * MiB });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
}

describe('--offload: virtio-net header, checksum and TSO offloads', { ...deviceTestOptions(), timeout: 300_000 }, () => {
  let ns: Netns | undefined;
  let dir = '';

  before(() => {
    requireDevice();
    if (spawnSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' }).status !== 0) {
      if (process.env.CI === 'true') assert.fail('tcpdump is not installed (CI=true)');
    }
    ns = Netns.create('nsofl');
    dir = mkdtempSync(join(tmpdir(), 'netstack-offload-'));
    // A persistent device made here, so that tcpdump can watch it before the stack attaches
    // (the stack adopts it: it configures it and leaves it in place on exit).
    ns.exec('ip', ['tuntap', 'add', 'dev', DEV, 'mode', 'tun']);
    ns.exec('ip', ['link', 'set', DEV, 'up']);
  });

  after(async () => {
    await stopAllHosts();
    await killRunningClis();
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const tcpdump = (): boolean => spawnSync('sh', ['-c', 'command -v tcpdump'], { stdio: 'ignore' }).status === 0;

  for (const family of [4, 6] as const) {
    const kernel = family === 4 ? '10.0.0.1' : 'fd00::1';
    const stack = family === 4 ? '10.0.0.2' : 'fd00::2';
    const ipf = family === 4 ? 'ip' : 'ip6';

    test(`download 100 MiB over IPv${family} with --offload, byte-exact; the kernel's super-packets arrive whole`, async (t) => {
      const n = 100 * MiB;
      const file = join(dir, `down${family}.pcap`);
      const cap = tcpdump() ? await capture(ns!, file) : undefined;
      if (!cap) t.diagnostic('tcpdump is not installed: super-packets not checked');
      const { result: sent } = await pyServer(ns!, SEND_PY, ['3000', String(n), String(family)]);
      const r = await runCli(['download', '--netns', ns!.name, '--dev', DEV, ...(family === 6 ? ['--v6'] : []), '--offload', '--json'], 120_000);
      const out = await Promise.race([sent, new Promise<string>((res) => setTimeout(() => res('(server still running)'), 20_000))]);
      await cap?.stop();
      assert.equal(r.code, 0, `download exit ${r.code}: ${r.stderr}`);
      const s = JSON.parse(r.stdout.trim()) as { bytes: number; sha256: string; mbps: number };
      const m = /sent (\d+) ([0-9a-f]{64})/.exec(out);
      assert.ok(m, `server output: ${out}`);
      assert.equal(Number(m[1]), n);
      assert.equal(s.bytes, n);
      assert.equal(s.sha256, m[2], 'the stack received exactly what the kernel sent');
      t.diagnostic(`IPv${family} download with offloads: ${s.mbps} Mbit/s`);
      if (cap) {
        const big = count(file, `${ipf} and src ${kernel} and dst ${stack} and greater 3000`);
        assert.ok(big > 0, 'tcpdump saw kernel → stack TCP packets larger than the MTU (TSO super-packets)');
        t.diagnostic(`kernel → stack super-packets: ${big}`);
      }
    });

    test(`upload 100 MiB over IPv${family} with --offload, byte-exact; the stack's super-segments leave whole`, async (t) => {
      const n = 100 * MiB;
      const file = join(dir, `up${family}.pcap`);
      const cap = tcpdump() ? await capture(ns!, file) : undefined;
      const { result: got } = await pyServer(ns!, RECV_PY, ['3000']);
      const r = await runCli(['upload', '--netns', ns!.name, '--dev', DEV, ...(family === 6 ? ['--v6'] : []), '--bytes', String(n), '--offload', '--json'], 120_000);
      const out = await Promise.race([got, new Promise<string>((res) => setTimeout(() => res('(server still running)'), 20_000))]);
      await cap?.stop();
      assert.equal(r.code, 0, `upload exit ${r.code}: ${r.stderr}`);
      const s = JSON.parse(r.stdout.trim()) as { bytes: number; sha256: string; mbps: number };
      const m = /received (\d+) ([0-9a-f]{64})/.exec(out);
      assert.ok(m, `server output: ${out}`);
      const expected = chargenSha256(n);
      assert.equal(Number(m[1]), n);
      assert.equal(m[2], expected, 'the kernel received exactly the chargen pattern: every segment it cut had a valid checksum');
      assert.equal(s.sha256, expected);
      t.diagnostic(`IPv${family} upload with offloads: ${s.mbps} Mbit/s`);
      if (cap) {
        const big = count(file, `${ipf} and src ${stack} and dst ${kernel} and greater 3000`);
        assert.ok(big > 0, 'tcpdump saw stack → kernel TCP packets larger than the MTU (super-segments for the kernel to cut)');
        t.diagnostic(`stack → kernel super-segments: ${big}`);
      }
    });
  }

  test('ping and UDP echo work with --offload (partial UDP checksums from the kernel)', async () => {
    const host = await startHost(['--netns', ns!.name, '--dev', DEV, '--offload', '--no-tcp-services']);
    assert.match(host.ready, /\boffload=on\b/);
    ping(ns!, ['10.0.0.2']);
    ping(ns!, ['-6', 'fd00::2']);
    for (const addr of ['10.0.0.2', 'fd00::2']) {
      for (const size of [1, 1400, 4000]) {
        const out = ns!.exec('python3', ['-c', UDP_ECHO_PY, addr, '8000', '20', String(size)], { timeoutMs: 30_000 });
        assert.equal(out.trim(), 'echoed 20', `${addr}, ${size} bytes`);
      }
    }
    const { code } = await host.stop();
    assert.equal(code, 0, host.stderr());
  });

  test('the offloads are reset when the stack closes the device', async () => {
    // The device persists (it was made here). Read it WITHOUT a virtio-net header: had the
    // offloads survived the stack, the kernel would hand over partial checksums with nothing
    // to say so.
    const link = openTun({ name: DEV, attach: true, netns: ns!.name });
    try {
      const frames: Uint8Array[] = [];
      link.attach({ receive: (f) => void frames.push(f.slice()), flush: () => undefined });
      ns!.exec('python3', ['-c', "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x'*100, ('10.0.0.2', 9999))"]);
      const deadline = Date.now() + 5000;
      let udp: Uint8Array | undefined;
      while (!udp && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
        udp = frames.find((f) => f[0] === 0x45 && f[9] === 17);
      }
      assert.ok(udp, 'the datagram arrived, with no header in front');
      const len = read16(udp, 2) - 20;
      const sum = sumBytes(udp, 20, 20 + len, pseudoHeaderSumV4(read32(udp, 12), read32(udp, 16), 17, len));
      assert.equal(finish(sum), 0, 'a complete UDP checksum: offloads were reset');
    } finally {
      await link.close();
    }
  });
});
