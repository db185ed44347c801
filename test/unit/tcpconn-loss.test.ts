import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, bytesEqual, concat, pattern, openPair, type LinkParams } from './tcp-harness.js';
import type { TcpSocketOptions } from '../../src/transport/tcp/socket.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import { TcpPacket } from '../../src/wire/tcp.js';
import { parseIpv4 } from '../../src/wire/address.js';

interface Case {
  seed: number;
  size: number;
  link: Partial<LinkParams>;
  family?: 4 | 6;
  opts?: TcpSocketOptions;
  /** Strip SACK-permitted (forces NewReno recovery). */
  noSack?: boolean;
  noTs?: boolean;
}

function transfer(c: Case): { sim: Sim; ms: number; retransmits: number } {
  const sim = new Sim(c.seed);
  if (c.noSack || c.noTs) {
    sim.onSegment = (p) => stripOptions(p.bytes, c.noSack ?? false, c.noTs ?? false);
  }
  const { client, server } = openPair(sim, c.family ?? 4, { clientOpts: c.opts, serverOpts: c.opts });
  Object.assign(sim.link, c.link);
  const data = pattern(c.size, c.seed);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => got.push(d);
  server.onEnd = () => {
    ended = true;
  };
  let off = 0;
  const pump = (): void => {
    while (off < data.length) {
      const n = client.write(data.subarray(off, Math.min(data.length, off + 65536)));
      off += n;
      if (n === 0) return;
    }
    client.shutdown();
  };
  client.onDrain = pump;
  const t0 = sim.now;
  pump();
  sim.run(() => ended, 1_200_000);
  const all = concat(got);
  assert.equal(all.length, data.length, `seed ${c.seed}: received ${all.length} of ${data.length} (state ${client.state}/${server.state}) ${JSON.stringify(client.info())}`);
  assert.ok(bytesEqual(all, data), `seed ${c.seed}: data differs`);
  assert.ok(ended);
  if (process.env.TCP_DEBUG) console.log(`seed ${c.seed} size ${c.size} ms ${(sim.now - t0).toFixed(0)} rtx ${client.retransmits} segs ${client.info().segmentsSent} dropped ${sim.dropped} cwnd ${client.info().cwnd.toFixed(0)} srtt ${client.info().srtt?.toFixed(1)}`, JSON.stringify(sim.a.counters.drops()), JSON.stringify(sim.b.counters.drops()));
  return { sim, ms: sim.now - t0, retransmits: client.retransmits };
}

/**
 * Overwrites SACK-permitted and/or timestamps in the client's SYN with NOPs (and fixes the
 * checksum), so the connection runs without them (IPv4 only).
 */
function stripOptions(seg: Uint8Array, sack: boolean, ts: boolean): void {
  if ((seg[13]! & 0x12) !== 0x02) return; // the client's SYN only
  const hlen = (seg[12]! >>> 4) * 4;
  let i = 20;
  while (i < hlen) {
    const k = seg[i]!;
    if (k === 0) break;
    if (k === 1) {
      i++;
      continue;
    }
    const len = seg[i + 1]!;
    if ((sack && k === 4) || (ts && k === 8)) seg.fill(1, i, i + len);
    i += len;
  }
  new TcpPacket(seg).fillChecksum(pseudoHeaderSumV4(parseIpv4('10.0.0.1')!, parseIpv4('10.0.0.2')!, 6, seg.length));
}

test('tcpconn: 5 MB byte-exact over a clean link (CUBIC)', () => {
  const r = transfer({ seed: 11, size: 5_000_000, link: { delayMs: 10, rateBytesPerMs: 12_500, queueMs: 30 } });
  assert.ok(r.ms < 60_000, `took ${r.ms} ms`);
});

test('tcpconn: 5 MB byte-exact with 1-5 % loss, reordering, duplication (SACK, many seeds)', () => {
  for (let seed = 1; seed <= 16; seed++) {
    const loss = 0.01 + ((seed * 7) % 5) / 100;
    transfer({ seed, size: seed <= 2 ? 5_000_000 : 1_000_000, link: { delayMs: 5 + seed, loss, dup: 0.01, reorder: 0.02, reorderMs: 8, rateBytesPerMs: 25_000, queueMs: 40 } });
  }
});

test('tcpconn: lossy transfer with NewReno congestion control, IPv6', () => {
  for (let seed = 21; seed <= 26; seed++) {
    transfer({ seed, size: 1_000_000, family: 6, opts: { congestionControl: 'newreno' }, link: { delayMs: 7, loss: 0.03, dup: 0.01, reorder: 0.02, rateBytesPerMs: 25_000, queueMs: 40 } });
  }
});

test('tcpconn: lossy transfer without SACK (NewReno fast recovery, RFC 6582) and without timestamps', () => {
  for (let seed = 31; seed <= 38; seed++) {
    const r = transfer({ seed, size: 1_000_000, noSack: true, noTs: seed % 2 === 0, link: { delayMs: 6, loss: 0.02, dup: 0.01, reorder: 0.01, rateBytesPerMs: 25_000, queueMs: 40 } });
    const i = r.sim.a.tcp.connections()[0]?.info();
    if (i) {
      assert.equal(i.sack, false);
      assert.equal(i.timestamps, seed % 2 !== 0);
    }
    assert.ok(r.sim.a.counters.get('tcp.fast_retransmits') > 0, 'NewReno fast retransmit used');
  }
});

test('tcpconn: both directions at once under 3 % loss, reordering and duplication', () => {
  for (let seed = 41; seed <= 46; seed++) {
    const sim = new Sim(seed);
    const { client, server } = openPair(sim, seed % 2 === 0 ? 6 : 4);
    Object.assign(sim.link, { delayMs: 8, loss: 0.03, dup: 0.02, reorder: 0.05, reorderMs: 10, rateBytesPerMs: 20_000, queueMs: 40 });
    const up = pattern(600_000, seed);
    const down = pattern(400_000, seed + 100);
    const gu: Uint8Array[] = [];
    const gd: Uint8Array[] = [];
    let se = false;
    let ce = false;
    server.onData = (d) => gu.push(d);
    client.onData = (d) => gd.push(d);
    server.onEnd = () => (se = true);
    client.onEnd = () => (ce = true);
    for (const [sock, data] of [
      [client, up],
      [server, down],
    ] as const) {
      let off = 0;
      const go = (): void => {
        while (off < data.length) {
          const n = sock.write(data.subarray(off, off + 50_000));
          off += n;
          if (n === 0) return;
        }
        sock.shutdown();
      };
      sock.onDrain = go;
      go();
    }
    const done = (st: string): boolean => st === 'TIME-WAIT' || st === 'CLOSED';
    sim.run(() => se && ce && done(client.state) && done(server.state), 600_000);
    assert.ok(bytesEqual(concat(gu), up), `seed ${seed} up`);
    assert.ok(bytesEqual(concat(gd), down), `seed ${seed} down`);
    // Whoever closed last ends in CLOSED, the other in TIME-WAIT; both in TIME-WAIT when the
    // FINs crossed (simultaneous close).
    assert.ok(done(client.state) && done(server.state), `${client.state} ${server.state}`);
  }
});

test('tcpconn: hard conditions — 10-15 % loss, 30 % reordering, small buffers — still byte-exact', () => {
  for (let seed = 51; seed <= 56; seed++) {
    transfer({
      seed,
      size: 200_000,
      family: seed % 2 === 0 ? 6 : 4,
      opts: { receiveBufferSize: 16_384, sendBufferSize: 32_768, congestionControl: seed % 3 === 0 ? 'newreno' : 'cubic' },
      link: { delayMs: 10, loss: 0.1 + (seed % 3) * 0.025, dup: 0.03, reorder: 0.3, reorderMs: 25, rateBytesPerMs: 10_000, queueMs: 30 },
    });
  }
});

test('tcpconn: randomized impairments, buffers, MTUs and reader pauses (100 seeds, both directions)', () => {
  for (let seed = 1000; seed < 1100; seed++) {
    const r = (k: number): number => (((seed * 2654435761 + k * 40503) >>> 0) % 1000) / 1000;
    const sim = new Sim(seed, { timeWaitMs: 1000 });
    const family = seed % 3 === 0 ? 6 : 4;
    const rb = [16384, 65536, 1 << 20, 3000][seed % 4]!;
    const sb = [8192, 100000, 1 << 20][(seed >> 1) % 3]!;
    const { client, server } = openPair(sim, family, {
      clientOpts: { congestionControl: seed % 2 ? 'cubic' : 'newreno', sendBufferSize: sb, receiveBufferSize: rb, noDelay: seed % 4 === 0 },
      serverOpts: { receiveBufferSize: rb, sendBufferSize: sb },
    });
    Object.assign(sim.link, {
      delayMs: 1 + r(1) * 30,
      loss: r(2) * 0.12,
      dup: r(3) * 0.05,
      reorder: r(4) * 0.2,
      reorderMs: r(5) * 30,
      rateBytesPerMs: r(6) < 0.3 ? 0 : 2000 + r(7) * 30000,
      queueMs: r(8) < 0.3 ? 0 : 5 + r(9) * 50,
    });
    if (seed % 5 === 0) sim.pathMtu = 900 + Math.floor(r(10) * 400) + (family === 6 ? 400 : 0);
    const up = pattern(50_000 + Math.floor(r(11) * 350_000), seed);
    const down = pattern(Math.floor(r(12) * 100_000), seed + 1);
    const gu: Uint8Array[] = [];
    const gd: Uint8Array[] = [];
    let se = false;
    let ce = false;
    server.onData = (d) => gu.push(d);
    client.onData = (d) => gd.push(d);
    server.onEnd = () => (se = true);
    client.onEnd = () => (ce = true);
    const errors: string[] = [];
    client.onError = (e) => errors.push('client ' + e.code);
    server.onError = (e) => errors.push('server ' + e.code);
    for (const [sock, data] of [
      [client, up],
      [server, down],
    ] as const) {
      let off = 0;
      const go = (): void => {
        while (off < data.length) {
          const n = sock.write(data.subarray(off, off + 30_000));
          off += n;
          if (n === 0) return;
        }
        sock.shutdown();
      };
      sock.onDrain = go;
      go();
    }
    if (seed % 7 === 0) {
      let on = true;
      const toggle = (): void => {
        on = !on;
        server.setReading(on);
        if (!se) sim.timers.schedule(sim.now + 5 + (seed % 13), toggle);
      };
      sim.timers.schedule(sim.now + 3, toggle);
    }
    const ok = sim.run(() => se && ce, 3_000_000);
    const what = `seed ${seed} ${JSON.stringify(sim.link)} mtu ${sim.pathMtu} rb ${rb} sb ${sb}`;
    assert.ok(ok, `${what}: did not finish (${client.state}/${server.state})`);
    assert.deepEqual(errors, [], what);
    assert.ok(bytesEqual(concat(gu), up), `${what}: upload differs`);
    assert.ok(bytesEqual(concat(gd), down), `${what}: download differs`);
    assert.equal(sim.a.counters.get('tcp.internal_error') + sim.b.counters.get('tcp.internal_error'), 0, what);
  }
});

test('tcpconn: with SACK an RTO marks losses with RACK (RFC 8985 §6.3) and resends only those — each once, no go-back duplicates', () => {
  const sim = new Sim(93);
  const { client, server } = openPair(sim);
  const mss = client.info().mss;
  const data = pattern(6 * mss, 93);
  const got: Uint8Array[] = [];
  server.onData = (d) => got.push(d);
  // An outage of 150 ms for the client's data: the 6 segments and the tail loss probe are lost.
  const t0 = sim.now;
  sim.dropIf = (_p, s) => s.from === 'a' && s.len > 0 && sim.now < t0 + 150;
  client.write(data);
  sim.run(() => concat(got).length === data.length, 30_000);
  assert.ok(bytesEqual(concat(got), data));
  assert.ok(sim.a.counters.get('tcp.rto_timeouts') >= 1);
  assert.equal(sim.a.counters.get('tcp.rack_rto_losses'), 6, 'every outstanding segment had expired');
  // The RTO resent the six (plus the probe before it), nothing twice: no duplicates arrived.
  assert.equal(client.retransmits, 7);
  assert.equal(sim.b.counters.get('tcp.duplicate_data'), 0);
});
