import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, bytesEqual, concat, inject, ipv4Quote, openPair, pattern } from './tcp-harness.js';
import { TcpFlags } from '../../src/wire/tcp.js';
import type { SocketError } from '../../src/transport/tcp/socket.js';

const { SYN, ACK, RST, FIN, PSH } = TcpFlags;

test('tcpconn: half-close — client shuts down, server keeps sending, then closes', () => {
  const sim = new Sim(41, { timeWaitMs: 500 });
  const { client, server } = openPair(sim);
  const got: Uint8Array[] = [];
  client.onData = (d) => got.push(d);
  let serverEnd = false;
  let clientEnd = false;
  server.onEnd = () => (serverEnd = true);
  client.onEnd = () => (clientEnd = true);
  client.write(new TextEncoder().encode('request'));
  client.shutdown();
  sim.run(() => serverEnd && client.state === 'FIN-WAIT-2', 5000);
  assert.ok(serverEnd);
  assert.equal(client.state, 'FIN-WAIT-2');
  assert.equal(server.state, 'CLOSE-WAIT');
  // The half-closed server can still send.
  const reply = pattern(100_000, 5);
  assert.equal(server.write(reply), reply.length);
  sim.run(() => concat(got).length === reply.length, 5000);
  assert.ok(bytesEqual(concat(got), reply));
  assert.equal(clientEnd, false);
  // Writing after shutdown fails with EPIPE (asynchronously).
  let err: SocketError | undefined;
  client.onError = (e) => (err = e);
  assert.equal(client.write(new Uint8Array(3)), 0);
  sim.run(() => err !== undefined, 100);
  assert.equal(err?.code, 'EPIPE');
  server.shutdown();
  assert.equal(server.state, 'LAST-ACK');
  sim.run(() => clientEnd && server.state === 'CLOSED', 5000);
  assert.equal(client.state, 'TIME-WAIT');
});

test('tcpconn: half-close — server shuts down first, client keeps sending', () => {
  const sim = new Sim(42, { timeWaitMs: 500 });
  const { client, server } = openPair(sim);
  let clientEnd = false;
  client.onEnd = () => (clientEnd = true);
  const got: Uint8Array[] = [];
  server.onData = (d) => got.push(d);
  let serverEnd = false;
  server.onEnd = () => (serverEnd = true);
  server.shutdown();
  sim.run(() => clientEnd && server.state === 'FIN-WAIT-2', 5000);
  assert.equal(client.state, 'CLOSE-WAIT');
  assert.equal(server.state, 'FIN-WAIT-2');
  const up = pattern(50_000, 6);
  client.write(up);
  client.shutdown();
  sim.run(() => serverEnd && client.state === 'CLOSED', 5000);
  assert.ok(bytesEqual(concat(got), up));
  assert.equal(server.state, 'TIME-WAIT');
});

test('tcpconn: simultaneous open (SYN-SENT → SYN-RECEIVED → ESTABLISHED on both sides)', () => {
  const sim = new Sim(43);
  const a = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 6000, localPort: 5000 });
  const b = sim.b.tcp.connect({ family: 4, remoteAddress: '10.0.0.1', remotePort: 5000, localPort: 6000 });
  let ca = false;
  let cb = false;
  a.onConnect = () => (ca = true);
  b.onConnect = () => (cb = true);
  sim.run(() => ca && cb, 5000);
  assert.ok(ca && cb);
  assert.equal(a.state, 'ESTABLISHED');
  assert.equal(b.state, 'ESTABLISHED');
  // Both SYNs crossed: each side sent SYN then SYN-ACK.
  assert.equal(sim.a.sent[0]!.flags, SYN);
  assert.equal(sim.a.sent[1]!.flags, SYN | ACK);
  const got: Uint8Array[] = [];
  b.onData = (d) => got.push(d);
  a.write(new Uint8Array([1, 2, 3]));
  sim.run(() => got.length > 0, 1000);
  assert.deepEqual([...concat(got)], [1, 2, 3]);
});

test('tcpconn: simultaneous close (FIN-WAIT-1 → CLOSING → TIME-WAIT on both sides)', () => {
  const sim = new Sim(44, { timeWaitMs: 2000 });
  const { client, server } = openPair(sim);
  let ce = false;
  let se = false;
  client.onEnd = () => (ce = true);
  server.onEnd = () => (se = true);
  client.shutdown();
  server.shutdown();
  assert.equal(client.state, 'FIN-WAIT-1');
  assert.equal(server.state, 'FIN-WAIT-1');
  sim.run(() => client.state === 'TIME-WAIT' && server.state === 'TIME-WAIT', 5000);
  assert.ok(ce && se);
  assert.ok(sim.a.counters.get('tcp.time_wait') === 1 && sim.b.counters.get('tcp.time_wait') === 1);
  sim.advance(2100);
  assert.equal(sim.a.tcp.connectionCount + sim.b.tcp.connectionCount, 0);
});

test('tcpconn: SYN to a closed port → RST → ECONNREFUSED (RFC 9293 §3.10.7.1)', () => {
  const sim = new Sim(45);
  const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 81 });
  let err: SocketError | undefined;
  let closed = false;
  c.onError = (e) => (err = e);
  c.onClose = () => (closed = true);
  sim.run(() => closed, 5000);
  assert.equal(err?.code, 'ECONNREFUSED');
  const rst = sim.b.sent[0]!;
  assert.equal(rst.flags, RST | ACK);
  assert.equal(rst.seq, 0);
  assert.equal(rst.ack, (sim.a.sent[0]!.seq + 1) >>> 0);
  assert.equal(sim.b.counters.get('drop.tcp.no_listener'), 1);
  assert.equal(sim.b.counters.get('tcp.resets_sent'), 1);
  assert.equal(sim.a.tcp.connectionCount, 0);
});

test('tcpconn: an ACK to a closed port gets <SEQ=SEG.ACK><CTL=RST>; a RST gets nothing', () => {
  const sim = new Sim(46);
  inject(sim, sim.a, sim.b, { srcPort: 1234, dstPort: 99, seq: 100, ack: 5555, flags: ACK });
  assert.equal(sim.b.sent.length, 1);
  assert.equal(sim.b.sent[0]!.flags, RST);
  assert.equal(sim.b.sent[0]!.seq, 5555);
  inject(sim, sim.a, sim.b, { srcPort: 1234, dstPort: 99, seq: 100, flags: RST });
  assert.equal(sim.b.sent.length, 1);
});

test('tcpconn: RST at RCV.NXT resets (ECONNRESET); in-window RST elsewhere and SYN get challenge ACKs (RFC 5961)', () => {
  const sim = new Sim(47);
  const { client, server } = openPair(sim);
  sim.run(() => false, 100);
  const si = server.info();
  let err: SocketError | undefined;
  server.onError = (e) => (err = e);
  const n0 = sim.b.sent.length;
  // In-window but not exactly RCV.NXT: challenge ACK, connection stays.
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt + 1000, flags: RST });
  assert.equal(server.state, 'ESTABLISHED');
  assert.equal(sim.b.counters.get('tcp.challenge_acks'), 1);
  const ca = sim.b.sent[n0]!;
  assert.equal(ca.flags, ACK);
  assert.equal(ca.ack, si.rcvNxt);
  // SYN in a synchronized state: challenge ACK.
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt + 5, flags: SYN });
  assert.equal(server.state, 'ESTABLISHED');
  assert.equal(sim.b.counters.get('tcp.challenge_acks'), 2);
  // Out of window RST: dropped silently.
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt + 0x4000_0000, flags: RST });
  assert.equal(sim.b.counters.get('drop.tcp.rst_out_of_window'), 1);
  assert.equal(server.state, 'ESTABLISHED');
  // Exactly RCV.NXT: reset.
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt, flags: RST });
  sim.run(() => err !== undefined, 100);
  assert.equal(err?.code, 'ECONNRESET');
  assert.equal(server.state, 'CLOSED');
});

test('tcpconn: challenge ACKs are rate limited (RFC 5961 §7)', () => {
  const sim = new Sim(48, { challengeAckLimit: 5 });
  const { client, server } = openPair(sim);
  const si = server.info();
  for (let i = 0; i < 20; i++) inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt + 10 + i, flags: RST });
  assert.equal(sim.b.counters.get('tcp.challenge_acks'), 5);
  assert.equal(sim.b.counters.get('drop.tcp.challenge_ack_limited'), 15);
});

test('tcpconn: ACK above SND.NXT is answered with an ACK and dropped (RFC 5961 §5.2)', () => {
  const sim = new Sim(49);
  const { client, server } = openPair(sim);
  const si = server.info();
  const n0 = sim.b.sent.length;
  inject(sim, sim.a, sim.b, { srcPort: client.localPort, dstPort: 80, seq: si.rcvNxt, ack: si.sndNxt + 100000, flags: ACK, payload: new Uint8Array(10), options: { tsVal: 0xffff_fff0, tsEcr: 0 } });
  assert.equal(sim.b.counters.get('drop.tcp.ack_unsent'), 1);
  assert.equal(sim.b.sent.length, n0 + 1);
  assert.equal(server.info().rcvNxt, si.rcvNxt);
});

test('tcpconn: PAWS drops a segment with an old timestamp (RFC 7323 §5)', () => {
  const sim = new Sim(50);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(100));
  sim.run(() => got === 100, 1000);
  const ci = client.info();
  const si = server.info();
  // A segment at RCV.NXT whose TSval is older than TS.Recent.
  const tsRecent = sim.a.sent[sim.a.sent.length - 1]!.opts.tsVal!;
  inject(sim, sim.a, sim.b, {
    srcPort: client.localPort,
    dstPort: 80,
    seq: si.rcvNxt,
    ack: ci.rcvNxt,
    flags: ACK | PSH,
    payload: new Uint8Array(50),
    options: { tsVal: (tsRecent - 1000) >>> 0, tsEcr: 0 },
  });
  assert.equal(sim.b.counters.get('drop.tcp.paws'), 1);
  assert.equal(server.info().rcvNxt, si.rcvNxt);
  // The same segment with a fresh timestamp is accepted.
  inject(sim, sim.a, sim.b, {
    srcPort: client.localPort,
    dstPort: 80,
    seq: si.rcvNxt,
    ack: ci.rcvNxt,
    flags: ACK | PSH,
    payload: new Uint8Array(50),
    options: { tsVal: (tsRecent + 5) >>> 0, tsEcr: 0 },
  });
  assert.equal(server.info().rcvNxt, (si.rcvNxt + 50) >>> 0);
});

test('tcpconn: SYN retries (6, exponential backoff) → ETIMEDOUT', () => {
  const sim = new Sim(51);
  sim.dropIf = () => true;
  const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
  let err: SocketError | undefined;
  c.onError = (e) => (err = e);
  const t0 = sim.now;
  sim.run(() => err !== undefined, 300_000);
  assert.equal(err?.code, 'ETIMEDOUT');
  assert.equal(sim.a.sent.length, 7);
  assert.ok(sim.a.sent.every((s) => s.flags === SYN));
  const gaps = sim.a.sent.slice(1).map((s, i) => s.time - sim.a.sent[i]!.time);
  assert.deepEqual(gaps, [1000, 2000, 4000, 8000, 16000, 32000]);
  assert.equal(sim.now - t0, 127_000);
});

test('tcpconn: TIME-WAIT lasts timeWaitMs (default 60 s) and ACKs a retransmitted FIN', () => {
  const sim = new Sim(52);
  const { client, server } = openPair(sim);
  server.onEnd = () => server.shutdown();
  client.shutdown();
  sim.run(() => client.state === 'TIME-WAIT', 5000);
  const t0 = sim.now;
  const n = sim.a.sent.length;
  // A retransmitted FIN (the final ACK was lost) is ACKed again. (The re-ACK must not reach b,
  // which has closed and would answer with a RST — RFC 9293 lets a RST end TIME-WAIT.)
  sim.dropIf = (p) => p.from === sim.a;
  const lastFin = sim.b.sent.filter((s) => s.flags & FIN).pop()!;
  inject(sim, sim.b, sim.a, { srcPort: 80, dstPort: client.localPort, seq: lastFin.seq, ack: lastFin.ack, flags: FIN | ACK, options: { tsVal: (lastFin.opts.tsVal! + 1) >>> 0, tsEcr: 0 } });
  assert.equal(sim.a.sent.length, n + 1);
  assert.equal(sim.a.sent[n]!.flags, ACK);
  sim.advance(59_900);
  assert.equal(client.state, 'TIME-WAIT');
  sim.advance(200);
  assert.equal(client.state, 'CLOSED');
  assert.ok(sim.now - t0 >= 60_000);
  assert.equal(sim.a.tcp.connectionCount, 0);
});

test('tcpconn: ICMP port unreachable during SYN-SENT → ECONNREFUSED; host unreachable → EHOSTUNREACH', () => {
  for (const [kind, code] of [
    ['port-unreachable', 'ECONNREFUSED'],
    ['host-unreachable', 'EHOSTUNREACH'],
  ] as const) {
    const sim = new Sim(53);
    let syn: Uint8Array | undefined;
    sim.dropIf = (p) => {
      syn = p.bytes;
      return true;
    };
    const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
    let err: SocketError | undefined;
    c.onError = (e) => (err = e);
    assert.ok(syn);
    // A quote with a wrong sequence number is ignored (RFC 5927).
    const bad = ipv4Quote(sim.a.addr4, sim.b.addr4, syn!);
    bad[20 + 4] ^= 0x80;
    sim.a.tcp.icmpError4(kind, 0, bad);
    assert.equal(sim.a.counters.get('drop.tcp.icmp_bad_seq'), 1);
    assert.equal(c.state, 'SYN-SENT');
    sim.a.tcp.icmpError4(kind, 0, ipv4Quote(sim.a.addr4, sim.b.addr4, syn!));
    sim.run(() => err !== undefined, 100);
    assert.equal(err?.code, code);
    assert.equal(c.state, 'CLOSED');
  }
});

test('tcpconn: ICMP unreachable in ESTABLISHED is a soft error (RFC 1122 §4.2.3.9)', () => {
  const sim = new Sim(54);
  const { client } = openPair(sim);
  let seg: Uint8Array | undefined;
  sim.dropIf = (p) => {
    if (p.from === sim.a) seg = p.bytes;
    return false;
  };
  client.write(new Uint8Array(10));
  sim.a.tcp.icmpError4('host-unreachable', 0, ipv4Quote(sim.a.addr4, sim.b.addr4, seg!));
  assert.equal(client.state, 'ESTABLISHED');
  assert.equal(client.info().softError, 'EHOSTUNREACH');
});

test('tcpconn: keep-alive probes keep an idle connection; unanswered probes → ETIMEDOUT', () => {
  const sim = new Sim(55);
  const { client } = openPair(sim, 4, { clientOpts: { keepAlive: { enabled: true, idleMs: 10_000, intervalMs: 1000, probes: 3 } } });
  sim.advance(35_000);
  assert.equal(client.state, 'ESTABLISHED');
  assert.ok(sim.a.counters.get('tcp.keepalive_probes') >= 3);
  const probes = sim.a.sent.filter((s) => s.len === 0 && s.seq === ((client.info().sndNxt - 1) >>> 0));
  assert.ok(probes.length >= 3);
  // Now the peer vanishes.
  sim.dropIf = () => true;
  let err: SocketError | undefined;
  client.onError = (e) => (err = e);
  const lastRecv = client.conn.lastRecvTime;
  sim.run(() => err !== undefined, 60_000);
  assert.equal(err?.code, 'ETIMEDOUT');
  // Idle time, then 3 unanswered probes 1 s apart, then the verdict one interval later.
  const dt = sim.now - lastRecv;
  assert.ok(Math.abs(dt - (10_000 + 3 * 1000)) <= 1, `timed out after ${dt} ms of silence`);
});

test('tcpconn: abort() sends RST and the peer gets ECONNRESET; onClose on both', () => {
  const sim = new Sim(56);
  const { client, server } = openPair(sim);
  let err: SocketError | undefined;
  let cc = false;
  let sc = false;
  server.onError = (e) => (err = e);
  server.onClose = () => (sc = true);
  client.onClose = () => (cc = true);
  client.abort();
  assert.equal(client.state, 'CLOSED');
  sim.run(() => sc && cc, 1000);
  assert.equal(err?.code, 'ECONNRESET');
  assert.equal(sim.a.tcp.connectionCount + sim.b.tcp.connectionCount, 0);
});

test('tcpconn: data arriving after close() is answered with RST (Linux)', () => {
  const sim = new Sim(57);
  const { client, server } = openPair(sim);
  let err: SocketError | undefined;
  client.onError = (e) => (err = e);
  server.close();
  sim.run(() => client.state === 'CLOSE-WAIT' && server.state === 'FIN-WAIT-2', 1000);
  client.write(new Uint8Array(100));
  sim.run(() => err !== undefined, 1000);
  assert.equal(err?.code, 'ECONNRESET');
  assert.equal(sim.b.counters.get('drop.tcp.data_after_close'), 1);
  assert.equal(server.state, 'CLOSED');
});

test('tcpconn: FIN-WAIT-2 times out after close() (finWait2Ms)', () => {
  const sim = new Sim(58, { finWait2Ms: 3000 });
  const { client, server } = openPair(sim);
  void client;
  server.close();
  sim.run(() => server.state === 'FIN-WAIT-2', 1000);
  sim.advance(2900);
  assert.equal(server.state, 'FIN-WAIT-2');
  sim.advance(200);
  assert.equal(server.state, 'CLOSED');
});

test('tcpconn: listen EADDRINUSE, wildcard vs specific; listener close stops accepting', () => {
  const sim = new Sim(59);
  const l = sim.b.tcp.listen({ family: 4, port: 80 }, () => {});
  assert.throws(() => sim.b.tcp.listen({ family: 4, port: 80 }, () => {}), /address in use/);
  assert.throws(() => sim.b.tcp.listen({ family: 4, address: '10.0.0.2', port: 80 }, () => {}), (e: SocketError) => e.code === 'EADDRINUSE');
  assert.throws(() => sim.b.tcp.listen({ family: 4, address: '10.9.9.9', port: 81 }, () => {}), (e: SocketError) => e.code === 'EADDRNOTAVAIL');
  const l6 = sim.b.tcp.listen({ family: 6, port: 80 }, () => {});
  l.close();
  l6.close();
  const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
  let err: SocketError | undefined;
  c.onError = (e) => (err = e);
  sim.run(() => err !== undefined, 1000);
  assert.equal(err?.code, 'ECONNREFUSED');
});
