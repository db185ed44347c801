/**
 * The deterministic network simulator (src/sim) with UDP and ICMP: impairments (delay,
 * bandwidth, queue limits, loss, reordering, duplication, corruption, MTU), fragmented pings,
 * and determinism (same seed → same trace hash).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SimWorld } from '../../src/sim/world.js';
import type { DirectionConfig } from '../../src/sim/network.js';
import { pattern, checkPattern } from '../../src/sim/pattern.js';
import type { LinkKind } from '../../src/link/link.js';
import type { Stack } from '../../src/stack.js';

interface UdpRun {
  world: SimWorld;
  a: Stack;
  b: Stack;
  /** Requests the server received (by id, with multiplicity). */
  serverGot: number[];
  /** Replies the client received, in arrival order. */
  clientGot: number[];
  /** Payloads that were not byte-exact (must stay 0). */
  bad: number;
  timeMs: number;
}

const N = 200;

function udpRun(seed: number, kind: LinkKind, family: 4 | 6, cfg: DirectionConfig, n = N, size = 200, spacingMs = 1): UdpRun {
  const world = new SimWorld({ seed });
  const a = world.addStack('client');
  const b = world.addStack('server');
  world.connect(a, b, {
    kind,
    mtu: 1500,
    addressesA: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'],
    addressesB: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
    both: cfg,
  });
  const r: UdpRun = { world, a, b, serverGot: [], clientGot: [], bad: 0, timeMs: 0 };
  const server = b.udp.open(family);
  server.bind(undefined, 7000);
  server.onMessage = (data, info) => {
    const id = data.length >= 4 ? new DataView(data.buffer, data.byteOffset).getUint32(0) : -1;
    if (data.length !== size || checkPattern(id, 4, data.subarray(4)) !== -1) {
      r.bad++;
      return;
    }
    r.serverGot.push(id);
    server.sendTo(data, info.address, info.port);
  };
  const client = a.udp.open(family);
  client.bind(undefined, 5000);
  client.onMessage = (data) => {
    const id = data.length >= 4 ? new DataView(data.buffer, data.byteOffset).getUint32(0) : -1;
    if (data.length !== size || checkPattern(id, 4, data.subarray(4)) !== -1) {
      r.bad++;
      return;
    }
    r.clientGot.push(id);
  };
  const dst = family === 4 ? '10.0.0.2' : 'fd00::2';
  // Let ARP/NDP announcements settle, then one request every `spacingMs`.
  for (let i = 0; i < n; i++) {
    world.at(10 + i * spacingMs, () => {
      const msg = new Uint8Array(size);
      new DataView(msg.buffer).setUint32(0, i);
      msg.set(pattern(i, size - 4, 4), 4);
      client.sendTo(msg, dst, 7000);
    });
  }
  const res = world.run({ maxTimeMs: 120_000 });
  r.timeMs = res.timeMs;
  return r;
}

function dir(world: SimWorld, name: string) {
  const d = world.net.stats().find((s) => s.name === name);
  assert.ok(d, name);
  return d;
}

describe('SimNetwork impairments with UDP request/response', () => {
  for (const kind of ['ip', 'ethernet'] as LinkKind[]) {
    for (const family of [4, 6] as const) {
      test(`perfect path, ${kind}, IPv${family}: every request answered, in order`, () => {
        const r = udpRun(1, kind, family, { delayMs: 3 });
        assert.equal(r.bad, 0);
        assert.deepEqual(r.serverGot, [...Array(N).keys()]);
        assert.deepEqual(r.clientGot, [...Array(N).keys()]);
        assert.deepEqual(r.world.drops(), { client: {}, server: {} });
      });

      test(`loss + duplication + reordering, ${kind}, IPv${family}`, () => {
        const r = udpRun(2, kind, family, {
          delayMs: 5,
          loss: 0.1,
          duplicate: 0.1,
          reorder: { probability: 0.2, extraDelayMs: [1, 8] },
        });
        assert.equal(r.bad, 0);
        const ab = dir(r.world, 'p0:a>b');
        const ba = dir(r.world, 'p0:b>a');
        assert.ok(ab.dropped.loss > 0 && ab.duplicated > 0 && ab.reordered > 0, JSON.stringify(ab));
        // Some requests lost, some seen twice; every reply was a reply to a received request.
        const uniqueServer = new Set(r.serverGot);
        assert.ok(uniqueServer.size < N && uniqueServer.size > N * 0.7, `${uniqueServer.size}`);
        assert.ok(r.serverGot.length > uniqueServer.size, 'duplicates reach the application (UDP)');
        for (const id of r.clientGot) assert.ok(uniqueServer.has(id));
        // Reordered: the replies are not in increasing order.
        assert.ok(r.clientGot.some((id, i) => i > 0 && id < r.clientGot[i - 1]!), 'reordered');
        if (kind === 'ip') {
          // On 'ip' links every frame is a datagram: the network's counts match the sockets'.
          assert.equal(r.serverGot.length, ab.delivered);
          assert.equal(r.clientGot.length, ba.delivered);
          assert.equal(ab.sent, N);
          assert.equal(ab.delivered, N - ab.dropped.loss + ab.duplicated);
        }
      });
    }
  }

  test('corruption: bad datagrams are dropped by checksums (IPv4 header or UDP) and never delivered', () => {
    const r = udpRun(3, 'ip', 4, { delayMs: 2, corrupt: 0.3 }, 400);
    assert.equal(r.bad, 0);
    const ab = dir(r.world, 'p0:a>b');
    const ba = dir(r.world, 'p0:b>a');
    assert.ok(ab.corrupted > 50 && ba.corrupted > 20, `${ab.corrupted} ${ba.corrupted}`);
    const sd = r.world.drops();
    // Every corrupted frame is dropped, each with exactly one reason, and a checksum is among
    // the reasons (a flipped bit in the version/IHL/length fields may be caught earlier).
    const total = (d: Record<string, number>) => Object.values(d).reduce((x, y) => x + y, 0);
    assert.equal(total(sd.server!), ab.corrupted, JSON.stringify(sd.server));
    assert.equal(total(sd.client!), ba.corrupted, JSON.stringify(sd.client));
    assert.ok((sd.server!['udp.bad_checksum'] ?? 0) > 0, JSON.stringify(sd.server));
    assert.ok((sd.server!['ipv4.bad_checksum'] ?? 0) > 0, JSON.stringify(sd.server));
    assert.equal(r.serverGot.length, 400 - ab.corrupted);
    assert.equal(r.clientGot.length, r.serverGot.length - ba.corrupted);
  });

  for (const [kind, family] of [['ip', 6], ['ethernet', 4], ['ethernet', 6]] as const) {
    test(`corruption never delivers a wrong payload (${kind}, IPv${family})`, () => {
      // Spaced 20 ms apart: a corrupted ARP/NDP exchange (no checksum on ARP) stalls resolution
      // for a retransmission interval, during which only 16 datagrams queue.
      const r = udpRun(4, kind, family, { delayMs: 2, corrupt: 0.3 }, 300, 200, 20);
      assert.equal(r.bad, 0);
      const ab = dir(r.world, 'p0:a>b');
      assert.ok(ab.corrupted > 40, `${ab.corrupted}`);
      assert.ok(r.clientGot.length > 100, `${r.clientGot.length}`);
      const sd = r.world.drops();
      assert.ok((sd.server!['udp.bad_checksum'] ?? 0) > 0, JSON.stringify(sd.server));
    });
  }

  test('bandwidth serializes frames; a full transmit queue tail-drops (counted)', () => {
    const world = new SimWorld({ seed: 5 });
    const a = world.addStack();
    const b = world.addStack();
    // 10 Mbit/s, queue of 50 frames, 4 ms propagation.
    world.connect(a, b, {
      kind: 'ip',
      mtu: 1500,
      addressesA: ['10.0.0.1/24'],
      addressesB: ['10.0.0.2/24'],
      ab: { delayMs: 4, bandwidthBps: 10e6, queueLimit: 50 },
    });
    const arrivals: number[] = [];
    const s = b.udp.open(4);
    s.bind(undefined, 9);
    s.onMessage = () => arrivals.push(world.clock.now());
    const c = a.udp.open(4);
    const msg = new Uint8Array(1000 - 28);
    for (let i = 0; i < 200; i++) c.sendTo(msg, '10.0.0.2', 9);
    world.run({});
    const ab = dir(world, 'p0:a>b');
    assert.equal(ab.sent, 200);
    assert.equal(ab.dropped.queue, 150);
    assert.equal(ab.maxQueueFrames, 50);
    assert.equal(arrivals.length, 50);
    const ser = (1000 * 8 * 1000) / 10e6; // 0.8 ms
    arrivals.forEach((t, i) => assert.ok(Math.abs(t - (4 + (i + 1) * ser)) < 1e-9, `${i}: ${t}`));
  });

  test('byte queue limit', () => {
    const world = new SimWorld({ seed: 6 });
    const a = world.addStack();
    const b = world.addStack();
    world.connect(a, b, {
      kind: 'ip',
      mtu: 1500,
      addressesA: ['10.0.0.1/24'],
      addressesB: ['10.0.0.2/24'],
      ab: { bandwidthBps: 1e6, queueLimit: { bytes: 10_000 } },
    });
    let got = 0;
    const s = b.udp.open(4);
    s.bind(undefined, 9);
    s.onMessage = () => got++;
    const c = a.udp.open(4);
    for (let i = 0; i < 30; i++) c.sendTo(new Uint8Array(972), '10.0.0.2', 9);
    world.run({});
    assert.equal(got, 10);
    assert.equal(dir(world, 'p0:a>b').dropped.queue, 20);
  });

  test('frames over the wire MTU are dropped and counted (a PMTU black hole)', () => {
    const world = new SimWorld({ seed: 7 });
    const a = world.addStack();
    const b = world.addStack();
    // The links claim 1500 but the wire carries only 1000 (an MTU black hole).
    world.connect(a, b, { kind: 'ip', mtu: 1500, addressesA: ['10.0.0.1/24'], addressesB: ['10.0.0.2/24'], ab: { mtu: 1000 } });
    let got = 0;
    const s = b.udp.open(4);
    s.bind(undefined, 9);
    s.onMessage = () => got++;
    const c = a.udp.open(4);
    c.sendTo(new Uint8Array(972), '10.0.0.2', 9); // 1000-byte packet: fits
    c.sendTo(new Uint8Array(973), '10.0.0.2', 9); // 1001: dropped by the wire
    c.sendTo(new Uint8Array(3000), '10.0.0.2', 9); // fragments of 1500: dropped
    world.run({});
    assert.equal(got, 1);
    const ab = dir(world, 'p0:a>b');
    assert.equal(ab.dropped.mtu, 1 + 2);
    assert.equal(ab.delivered, 2); // the 1000-byte packet and the last 3000-byte fragment (71 + 20... < 1000)
  });
});

describe('SimDirection.configure', () => {
  test('an outage (loss 1) and its end, from a world timer', () => {
    const world = new SimWorld({ seed: 8 });
    const a = world.addStack();
    const b = world.addStack();
    const { linkA } = world.connect(a, b, { kind: 'ip', mtu: 1500, addressesA: ['10.0.0.1/24'], addressesB: ['10.0.0.2/24'], both: { delayMs: 1 } });
    const got: number[] = [];
    const s = b.udp.open(4);
    s.bind(undefined, 9);
    s.onMessage = (d) => got.push(d[0]!);
    const c = a.udp.open(4);
    for (let i = 0; i < 30; i++) world.at(i * 10, () => c.sendTo(Uint8Array.of(i), '10.0.0.2', 9));
    const before = linkA.tx.config;
    world.at(95, () => linkA.tx.configure({ loss: 1 }));
    world.at(195, () => linkA.tx.setConfig(before));
    world.run({});
    assert.deepEqual(got, [...Array(30).keys()].filter((i) => i < 10 || i >= 20));
    assert.equal(world.net.stats()[0]!.dropped.loss, 10);
    assert.deepEqual(linkA.tx.config, { delayMs: 1 });
  });
});

describe('fragmented ping over SimNetwork', () => {
  for (const mtu of [1500, 1280]) {
    for (const kind of ['ip', 'ethernet'] as LinkKind[]) {
      for (const family of [4, 6] as const) {
        test(`IPv${family} ${kind} MTU ${mtu}: 4000 and 60000 bytes, 20 ms, 50 Mbit/s`, () => {
          const world = new SimWorld({ seed: mtu + family });
          const a = world.addStack();
          const b = world.addStack();
          world.connect(a, b, {
            kind,
            mtu,
            addressesA: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'],
            addressesB: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
            both: { delayMs: 20, bandwidthBps: 50e6 },
          });
          const got: Array<{ seq: number; data: Uint8Array; t: number }> = [];
          const onReply = (r: { seq: number; data: Uint8Array }) => got.push({ seq: r.seq, data: r.data, t: world.clock.now() });
          if (family === 4) a.icmp4.onEchoReply = onReply;
          else a.icmp6.onEchoReply = onReply;
          const dst = family === 4 ? '10.0.0.2' : 'fd00::2';
          const d1 = pattern(11, 4000);
          const d2 = pattern(12, 60000);
          world.at(1, () => assert.equal(a.ping(dst, d1, 1, 1), null));
          world.at(2, () => assert.equal(a.ping(dst, d2, 1, 2), null));
          world.run({ until: () => got.length === 2, maxTimeMs: 10_000 });
          assert.equal(got.length, 2);
          assert.deepEqual(got[0]!.data, d1);
          assert.deepEqual(got[1]!.data, d2);
          // 60000 bytes twice through 50 Mbit/s is ≥ 19.2 ms of serialization plus 40 ms of delay.
          assert.ok(got[1]!.t > 2 + 40 + (2 * 60000 * 8) / 50e3, `${got[1]!.t}`);
          const st = world.net.stats();
          assert.equal(st[0]!.dropped.mtu + st[1]!.dropped.mtu, 0);
          const p = family === 4 ? 'ipv4' : 'ipv6';
          assert.equal(a.counters.get(`${p}.reasm_ok`), 2);
          assert.equal(b.counters.get(`${p}.reasm_ok`), 2);
          assert.deepEqual(world.drops(), { s0: {}, s1: {} });
        });
      }
    }
  }

  test('fragmented ping through loss: retries until a reply arrives whole', () => {
    const world = new SimWorld({ seed: 21 });
    const a = world.addStack();
    const b = world.addStack();
    world.connect(a, b, {
      kind: 'ip',
      mtu: 1280,
      addressesA: ['10.0.0.1/24'],
      addressesB: ['10.0.0.2/24'],
      both: { delayMs: 10, loss: 0.02, reorder: 0.1, duplicate: 0.05 },
    });
    const data = pattern(9, 20000);
    let ok = 0;
    let sent = 0;
    a.icmp4.onEchoReply = (r) => {
      assert.deepEqual(r.data, data);
      ok++;
    };
    const send = (): void => {
      if (ok > 0) return;
      a.ping('10.0.0.2', data, 1, sent++);
      world.after(200, send);
    };
    world.at(0, send);
    const res = world.run({ until: () => ok > 0, maxTimeMs: 60_000 });
    assert.ok(res.done, `${sent} pings`);
  });
});

describe('determinism', () => {
  const cfg: DirectionConfig = {
    delayMs: 7,
    bandwidthBps: 20e6,
    queueLimit: 30,
    loss: 0.05,
    duplicate: 0.05,
    reorder: 0.1,
    corrupt: 0.05,
  };
  test('same seed → same trace hash and results; another seed differs', () => {
    const runs = [31, 31, 32].map((seed) => {
      const r = udpRun(seed, 'ethernet', 4, cfg, 300, 900);
      return { hash: r.world.traceHash(), events: r.world.traceEvents, server: r.serverGot, client: r.clientGot, t: r.timeMs };
    });
    assert.ok(runs[0]!.events > 600);
    assert.deepEqual(runs[0], runs[1]);
    assert.notEqual(runs[0]!.hash, runs[2]!.hash);
  });

  test('run() returns done/steps/time; until and maxTimeMs and maxSteps stop it', () => {
    const w = new SimWorld({ seed: 1 });
    let fired = 0;
    for (let i = 1; i <= 10; i++) w.at(i * 100, () => fired++);
    let r = w.run({ until: () => fired === 3 });
    assert.deepEqual(r, { timeMs: 300, steps: 3, done: true, reason: 'until' });
    r = w.run({ maxTimeMs: 250 });
    assert.deepEqual(r, { timeMs: 550, steps: 2, done: false, reason: 'maxTime' });
    r = w.run({ maxSteps: 1 });
    assert.deepEqual(r, { timeMs: 600, steps: 1, done: false, reason: 'maxSteps' });
    r = w.run();
    assert.deepEqual(r, { timeMs: 1000, steps: 4, done: true, reason: 'idle' });
    r = w.run({ until: () => false });
    assert.equal(r.reason, 'idle');
    assert.equal(r.done, false);
  });

  test('src/sim is core code: no Node imports, no host time or randomness', () => {
    // dist/test/unit → <root>/src/sim
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'sim');
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('network.ts') && files.includes('world.ts'));
    for (const f of files) {
      const code = readFileSync(join(dir, f), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '');
      assert.doesNotMatch(code, /from ['"]node:|import\(['"]node:|require\(/, f);
      assert.doesNotMatch(code, /\bDate\b|setTimeout|setInterval|setImmediate|queueMicrotask|Math\.random|performance\.now|process\./, f);
    }
  });

  test('configuration errors throw', () => {
    const w = new SimWorld({ seed: 1 });
    assert.throws(() => w.net.connect({ kind: 'ip', mtu: 1500, both: { loss: 2 } }), RangeError);
    assert.throws(() => w.net.connect({ kind: 'ip', mtu: 1500, both: { bandwidthBps: 0 } }), RangeError);
    assert.throws(() => w.net.connect({ kind: 'ip', mtu: 10 }), RangeError);
  });
});
