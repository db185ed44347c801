import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, bytesEqual, concat, inject, openPair, pattern } from './tcp-harness.js';
import { TcpFlags } from '../../src/wire/tcp.js';
import type { TcpSocket } from '../../src/transport/tcp/socket.js';

const { ACK, SYN, FIN } = TcpFlags;

function pump(client: TcpSocket, data: Uint8Array, end = true): void {
  let off = 0;
  const go = (): void => {
    while (off < data.length) {
      const n = client.write(data.subarray(off, Math.min(data.length, off + 65536)));
      off += n;
      if (n === 0) return;
    }
    if (end) client.shutdown();
  };
  client.onDrain = go;
  go();
}

test('tcpconn: setReading(false) shrinks the window to zero, persist probes, setReading(true) resumes', () => {
  const sim = new Sim(61);
  const rcvBuf = 64 * 1024;
  const { client, server } = openPair(sim, 4, { serverOpts: { receiveBufferSize: rcvBuf } });
  const data = pattern(400_000, 61);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => got.push(d);
  server.onEnd = () => (ended = true);
  server.setReading(false);
  pump(client, data);
  sim.run(() => client.info().sndWnd === 0 && client.bufferedSend > 0 && !client.info().sndNxt, 2000);
  sim.advance(2000);
  assert.equal(got.length, 0, 'nothing delivered while not reading');
  assert.equal(server.info().rcvWnd, 0, 'receiver window closed');
  assert.equal(client.info().sndWnd, 0, 'sender sees a zero window');
  assert.ok(client.bufferedSend > 0);
  const probes = sim.a.counters.get('tcp.window_probes');
  assert.ok(probes >= 1, 'zero-window probes sent');
  // Probes back off exponentially.
  const probeTimes = sim.a.sent.filter((s) => s.len === 0 && s.seq === ((client.info().sndUna - 1) >>> 0)).map((s) => s.time);
  assert.ok(probeTimes.length >= 2);
  const g1 = probeTimes[1]! - probeTimes[0]!;
  const g2 = probeTimes[2] !== undefined ? probeTimes[2]! - probeTimes[1]! : 2 * g1;
  assert.ok(g2 >= 2 * g1 - 1, `backoff ${g1} then ${g2}`);
  // The window update is lost: the persist timer recovers.
  sim.dropIf = (p) => p.from === sim.b;
  server.setReading(true);
  assert.equal(got.length, 0, 'never delivered from inside setReading()');
  sim.advance(50);
  assert.ok(concat(got).length >= rcvBuf - 2000, 'buffered data delivered');
  sim.dropIf = undefined;
  const p0 = sim.a.counters.get('tcp.window_probes');
  sim.run(() => ended, 120_000);
  assert.ok(sim.a.counters.get('tcp.window_probes') > p0, 'a probe found the reopened window');
  assert.ok(bytesEqual(concat(got), data));
});

test('tcpconn: flow control — a slow reader toggling setReading still gets every byte', () => {
  const sim = new Sim(62);
  const { client, server } = openPair(sim, 4, { serverOpts: { receiveBufferSize: 32 * 1024 } });
  sim.link.loss = 0.01;
  const data = pattern(500_000, 62);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => {
    got.push(d);
    server.setReading(false);
  };
  server.onEnd = () => (ended = true);
  pump(client, data);
  for (let i = 0; i < 2000 && !ended; i++) {
    sim.advance(20);
    server.setReading(true);
  }
  assert.ok(ended);
  assert.ok(bytesEqual(concat(got), data));
  assert.ok(server.info().rcvWnd <= 32 * 1024 + 1024);
});

test('tcpconn: Nagle coalesces small writes; noDelay sends each at once (RFC 896)', () => {
  for (const noDelay of [false, true]) {
    const sim = new Sim(63);
    const { client, server } = openPair(sim, 4, { clientOpts: { noDelay } });
    let got = 0;
    server.onData = (d) => (got += d.length);
    const n0 = sim.a.sent.length;
    for (let i = 0; i < 10; i++) client.write(new Uint8Array(10).fill(i));
    sim.run(() => got === 100, 2000);
    const dataSegs = sim.a.sent.slice(n0).filter((s) => s.len > 0);
    if (noDelay) assert.equal(dataSegs.length, 10);
    else {
      assert.equal(dataSegs.length, 2);
      assert.equal(dataSegs[0]!.len, 10);
      assert.equal(dataSegs[1]!.len, 90);
    }
  }
});

test('tcpconn: setNoDelay(true) flushes data held by Nagle', () => {
  const sim = new Sim(64);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(10));
  client.write(new Uint8Array(10));
  assert.equal(sim.a.sent.filter((s) => s.len > 0).length, 1);
  client.setNoDelay(true);
  assert.equal(sim.a.sent.filter((s) => s.len > 0).length, 2);
  sim.run(() => got === 20, 1000);
});

test('tcpconn: quick-ack at connection start, then delayed ACKs — one ACK per two full-sized segments; a lone segment is ACKed after 40 ms', () => {
  const sim = new Sim(65);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  const mss = client.info().mss;
  // Quick-ack mode (Linux tcp_incr_quickack): the first data segment is ACKed at once, and so
  // are the following ones up to min(16, rcv_wnd / (2·536)) in all.
  const n0 = sim.b.sent.length;
  client.write(new Uint8Array(100));
  sim.run(() => got === 100, 1000);
  const tFirst = sim.now;
  sim.run(() => sim.b.sent.length > n0, 1000);
  assert.equal(sim.now - tFirst, 0, 'the first data segment is ACKed at once');
  sim.advance(100);
  const nq = sim.b.sent.length;
  client.write(new Uint8Array(15 * mss));
  sim.run(() => got === 100 + 15 * mss, 2000);
  sim.advance(100);
  const quick = sim.b.sent.slice(nq).filter((s) => s.flags === ACK && s.len === 0);
  assert.equal(quick.length, 15, `${quick.length} ACKs for the 15 segments of quick-ack mode`);
  // Quick-ack mode is over. A lone small segment: ACK delayed by delayedAckMs.
  const n1 = sim.b.sent.length;
  client.write(new Uint8Array(100));
  sim.run(() => got === 200 + 15 * mss, 1000);
  const tArrive = sim.now;
  sim.run(() => sim.b.sent.length > n1, 1000);
  assert.equal(sim.now - tArrive, 40);
  sim.advance(100);
  // 20 full segments: one ACK per 2 segments.
  const n2 = sim.b.sent.length;
  client.write(new Uint8Array(20 * mss));
  sim.run(() => got === 200 + 35 * mss, 2000);
  sim.advance(100);
  const acks = sim.b.sent.slice(n2).filter((s) => s.flags === ACK && s.len === 0);
  assert.equal(acks.length, 10, `${acks.length} ACKs for 20 segments`);
});

test('tcpconn: a receive buffer under 2 MSS — the read that reopens the window is announced at once, not after the delayed ACK', () => {
  const sim = new Sim(67);
  // 1.5 MSS of receive buffer: after one full segment the sender cannot send the next one
  // (sender SWS avoidance) until it hears of the space the application's read freed.
  const { client, server } = openPair(sim, 4, { serverOpts: { receiveBufferSize: 2190 } });
  const mss = client.info().mss;
  assert.ok(2190 < 2 * mss && 2190 > mss, `mss ${mss}`);
  const data = pattern(40 * mss, 67);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => got.push(d);
  server.onEnd = () => (ended = true);
  const t0 = sim.now;
  pump(client, data);
  sim.run(() => ended, 60_000);
  assert.ok(bytesEqual(concat(got), data));
  // One full segment per round trip (5 ms each way here). Without the window update at read
  // time every segment after quick-ack mode waits for the 40 ms delayed ACK.
  const sends = sim.a.sent.filter((s) => s.len > 0 && s.time >= t0).map((s) => s.time);
  let maxGap = 0;
  for (let i = 1; i < sends.length; i++) maxGap = Math.max(maxGap, sends[i]! - sends[i - 1]!);
  assert.ok(maxGap < 40, `a gap of ${maxGap} ms between data segments`);
  assert.ok(sim.now - t0 < 40 * 15, `${sim.now - t0} ms`);
});

test('tcpconn: PMTU — ICMP frag-needed lowers the MSS, segments shrink, transfer completes', () => {
  const sim = new Sim(66);
  const { client, server } = openPair(sim);
  sim.pathMtu = 1000;
  const data = pattern(300_000, 66);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => got.push(d);
  server.onEnd = () => (ended = true);
  const n0 = sim.a.sent.length;
  pump(client, data);
  sim.run(() => ended, 60_000);
  assert.ok(bytesEqual(concat(got), data));
  assert.ok(sim.a.counters.get('tcp.pmtu_updates') >= 1);
  assert.equal(client.info().mss, 1000 - 40 - 12);
  const after = sim.a.sent.slice(n0).filter((s) => s.len > 0);
  assert.ok(after.slice(-50).every((s) => s.len <= 948));
  // The learned path MTU is remembered per destination, and ages out (RFC 1191 §6.3, 10 min).
  assert.equal(sim.a.tcp.pmtuEntries, 1);
  sim.clock.advance(600_001);
  assert.equal(sim.a.tcp.routeMss(client.conn), 1500 - 40, 'after 10 minutes the route MTU applies again');
  assert.equal(sim.a.tcp.pmtuEntries, 0);
});

test('tcpconn: PMTU over IPv6 (packet too big)', () => {
  const sim = new Sim(67);
  const { client, server } = openPair(sim, 6);
  sim.pathMtu = 1280;
  const data = pattern(100_000, 67);
  const got: Uint8Array[] = [];
  let ended = false;
  server.onData = (d) => got.push(d);
  server.onEnd = () => (ended = true);
  pump(client, data);
  sim.run(() => ended, 60_000);
  assert.ok(bytesEqual(concat(got), data));
  assert.equal(client.info().mss, 1280 - 60 - 12);
});

test('tcpconn: SYN queue full → SYN cookies; the connections still establish with options', () => {
  const sim = new Sim(68, { maxSynBacklog: 1 });
  const accepted: TcpSocket[] = [];
  sim.b.tcp.listen({ family: 4, port: 80 }, (s) => accepted.push(s));
  const clients: TcpSocket[] = [];
  let connected = 0;
  for (let i = 0; i < 4; i++) {
    const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
    c.onConnect = () => connected++;
    clients.push(c);
  }
  sim.run(() => connected === 4 && accepted.length === 4, 10_000);
  assert.equal(connected, 4);
  assert.equal(accepted.length, 4);
  assert.equal(sim.b.counters.get('tcp.syncookies_sent'), 3);
  assert.equal(sim.b.counters.get('tcp.syncookies_ok'), 3);
  // Options survive through the timestamp bits (Linux cookie_init_timestamp).
  for (const s of accepted) {
    const i = s.info();
    assert.equal(i.timestamps, true);
    assert.equal(i.sack, true);
    assert.equal(i.sndWscale, 5);
    assert.equal(i.peerMss, 1460);
  }
  // Data flows on a cookie connection, both ways.
  const s3 = accepted[3]!;
  const c3 = clients.find((c) => c.localPort === s3.remotePort)!;
  const got: Uint8Array[] = [];
  s3.onData = (d) => got.push(d);
  const data = pattern(200_000, 68);
  pump(c3, data, false);
  sim.run(() => concat(got).length === data.length, 10_000);
  assert.ok(bytesEqual(concat(got), data));
});

test('tcpconn: a forged cookie ACK is rejected with RST (the client thought it was connected)', () => {
  const sim = new Sim(69, { maxSynBacklog: 0 });
  sim.b.tcp.listen({ family: 4, port: 80 }, () => {});
  const c = sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
  // Corrupt the SYN-ACK's sequence number (the cookie) on its way.
  sim.dropIf = (p) => {
    if (p.from === sim.b && p.bytes[13] === (SYN | ACK)) {
      p.bytes[7] ^= 0x55;
      fixSum(sim, p.bytes);
    }
    return false;
  };
  let err: string | undefined;
  c.onError = (e) => (err = e.code);
  sim.run(() => err !== undefined, 5000);
  assert.equal(sim.b.counters.get('tcp.syncookies_failed'), 1);
  assert.equal(err, 'ECONNRESET');
  assert.equal(sim.b.tcp.connectionCount, 0);
});

test('tcpconn: SYN queue full without syncookies drops the SYN; the retry succeeds', () => {
  const sim = new Sim(70, { maxSynBacklog: 1, syncookies: false });
  let accepted = 0;
  sim.b.tcp.listen({ family: 4, port: 80 }, () => accepted++);
  let connected = 0;
  for (let i = 0; i < 2; i++) sim.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 }).onConnect = () => connected++;
  sim.run(() => connected === 2 && accepted === 2, 10_000);
  assert.equal(accepted, 2);
  assert.equal(sim.b.counters.get('drop.tcp.syn_queue_full'), 1);
  assert.ok(sim.now - 1_000_000 >= 1000, 'second connection needed a SYN retransmission');
});

test('tcpconn: a lost SYN-ACK is retransmitted; a duplicate SYN gets the SYN-ACK again', () => {
  const sim = new Sim(71);
  let drops = 0;
  sim.dropIf = (p) => p.from === sim.b && p.bytes[13] === (SYN | ACK) && drops++ < 1;
  const { client } = openPair(sim);
  assert.equal(client.state, 'ESTABLISHED');
  assert.ok(sim.b.sent.filter((s) => s.flags === (SYN | ACK)).length >= 2);
});

test('tcpconn: user timeout aborts with ETIMEDOUT when data stays unacknowledged', () => {
  const sim = new Sim(72);
  const { client } = openPair(sim, 4, { clientOpts: { userTimeoutMs: 5000 } });
  sim.dropIf = () => true;
  let err: string | undefined;
  client.onError = (e) => (err = e.code);
  const t0 = sim.now;
  client.write(new Uint8Array(1000));
  sim.run(() => err !== undefined, 60_000);
  assert.equal(err, 'ETIMEDOUT');
  assert.ok(sim.now - t0 >= 5000 && sim.now - t0 < 20_000, `after ${sim.now - t0} ms`);
});

test('tcpconn: retransmission timeouts back off exponentially and give up after retries2', () => {
  const sim = new Sim(73, { retries2: 5 });
  const { client } = openPair(sim);
  sim.dropIf = () => true;
  let err: string | undefined;
  client.onError = (e) => (err = e.code);
  const n0 = sim.a.sent.length;
  client.write(new Uint8Array(100));
  sim.run(() => err !== undefined, 600_000);
  assert.equal(err, 'ETIMEDOUT');
  // The original, one tail loss probe (RFC 8985 §7, after 2·SRTT), then 5 RTO retransmissions.
  const times = sim.a.sent.slice(n0).map((s) => s.time);
  assert.equal(times.length, 7);
  assert.equal(sim.a.counters.get('tcp.tlp_probes'), 1);
  assert.equal(sim.a.counters.get('tcp.rto_timeouts'), 5);
  const gaps = times.slice(2).map((t, i) => t - times[i + 1]!);
  for (let i = 1; i < gaps.length; i++) assert.ok(Math.abs(gaps[i]! - 2 * gaps[i - 1]!) <= 1, `gaps ${gaps}`);
  assert.equal(client.retransmits, 6);
});

test('tcpconn: FIN-only and FIN retransmission after loss', () => {
  const sim = new Sim(74, { timeWaitMs: 100 });
  const { client, server } = openPair(sim);
  let fins = 0;
  sim.dropIf = (p) => p.from === sim.a && (p.bytes[13]! & FIN) !== 0 && fins++ < 2;
  let ended = false;
  server.onEnd = () => (ended = true);
  client.shutdown();
  sim.run(() => ended, 10_000);
  assert.ok(ended);
  assert.equal(fins, 3);
});

import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import { TcpPacket } from '../../src/wire/tcp.js';
function fixSum(sim: Sim, seg: Uint8Array): void {
  new TcpPacket(seg).fillChecksum(pseudoHeaderSumV4(sim.b.addr4, sim.a.addr4, 6, seg.length));
}

test('tcpconn: after an idle period longer than RTO the window restarts at IW (RFC 5681 §4.1)', () => {
  const sim = new Sim(75);
  const { client, server } = openPair(sim);
  let got = 0;
  server.onData = (d) => (got += d.length);
  client.write(new Uint8Array(400_000));
  sim.run(() => got === 400_000, 10_000);
  const mss = client.info().mss;
  assert.ok(client.info().cwnd > 20 * mss, `cwnd grew to ${client.info().cwnd}`);
  sim.advance(5000);
  const n0 = sim.a.sent.length;
  client.write(new Uint8Array(100 * mss));
  const burst = sim.a.sent.slice(n0).filter((s) => s.len > 0);
  assert.equal(burst.length, 10, 'one initial window (RFC 6928: 10 segments) after idle');
});

test('tcpconn: SYN cookie without timestamps: MSS from the table, no window scaling or SACK', () => {
  const sim = new Sim(76, { maxSynBacklog: 0 });
  let server: TcpSocket | undefined;
  sim.b.tcp.listen({ family: 4, port: 80 }, (s) => (server = s));
  // A client SYN without options (as from a minimal stack): MSS 1400 only.
  const rx = { iface: { index: 1 }, linkMulticast: false } as Parameters<typeof sim.b.tcp.input4>[3];
  void rx;
  inject(sim, sim.a, sim.b, { srcPort: 5555, dstPort: 80, seq: 7000, flags: SYN, options: { mss: 1400 } });
  const synack = sim.b.sent[0]!;
  assert.equal(sim.b.counters.get('tcp.syncookies_sent'), 1);
  assert.equal(synack.opts.wscale, undefined);
  assert.equal(synack.opts.sackPermitted, undefined);
  inject(sim, sim.a, sim.b, { srcPort: 5555, dstPort: 80, seq: 7001, ack: (synack.seq + 1) >>> 0, flags: ACK, window: 5000 });
  assert.ok(server);
  const i = server!.info();
  assert.equal(i.peerMss, 1300); // the largest table entry (536, 1300, 1440, 1460) not above 1400
  assert.equal(i.sack, false);
  assert.equal(i.timestamps, false);
  assert.equal(i.sndWnd, 5000);
});
