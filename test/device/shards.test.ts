/**
 * `netstack host --shards 2`, end to end in a fresh namespace: two stack shards on worker
 * threads, each on its own queue of a multi-queue TUN device, flows spread by the kernel's
 * hash. Parallel HTTP downloads must all arrive byte for byte, ping and UDP echo (fragmented
 * too) must be answered whichever shard gets them, both shards must have served connections
 * (their own counters say so), and a clean stop (or a kill) must leave no device behind.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Netns, deviceTestOptions, requireDevice } from '../helpers/netns.js';
import { startHost, stopAllHosts, ping, UDP_ECHO_PY, type Host } from '../helpers/host.js';
import { chargenSha256 } from '../../src/cli/services.js';

/** Downloads every URL at once (one thread each) and prints `url size sha256` per line. */
const PARALLEL_GET_PY = `
import hashlib, sys, threading, urllib.request
urls = sys.argv[1:]
out = [None] * len(urls)
def get(i):
    try:
        h = hashlib.sha256()
        n = 0
        with urllib.request.urlopen(urls[i], timeout=30) as r:
            while True:
                b = r.read(1 << 20)
                if not b: break
                h.update(b)
                n += len(b)
        out[i] = '%s %d %s' % (urls[i], n, h.hexdigest())
    except Exception as e:
        out[i] = '%s error %r' % (urls[i], e)
ts = [threading.Thread(target=get, args=(i,)) for i in range(len(urls))]
for t in ts: t.start()
for t in ts: t.join()
print('\\n'.join(out))
`;

/** `count` short HTTP requests, each on a new connection (a new source port, so a new hash). */
const SHORT_GETS_PY = `
import sys, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and len(r.read()) == 100
print('ok %d' % count)
`;

/** The per-shard sections of the counter table the host prints on SIGUSR1. */
async function shardCounters(host: Host, shards: number): Promise<Array<Record<string, number>>> {
  const from = host.stderr().length;
  host.child.kill('SIGUSR1');
  const last = `shard ${shards - 1}\n`;
  for (let i = 0; i < 100; i++) {
    const text = host.stderr().slice(from);
    const at = text.indexOf(last);
    // The per-shard sections end with drop.total.
    if (at >= 0 && /drop\.total\s+\d+\n/.test(text.slice(at))) return parseShardSections(text, shards);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no counter table after SIGUSR1; stderr: ${host.stderr().slice(from)}`);
}

function parseShardSections(text: string, shards: number): Array<Record<string, number>> {
  const out: Array<Record<string, number>> = [];
  let cur: Record<string, number> | undefined;
  for (const line of text.split('\n')) {
    const m = /^shard (\d+)$/.exec(line);
    if (m) {
      cur = {};
      out[Number(m[1])] = cur;
      continue;
    }
    if (!line.startsWith('  ')) {
      cur = undefined;
      continue;
    }
    const kv = /^\s+(\S+)\s+(\d+)$/.exec(line);
    if (cur && kv) cur[kv[1]!] = Number(kv[2]);
  }
  assert.equal(out.length, shards, `expected ${shards} shard sections in:\n${text}`);
  return out;
}

describe('netstack host --shards 2 over a multi-queue TUN', { ...deviceTestOptions(), timeout: 180_000 }, () => {
  let ns: Netns | undefined;
  let host: Host | undefined;

  before(async () => {
    requireDevice();
    ns = Netns.create('nsshard');
    host = await startHost(['--netns', ns.name, '--dev', 'tun0', '--shards', '2']);
  });

  after(async () => {
    await stopAllHosts();
    await ns?.destroy();
  });

  test('one ready line, with shards=2 and the services', () => {
    assert.match(host!.ready, /^ready dev=tun0 mode=tun ip=10\.0\.0\.2 ip6=fd00::2 .*udp-echo=8000 tcp-echo=7 discard=9 chargen=19 http=80 mtu=1500 shards=2 /);
    assert.equal(host!.stdout().split('\n').filter((l) => l.startsWith('ready')).length, 1);
  });

  test('the device is multi-queue: two shard queues enabled, the main thread’s disabled', () => {
    const link = ns!.exec('ip', ['-d', 'link', 'show', 'tun0']);
    assert.match(link, /multi_queue numqueues 2 numdisabled 1/);
    assert.match(ns!.exec('ip', ['addr', 'show', 'dev', 'tun0']), /inet 10\.0\.0\.1\/24/);
  });

  test('8 parallel HTTP downloads over IPv4 and 4 over IPv6, all byte-exact', () => {
    const jobs = [
      ...Array.from({ length: 8 }, (_, i) => ({ url: `http://10.0.0.2/bytes/${(4 << 20) + i * 1001}`, size: (4 << 20) + i * 1001 })),
      ...Array.from({ length: 4 }, (_, i) => ({ url: `http://[fd00::2]/bytes/${(1 << 20) + i * 7}`, size: (1 << 20) + i * 7 })),
    ];
    const out = ns!.exec('python3', ['-c', PARALLEL_GET_PY, ...jobs.map((j) => j.url)], { timeoutMs: 120_000 });
    const lines = out.trim().split('\n');
    assert.equal(lines.length, jobs.length, out);
    jobs.forEach((j, i) => assert.equal(lines[i], `${j.url} ${j.size} ${chargenSha256(j.size)}`));
  });

  test('ping on IPv4 and IPv6 (also fragmented)', () => {
    ping(ns!, ['10.0.0.2']);
    ping(ns!, ['-6', 'fd00::2']);
    ping(ns!, ['-s', '4000', '10.0.0.2']);
    ping(ns!, ['-6', '-s', '4000', 'fd00::2']);
  });

  test('UDP echo on IPv4 and IPv6, small and fragmented datagrams', () => {
    for (const addr of ['10.0.0.2', 'fd00::2']) {
      for (const size of ['64', '4000']) {
        assert.equal(ns!.exec('python3', ['-c', UDP_ECHO_PY, addr, '8000', '20', size]).trim(), 'echoed 20');
      }
    }
  });

  test('both shards served connections and saw traffic (per-shard counters)', async () => {
    let shards = await shardCounters(host!, 2);
    // Which shard a connection lands on is the kernel's (seeded) hash of its ports: 12 flows
    // leave both on one shard with probability 2^-11. Then more connections, a bounded number.
    let extra = 0;
    while (shards.some((s) => (s['tcp.passive_opens'] ?? 0) === 0) && extra < 64) {
      ns!.exec('python3', ['-c', SHORT_GETS_PY, 'http://10.0.0.2/bytes/100', '8']);
      extra += 8;
      shards = await shardCounters(host!, 2);
    }
    const opens = shards.map((s) => s['tcp.passive_opens'] ?? 0);
    assert.ok(
      opens.every((n) => n > 0),
      `a shard served no connection: ${JSON.stringify(shards)}`,
    );
    assert.ok(opens[0]! + opens[1]! >= 12, `12 downloads, but ${opens.join(' + ')} connections`);
    for (const s of shards) {
      assert.ok(s['link.rxPackets']! > 0 && s['link.txPackets']! > 0, JSON.stringify(s));
      assert.equal(s['link.txDrops'], 0, JSON.stringify(s));
    }
    // The summed section adds the shards up.
    const text = host!.stderr();
    const table = text.slice(text.lastIndexOf('netstack counters'));
    const sum = /link tun0 \(sum of 2 queues\)\n(?:.*\n)*?\s+rxPackets\s+(\d+)/.exec(table);
    assert.ok(sum, table);
    assert.ok(Number(sum[1]) >= shards[0]!['link.rxPackets']! + shards[1]!['link.rxPackets']!, table);
  });

  test('SIGTERM stops every shard cleanly and deletes the device', async () => {
    const { code } = await host!.stop('SIGTERM');
    assert.equal(code, 0, host!.stderr());
    assert.match(host!.stdout(), /\nstopped\n$/);
    const r = ns!.run('ip', ['link', 'show', 'tun0']);
    assert.notEqual(r.status, 0, 'tun0 still exists');
  });

  test('a killed host leaves no device behind (the kernel closes every queue)', async () => {
    const h = await startHost(['--netns', ns!.name, '--dev', 'tunk', '--shards', '2', '--no-tcp-services']);
    assert.match(ns!.exec('ip', ['-d', 'link', 'show', 'tunk']), /numqueues 2/);
    const { signal } = await h.stop('SIGKILL');
    assert.equal(signal, 'SIGKILL');
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      gone = ns!.run('ip', ['link', 'show', 'tunk']).status !== 0;
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(gone, 'tunk survived its process');
  });

  test('--no-configure attaches to an existing multi-queue device and leaves it in place', async () => {
    ns!.exec('ip', ['tuntap', 'add', 'dev', 'mq0', 'mode', 'tun', 'multi_queue']);
    ns!.exec('ip', ['addr', 'add', '10.0.1.1/24', 'dev', 'mq0']);
    ns!.exec('ip', ['link', 'set', 'mq0', 'up']);
    const h = await startHost(['--netns', ns!.name, '--dev', 'mq0', '--no-configure', '--ip', '10.0.1.2/24', '--host-ip', '10.0.1.1/24', '--shards', '2']);
    assert.match(h.ready, / shards=2 /);
    ping(ns!, ['10.0.1.2']);
    assert.equal(ns!.exec('python3', ['-c', UDP_ECHO_PY, '10.0.1.2', '8000', '5', '100']).trim(), 'echoed 5');
    assert.equal((await h.stop('SIGTERM')).code, 0, h.stderr());
    assert.match(ns!.exec('ip', ['-d', 'link', 'show', 'mq0']), /multi_queue numqueues 0/);
    ns!.exec('ip', ['link', 'del', 'mq0']);
  });

  test('a device without multi_queue is refused with a clear error', async () => {
    ns!.exec('ip', ['tuntap', 'add', 'dev', 'sq0', 'mode', 'tun']);
    await assert.rejects(
      startHost(['--netns', ns!.name, '--dev', 'sq0', '--no-configure', '--shards', '2']),
      /multi-queue|multi_queue/,
    );
    ns!.exec('ip', ['link', 'del', 'sq0']);
  });
});
