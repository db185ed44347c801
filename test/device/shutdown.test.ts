/**
 * A clean stop of `netstack host` (SIGTERM/SIGINT) against the kernel's TCP, watched with
 * tcpdump on the device and with TCP_INFO from the kernel's side (python3):
 *
 * (a) an idle connection gets the stack's FIN and the kernel client reads EOF;
 * (b) a peer that never closes (CLOSE-WAIT, the stack in FIN-WAIT-2) gets a RST after the grace;
 * (c) during an upload to discard: the bytes the kernel saw acknowledged (tcpi_bytes_acked)
 *     are at most the bytes the discard service reports it read;
 * (d) the host's --pcap file is complete (tcpdump -r reads it; it holds the FINs and the final
 *     RST) and the device is gone afterwards;
 * (e) a new SYN during the grace is answered with a RST: the listeners are closed first, so the
 *     port is a closed port (RFC 9293 §3.10.7.1), which tells the client at once instead of
 *     leaving it to retransmit SYNs into a host that is going away;
 * plus: an HTTP response in progress is finished within the grace and an idle keep-alive
 * connection is closed; a second signal resets at once; `--stats 1` prints the limits table with the numbers of the moment.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, deviceTestOptions, requireDevice, waitExit } from '../helpers/netns.js';
import { ping, startHost, stopAllHosts } from '../helpers/host.js';
import { chargenSha256 } from '../../src/cli/services.js';

/** Linux TCP states as TCP_INFO reports them (include/net/tcp_states.h). */
const TCP_STATE_PY = `
import socket, struct
def state(s):
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
def bytes_acked(s):
    # struct tcp_info: 8 bytes of u8 fields, 24 u32, pacing_rate, max_pacing_rate, bytes_acked (u64)
    return struct.unpack_from('Q', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), 120)[0]
CLOSE, CLOSE_WAIT = 7, 8
`;

/**
 * (a), (b), (e): an idle connection to echo (A) and one to discard (B) that is never closed.
 * After the stack's FIN: A is closed by us, B stays in CLOSE-WAIT; a new connection is tried;
 * then B's state is watched until the RST moves it to CLOSE.
 */
const IDLE_PY = `${TCP_STATE_PY}
import sys, time
addr = sys.argv[1]
a = socket.create_connection((addr, 7), timeout=30)
b = socket.create_connection((addr, 9), timeout=30)
print('connected a=%d b=%d' % (a.getsockname()[1], b.getsockname()[1]), flush=True)
x = a.recv(100)
print('a eof' if x == b'' else 'a data %r' % x, flush=True)
a.close()
y = b.recv(100)
print('b eof' if y == b'' else 'b data %r' % y, flush=True)
try:
    c = socket.create_connection((addr, 7), timeout=5)
    print('new: connected port %d' % c.getsockname()[1], flush=True)
except ConnectionRefusedError:
    print('new: refused', flush=True)
except socket.timeout:
    print('new: timeout', flush=True)
print('b state %d' % state(b), flush=True)
t = time.time()
while time.time() - t < 30 and state(b) == CLOSE_WAIT:
    time.sleep(0.01)
print('b final state %d' % state(b), flush=True)
`;

/** (c): uploads to discard until the connection fails, then prints what was sent and acked. */
const UPLOAD_PY = `${TCP_STATE_PY}
import os, sys, time
addr = sys.argv[1]
s = socket.create_connection((addr, 9), timeout=30)
chunk = os.urandom(65536)
sent = 0
said = False
err = 'none'
t = time.time()
try:
    while time.time() - t < 60:
        sent += s.send(chunk)
        if not said and sent >= (4 << 20):
            print('uploading', flush=True)
            said = True
except OSError as e:
    err = type(e).__name__
print('sent %d acked %d state %d error %s' % (sent, bytes_acked(s), state(s), err), flush=True)
`;

/** A client that connects to echo and waits (never closes) until killed. */
const HOLD_PY = `${TCP_STATE_PY}
import sys, time
s = socket.create_connection((sys.argv[1], 7), timeout=30)
print('connected', flush=True)
x = s.recv(100)
print('eof' if x == b'' else 'data', flush=True)
t = time.time()
while time.time() - t < 60 and state(s) == CLOSE_WAIT:
    time.sleep(0.01)
print('final state %d' % state(s), flush=True)
`;

/** One request on a keep-alive connection, then idle: the shutdown closes it (EOF). */
const IDLE_HTTP_PY = `
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], 80, timeout=30)
c.request('GET', '/')
r = c.getresponse()
r.read()
print('response %d %s' % (r.status, r.getheader('Connection', 'keep-alive')), flush=True)
x = c.sock.recv(100)
print('idle eof' if x == b'' else 'idle data %r' % x, flush=True)
`;

/**
 * GET /bytes/N; reads the headers and 64 KiB of the body, says 'partial', waits for a line on
 * stdin, then reads to EOF (the server closes after the response) and reports length and SHA-256.
 */
const SLOW_HTTP_PY = `
import hashlib, socket, sys
n = int(sys.argv[2])
s = socket.create_connection((sys.argv[1], 80), timeout=30)
s.sendall(b'GET /bytes/%d HTTP/1.1\\r\\nHost: netstack\\r\\n\\r\\n' % n)
buf = b''
while b'\\r\\n\\r\\n' not in buf:
    buf += s.recv(65536)
head, body = buf.split(b'\\r\\n\\r\\n', 1)
got = bytearray(body)
while len(got) < 65536:
    got += s.recv(65536)
print('partial %d' % len(got), flush=True)
sys.stdin.readline()
while True:
    x = s.recv(1 << 20)
    if not x: break
    got += x
print('body %d %s %s' % (len(got), hashlib.sha256(bytes(got)).hexdigest(), 'close' if b'connection: close' in head.lower() else 'keep-alive'), flush=True)
`;

/** Collects a child's stdout and waits for lines matching a pattern. */
function lines(child: ChildProcess): { text(): string; waitFor(re: RegExp, ms: number): Promise<RegExpExecArray> } {
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (buf += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return {
    text: () => buf,
    waitFor(re, ms) {
      return new Promise((resolve, reject) => {
        const deadline = Date.now() + ms;
        const check = (): void => {
          const m = re.exec(buf);
          if (m) return resolve(m);
          if (Date.now() > deadline || child.exitCode !== null || child.signalCode !== null) {
            const m2 = re.exec(buf);
            if (m2) return resolve(m2);
            return reject(new Error(`no ${re} in stdout: ${buf} stderr: ${err}`));
          }
          setTimeout(check, 20);
        };
        check();
      });
    },
  };
}

/** Waits until `get()` matches `re` (polling), or fails with what it had. */
async function waitForText(get: () => string, re: RegExp, ms: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(get());
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} in: ${get()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** tcpdump running on `dev` inside `ns`, writing `file`. */
async function startDump(ns: Netns, dev: string, file: string, filter: string): Promise<ChildProcess> {
  // -Z root: Debian's tcpdump otherwise drops to user tcpdump before it opens the file;
  // --immediate-mode and -U: every packet reaches the file at once.
  const dump = ns.spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-i', dev, '-n', '-U', '-w', file, filter]);
  let err = '';
  dump.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await waitForText(() => err, /listening on/, 10_000);
  return dump;
}

/** tcpdump -r with absolute timestamps; one entry per packet. */
function readDump(file: string): Array<{ t: number; line: string }> {
  const r = spawnSync('tcpdump', ['-nn', '-tt', '-r', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `tcpdump -r ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => ({ t: Number(line.split(' ')[0]), line }));
}

const flags = (line: string): string => /Flags \[([^\]]*)\]/.exec(line)?.[1] ?? '';

describe('netstack host: clean shutdown', { ...deviceTestOptions(), timeout: 240_000 }, () => {
  let ns: Netns | undefined;
  let dir: string | undefined;

  before(() => {
    requireDevice();
    ns = Netns.create('nsstop');
    dir = mkdtempSync(join(tmpdir(), 'netstack-stop-'));
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('(a) FIN to an idle connection, (b) RST after the grace, (e) RST to new SYNs, (d) pcap complete and device gone; --stats limits table', async () => {
    const GRACE = 2;
    const pcap = join(dir!, 'host.pcap');
    const dumpFile = join(dir!, 'dump.pcap');
    const host = await startHost(['--netns', ns!.name, '--dev', 'stop0', '--pcap', pcap, '--stats', '1', '--shutdown-grace', String(GRACE)]);
    const dump = await startDump(ns!, 'stop0', dumpFile, 'tcp');
    const client = ns!.spawn('python3', ['-c', IDLE_PY, '10.0.0.2']);
    const out = lines(client);
    const m = await out.waitFor(/connected a=(\d+) b=(\d+)/, 20_000);
    const [portA, portB] = [m[1]!, m[2]!];

    // --stats 1: a table printed while the two connections are open.
    const from = host.stderr().length;
    const table = (await waitForText(() => host.stderr().slice(from), /limits\n[\s\S]*?\nmemory: [^\n]*\n/, 10_000))[0];
    const row = (name: string): string[] => {
      const l = table.split('\n').find((x) => x.trimStart().startsWith(name));
      assert.ok(l, `no '${name}' row in:\n${table}`);
      return l.slice(2 + name.length).trim().split(/\s+/);
    };
    assert.deepEqual(row('tcp connections').slice(0, 2), ['2', '262144'], table);
    assert.match(table, /\(ESTABLISHED 2\)/);
    assert.deepEqual(row('tcp half-open (per listener)').slice(0, 2), ['0', '256'], table);
    assert.match(table, /8 listeners/); // echo, discard, chargen, http on IPv4 and IPv6
    assert.deepEqual(row('tcp accept queue (per listener)').slice(0, 2), ['0', '511'], table);
    assert.deepEqual(row('ip reassembly bytes (v4+v6)').slice(0, 2), ['0', '4194304'], table);
    assert.deepEqual(row('tcp send buffer (per conn, max)').slice(0, 2), ['0', '1048576'], table);
    assert.match(row('tcp half-open (per listener)').join(' '), /tcp\.syncookies_sent=0 .*drop\.tcp\.syn_queue_full=0/);
    assert.match(row('tcp connections').join(' '), /drop\.tcp\.conn_limit=0/);
    assert.match(row('icmp errors').join(' '), /^- 100\/s\s+drop\.icmp\.rate_limited=0 drop\.icmp6\.rate_limited=0/);
    // TUN: no neighbour caches.
    assert.equal(row('neighbour entries (per cache)')[0], '-');
    assert.match(table, /\nsockets: tcp 2 open \(\+0 TIME-WAIT\), 8 tcp listeners, 2 udp\n/);
    const mem = /memory: heap ([\d.]+) MiB used of ([\d.]+) MiB, rss ([\d.]+) MiB/.exec(table);
    assert.ok(mem, table);
    const [heapUsed, heapTotal, rss] = [Number(mem[1]), Number(mem[2]), Number(mem[3])];
    assert.ok(heapUsed > 0 && heapUsed <= heapTotal && heapTotal < rss, `memory line: ${mem[0]}`);

    host.child.kill('SIGTERM');
    await out.waitFor(/b final state \d+/, 30_000);
    const r = await host.stop();
    await waitExit(dump, 5000); // the device went away under it
    if (dump.exitCode === null && dump.signalCode === null) {
      dump.kill('SIGINT');
      await waitExit(dump, 5000);
    }
    const text = out.text();
    const stderr = host.stderr();

    // (a) the idle connection: EOF at the kernel client.
    assert.match(text, /^a eof$/m, text);
    // (e) new SYN during the grace: refused (a RST).
    assert.match(text, /^new: refused$/m, text);
    // (b) B saw EOF, stayed in CLOSE-WAIT, then the RST closed it.
    assert.match(text, /^b eof$/m, text);
    assert.match(text, /^b state 8$/m, text);
    assert.match(text, /^b final state 7$/m, text);

    // The host: clean exit, one connection closed, one reset after the grace.
    assert.equal(r.code, 0, stderr);
    assert.match(host.stdout(), /^stopped$/m);
    assert.match(stderr, /shutdown: 1 of 2 connections closed, 1 reset after [\d.]+ s/);
    assert.match(stderr, /echo: 0 bytes from 1 connection\n/);
    assert.match(stderr, /discard: 0 bytes from 1 connection\n/);

    // On the wire (tcpdump on the device).
    const pkts = readDump(dumpFile);
    const fromStack = (port: string): Array<{ t: number; line: string }> => pkts.filter((p) => p.line.includes(`10.0.0.2.${port} > 10.0.0.1.`));
    const toStack = (port: string): Array<{ t: number; line: string }> => pkts.filter((p) => p.line.includes(` > 10.0.0.2.${port}:`));
    const finA = fromStack('7').find((p) => p.line.includes(`> 10.0.0.1.${portA}:`) && flags(p.line).includes('F'));
    assert.ok(finA, `(a) no FIN from the stack to ${portA}:\n${pkts.map((p) => p.line).join('\n')}`);
    const finB = fromStack('9').find((p) => p.line.includes(`> 10.0.0.1.${portB}:`) && flags(p.line).includes('F'));
    const rstB = fromStack('9').find((p) => p.line.includes(`> 10.0.0.1.${portB}:`) && flags(p.line).includes('R'));
    assert.ok(finB && rstB, `(b) no FIN then RST to ${portB}:\n${pkts.map((p) => p.line).join('\n')}`);
    // The RST comes after the grace (a lower bound only: it cannot come early).
    assert.ok(rstB.t - finB.t >= GRACE - 0.5, `(b) RST ${(rstB.t - finB.t).toFixed(3)} s after the FIN`);
    // A's close completed with FINs both ways: no RST on A.
    assert.ok(!fromStack('7').some((p) => p.line.includes(`> 10.0.0.1.${portA}:`) && flags(p.line).includes('R')), '(a) A was reset');
    assert.ok(toStack('7').some((p) => p.line.includes(`10.0.0.1.${portA} >`) && flags(p.line).includes('F')), '(a) no FIN from the kernel on A');
    // (e) the SYN after the stack's FIN was answered with a RST.
    const lateSyn = toStack('7').find((p) => flags(p.line) === 'S' && p.t > finA.t);
    assert.ok(lateSyn, `(e) no SYN after the FIN:\n${pkts.map((p) => p.line).join('\n')}`);
    const lateRst = fromStack('7').find((p) => p.t >= lateSyn.t && flags(p.line).includes('R'));
    assert.ok(lateRst, '(e) no RST for the new SYN');

    // (d) the host's own pcap: readable, with the FINs and the final RST (written before the link closed).
    const own = readDump(pcap).map((p) => p.line);
    assert.ok(own.some((l) => l.includes(`10.0.0.2.7 > 10.0.0.1.${portA}:`) && flags(l).includes('F')), '(d) pcap: FIN to A');
    assert.ok(own.some((l) => l.includes(`10.0.0.2.9 > 10.0.0.1.${portB}:`) && flags(l).includes('F')), '(d) pcap: FIN to B');
    assert.ok(own.some((l) => l.includes(`10.0.0.2.9 > 10.0.0.1.${portB}:`) && flags(l).includes('R')), '(d) pcap: RST to B');
    // (d) the device is gone.
    const link = ns!.run('ip', ['link', 'show', 'stop0']);
    assert.notEqual(link.status, 0, `stop0 still exists: ${link.stdout}`);
  });

  test('(c) SIGTERM during an upload to discard: bytes acknowledged <= bytes the service read', async (t) => {
    const host = await startHost(['--netns', ns!.name, '--dev', 'stop1', '--shutdown-grace', '1']);
    const client = ns!.spawn('python3', ['-c', UPLOAD_PY, '10.0.0.2']);
    const out = lines(client);
    await out.waitFor(/^uploading$/m, 30_000);
    host.child.kill('SIGTERM');
    const m = await out.waitFor(/sent (\d+) acked (\d+) state (\d+) error (\w+)/, 30_000);
    const r = await host.stop();
    assert.equal(r.code, 0, host.stderr());
    const [sent, acked] = [Number(m[1]), Number(m[2])];
    const d = /discard: (\d+) bytes from (\d+) connections?\n/.exec(host.stderr());
    assert.ok(d, host.stderr());
    const [consumed, conns] = [Number(d[1]), Number(d[2])];
    assert.equal(conns, 1);
    // tcpi_bytes_acked counts the SYN too (SND.UNA moved past it); the FIN never was sent.
    const ackedData = acked - 1;
    t.diagnostic(`sent ${sent}, acknowledged ${ackedData}, discard read ${consumed}`);
    assert.ok(ackedData >= 4 << 20, `acked ${ackedData}`);
    assert.ok(ackedData <= consumed, `the kernel saw ${ackedData} bytes acknowledged, discard read ${consumed}`);
    assert.ok(consumed <= sent, `discard read ${consumed} > sent ${sent}`);
    // The upload ended with the stack's RST (after the grace).
    assert.equal(m[3], '7', out.text());
    assert.match(m[4]!, /ConnectionResetError|BrokenPipeError/);
    assert.match(host.stderr(), /shutdown: 0 of 1 connection closed, 1 reset after/);
  });

  test('an HTTP response in progress is finished within the grace; a second signal resets at once', async () => {
    const host = await startHost(['--netns', ns!.name, '--dev', 'stop2', '--shutdown-grace', '30']);
    const hold = ns!.spawn('python3', ['-c', HOLD_PY, '10.0.0.2']);
    const held = lines(hold);
    await held.waitFor(/^connected$/m, 20_000);
    const idle = lines(ns!.spawn('python3', ['-c', IDLE_HTTP_PY, '10.0.0.2']));
    await idle.waitFor(/^response 200 keep-alive$/m, 20_000);
    // A response far larger than the buffers on the way, read only in part before the signal.
    const n = 8 << 20;
    const slow = ns!.spawn('python3', ['-c', SLOW_HTTP_PY, '10.0.0.2', String(n)]);
    const body = lines(slow);
    await body.waitFor(/^partial \d+$/m, 20_000);
    host.child.kill('SIGTERM');
    // The FINs are going out (the held connection got one): then the client reads the rest.
    await held.waitFor(/^eof$/m, 20_000);
    slow.stdin!.write('go\n');
    const got = await body.waitFor(/^body (\d+) (\w+) (\S+)$/m, 30_000);
    assert.equal(Number(got[1]), n, body.text());
    assert.equal(got[2], chargenSha256(n));
    assert.equal(got[3], 'keep-alive', 'the headers were sent before the signal');
    // The idle keep-alive connection was closed with a FIN.
    await idle.waitFor(/^idle eof$/m, 20_000);
    // The held connection got its FIN and stays open: the host waits (grace 30 s) ...
    assert.equal(host.child.exitCode, null, 'the host did not wait for the held connection');
    // ... until a second signal resets it at once.
    host.child.kill('SIGTERM');
    const fin = await held.waitFor(/final state (\d+)/, 20_000);
    assert.equal(fin[1], '7');
    const r = await host.stop();
    assert.equal(r.code, 0, host.stderr());
    assert.match(host.stderr(), /second signal/);
    assert.match(host.stderr(), /shutdown: 2 of 3 connections closed, 1 reset after/);
    assert.match(host.stderr(), /http: 2 requests on 2 connections, \d+ bytes in, \d+ bytes out/);
    const outBytes = Number(/http: .* (\d+) bytes out/.exec(host.stderr())![1]);
    assert.ok(outBytes > n, `http bytes out ${outBytes}`);
  });

  test('SIGUSR1 on a TAP host: the limits table counts the neighbour cache', async () => {
    const host = await startHost(['--netns', ns!.name, '--dev', 'stop3', '--tap']);
    ping(ns!, ['10.0.0.2']);
    const from = host.stderr().length;
    host.child.kill('SIGUSR1');
    const table = (await waitForText(() => host.stderr().slice(from), /limits\n[\s\S]*?\nmemory: [^\n]*\n/, 10_000))[0];
    const l = table.split('\n').find((x) => x.trimStart().startsWith('neighbour entries (per cache)'));
    assert.ok(l, table);
    const [use, bound] = l.trim().slice('neighbour entries (per cache)'.length).trim().split(/\s+/);
    assert.ok(Number(use) >= 1 && Number(use) <= 512, l);
    assert.equal(bound, '512');
    assert.match(table, /pending resolution \(per neighbour\)\s+0\s+16\s/);
    assert.match(table, /\nsockets: tcp 0 open \(\+0 TIME-WAIT\), 8 tcp listeners, 2 udp\n/);
    const r = await host.stop();
    assert.equal(r.code, 0, host.stderr());
    assert.doesNotMatch(host.stderr(), /shutdown: /, 'no connections: no shutdown line');
  });
});
