/**
 * The TCP services of `netstack host` against the kernel's TCP clients, end to end: the
 * command runs as a child process with its device in a fresh namespace; curl and python3 run in
 * that namespace. Covers echo, discard, chargen, the HTTP server (/, /bytes/N with a 100 MiB
 * body checked by SHA-256, keep-alive), RST for a closed port, and the handshake's options in
 * both directions as tcpdump on the device sees them.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, deviceTestOptions, requireDevice, waitForLine, waitExit } from '../helpers/netns.js';
import { chargenSha256 } from '../../src/cli/services.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * echo: sends `size` random bytes (from a thread, while reading: an echo client that sends
 * everything before reading deadlocks once both sides' buffers are full), half-closes, reads
 * everything back.
 */
const ECHO_PY = `
import os, socket, sys, threading
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = os.urandom(size)
s = socket.create_connection((addr, port), timeout=20)
def send():
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
threading.Thread(target=send, daemon=True).start()
got = bytearray()
while True:
    x = s.recv(1 << 20)
    if not x: break
    got += x
print('echo ok' if bytes(got) == data else 'echo MISMATCH: sent %d got %d' % (len(data), len(got)))
`;

/** discard: sends `size` bytes, half-closes, expects EOF with nothing sent back. */
const DISCARD_PY = `
import os, socket, sys
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((addr, port), timeout=20)
s.sendall(os.urandom(size))
s.shutdown(socket.SHUT_WR)
rest = s.recv(100)
print('discard ok' if rest == b'' else 'discard got %r' % rest)
`;

/** chargen: reads `size` bytes and checks them against RFC 864's pattern. */
const CHARGEN_PY = `
import socket, sys
addr, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection((addr, port), timeout=20)
got = bytearray()
while len(got) < size:
    x = s.recv(1 << 20)
    if not x: break
    got += x
s.close()
got = bytes(got[:size])
period = b''.join(bytes(32 + (line + j) % 95 for j in range(72)) + b'\\r\\n' for line in range(95))
want = (period * (size // len(period) + 1))[:size]
print('chargen ok' if got == want else 'chargen MISMATCH at %d' % next(i for i in range(size) if i >= len(got) or got[i] != want[i]))
`;

/** A connection to a port nobody listens on. */
const REFUSED_PY = `
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    print('connected')
except ConnectionRefusedError:
    print('refused')
except socket.timeout:
    print('timeout')
`;

/** N GET requests on one HTTP/1.1 connection (http.client reuses it while the server keeps it). */
const KEEPALIVE_PY = `
import http.client, sys
addr, n = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(addr, 80, timeout=10)
first = None
for i in range(n):
    path = '/bytes/%d' % (1000 + i) if i % 2 else '/'
    c.request('GET', path)
    r = c.getresponse()
    body = r.read()
    if r.status != 200: print('status %d for %s' % (r.status, path)); sys.exit(1)
    if i % 2 and len(body) != 1000 + i: print('length %d for %s' % (len(body), path)); sys.exit(1)
    if first is None: first = c.sock
    elif c.sock is not first: print('new connection at request %d' % i); sys.exit(1)
    if r.getheader('Connection', '').lower() == 'close': print('server closed at %d' % i); sys.exit(1)
print('keepalive ok %d' % n)
`;

describe('netstack host TCP services against the kernel TCP', { ...deviceTestOptions(), timeout: 300_000 }, () => {
  let ns: Netns | undefined;
  let host: ChildProcess | undefined;
  let ready = '';
  let stderr = '';

  before(async () => {
    requireDevice();
    ns = Netns.create('nstcps');
    host = spawn(process.execPath, [cli, 'host', '--netns', ns.name, '--dev', 'tun0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    host.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      ready = await waitForLine(host, 'ready', 20_000);
    } catch (e) {
      host.kill('SIGKILL');
      throw e;
    }
    host.stdout!.resume();
  });

  after(async () => {
    if (host && host.exitCode === null && host.signalCode === null) {
      host.kill('SIGTERM');
      await waitExit(host, 10_000);
      if (host.exitCode === null && host.signalCode === null) {
        host.kill('SIGKILL');
        await waitExit(host, 5000);
      }
    }
    await ns?.destroy();
  });

  test('the ready line lists the TCP services', () => {
    assert.match(ready, / udp-echo=8000 tcp-echo=7 discard=9 chargen=19 http=80 /);
  });

  for (const addr of ['10.0.0.2', 'fd00::2']) {
    test(`echo, discard and chargen on ${addr}`, () => {
      assert.equal(ns!.exec('python3', ['-c', ECHO_PY, addr, '7', String(4 << 20)], { timeoutMs: 60_000 }).trim(), 'echo ok');
      assert.equal(ns!.exec('python3', ['-c', ECHO_PY, addr, '7', '1'], { timeoutMs: 30_000 }).trim(), 'echo ok');
      assert.equal(ns!.exec('python3', ['-c', DISCARD_PY, addr, '9', String(4 << 20)], { timeoutMs: 60_000 }).trim(), 'discard ok');
      assert.equal(ns!.exec('python3', ['-c', CHARGEN_PY, addr, '19', String(1 << 20)], { timeoutMs: 60_000 }).trim(), 'chargen ok');
    });

    test(`RST for a closed port on ${addr} (ECONNREFUSED)`, () => {
      assert.equal(ns!.exec('python3', ['-c', REFUSED_PY, addr, '5555'], { timeoutMs: 30_000 }).trim(), 'refused');
    });
  }

  test('curl http://10.0.0.2/ and http://[fd00::2]/: the HTML page', () => {
    for (const url of ['http://10.0.0.2/', 'http://[fd00::2]/']) {
      const r = ns!.run('curl', ['-sS', '--max-time', '20', '-i', url], { timeoutMs: 30_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(r.stdout, /content-type: text\/html/i);
      assert.match(r.stdout, /<h1>netstack<\/h1>/);
    }
    const r404 = ns!.run('curl', ['-sS', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code}', 'http://10.0.0.2/nothing'], { timeoutMs: 30_000 });
    assert.equal(r404.stdout, '404');
  });

  for (const url of ['http://10.0.0.2/bytes/104857600', 'http://[fd00::2]/bytes/104857600']) {
    test(`curl ${url}: 100 MiB, size and SHA-256 of the chargen pattern`, () => {
      const n = 104857600;
      const out = ns!.exec('sh', ['-c', `curl -sSf --max-time 120 '${url}' | python3 -c "import hashlib,sys; h=hashlib.sha256(); n=0
while True:
    b=sys.stdin.buffer.read(1<<20)
    if not b: break
    h.update(b); n+=len(b)
print(n, h.hexdigest())"`], { timeoutMs: 150_000 });
      const [size, sha] = out.trim().split(' ');
      assert.equal(Number(size), n);
      assert.equal(sha, chargenSha256(n));
    });
  }

  test('50 requests on one keep-alive connection (python http.client), both families', () => {
    for (const addr of ['10.0.0.2', 'fd00::2']) {
      assert.equal(ns!.exec('python3', ['-c', KEEPALIVE_PY, addr, '50'], { timeoutMs: 60_000 }).trim(), 'keepalive ok 50');
    }
  });

  test('curl reuses the connection for several URLs', () => {
    const urls = Array.from({ length: 5 }, (_, i) => `http://10.0.0.2/bytes/${10 + i}`);
    // (Netns.run returns no stderr on success, so run it here.)
    const r = spawnSync('ip', ['netns', 'exec', ns!.name, 'curl', '-sS', '-v', '--max-time', '20', ...urls.flatMap((u) => ['-o', '/dev/null', u])], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const reused = r.stderr.split('\n').filter((l) => /Re-using existing connection|Reusing existing/i.test(l)).length;
    assert.equal(reused, 4, r.stderr);
  });

  test('the handshake options both ways (tcpdump on tun0): kernel SYN and stack SYN-ACK', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-hs-'));
    try {
      const file = join(dir, 'hs.pcap');
      // -Z root: Debian's tcpdump otherwise drops to user tcpdump before it opens the file.
      // --immediate-mode: without it packets wait in the kernel's ring up to a second, and a
      // SIGINT before that loses them.
      const dump = ns!.spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-i', 'tun0', '-n', '-U', '-w', file, 'tcp port 7']);
      await waitForStderr(dump, /listening on/, 10_000);
      for (const addr of ['10.0.0.2', 'fd00::2']) {
        assert.equal(ns!.exec('python3', ['-c', ECHO_PY, addr, '7', '100'], { timeoutMs: 30_000 }).trim(), 'echo ok');
      }
      await new Promise((r) => setTimeout(r, 300));
      dump.kill('SIGINT');
      await waitExit(dump, 5000);
      const read = spawnSync('tcpdump', ['-nn', '-v', '-r', file], { encoding: 'utf8' });
      const text = read.stdout + read.stderr;
      const lines = text.split('\n');
      for (const [fam, kernel, stack, mss] of [['IPv4', '10.0.0.1', '10.0.0.2', 1460], ['IPv6', 'fd00::1', 'fd00::2', 1440]] as const) {
        const syn = lines.find((l) => l.includes(`${kernel}.`) && l.includes(`> ${stack}.7:`) && l.includes('Flags [S]'));
        const synAck = lines.find((l) => l.includes(`${stack}.7 > ${kernel}.`) && l.includes('Flags [S.]'));
        assert.ok(syn, `${fam}: no kernel SYN in ${text}`);
        assert.ok(synAck, `${fam}: no stack SYN-ACK in ${text}`);
        for (const [who, l] of [['kernel SYN', syn], ['stack SYN-ACK', synAck]] as const) {
          assert.match(l, new RegExp(`mss ${mss}\\b`), `${fam} ${who}: ${l}`);
          assert.match(l, /sackOK/, `${fam} ${who}: ${l}`);
          assert.match(l, /TS val \d+ ecr \d+/, `${fam} ${who}: ${l}`);
          assert.match(l, /wscale \d+/, `${fam} ${who}: ${l}`);
        }
        // The SYN-ACK echoes the SYN's timestamp.
        const tsval = /TS val (\d+)/.exec(syn)![1];
        assert.match(synAck, new RegExp(`ecr ${tsval}\\b`), `${fam}: SYN-ACK echoes TSval ${tsval}: ${synAck}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the host is still up and stops cleanly', async () => {
    assert.equal(host!.exitCode, null, stderr);
    host!.kill('SIGTERM');
    await waitExit(host!, 10_000);
    assert.equal(host!.exitCode, 0, stderr);
  });
});

function waitForStderr(child: ChildProcess, re: RegExp, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}: ${buf}`)), ms);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (re.test(buf)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}
