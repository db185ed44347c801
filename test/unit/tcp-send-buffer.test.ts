import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendBuffer } from '../../src/transport/tcp/send-buffer.js';

const bytes = (...v: number[]): Uint8Array => Uint8Array.from(v);

test('send buffer: append honours capacity (backpressure)', () => {
  const b = new SendBuffer(10);
  assert.equal(b.append(bytes(1, 2, 3, 4, 5, 6, 7, 8)), 8);
  assert.equal(b.free, 2);
  assert.equal(b.append(bytes(9, 10, 11, 12)), 2);
  assert.equal(b.length, 10);
  assert.equal(b.append(bytes(13)), 0);
  assert.deepEqual([...b.peek(0, 10)], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
});

test('send buffer: ack frees, data wraps, peek copies into scratch only when wrapping', () => {
  const b = new SendBuffer(10, 10);
  b.append(bytes(1, 2, 3, 4, 5, 6, 7, 8));
  assert.equal(b.ack(6), 6);
  assert.equal(b.length, 2);
  assert.equal(b.append(bytes(9, 10, 11, 12, 13, 14)), 6); // wraps in the ring
  assert.equal(b.length, 8);
  // contiguous part: a view (no copy) into the ring
  const v1 = b.peek(0, 4);
  const v2 = b.peek(1, 2);
  assert.deepEqual([...v1], [7, 8, 9, 10]);
  assert.equal(v1.buffer, v2.buffer);
  // wrapping range: copied into scratch
  const scratch = new Uint8Array(16);
  const w = b.peek(2, 6, scratch);
  assert.deepEqual([...w], [9, 10, 11, 12, 13, 14]);
  assert.equal(w.buffer, scratch.buffer);
  const [p1, p2] = b.peekParts(2, 6);
  assert.deepEqual([...p1], [9, 10]);
  assert.deepEqual([...p2], [11, 12, 13, 14]);
  // without scratch: a fresh copy
  assert.deepEqual([...b.peek(0, 8)], [7, 8, 9, 10, 11, 12, 13, 14]);
  // peek beyond the end is clamped
  assert.equal(b.peek(6, 100).length, 2);
  assert.equal(b.peek(20, 5).length, 0);
});

test('send buffer: ack more than queued clamps; empty buffer resets', () => {
  const b = new SendBuffer(8, 8);
  b.append(bytes(1, 2, 3));
  assert.equal(b.ack(10), 3);
  assert.equal(b.length, 0);
  assert.equal(b.free, 8);
  b.append(bytes(4, 5, 6, 7, 8, 9, 10, 11));
  assert.deepEqual([...b.peek(0, 8)], [4, 5, 6, 7, 8, 9, 10, 11]);
});

test('send buffer: grows up to capacity preserving wrapped contents', () => {
  const b = new SendBuffer(100, 4);
  b.append(bytes(1, 2, 3));
  b.ack(2);
  b.append(bytes(4, 5)); // wraps in the 4-byte ring
  b.append(Uint8Array.from({ length: 20 }, (_, i) => 100 + i)); // grows
  assert.equal(b.length, 23);
  const all = b.peek(0, 23);
  assert.deepEqual([...all.subarray(0, 3)], [3, 4, 5]);
  assert.deepEqual([...all.subarray(3)], Array.from({ length: 20 }, (_, i) => 100 + i));
  assert.equal(b.append(new Uint8Array(200)), 77);
  assert.equal(b.length, 100);
});

test('send buffer: long random run matches a reference queue', () => {
  let seed = 7;
  const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const b = new SendBuffer(1000, 64);
  const ref: number[] = [];
  let next = 0;
  const scratch = new Uint8Array(1000);
  for (let i = 0; i < 3000; i++) {
    if (rnd(2) === 0) {
      const n = rnd(300);
      const chunk = Uint8Array.from({ length: n }, () => next++ & 0xff);
      const took = b.append(chunk);
      assert.equal(took, Math.min(n, 1000 - ref.length));
      ref.push(...chunk.subarray(0, took));
    } else {
      const n = rnd(300);
      const freed = b.ack(n);
      ref.splice(0, freed);
    }
    assert.equal(b.length, ref.length);
    const off = rnd(Math.max(1, ref.length));
    const len = rnd(500);
    assert.deepEqual([...b.peek(off, len, scratch)], ref.slice(off, off + len));
  }
});
