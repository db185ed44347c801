/**
 * `netstack download` and `netstack upload` against the kernel's TCP, end to end: the command
 * runs as a child process and creates its device inside a fresh namespace (--netns); the
 * kernel-side servers are python3 scripts in that namespace. Every transfer is checked byte for
 * byte by SHA-256: the server reports what it sent or received, the command reports the same in
 * its --json summary, and for the chargen pattern the test computes the expected hash itself.
 *
 * Also: an HTTP download from `python3 -m http.server`, the stack's SYN options as the kernel
 * sees them (--pcap, read back with tcpdump), and the same transfers under `tc netem` (delay,
 * loss, duplication, reordering) when this kernel has the netem qdisc.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECV_PY, SEND_PY, killRunningClis, pyServer, runCli } from '../helpers/transfer.js';
import { Netns, deviceTestOptions, deviceTestsUnavailable, requireDevice, waitExit } from '../helpers/netns.js';
import { chargenSha256 } from '../../src/cli/services.js';

const MiB = 1024 * 1024;


interface Summary {
  command: string;
  remote: string;
  bytes: number;
  seconds: number;
  mbps: number;
  sha256: string;
  retransmits: number;
}


function parseSummary(stdout: string, stderr: string): Summary {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 1, `one line of JSON on stdout; got: ${stdout}; stderr: ${stderr}`);
  return JSON.parse(lines[0]!) as Summary;
}

let devCounter = 0;

/** download N bytes from SEND_PY; asserts the hashes agree. Returns the summary. */
async function download(ns: Netns, family: 4 | 6, n: number, extra: string[] = [], cliLimitMs = 120_000): Promise<Summary> {
  const srv = await pyServer(ns, SEND_PY, ['3000', String(n), String(family)]);
  const dev = `tcpd${++devCounter}`;
  const r = await runCli(['download', '--netns', ns.name, '--dev', dev, ...(family === 6 ? ['--v6'] : []), '--json', ...extra], cliLimitMs);
  const sent = await Promise.race([srv.result, new Promise<string>((res) => setTimeout(() => res('(server still running)'), 20_000))]);
  assert.equal(r.code, 0, `download exit ${r.code}: ${r.stderr}`);
  const s = parseSummary(r.stdout, r.stderr);
  const m = /sent (\d+) ([0-9a-f]{64})/.exec(sent);
  assert.ok(m, `server output: ${sent}`);
  assert.equal(s.bytes, n);
  assert.equal(Number(m[1]), n);
  assert.equal(s.sha256, m[2], 'the stack received exactly what the kernel sent');
  assert.equal(s.remote, family === 6 ? '[fd00::1]:3000' : '10.0.0.1:3000');
  assert.ok(s.seconds > 0 && s.mbps > 0, JSON.stringify(s));
  return s;
}

/** upload N bytes of the chargen pattern to RECV_PY; asserts the hashes agree. */
async function upload(ns: Netns, family: 4 | 6, n: number, extra: string[] = [], cliLimitMs = 120_000): Promise<Summary> {
  const srv = await pyServer(ns, RECV_PY, ['3000']);
  const dev = `tcpu${++devCounter}`;
  const r = await runCli(['upload', '--netns', ns.name, '--dev', dev, ...(family === 6 ? ['--v6'] : []), '--bytes', String(n), '--json', ...extra], cliLimitMs);
  const got = await Promise.race([srv.result, new Promise<string>((res) => setTimeout(() => res('(server still running)'), 20_000))]);
  assert.equal(r.code, 0, `upload exit ${r.code}: ${r.stderr}`);
  const s = parseSummary(r.stdout, r.stderr);
  const m = /received (\d+) ([0-9a-f]{64})/.exec(got);
  assert.ok(m, `server output: ${got}`);
  const expected = chargenSha256(n);
  assert.equal(Number(m[1]), n);
  assert.equal(m[2], expected, 'the kernel received exactly the chargen pattern');
  assert.equal(s.bytes, n);
  assert.equal(s.sha256, expected);
  return s;
}

/** Why `tc qdisc ... netem` cannot be used here, or null. Probed in a throw-away namespace. */
function netemUnavailable(): string | null {
  if (deviceTestsUnavailable() !== null) return null; // the device gate reports that
  if (spawnSync('sh', ['-c', 'command -v tc'], { stdio: 'ignore' }).status !== 0) return "'tc' is not installed (package iproute2)";
  const name = `nsnetem-${process.pid}`;
  try {
    spawnSync('ip', ['netns', 'add', name]);
    spawnSync('ip', ['netns', 'exec', name, 'ip', 'tuntap', 'add', 'dev', 'probe0', 'mode', 'tun']);
    const r = spawnSync('ip', ['netns', 'exec', name, 'tc', 'qdisc', 'add', 'dev', 'probe0', 'root', 'netem', 'delay', '1ms'], { encoding: 'utf8' });
    if (r.status !== 0) {
      return `this kernel has no netem qdisc (sch_netem): 'tc qdisc add ... netem' says: ${(r.stderr || r.stdout).trim()}`;
    }
    return null;
  } finally {
    spawnSync('ip', ['netns', 'del', name]);
  }
}

describe('netstack download/upload against the kernel TCP', { ...deviceTestOptions(), timeout: 300_000 }, () => {
  let ns: Netns | undefined;

  before(() => {
    requireDevice();
    ns = Netns.create('nstcpx');
  });

  after(async () => {
    await killRunningClis();
    await ns?.destroy();
  });

  for (const family of [4, 6] as const) {
    test(`download 100 MiB over IPv${family}, byte-exact`, async () => {
      await download(ns!, family, 100 * MiB);
    });

    test(`upload 100 MiB over IPv${family}, byte-exact`, async () => {
      await upload(ns!, family, 100 * MiB);
    });
  }

  test('download --bytes N stops after N bytes of a longer stream', async () => {
    // The server offers 8 MiB; the stack takes 3 MiB and closes (the server then sees a reset).
    const srv = await pyServer(ns!, SEND_PY, ['3000', String(8 * MiB), '9']);
    const r = await runCli(['download', '--netns', ns!.name, '--dev', 'tcpdn', '--bytes', '3M', '--json'], 60_000);
    assert.equal(r.code, 0, r.stderr);
    const s = parseSummary(r.stdout, r.stderr);
    assert.equal(s.bytes, 3 * MiB);
    // SEND_PY's stream with seed 9: 256 KiB blocks sha256('9/i') × 8192, i = 0..6 cycling.
    const h = createHash('sha256');
    for (let i = 0; i < 12; i++) h.update(Buffer.concat(Array.from({ length: 8192 }, () => createHash('sha256').update(`9/${i % 7}`).digest())));
    assert.equal(s.sha256, h.digest('hex'), 'the first 3 MiB of the stream');
    srv.child.kill('SIGKILL');
    await waitExit(srv.child, 5000);
  });

  test('upload --file sends the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-up-'));
    try {
      const data = Buffer.alloc(3 * MiB + 12345);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
      const file = join(dir, 'data.bin');
      writeFileSync(file, data);
      const srv = await pyServer(ns!, RECV_PY, ['3000']);
      const r = await runCli(['upload', '--netns', ns!.name, '--dev', 'tcpuf', '--file', file, '--json'], 60_000);
      const got = await srv.result;
      assert.equal(r.code, 0, r.stderr);
      const want = createHash('sha256').update(data).digest('hex');
      assert.match(got, new RegExp(`received ${data.length} ${want}`));
      assert.equal(parseSummary(r.stdout, r.stderr).sha256, want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('download --http from python3 -m http.server, both families', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-http-'));
    try {
      const data = Buffer.alloc(20 * MiB);
      for (let i = 0; i < data.length; i += 32) createHash('sha256').update(String(i)).digest().copy(data, i);
      writeFileSync(join(dir, 'big.bin'), data);
      const want = createHash('sha256').update(data).digest('hex');
      // --bind :: is dual-stack in http.server.
      const srv = ns!.spawn('python3', ['-u', '-m', 'http.server', '--bind', '::', '--directory', dir, '3000']);
      srv.stdout!.resume();
      srv.stderr!.resume();
      // Wait until it accepts connections.
      const deadline = Date.now() + 10_000;
      while (ns!.run('python3', ['-c', 'import socket; socket.create_connection(("::1", 3000), timeout=1).close()']).status !== 0) {
        if (Date.now() > deadline) assert.fail('python3 -m http.server did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const family of [4, 6] as const) {
        const r = await runCli(['download', '--netns', ns!.name, '--dev', `tcph${family}`, ...(family === 6 ? ['--v6'] : []), '--http', '/big.bin', '--json'], 60_000);
        assert.equal(r.code, 0, r.stderr);
        const s = parseSummary(r.stdout, r.stderr);
        assert.equal(s.bytes, data.length);
        assert.equal(s.sha256, want);
      }
      const r404 = await runCli(['download', '--netns', ns!.name, '--dev', 'tcph404', '--http', '/missing', '--json'], 60_000);
      assert.equal(r404.code, 1);
      assert.match(r404.stderr, /^netstack: HTTP 404\b/m);
      assert.equal(r404.stdout, '');
      srv.kill('SIGTERM');
      await waitExit(srv, 5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('connection refused: one error line, exit 1', async () => {
    const r = await runCli(['download', '--netns', ns!.name, '--dev', 'tcpref', '--connect', '10.0.0.1:3999', '--json'], 30_000);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^netstack: connect ECONNREFUSED 10\.0\.0\.1:3999$/m);
    assert.equal(r.stdout, '');
  });

  test("the stack's SYN and the kernel's SYN-ACK carry MSS, window scale, SACK-permitted and timestamps (--pcap)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-syn-'));
    try {
      const pcap = join(dir, 'syn.pcap');
      for (const family of [4, 6] as const) {
        const srv = await pyServer(ns!, SEND_PY, ['3000', String(64 * 1024), '3']);
        const r = await runCli(['download', '--netns', ns!.name, '--dev', `tcps${family}`, ...(family === 6 ? ['--v6'] : []), '--pcap', pcap, '--json'], 30_000);
        assert.equal(r.code, 0, r.stderr);
        await srv.result;
        const text = spawnSync('tcpdump', ['-nn', '-v', '-r', pcap], { encoding: 'utf8' });
        const lines = text.stdout.split('\n');
        const find = (flags: string): string => {
          const l = lines.find((x) => x.includes(`Flags [${flags}]`));
          assert.ok(l, `no [${flags}] segment in the capture: ${text.stdout}${text.stderr}`);
          return l;
        };
        const mssExpected = family === 4 ? 1460 : 1440;
        for (const [who, line] of [['stack SYN', find('S')], ['kernel SYN-ACK', find('S.')]] as const) {
          assert.match(line, new RegExp(`mss ${mssExpected}\\b`), `${who}: ${line}`);
          assert.match(line, /sackOK/, `${who}: ${line}`);
          assert.match(line, /TS val \d+ ecr \d+/, `${who}: ${line}`);
          assert.match(line, /wscale \d+/, `${who}: ${line}`);
        }
        const synLine = find('S');
        assert.match(synLine, family === 4 ? /10\.0\.0\.2\.\d+ > 10\.0\.0\.1\.3000/ : /fd00::2\.\d+ > fd00::1\.3000/, synLine);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const netemWhy = netemUnavailable();
if (netemWhy !== null) process.stdout.write(`# netem tests skipped: ${netemWhy}\n`);

describe('download/upload under tc netem (delay 5ms, loss 3%, duplicate 1%, reorder 25%)', { ...deviceTestOptions(), ...(netemWhy !== null ? { skip: `netem unavailable: ${netemWhy}` } : {}), timeout: 300_000 }, () => {
  let ns: Netns | undefined;

  before(() => {
    requireDevice();
    ns = Netns.create('nstcpnm');
  });

  after(async () => {
    await killRunningClis();
    await ns?.destroy();
  });

  /** A persistent TUN device with netem on the kernel's transmit side; the command attaches. */
  function netemDevice(dev: string): string[] {
    ns!.exec('ip', ['tuntap', 'add', 'dev', dev, 'mode', 'tun']);
    ns!.exec('ip', ['addr', 'add', '10.0.0.1/24', 'dev', dev]);
    ns!.exec('ip', ['-6', 'addr', 'add', 'fd00::1/64', 'dev', dev, 'nodad']);
    ns!.exec('ip', ['link', 'set', dev, 'up', 'txqueuelen', '5000']);
    ns!.exec('tc', ['qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '5ms', 'loss', '3%', 'duplicate', '1%', 'reorder', '25%', 'limit', '10000']);
    return ['--no-configure', '--dev', dev];
  }

  for (const family of [4, 6] as const) {
    test(`download 16 MiB over IPv${family} through netem, byte-exact`, async () => {
      const s = await download(ns!, family, 16 * MiB, netemDevice(`nmd${family}`), 240_000);
      ns!.exec('ip', ['link', 'del', `nmd${family}`]);
      assert.ok(s.bytes === 16 * MiB);
    });

    test(`upload 16 MiB over IPv${family} through netem, byte-exact`, async () => {
      const s = await upload(ns!, family, 16 * MiB, netemDevice(`nmu${family}`), 240_000);
      ns!.exec('ip', ['link', 'del', `nmu${family}`]);
      assert.ok(s.retransmits >= 0);
    });
  }
});

/**
 * The same impairments applied by the stack's side of the link (--impair), in both directions:
 * runs on every kernel, netem or not.
 */
describe('download/upload through --impair delay=5ms,loss=3%,duplicate=1%,reorder=25% (both directions)', { ...deviceTestOptions(), timeout: 300_000 }, () => {
  let ns: Netns | undefined;
  const IMPAIR = ['--impair', 'delay=5ms,loss=3%,duplicate=1%,reorder=25%,seed=7', '--stats', '3600'];

  before(() => {
    requireDevice();
    ns = Netns.create('nstcpim');
  });

  after(async () => {
    await killRunningClis();
    await ns?.destroy();
  });

  for (const family of [4, 6] as const) {
    test(`download 10 MiB over IPv${family}, byte-exact`, async () => {
      const s = await download(ns!, family, 10 * MiB, IMPAIR, 120_000);
      assert.ok(s.seconds > 0.5, `a 5 ms delay each way cannot be this fast: ${JSON.stringify(s)}`);
    });

    test(`upload 10 MiB over IPv${family}, byte-exact, with retransmissions`, async () => {
      const s = await upload(ns!, family, 10 * MiB, IMPAIR, 120_000);
      assert.ok(s.retransmits > 0, `3 % loss of the stack's segments must cause retransmissions: ${JSON.stringify(s)}`);
    });
  }
});
