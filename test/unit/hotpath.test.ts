/**
 * The receive hot path's own machinery: TCP's once-per-batch output (ACKs at the link batch's
 * flush, data coalesced per batch), the transmit-record ring, the connection table, counter
 * handles, and the dgram adapter's copies. Behaviour elsewhere is covered by the protocol tests;
 * these pin down what the optimisations promise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom, VirtualClock } from '../../src/core/clock.js';
import { Counters } from '../../src/core/counters.js';
import type { Link, LinkReceiver } from '../../src/link/link.js';
import { Stack } from '../../src/stack.js';
import { TxQueue } from '../../src/transport/tcp/tx-queue.js';
import { ConnTable } from '../../src/transport/tcp/conn-table.js';
import type { TcpConnection } from '../../src/transport/tcp/connection.js';
import type { TcpSocket } from '../../src/transport/tcp/socket.js';
import { TcpFlags } from '../../src/wire/tcp.js';
import { createSocket } from '../../src/api/dgram.js';

/** A link whose sent frames the test collects and hands over itself. */
class TestLink implements Link {
  readonly kind = 'ip' as const;
  readonly mtu = 1500;
  readonly mac = undefined;
  receiver: LinkReceiver | undefined;
  sent: Uint8Array[] = [];
  attach(r: LinkReceiver): void {
    this.receiver = r;
  }
  send(frame: Uint8Array): void {
    this.sent.push(frame.slice());
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  take(): Uint8Array[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

function tcpFlagsOf(frame: Uint8Array): number {
  const ihl = (frame[0]! & 0x0f) * 4;
  return frame[ihl + 13]!;
}

function tcpPayloadLength(frame: Uint8Array): number {
  const ihl = (frame[0]! & 0x0f) * 4;
  const total = (frame[2]! << 8) | frame[3]!;
  return total - ihl - (frame[ihl + 12]! >>> 4) * 4;
}

/** A (client, 10.0.0.1) and B (server, 10.0.0.2) over TestLinks; frames move only when the test says. */
function pair() {
  const clock = new VirtualClock(0);
  const la = new TestLink();
  const lb = new TestLink();
  const a = new Stack({ clock, random: new SeededRandom(1) });
  const b = new Stack({ clock, random: new SeededRandom(2) });
  a.addInterface(la, { addresses: ['10.0.0.1/24'] });
  b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
  /** Frames from `from` to the other side as one batch (receive each, then flush). */
  const batch = (from: TestLink, to: TestLink): number => {
    const frames = from.take();
    for (const f of frames) to.receiver!.receive(f);
    to.receiver!.flush();
    return frames.length;
  };
  /** Frames one at a time through Stack.receive (no batch). */
  const single = (from: TestLink, to: Stack): number => {
    const frames = from.take();
    for (const f of frames) to.receive(to.interfaces[0]!, f);
    return frames.length;
  };
  const settle = (): void => {
    for (let i = 0; i < 100 && batch(la, lb) + batch(lb, la) > 0; i++);
  };
  return { clock, a, b, la, lb, batch, single, settle };
}

function connected(p: ReturnType<typeof pair>) {
  const chunks: Uint8Array[] = [];
  let server: TcpSocket | undefined;
  p.b.tcp.listen({ family: 4, port: 80 }, (s) => {
    server = s;
    s.onData = (d) => chunks.push(d.slice());
  });
  const client = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 80 });
  p.settle();
  assert.ok(server, 'connected');
  return { client, chunks };
}

function data(n: number, seed: number): Uint8Array {
  const d = new Uint8Array(n);
  for (let i = 0; i < n; i++) d[i] = (i * 13 + seed) & 0xff;
  return d;
}

test('a batch of in-order data segments is answered by one cumulative ACK at the flush and delivered as one chunk', () => {
  const p = pair();
  const { client, chunks } = connected(p);
  const msg = data(10 * 1400, 7);
  assert.equal(client.write(msg), msg.length);
  const segs = p.la.sent.length;
  const flight = p.la.sent.reduce((s, f) => s + tcpPayloadLength(f), 0);
  assert.ok(segs >= 8, `the client sent ${segs} segments`);
  p.batch(p.la, p.lb);
  const acks = p.lb.take();
  // Quick-ack mode would ACK each of the first segments; one batch gets one ACK.
  assert.equal(acks.length, 1, `ACKs for one batch: ${acks.length}`);
  assert.equal(tcpFlagsOf(acks[0]!) & TcpFlags.ACK, TcpFlags.ACK);
  assert.equal(tcpPayloadLength(acks[0]!), 0);
  assert.equal(chunks.length, 1, 'one chunk for the batch');
  assert.deepEqual(chunks[0], msg.subarray(0, flight));
  // The rest follows in the next round trip, still intact.
  for (const f of acks) p.la.receiver!.receive(f);
  p.la.receiver!.flush();
  p.settle();
  assert.deepEqual(Buffer.concat(chunks), Buffer.from(msg));
});

test('segments received one by one (Stack.receive, no batch) are ACKed as they come', () => {
  const p = pair();
  const { client, chunks } = connected(p);
  const msg = data(10 * 1400, 9);
  client.write(msg);
  const flight = p.la.sent.reduce((s, f) => s + tcpPayloadLength(f), 0);
  const n = p.single(p.la, p.b);
  assert.ok(n >= 8);
  // Quick-ack mode at the start of a connection: several ACKs, not one.
  assert.ok(p.lb.sent.length >= 4, `ACKs: ${p.lb.sent.length}`);
  assert.equal(chunks.reduce((s, c) => s + c.length, 0), flight);
});

test('data of two batches and of interleaved connections stays in order and intact', () => {
  const p = pair();
  const c1 = connected(p);
  const c2chunks: Uint8Array[] = [];
  p.b.tcp.listen({ family: 4, port: 81 }, (s) => {
    s.onData = (d) => c2chunks.push(d.slice());
  });
  const c2 = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 81 });
  p.settle();
  const m1 = data(50_000, 1);
  const m2 = data(50_000, 2);
  let w1 = 0;
  let w2 = 0;
  for (let round = 0; round < 200 && (w1 < m1.length || w2 < m2.length); round++) {
    // Small writes alternate between the connections, so their segments interleave in a batch.
    for (let k = 0; k < 4; k++) {
      if (w1 < m1.length) w1 += c1.client.write(m1.subarray(w1, Math.min(m1.length, w1 + 700)));
      if (w2 < m2.length) w2 += c2.write(m2.subarray(w2, Math.min(m2.length, w2 + 900)));
    }
    p.settle();
    p.clock.advance(1);
    p.a.poll();
    p.b.poll();
  }
  p.settle();
  const cat = (cs: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(cs.reduce((s, c) => s + c.length, 0));
    let o = 0;
    for (const c of cs) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  };
  assert.deepEqual(cat(c1.chunks), m1);
  assert.deepEqual(cat(c2chunks), m2);
});

test('chunks handed to the application stay valid after later segments arrive', () => {
  const p = pair();
  const kept: Uint8Array[] = [];
  p.b.tcp.listen({ family: 4, port: 82 }, (s) => {
    s.onData = (d) => kept.push(d); // no copy: the stack must not reuse the bytes
  });
  const client = p.a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 82 });
  p.settle();
  const total = 600_000; // more than one receive slab
  const msg = data(total, 3);
  let w = 0;
  const received = (): number => kept.reduce((n, c) => n + c.length, 0);
  for (let round = 0; round < 5000 && received() < total; round++) {
    if (w < total) w += client.write(msg.subarray(w, Math.min(total, w + 8000)));
    p.settle();
    p.clock.advance(1);
    p.a.poll();
    p.b.poll();
  }
  p.settle();
  let off = 0;
  for (const c of kept) {
    assert.deepEqual(c, msg.subarray(off, off + c.length), `chunk at ${off}`);
    off += c.length;
  }
  assert.equal(off, total);
});

test('TxQueue: push, drop from the front, split and growth across the ring wrap', () => {
  const q = new TxQueue();
  let next = 0;
  const push = (n: number): void => {
    for (let i = 0; i < n; i++) {
      q.push(next, next + 100, next);
      next += 100;
    }
  };
  const check = (): void => {
    for (let i = 1; i < q.length; i++) assert.equal(q.at(i).seq, q.at(i - 1).endSeq, `contiguous at ${i}`);
  };
  push(10);
  q.dropFront(7);
  push(20); // wraps, then grows
  assert.equal(q.length, 23);
  assert.equal(q.first()!.seq, 700);
  check();
  const r = q.at(5);
  r.sacked = true;
  r.retransmitted = true;
  const up = q.split(5, r.seq + 40);
  assert.equal(up, 6);
  assert.equal(q.length, 24);
  assert.equal(q.at(5).endSeq, q.at(6).seq);
  assert.equal(q.at(6).endSeq, q.at(7).seq);
  assert.ok(q.at(6).sacked && q.at(6).retransmitted, 'the upper part keeps the state');
  check();
  // Reused records come back clean.
  q.dropFront(q.length);
  assert.equal(q.length, 0);
  const fresh = q.push(5, 6, 1);
  assert.ok(!fresh.sacked && !fresh.lost && !fresh.retransmitted);
  assert.deepEqual([...q].map((x) => x.seq), [5]);
  q.release();
  assert.equal(q.length, 0);
  assert.equal(q.first(), undefined);
});

test('ConnTable: connections sharing a port pair are told apart by address and family', () => {
  const t = new ConnTable();
  const mk = (family: 4 | 6, local: number | Uint8Array, remote: number | Uint8Array): TcpConnection =>
    ({ family, localAddr: local, localPort: 80, remoteAddr: remote, remotePort: 5000 }) as unknown as TcpConnection;
  const v6a = new Uint8Array(16).fill(1);
  const v6b = new Uint8Array(16).fill(2);
  const c1 = mk(4, 1, 2);
  const c2 = mk(4, 1, 3);
  const c3 = mk(6, v6a, v6b);
  t.add(c1);
  t.add(c2);
  t.add(c3);
  assert.equal(t.size, 3);
  assert.equal(t.get(4, 1, 80, 2, 5000), c1);
  assert.equal(t.get(4, 1, 80, 3, 5000), c2);
  assert.equal(t.get(6, v6a, 80, v6b, 5000), c3);
  assert.equal(t.get(6, v6b, 80, v6a, 5000), undefined);
  assert.equal(t.get(4, 1, 81, 2, 5000), undefined);
  t.delete(c2);
  assert.equal(t.get(4, 1, 80, 3, 5000), undefined);
  assert.equal(t.get(4, 1, 80, 2, 5000), c1);
  assert.deepEqual([...t.values()], [c1, c3]);
  const c1b = mk(4, 1, 2);
  t.add(c1b); // same tuple: replaces
  assert.equal(t.size, 2);
  assert.equal(t.get(4, 1, 80, 2, 5000), c1b);
  t.delete(c1); // no longer in the table: no effect
  assert.equal(t.get(4, 1, 80, 2, 5000), c1b);
});

test('Counters: handles count like names; snapshots list counters in use only', () => {
  const c = new Counters();
  const h = c.counter('x.rx');
  assert.deepEqual(c.snapshot(), {});
  assert.equal(c.get('x.rx'), 0);
  c.inc('b.second');
  h.inc();
  h.inc(2);
  c.drop('x.bad');
  assert.equal(c.get('x.rx'), 3);
  assert.deepEqual(c.snapshot(), { 'b.second': 1, 'drop.total': 1, 'drop.x.bad': 1, 'x.rx': 3 });
  assert.deepEqual(Object.keys(c.snapshot()), ['b.second', 'drop.total', 'drop.x.bad', 'x.rx']);
  assert.deepEqual(c.drops(), { 'x.bad': 1 });
  c.reset();
  assert.deepEqual(c.snapshot(), {});
  h.inc();
  assert.deepEqual(c.snapshot(), { 'x.rx': 1 });
});

test('dgram: received messages are independent copies, also across many datagrams', async () => {
  const p = pair();
  const got: Array<{ msg: Buffer; port: number; address: string }> = [];
  const server = createSocket(p.b, 'udp4', (msg, rinfo) => got.push({ msg, port: rinfo.port, address: rinfo.address }));
  await new Promise<void>((resolve) => server.bind(7000, () => resolve()));
  const client = p.a.udp.open(4);
  client.bind(undefined, 6000);
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const d = data(1 + (i % 200), i);
    sent.push(d);
    client.sendTo(d, '10.0.0.2', 7000);
    if (i % 50 === 49) p.batch(p.la, p.lb);
  }
  p.batch(p.la, p.lb);
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    assert.ok(Buffer.isBuffer(got[i]!.msg));
    assert.deepEqual(new Uint8Array(got[i]!.msg), sent[i], `datagram ${i}`);
    assert.equal(got[i]!.port, 6000);
    assert.equal(got[i]!.address, '10.0.0.1');
  }
  server.close();
});
