import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TimerQueue } from '../../src/core/timers.js';
import { VirtualClock, SeededRandom } from '../../src/core/clock.js';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/link/memory.js';
import { NodeDriver } from '../../src/node/driver.js';
import { nodeClock } from '../../src/node/runtime.js';

describe('TimerQueue', () => {
  test('fires in deadline order, only when due', () => {
    const q = new TimerQueue();
    const fired: number[] = [];
    for (const d of [50, 10, 30, 20, 40]) q.schedule(d, () => fired.push(d));
    assert.equal(q.nextDeadline(), 10);
    assert.equal(q.run(25), 2);
    assert.deepEqual(fired, [10, 20]);
    assert.equal(q.run(100), 3);
    assert.deepEqual(fired, [10, 20, 30, 40, 50]);
    assert.equal(q.nextDeadline(), undefined);
  });

  test('cancel and re-arm', () => {
    const q = new TimerQueue();
    const fired: string[] = [];
    const a = q.create(() => fired.push('a'));
    const b = q.create(() => fired.push('b'));
    q.arm(a, 10);
    q.arm(b, 20);
    q.cancel(a);
    assert.equal(a.scheduled, false);
    q.arm(b, 5);
    assert.equal(q.nextDeadline(), 5);
    q.arm(b, 30);
    assert.equal(q.size, 1);
    q.run(29);
    assert.deepEqual(fired, []);
    q.run(30);
    assert.deepEqual(fired, ['b']);
  });

  test('onEarlierDeadline fires only when the head moves earlier', () => {
    const q = new TimerQueue();
    let n = 0;
    q.onEarlierDeadline = () => n++;
    q.schedule(100, () => undefined);
    q.schedule(200, () => undefined);
    q.schedule(50, () => undefined);
    assert.equal(n, 2);
  });

  test('a callback re-arming itself at now is bounded by the limit', () => {
    const q = new TimerQueue();
    const t = q.create((now) => q.arm(t, now));
    q.arm(t, 0);
    assert.equal(q.run(0, 1000), 1000);
  });

  test('random heap operations keep order', () => {
    const q = new TimerQueue();
    const r = new SeededRandom(5);
    const timers = Array.from({ length: 200 }, () => q.create(() => undefined));
    for (let i = 0; i < 2000; i++) {
      const t = timers[r.u32() % timers.length]!;
      if (r.u32() % 4 === 0) q.cancel(t);
      else q.arm(t, r.u32() % 10_000);
    }
    let last = -1;
    const order: number[] = [];
    for (const t of timers) if (t.scheduled) order.push(t.deadline);
    const fired: number[] = [];
    for (const t of timers) if (t.scheduled) {
      const d = t.deadline;
      q.cancel(t);
      q.schedule(d, () => fired.push(d));
    }
    q.run(Infinity);
    for (const d of fired) {
      assert.ok(d >= last);
      last = d;
    }
    assert.equal(fired.length, order.length);
  });
});

describe('Stack timers', () => {
  test('one timer queue: ARP retries and reassembly expire through stack.poll()', () => {
    const clock = new VirtualClock(0);
    const s = new Stack({ clock, random: new SeededRandom(1) });
    const [l] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500 });
    s.addInterface(l, { addresses: ['10.0.0.2/24'] });
    s.udp.open(4).sendTo(Uint8Array.of(1), '10.0.0.1', 9);
    assert.equal(s.nextDeadline(), 1000);
    clock.set(1000);
    s.poll();
    assert.equal(s.nextDeadline(), 2000);
    clock.set(2000);
    s.poll();
    assert.equal(s.nextDeadline(), 3000);
    clock.set(3000);
    s.poll();
    assert.equal(s.nextDeadline(), undefined);
    assert.equal(s.counters.get('drop.arp.resolution_failed'), 1);
  });

  test('close() cancels pending timers', () => {
    const clock = new VirtualClock(0);
    const s = new Stack({ clock, random: new SeededRandom(1) });
    const [l] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500 });
    s.addInterface(l, { addresses: ['10.0.0.2/24'] });
    s.udp.open(4).sendTo(Uint8Array.of(1), '10.0.0.1', 9);
    s.close();
    assert.equal(s.nextDeadline(), undefined);
    assert.throws(() => s.addInterface(l, { addresses: [] }));
  });
});

describe('NodeDriver', () => {
  test('arms one host timer for the next deadline and runs it', async () => {
    const s = new Stack({ clock: nodeClock, random: new SeededRandom(1) });
    const d = new NodeDriver(s);
    d.start();
    const t0 = nodeClock.now();
    const fired = await new Promise<number>((resolve) => {
      s.timers.schedule(nodeClock.now() + 30, () => resolve(nodeClock.now()));
    });
    assert.ok(fired - t0 >= 25, `fired after ${fired - t0} ms`);
    d.stop();
    assert.equal(d.isRunning, false);
  });

  test('re-arms for an earlier deadline', async () => {
    const s = new Stack({ clock: nodeClock, random: new SeededRandom(1) });
    const d = new NodeDriver(s);
    d.start();
    s.timers.schedule(nodeClock.now() + 10_000, () => undefined);
    const t0 = nodeClock.now();
    await new Promise<void>((resolve) => s.timers.schedule(nodeClock.now() + 20, () => resolve()));
    assert.ok(nodeClock.now() - t0 < 5000);
    d.stop();
  });

  test('stop() clears the host timer (the process can exit)', async () => {
    const s = new Stack({ clock: nodeClock, random: new SeededRandom(1) });
    const d = new NodeDriver(s);
    d.start();
    let fired = false;
    s.timers.schedule(nodeClock.now() + 20, () => {
      fired = true;
    });
    d.stop();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fired, false);
    d.start();
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(fired, true, 'overdue timers run on start');
    d.stop();
  });

  test('polls after a receive batch when something is due', () => {
    const clock = new VirtualClock(0);
    const s = new Stack({ clock, random: new SeededRandom(1) });
    const [peer, l] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    s.addInterface(l, { addresses: ['10.0.0.2/24'] });
    const d = new NodeDriver(s);
    d.start();
    let fired = false;
    s.timers.schedule(100, () => {
      fired = true;
    });
    clock.set(200);
    peer.send(Uint8Array.of(0x45));
    l.deliver();
    assert.equal(fired, true);
    d.stop();
  });
});
