import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Sim, concat, bytesEqual, pattern, openPair, inject } from './tcp-harness.js';
import type { TcpSocket } from '../../src/transport/tcp/socket.js';
import { TcpFlags } from '../../src/wire/tcp.js';

const { SYN, ACK } = TcpFlags;

for (const family of [4, 6] as const) {
  test(`tcpconn: handshake negotiates MSS, window scale, SACK-permitted and timestamps (IPv${family})`, () => {
    const sim = new Sim(1);
    const { client, server } = openPair(sim, family);
    assert.equal(client.state, 'ESTABLISHED');
    assert.equal(server.state, 'ESTABLISHED');
    const syn = sim.a.sent[0]!;
    assert.equal(syn.flags, TcpFlags.SYN);
    assert.equal(syn.opts.mss, family === 4 ? 1460 : 1440);
    assert.equal(syn.opts.wscale, 5); // 1 MiB buffer: 65535 << 5 >= 1 MiB
    assert.equal(syn.opts.sackPermitted, true);
    assert.ok(syn.opts.tsVal !== undefined);
    const synack = sim.b.sent[0]!;
    assert.equal(synack.flags, TcpFlags.SYN | TcpFlags.ACK);
    assert.equal(synack.ack, (syn.seq + 1) >>> 0);
    assert.equal(synack.opts.tsEcr, syn.opts.tsVal);
    const ci = client.info();
    const si = server.info();
    assert.equal(ci.timestamps, true);
    assert.equal(ci.sack, true);
    assert.equal(ci.sndWscale, 5);
    assert.equal(ci.rcvWscale, 5);
    assert.equal(ci.mss, (family === 4 ? 1460 : 1440) - 12);
    assert.equal(si.mss, ci.mss);
    assert.equal(client.remotePort, 80);
    assert.equal(server.localPort, 80);
    assert.equal(server.remotePort, client.localPort);
    assert.equal(client.remoteAddress, family === 4 ? '10.0.0.2' : 'fd00::2');
    assert.equal(sim.a.counters.get('tcp.active_opens'), 1);
    assert.equal(sim.b.counters.get('tcp.passive_opens'), 1);
  });
}

test('tcpconn: a SYN without options gets MSS 536 (RFC 9293 §3.7.1), no scaling, no SACK, no timestamps', () => {
  const sim = new Sim(2);
  let server: TcpSocket | undefined;
  sim.b.tcp.listen({ family: 4, port: 80 }, (s) => (server = s));
  inject(sim, sim.a, sim.b, { srcPort: 4000, dstPort: 80, seq: 1000, flags: SYN, window: 8192 });
  const synack = sim.b.sent[0]!;
  assert.equal(synack.flags, SYN | ACK);
  assert.equal(synack.ack, 1001);
  assert.equal(synack.opts.mss, 1460); // we still announce ours
  assert.equal(synack.opts.wscale, undefined);
  assert.equal(synack.opts.sackPermitted, undefined);
  assert.equal(synack.opts.tsVal, undefined);
  inject(sim, sim.a, sim.b, { srcPort: 4000, dstPort: 80, seq: 1001, ack: synack.seq + 1, flags: ACK, window: 8192 });
  assert.ok(server);
  const i = server!.info();
  assert.equal(i.state, 'ESTABLISHED');
  assert.equal(i.peerMss, 536);
  assert.equal(i.mss, 536);
  assert.equal(i.timestamps, false);
  assert.equal(i.sack, false);
  assert.equal(i.sndWscale, 0);
  assert.equal(i.rcvWscale, 0);
  assert.equal(i.sndWnd, 8192);
  // Unscaled window field: at most 65535 even with a 1 MiB buffer.
  server!.write(new Uint8Array(3000));
  const segs = sim.b.sent.slice(1).filter((s) => s.len > 0);
  // Five full segments; Nagle holds the 320-byte tail until an ACK arrives.
  assert.deepEqual(segs.map((s) => s.len), [536, 536, 536, 536, 536]);
  assert.ok(segs.every((s) => s.window === 65535));
});

test('tcpconn: data both ways, byte-exact, and orderly close (FIN both ways, TIME-WAIT)', () => {
  const sim = new Sim(3, { timeWaitMs: 1000 });
  const { client, server } = openPair(sim);
  const up = pattern(300_000, 1);
  const down = pattern(200_000, 2);
  const gotUp: Uint8Array[] = [];
  const gotDown: Uint8Array[] = [];
  server.onData = (d) => gotUp.push(d);
  client.onData = (d) => gotDown.push(d);
  let serverEnd = false;
  let clientEnd = false;
  let cClosed = false;
  let sClosed = false;
  server.onEnd = () => {
    serverEnd = true;
    server.shutdown();
  };
  client.onEnd = () => (clientEnd = true);
  client.onClose = () => (cClosed = true);
  server.onClose = () => (sClosed = true);
  assert.equal(client.write(up), up.length);
  assert.equal(server.write(down), down.length);
  client.shutdown();
  sim.run(() => serverEnd && clientEnd && sClosed, 60_000);
  assert.ok(bytesEqual(concat(gotUp), up));
  assert.ok(bytesEqual(concat(gotDown), down));
  assert.ok(serverEnd && clientEnd);
  assert.equal(server.state, 'CLOSED'); // LAST-ACK → CLOSED
  assert.equal(client.state, 'TIME-WAIT');
  assert.ok(cClosed);
  assert.equal(sim.a.tcp.connectionCount, 1);
  sim.advance(1500);
  assert.equal(client.state, 'CLOSED');
  assert.equal(sim.a.tcp.connectionCount, 0);
  assert.equal(sim.b.tcp.connectionCount, 0);
  sim.advance(10);
  assert.equal(sim.timers.size, 0, 'no timer left behind');
  assert.equal(client.bytesSent, up.length);
  assert.equal(client.bytesReceived, down.length);
});

test('tcpconn: TcpLayer.close() aborts every connection and listener', () => {
  const sim = new Sim(4);
  const { client, server } = openPair(sim);
  let err: string | undefined;
  client.onError = (e) => (err = e.code);
  let closed = false;
  server.onClose = () => (closed = true);
  sim.b.tcp.close();
  assert.equal(sim.b.tcp.connectionCount, 0);
  sim.run(() => err !== undefined && closed, 1000);
  assert.equal(err, 'ECONNRESET');
  assert.equal(client.state, 'CLOSED');
  sim.advance(10);
  assert.equal(sim.timers.size, 0);
});
