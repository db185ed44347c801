/**
 * TCP resource limits (TcpLimits / TcpDefaults in src/transport/tcp/layer.ts, per-socket
 * options; docs/HARDENING.md), each driven past its bound over an in-memory link: the excess is
 * refused and counted, the bounded structure never grows past its bound, and the stack keeps
 * serving afterwards. Two stacks on a MemoryLink pair ('ip' kind), A = 10.0.0.1, B = 10.0.0.2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom, VirtualClock } from '../../src/core/clock.js';
import { MemoryLink } from '../../src/link/memory.js';
import { Stack } from '../../src/stack.js';
import type { TcpDefaults, TcpLimits } from '../../src/transport/tcp/layer.js';
import type { TcpSocket, TcpSocketOptions } from '../../src/transport/tcp/socket.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { TcpFlags, emitTcp, tcpHeaderLength } from '../../src/wire/tcp.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import { parseIpv4 as addr4 } from '../../src/wire/address.js';

const A4 = addr4('10.0.0.1')!;
const B4 = addr4('10.0.0.2')!;
const PORT = 8080;

const byte = (offset: number): number => (offset * 31 + (offset >>> 9)) & 0xff;
function chunk(offset: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = byte(offset + i);
  return b;
}

function pair(tcpB: Partial<TcpLimits & TcpDefaults> = {}) {
  const clock = new VirtualClock(0);
  const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu: 1500, queueLimit: 1_000_000 });
  const a = new Stack({ clock, random: new SeededRandom(1) });
  const b = new Stack({ clock, random: new SeededRandom(2), tcp: tcpB });
  a.addInterface(la, { addresses: ['10.0.0.1/24'] });
  b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
  /** Runs the pair for `ms` of virtual time in 1 ms steps (or until `until`). */
  const run = (ms: number, until?: () => boolean): void => {
    for (let t = 0; t < ms; t++) {
      MemoryLink.settle(la, lb);
      if (until?.()) return;
      clock.advance(1);
      a.poll();
      b.poll();
    }
    MemoryLink.settle(la, lb);
  };
  /** Sends a raw IPv4 TCP segment to B as if from `src`. */
  const inject = (src: number, sport: number, seq: number, ack: number, flags: number, payload: Uint8Array = new Uint8Array(0)): void => {
    const repr = { srcPort: sport, dstPort: PORT, seq, ack, flags, window: 65535, urgent: 0, options: flags & TcpFlags.SYN ? { mss: 1460 } : {}, payload };
    const hl = tcpHeaderLength(repr);
    const pkt = new Uint8Array(20 + hl + payload.length);
    emitIpv4({ src, dst: B4, protocol: 6, ttl: 64, payloadLength: hl + payload.length }, pkt);
    emitTcp(repr, pkt.subarray(20), pseudoHeaderSumV4(src, B4, 6, hl + payload.length));
    la.send(pkt);
    MemoryLink.settle(la, lb);
  };
  return { clock, a, b, run, inject };
}

/** An upload of `n` pattern bytes from A to B's listener; returns a checker. */
function upload(p: ReturnType<typeof pair>, n: number, opts: { client?: TcpSocketOptions; server?: TcpSocketOptions; pauseServer?: boolean } = {}) {
  let received = 0;
  let bad = -1;
  let server: TcpSocket | undefined;
  let maxWrite = 0;
  p.b.tcp.listen({ family: 4, port: PORT, socketOptions: opts.server ?? {} }, (s) => {
    server = s;
    if (opts.pauseServer) s.setReading(false);
    s.onData = (d) => {
      for (let i = 0; i < d.length; i++) if (bad < 0 && d[i] !== byte(received + i)) bad = received + i;
      received += d.length;
    };
    s.onEnd = () => s.shutdown();
  });
  const c = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: PORT }, opts.client ?? {});
  let written = 0;
  const fill = (): void => {
    while (written < n) {
      const k = c.write(chunk(written, Math.min(64 * 1024, n - written)));
      maxWrite = Math.max(maxWrite, k);
      written += k;
      if (k === 0) return;
    }
    c.shutdown();
  };
  c.onConnect = fill;
  c.onDrain = fill;
  return {
    client: c,
    server: () => server,
    done: () => received === n && bad < 0,
    status: () => ({ received, bad, written, maxWrite }),
  };
}

test('SYN queue (maxSynBacklog) without SYN cookies: excess SYNs dropped and counted; serves after expiry', () => {
  const max = 8;
  const p = pair({ maxSynBacklog: max, syncookies: false, synAckRetries: 1 });
  const up = upload(p, 20_000);
  const listener = () => [...(p.b.tcp as unknown as { listeners: Map<string, Array<{ synQueue: number }>> }).listeners.values()][0]![0]!;
  for (let i = 0; i < 100; i++) {
    p.inject(A4 + 100 + (i % 50), 2000 + i, 1000 * i, 0, TcpFlags.SYN); // spoofed, never completed
    assert.ok(listener().synQueue <= max, `SYN queue ${listener().synQueue}`);
  }
  // The client's own SYN (sent at connect) may have got a slot first; the rest were refused.
  assert.ok(p.b.counters.get('drop.tcp.syn_queue_full') >= 100 - max, JSON.stringify(p.b.counters.drops()));
  // Half-open connections expire (one SYN-ACK retransmission), then the real client gets in.
  p.run(60_000, up.done);
  assert.ok(up.done(), JSON.stringify(up.status()));
});

test('SYN queue with SYN cookies (default): a flood does not block a real client', () => {
  const max = 8;
  const p = pair({ maxSynBacklog: max });
  for (let i = 0; i < 100; i++) p.inject(A4 + 100 + (i % 50), 2000 + i, 1000 * i, 0, TcpFlags.SYN);
  const listener = [...(p.b.tcp as unknown as { listeners: Map<string, Array<{ synQueue: number }>> }).listeners.values()];
  assert.equal(listener.length, 0, 'no listener yet: SYNs to a closed port');
  assert.equal(p.b.counters.get('drop.tcp.no_listener'), 100);
  const up = upload(p, 50_000);
  for (let i = 0; i < 100; i++) p.inject(A4 + 100 + (i % 50), 3000 + i, 1000 * i, 0, TcpFlags.SYN);
  const l = [...(p.b.tcp as unknown as { listeners: Map<string, Array<{ synQueue: number }>> }).listeners.values()][0]![0]!;
  assert.ok(l.synQueue <= max, `SYN queue ${l.synQueue}`);
  // The client's handshake completed during the first injection; the SYN queue then holds
  // `max` spoofed SYNs and every other SYN got a cookie.
  assert.equal(p.b.counters.get('tcp.syncookies_sent'), 100 - max);
  p.run(30_000, up.done);
  assert.ok(up.done(), JSON.stringify(up.status()));
  assert.ok(p.b.tcp.connectionCount <= max + 2, `connections ${p.b.tcp.connectionCount}`);
});

test('send buffer (sendBufferSize): write accepts at most the buffer, the rest after onDrain', () => {
  const size = 16 * 1024;
  const p = pair();
  const up = upload(p, 200_000, { client: { sendBufferSize: size } });
  p.run(30_000, up.done);
  assert.ok(up.done(), JSON.stringify(up.status()));
  assert.ok(up.status().maxWrite <= size, `one write took ${up.status().maxWrite} bytes`);
});

test('receive buffer (receiveBufferSize): a paused reader bounds what the sender can push', () => {
  const size = 8 * 1024;
  const p = pair();
  const up = upload(p, 100_000, { server: { receiveBufferSize: size }, pauseServer: true });
  p.run(5_000);
  const s = up.server()!;
  const conn = (s as unknown as { conn: { rcvQueued: number } }).conn;
  assert.ok(conn.rcvQueued <= size, `queued ${conn.rcvQueued} > ${size}`);
  assert.equal(s.info().rcvWnd, 0, 'the window is closed');
  const inFlight = up.client.info().sndNxt - up.client.info().sndUna;
  assert.ok(inFlight <= size + 1500, `in flight ${inFlight}`);
  s.setReading(true);
  p.run(60_000, up.done);
  assert.ok(up.done(), JSON.stringify(up.status()));
});

test('out-of-order bytes: bounded by the receive buffer; injected segments beyond it are dropped and counted', () => {
  const size = 16 * 1024;
  const p = pair();
  const up = upload(p, 300_000, { server: { receiveBufferSize: size }, pauseServer: true });
  p.run(50);
  const s = up.server()!;
  const conn = (s as unknown as { conn: { irs: number; rcvNxt: number; ooo: { bytes: number; maxBytes: number } | undefined; remotePort: number } }).conn;
  const before = p.b.counters.get('drop.total');
  // Spoofed (but correct-content) segments from the client's 4-tuple, past a hole at RCV.NXT,
  // reaching far beyond the window.
  for (let k = 1; k <= 200; k++) {
    const seq = (conn.rcvNxt + 1 + 500 * k) >>> 0;
    const off = (seq - conn.irs - 1) >>> 0;
    p.inject(A4, conn.remotePort, seq, 0, TcpFlags.ACK, chunk(off, 500));
    if (conn.ooo) assert.ok(conn.ooo.bytes <= conn.ooo.maxBytes, `ooo ${conn.ooo.bytes} > ${conn.ooo.maxBytes}`);
  }
  const d = p.b.counters.drops();
  assert.ok((d['tcp.out_of_window'] ?? 0) + (d['tcp.ooo_queue_full'] ?? 0) > 0, JSON.stringify(d));
  assert.ok(p.b.counters.get('drop.total') > before);
  s.setReading(true);
  p.run(120_000, up.done);
  assert.ok(up.done(), JSON.stringify(up.status()));
});

test('challenge ACKs (challengeAckLimit): in-window RSTs get at most the limit per second', () => {
  const p = pair({ challengeAckLimit: 5 });
  let server: TcpSocket | undefined;
  let got = 0;
  p.b.tcp.listen({ family: 4, port: PORT }, (s) => {
    server = s;
    s.onData = (d) => void (got += d.length);
  });
  const c = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: PORT });
  p.run(1);
  const s = server!;
  const conn = (s as unknown as { conn: { rcvNxt: number; remotePort: number } }).conn;
  const wnd = s.info().rcvWnd;
  assert.ok(wnd > 5000, `window ${wnd}`);
  // RSTs inside the window but not at RCV.NXT (RFC 5961 §3): each asks for a challenge ACK.
  for (let k = 1; k <= 50; k++) p.inject(A4, conn.remotePort, (conn.rcvNxt + 100 * k) >>> 0, 0, TcpFlags.RST);
  assert.equal(p.b.counters.get('drop.tcp.rst_not_exact'), 50);
  const sent = p.b.counters.get('tcp.challenge_acks');
  assert.ok(sent >= 1 && sent <= 5, `challenge ACKs ${sent}`);
  assert.equal(p.b.counters.get('drop.tcp.challenge_ack_limited'), 50 - sent);
  assert.equal(s.state, 'ESTABLISHED', 'the connection survives');
  c.write(chunk(0, 5000));
  p.run(1000, () => got === 5000);
  assert.equal(got, 5000);
});

test(
  'ACKs in reply to unacceptable segments are bounded (no ACK storm after one blind in-window injection)',
  () => {
    const p = pair();
    let server: TcpSocket | undefined;
    p.b.tcp.listen({ family: 4, port: PORT }, (s) => {
      server = s;
    });
    const c = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: PORT });
    p.run(1);
    c.write(chunk(0, 1000));
    p.run(100);
    const conn = (server as unknown as { conn: { rcvNxt: number; sndNxt: number; remotePort: number } }).conn;
    // One byte at exactly RCV.NXT from the client's 4-tuple: acceptable, so the server's
    // RCV.NXT passes the client's SND.NXT. From then on each side answers the other's ACK.
    p.inject(A4, conn.remotePort, conn.rcvNxt, conn.sndNxt, TcpFlags.ACK, new Uint8Array([0x41]));
    p.run(1000);
    const acks = p.a.counters.get('drop.tcp.ack_unsent') + p.b.counters.get('drop.tcp.old_duplicate');
    assert.ok(acks < 20, `${acks} ACKs exchanged in 1 s of virtual time`);
  },
);

test('total TCP connections: SYNs and connect() beyond tcp.maxConnections are refused and counted; freed slots serve again', () => {
  const p = pair({ maxConnections: 3 });
  const accepted: TcpSocket[] = [];
  p.b.tcp.listen({ family: 4, port: PORT }, (s) => accepted.push(s));
  const clients = Array.from({ length: 5 }, () => p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: PORT }));
  let established = 0;
  for (const c of clients) c.onConnect = () => established++;
  p.run(500);
  assert.equal(p.b.tcp.connectionCount, 3, 'B holds exactly its limit');
  assert.equal(accepted.length, 3);
  assert.equal(established, 3, 'the two beyond the limit are still trying (their SYNs dropped)');
  assert.ok(p.b.counters.get('drop.tcp.conn_limit') >= 2, JSON.stringify(p.b.counters.drops()));
  // connect() from B itself fails at once with ENOBUFS.
  assert.throws(() => p.b.tcp.connect({ family: 4, remoteAddress: '10.0.0.1', remotePort: 9 }), { code: 'ENOBUFS' });
  // Abort the accepted ones: the slots free and the retried SYNs get through.
  for (const s of accepted.splice(0)) s.abort();
  p.run(5000, () => established === 5);
  assert.equal(established, 5, 'the refused clients connect once slots are free (SYN retransmission)');
  assert.ok(p.b.tcp.connectionCount <= 3);
});

test('out-of-window ACK replies (oowAckIntervalMs): one per interval per connection; 0 answers each', () => {
  for (const interval of [500, 0]) {
    const p = pair(interval === 500 ? {} : { oowAckIntervalMs: interval });
    let server: TcpSocket | undefined;
    p.b.tcp.listen({ family: 4, port: PORT }, (s) => void (server = s));
    const c = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: PORT });
    p.run(1);
    const conn = (server as unknown as { conn: { rcvNxt: number; sndNxt: number; remotePort: number } }).conn;
    const before = p.b.counters.get('tcp.tx');
    // Pure ACKs far outside the receive window (RFC 9293 §3.10.7.4: answered with an ACK, dropped).
    for (let k = 0; k < 20; k++) p.inject(A4, conn.remotePort, (conn.rcvNxt + 0x4000_0000) >>> 0, conn.sndNxt, TcpFlags.ACK);
    const limited = p.b.counters.get('tcp.oow_ack_limited');
    const answered = p.b.counters.get('tcp.tx') - before;
    if (interval === 500) {
      assert.equal(answered, 1, 'one duplicate ACK in the interval');
      assert.equal(limited, 19);
      p.run(501);
      p.inject(A4, conn.remotePort, (conn.rcvNxt + 0x4000_0000) >>> 0, conn.sndNxt, TcpFlags.ACK);
      assert.equal(p.b.counters.get('tcp.oow_ack_limited'), 19, 'answered again after the interval');
    } else {
      assert.equal(limited, 0);
      assert.equal(answered, 20);
    }
    assert.equal(server!.state, 'ESTABLISHED');
    c.abort();
  }
});

test('SYN cookies: an ACK of an earlier cookie that reaches a later half-open entry of the same 4-tuple is accepted (as Linux), not reset', () => {
  const clock = new VirtualClock(0);
  const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu: 1500, queueLimit: 1_000_000 });
  const b = new Stack({ clock, random: new SeededRandom(7), tcp: { maxSynBacklog: 1 } });
  b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
  const out: Uint8Array[] = [];
  la.attach({ receive: (f) => void out.push(f.slice()), flush: () => {} });
  const accepted: TcpSocket[] = [];
  b.tcp.listen({ family: 4, port: PORT }, (s) => void accepted.push(s));
  const send = (src: number, sport: number, seq: number, ack: number, flags: number, payload = new Uint8Array(0)): void => {
    const repr = { srcPort: sport, dstPort: PORT, seq, ack, flags, window: 65535, urgent: 0, options: flags & TcpFlags.SYN ? { mss: 1460 } : {}, payload };
    const hl = tcpHeaderLength(repr);
    const pkt = new Uint8Array(20 + hl + payload.length);
    emitIpv4({ src, dst: B4, protocol: 6, ttl: 64, payloadLength: hl + payload.length }, pkt);
    emitTcp(repr, pkt.subarray(20), pseudoHeaderSumV4(src, B4, 6, hl + payload.length));
    la.send(pkt);
    MemoryLink.settle(la, lb);
  };
  const synAck = (): { seq: number; flags: number } => {
    const f = out.pop()!;
    return { seq: new DataView(f.buffer, f.byteOffset).getUint32(24), flags: f[33]! };
  };
  // A spoofed SYN fills the one-entry SYN queue; the client's SYN then gets a cookie.
  send(A4 + 50, 1000, 1, 0, TcpFlags.SYN);
  out.length = 0;
  send(A4, 2000, 5000, 0, TcpFlags.SYN);
  assert.equal(b.counters.get('tcp.syncookies_sent'), 1);
  const cookie = synAck().seq;
  // The spoofed entry goes away (a RST from its "owner"); the client's retransmitted SYN now
  // makes a half-open entry with an ordinary ISN.
  send(A4 + 50, 1000, 2, 0, TcpFlags.RST);
  send(A4, 2000, 5000, 0, TcpFlags.SYN);
  const isn = synAck().seq;
  assert.notEqual(isn, cookie);
  // The client answers the first SYN-ACK it got: the cookie.
  send(A4, 2000, 5001, (cookie + 1) >>> 0, TcpFlags.ACK, new Uint8Array([1, 2, 3]));
  assert.equal(b.counters.get('tcp.syn_recv_cookie_ack'), 1);
  assert.equal(b.counters.get('drop.tcp.syn_recv_bad_ack'), 0, 'no RST');
  assert.equal(b.counters.get('tcp.syncookies_ok'), 1);
  assert.equal(accepted.length, 1);
  assert.equal(accepted[0]!.state, 'ESTABLISHED');
  // A wrong ACK still gets the RST of RFC 9293 §3.10.7.4.
  send(A4, 2001, 7000, 0, TcpFlags.SYN);
  send(A4, 2001, 7001, 12345, TcpFlags.ACK);
  assert.equal(b.counters.get('drop.tcp.syn_recv_bad_ack'), 1);
});
