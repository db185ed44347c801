import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryLink } from '../../src/link/memory.js';
import type { LinkReceiver } from '../../src/link/link.js';

/** Records batches: each flush closes one batch. */
class Recorder implements LinkReceiver {
  batches: Uint8Array[][] = [];
  private current: Uint8Array[] = [];
  receive(frame: Uint8Array): void {
    this.current.push(frame);
  }
  flush(): void {
    this.batches.push(this.current);
    this.current = [];
  }
}

describe('MemoryLink', () => {
  test('pair: kinds, MTU and MACs', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500 });
    assert.equal(a.kind, 'ethernet');
    assert.equal(b.mtu, 1500);
    assert.deepEqual([...a.mac!], [2, 0, 0, 0, 0, 0x0a]);
    assert.deepEqual([...b.mac!], [2, 0, 0, 0, 0, 0x0b]);
    const [c] = MemoryLink.pair({ kind: 'ip', mtu: 1280 });
    assert.equal(c.mac, undefined);
  });

  test('send copies; deliver hands over one batch and flushes once', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const rx = new Recorder();
    b.attach(rx);
    const buf = Uint8Array.of(0x45, 1, 2, 3);
    a.send(buf);
    buf[1] = 99; // the caller reuses its buffer at once
    a.send(Uint8Array.of(0x60, 7));
    assert.equal(b.pending, 2);
    assert.equal(b.deliver(), 2);
    assert.equal(rx.batches.length, 1);
    assert.deepEqual(
      rx.batches[0]!.map((f) => [...f]),
      [
        [0x45, 1, 2, 3],
        [0x60, 7],
      ],
    );
    assert.equal(a.sent, 2);
    assert.equal(b.received, 2);
    assert.equal(b.deliver(), 0);
    assert.equal(rx.batches.length, 1, 'an empty delivery does not flush');
  });

  test('frames sent during a batch wait for the next one', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const seenA: number[] = [];
    const seenB: number[] = [];
    // B echoes each frame back with its first byte incremented, until 3.
    b.attach({
      receive: (f) => {
        seenB.push(f[0]!);
        if (f[0]! < 3) b.send(Uint8Array.of(f[0]! + 1));
      },
      flush: () => {},
    });
    a.attach({
      receive: (f) => {
        seenA.push(f[0]!);
        if (f[0]! < 3) a.send(Uint8Array.of(f[0]! + 1));
      },
      flush: () => {},
    });
    a.send(Uint8Array.of(0));
    assert.equal(MemoryLink.settle(a, b), 4);
    assert.deepEqual(seenB, [0, 2]);
    assert.deepEqual(seenA, [1, 3]);
  });

  test('frames wait for a receiver', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    a.send(Uint8Array.of(1));
    assert.equal(b.deliver(), 0);
    const rx = new Recorder();
    b.attach(rx);
    assert.equal(b.deliver(), 1);
  });

  test('the queue is bounded and drops are counted', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500, queueLimit: 3 });
    for (let i = 0; i < 5; i++) a.send(Uint8Array.of(i));
    assert.equal(b.pending, 3);
    assert.equal(b.dropped, 2);
    const rx = new Recorder();
    b.attach(rx);
    b.deliver();
    assert.deepEqual(
      rx.batches[0]!.map((f) => f[0]),
      [0, 1, 2],
    );
  });

  test('default queue limit is 1024 frames', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    for (let i = 0; i < 1100; i++) a.send(Uint8Array.of(1));
    assert.equal(b.pending, 1024);
    assert.equal(b.dropped, 76);
  });

  test('frames above the MTU are not sent (Ethernet header not counted in the MTU)', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ethernet', mtu: 100 });
    a.send(new Uint8Array(114));
    a.send(new Uint8Array(115));
    assert.equal(b.pending, 1);
    assert.equal(a.sendDropped, 1);
    const [c, d] = MemoryLink.pair({ kind: 'ip', mtu: 100 });
    c.send(new Uint8Array(100));
    c.send(new Uint8Array(101));
    assert.equal(d.pending, 1);
  });

  test('auto delivery batches everything sent in one turn', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500, auto: true });
    const rx = new Recorder();
    b.attach(rx);
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    a.send(Uint8Array.of(3));
    assert.equal(rx.batches.length, 0, 'nothing is delivered synchronously');
    await Promise.resolve();
    await Promise.resolve();
    assert.equal(rx.batches.length, 1);
    assert.equal(rx.batches[0]!.length, 3);
  });

  test('auto delivery starts when a receiver attaches', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500, auto: true });
    a.send(Uint8Array.of(1));
    await new Promise((r) => setTimeout(r, 0));
    const rx = new Recorder();
    b.attach(rx);
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(rx.batches.length, 1);
  });

  test('auto ping-pong settles', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500, auto: true });
    let count = 0;
    const echo = (link: MemoryLink): LinkReceiver => ({
      receive: (f) => {
        count++;
        if (f[0]! < 10) link.send(Uint8Array.of(f[0]! + 1));
      },
      flush: () => {},
    });
    a.attach(echo(a));
    b.attach(echo(b));
    a.send(Uint8Array.of(0));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(count, 11);
  });

  test('close: a closed end receives nothing; sending to it drops', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const rx = new Recorder();
    b.attach(rx);
    await b.close();
    await b.close(); // idempotent
    a.send(Uint8Array.of(1));
    assert.equal(b.deliver(), 0);
    assert.equal(b.dropped, 1);
    await a.close();
    a.send(Uint8Array.of(1));
    assert.equal(a.sendDropped, 1);
  });
});
