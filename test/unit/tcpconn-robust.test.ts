import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { Sim, bytesEqual, concat, inject, ipv6Quote, openPair, pattern } from './tcp-harness.js';
import { tcpIcmp4Kind, tcpIcmp6Kind } from '../../src/transport/tcp/layer.js';
import { TcpFlags } from '../../src/wire/tcp.js';

const { ACK, PSH } = TcpFlags;

test('tcpconn: random bytes and random well-formed segments never throw', () => {
  const sim = new Sim(81);
  const { client, server } = openPair(sim);
  const r = new SeededRandom(81);
  const rx = { iface: { index: 1 }, linkMulticast: false } as Parameters<typeof sim.b.tcp.input4>[3];
  for (let i = 0; i < 3000; i++) {
    const junk = new Uint8Array(r.u32() % 120);
    r.fill(junk);
    sim.b.tcp.input4(sim.a.addr4, sim.b.addr4, junk, rx);
  }
  assert.ok(sim.b.counters.get('drop.total') >= 2900);
  const si = server.info();
  for (let i = 0; i < 3000; i++) {
    const near = r.float() < 0.5;
    const seq = near ? (si.rcvNxt + (r.u32() % 200000) - 100000) >>> 0 : r.u32();
    const ack = near ? (si.sndNxt + (r.u32() % 200000) - 100000) >>> 0 : r.u32();
    const flags = r.u32() & 0x1ff;
    const payload = new Uint8Array(r.u32() % 64);
    const options = r.float() < 0.5 ? { tsVal: r.u32(), tsEcr: r.u32(), sack: [[r.u32(), r.u32()] as [number, number]] } : {};
    inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq, ack, flags, window: r.u32() & 0xffff, options, payload });
    if (i % 100 === 0) sim.advance(10);
  }
  sim.advance(5000);
  assert.equal(sim.b.counters.get('tcp.internal_error'), 0, String(sim.b.tcp.lastInternalError));
  assert.equal(sim.a.counters.get('tcp.internal_error'), 0, String(sim.a.tcp.lastInternalError));
});

test('tcpconn: a lost tail segment is repaired by a tail loss probe, not an RTO (RFC 8985 §7)', () => {
  const sim = new Sim(82);
  const { client, server } = openPair(sim);
  // Warm up the RTT estimate.
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(1000));
  sim.run(() => got === 1000, 1000);
  sim.advance(100);
  const mss = client.info().mss;
  let dropped = false;
  const total = 1000 + 5 * mss;
  sim.dropIf = (p, s) => {
    if (p.from === sim.a && s.len > 0 && !dropped && ((s.seq + s.len) >>> 0) === ((client.info().sndUna + 5 * mss) >>> 0)) {
      dropped = true;
      return true;
    }
    return false;
  };
  client.write(new Uint8Array(5 * mss));
  sim.run(() => got === total, 5000);
  assert.ok(dropped);
  assert.equal(got, total);
  assert.equal(sim.a.counters.get('tcp.tlp_probes'), 1);
  assert.equal(sim.a.counters.get('tcp.rto_timeouts'), 0);
  assert.equal(client.retransmits, 1);
});

test('tcpconn: a duplicate segment is reported with a D-SACK block (RFC 2883)', () => {
  const sim = new Sim(83);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(100));
  sim.run(() => got === 100, 1000);
  sim.advance(100);
  const seg = sim.a.sent.filter((s) => s.len === 100)[0]!;
  const n = sim.b.sent.length;
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: seg.seq, ack: seg.ack, flags: ACK | PSH, payload: new Uint8Array(100), options: { tsVal: (seg.opts.tsVal! + 200) >>> 0, tsEcr: 0 } });
  const ackSeg = sim.b.sent[n]!;
  assert.equal(ackSeg.flags, ACK);
  assert.deepEqual(ackSeg.opts.sack, [[seg.seq, (seg.seq + 100) >>> 0]]);
  assert.ok(sim.b.counters.get('tcp.duplicate_data') >= 1);
});

test('tcpconn: out-of-order segments are ACKed at once with SACK blocks, most recent first (RFC 2018)', () => {
  const sim = new Sim(84);
  const { client, server } = openPair(sim);
  const mss = client.info().mss;
  const una = client.info().sndNxt;
  // Drop the 1st and 3rd segments of a 5-segment burst.
  sim.dropIf = (p, s) => p.from === sim.a && s.len > 0 && (s.seq === una || s.seq === ((una + 2 * mss) >>> 0)) && s.time === sim.now && !s.opts.sack && sim.a.sent.filter((x) => x.seq === s.seq && x.len > 0).length === 1;
  const got: Uint8Array[] = [];
  server.onData = (d) => got.push(d);
  const data = pattern(5 * mss, 84);
  const n = sim.b.sent.length;
  client.write(data);
  sim.run(() => concat(got).length === data.length, 5000);
  assert.ok(bytesEqual(concat(got), data));
  const acks = sim.b.sent.slice(n).filter((s) => s.opts.sack !== undefined);
  assert.ok(acks.length >= 2);
  const first = acks[0]!;
  assert.equal(first.ack, una);
  assert.deepEqual(first.opts.sack, [[(una + mss) >>> 0, (una + 2 * mss) >>> 0]]);
  const second = acks[1]!;
  assert.deepEqual(second.opts.sack![0], [(una + 3 * mss) >>> 0, (una + 4 * mss) >>> 0]);
  assert.deepEqual(second.opts.sack![1], [(una + mss) >>> 0, (una + 2 * mss) >>> 0]);
  assert.equal(client.retransmits, 2);
  assert.equal(sim.a.counters.get('tcp.rto_timeouts'), 0);
});

test('tcpconn: callbacks are never invoked from inside write()/close()/setReading()', () => {
  const sim = new Sim(85);
  const { client, server } = openPair(sim, 4, { clientOpts: { sendBufferSize: 4096 } });
  let inside = false;
  let violations = 0;
  for (const s of [client, server]) {
    s.onData = () => void (inside && violations++);
    s.onDrain = () => void (inside && violations++);
    s.onError = () => void (inside && violations++);
    s.onEnd = () => void (inside && violations++);
    s.onClose = () => void (inside && violations++);
  }
  inside = true;
  assert.equal(client.write(new Uint8Array(10_000)), 4096);
  client.shutdown();
  client.write(new Uint8Array(1)); // EPIPE, later
  server.setReading(false);
  server.setReading(true);
  inside = false;
  sim.run(() => server.state === 'CLOSE-WAIT', 5000);
  inside = true;
  server.close();
  inside = false;
  sim.advance(1000);
  assert.equal(violations, 0);
});

test('tcpconn: connect() errors — bad address throws EINVAL, no route fails asynchronously', () => {
  const sim = new Sim(86);
  assert.throws(() => sim.a.tcp.connect({ family: 4, remoteAddress: 'nope', remotePort: 80 }), (e: { code: string }) => e.code === 'EINVAL');
  assert.throws(() => sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 0 }), (e: { code: string }) => e.code === 'EINVAL');
  const c = sim.a.tcp.connect({ family: 4, remoteAddress: '192.168.7.7', remotePort: 80 });
  let err: string | undefined;
  let closed = false;
  c.onError = (e) => (err = e.code);
  c.onClose = () => (closed = true);
  assert.equal(err, undefined);
  sim.advance(1);
  assert.equal(err, 'ENETUNREACH');
  assert.ok(closed);
});

test('tcpconn: RACK detects a lost retransmission without waiting for the RTO (RFC 8985 §6)', () => {
  const sim = new Sim(87);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(1000));
  sim.run(() => got === 1000, 1000);
  sim.advance(100);
  const mss = client.info().mss;
  const victim = (client.info().sndNxt + 2 * mss) >>> 0;
  let copies = 0;
  sim.dropIf = (p, s) => p.from === sim.a && s.seq === victim && s.len > 0 && copies++ < 2;
  const total = 1000 + 60 * mss;
  client.write(new Uint8Array(60 * mss));
  sim.run(() => got === total, 10_000);
  assert.equal(got, total);
  assert.equal(copies, 3, 'original and first retransmission lost, second delivered');
  assert.ok(sim.a.counters.get('tcp.rack_losses') >= 2);
  assert.equal(sim.a.counters.get('tcp.rto_timeouts'), 0);
});

test('tcpconn: ICMP type/code mapping for the stack (tcpIcmp4Kind / tcpIcmp6Kind)', () => {
  assert.equal(tcpIcmp4Kind(3, 3), 'port-unreachable');
  assert.equal(tcpIcmp4Kind(3, 1), 'host-unreachable');
  assert.equal(tcpIcmp4Kind(3, 0), 'net-unreachable');
  assert.equal(tcpIcmp4Kind(3, 4), 'frag-needed');
  assert.equal(tcpIcmp4Kind(3, 13), 'admin-prohibited');
  assert.equal(tcpIcmp4Kind(11, 0), 'time-exceeded');
  assert.equal(tcpIcmp4Kind(0, 0), undefined);
  assert.equal(tcpIcmp6Kind(1, 4), 'port-unreachable');
  assert.equal(tcpIcmp6Kind(1, 3), 'host-unreachable');
  assert.equal(tcpIcmp6Kind(2, 0), 'packet-too-big');
  assert.equal(tcpIcmp6Kind(4, 1), 'proto-unreachable');
  assert.equal(tcpIcmp6Kind(128, 0), undefined);
});

test('tcpconn: ICMPv6 port unreachable during SYN-SENT → ECONNREFUSED', () => {
  const sim = new Sim(88);
  let syn: Uint8Array | undefined;
  sim.dropIf = (p) => {
    syn = p.bytes;
    return true;
  };
  const c = sim.a.tcp.connect({ family: 6, remoteAddress: 'fd00::2', remotePort: 80 });
  let err: string | undefined;
  c.onError = (e) => (err = e.code);
  sim.a.tcp.icmpError6('port-unreachable', 0, ipv6Quote(sim.a.addr6, sim.b.addr6, syn!));
  sim.advance(1);
  assert.equal(err, 'ECONNREFUSED');
});

test('tcpconn: an old duplicate is ACKed (D-SACK) and counted as tcp.old_duplicate, not as out of window', () => {
  const sim = new Sim(91);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(100));
  sim.run(() => got === 100, 1000);
  sim.advance(100);
  const seg = sim.a.sent.filter((s) => s.len === 100)[0]!;
  const n = sim.b.sent.length;
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: seg.seq, ack: seg.ack, flags: ACK | PSH, payload: new Uint8Array(100), options: { tsVal: (seg.opts.tsVal! + 200) >>> 0, tsEcr: 0 } });
  assert.equal(sim.b.sent.length, n + 1, 'ACKed');
  assert.equal(sim.b.counters.get('drop.tcp.old_duplicate'), 1);
  assert.equal(sim.b.counters.get('drop.tcp.out_of_window'), 0);
  // Beyond the right edge: out of window.
  const info = server.info();
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: (info.rcvNxt + info.rcvWnd + 1000) >>> 0, ack: seg.ack, flags: ACK, payload: new Uint8Array(100), options: { tsVal: (seg.opts.tsVal! + 300) >>> 0, tsEcr: 0 } });
  assert.equal(sim.b.counters.get('drop.tcp.out_of_window'), 1);
  assert.equal(got, 100);
});

test('tcpconn: a pure ACK at the right edge (the peer filled the window exactly) is accepted (Linux tcp_sequence)', () => {
  const sim = new Sim(92);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  // The server sends 1000 bytes; the client's ACK of them comes with SEQ = the server's right edge.
  let clientGot = 0;
  client.onData = (d) => (clientGot += d.length);
  const last = sim.a.sent[sim.a.sent.length - 1]!;
  const info = server.info();
  const edge = (info.rcvNxt + info.rcvWnd) >>> 0;
  server.write(new Uint8Array(1000));
  const n = sim.b.sent.length;
  const una0 = server.info().sndUna;
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: edge, ack: (una0 + 1000) >>> 0, flags: ACK, window: 65535, options: { tsVal: (last.opts.tsVal! + 1) >>> 0, tsEcr: last.opts.tsEcr! } });
  assert.equal(sim.b.counters.get('drop.tcp.out_of_window'), 0);
  assert.equal(server.info().sndUna, (una0 + 1000) >>> 0, 'its acknowledgment was processed');
  assert.equal(sim.b.sent.length, n, 'not answered with an ACK');
});
