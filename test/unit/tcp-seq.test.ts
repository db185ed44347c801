import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inWindow, rangeOverlapsWindow, seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin, seqSub } from '../../src/transport/tcp/seq.js';

const MAX = 0xffffffff;

test('seq: ordinary comparisons', () => {
  assert.equal(seqLt(1, 2), true);
  assert.equal(seqLt(2, 1), false);
  assert.equal(seqLt(5, 5), false);
  assert.equal(seqLeq(5, 5), true);
  assert.equal(seqGt(3, 2), true);
  assert.equal(seqGeq(2, 2), true);
  assert.equal(seqGeq(1, 2), false);
});

test('seq: comparisons across the 2^32 wrap (RFC 9293 §3.4 modulo 2^32)', () => {
  // 0xffffffff is just before 0 in sequence space
  assert.equal(seqLt(MAX, 0), true);
  assert.equal(seqGt(0, MAX), true);
  assert.equal(seqLt(0xfffffff0, 0x10), true);
  assert.equal(seqGt(0x10, 0xfffffff0), true);
  assert.equal(seqLeq(MAX, MAX), true);
  // halfway point: differences below 2^31 are ordered
  assert.equal(seqLt(0, 0x7fffffff), true);
  assert.equal(seqGt(0, 0x80000001), true); // 0x80000001 is "before" 0
});

test('seq: add and sub wrap to u32', () => {
  assert.equal(seqAdd(MAX, 1), 0);
  assert.equal(seqAdd(MAX, 10), 9);
  assert.equal(seqAdd(5, -10), 0xfffffffb);
  assert.equal(seqAdd(0x80000000, 0x80000000), 0);
  assert.equal(seqSub(5, MAX), 6);
  assert.equal(seqSub(MAX, 5), -6);
  assert.equal(seqSub(100, 100), 0);
  for (const a of [0, 1, 0x7fffffff, 0x80000000, MAX]) {
    for (const d of [0, 1, 1000, 0x7fffffff]) {
      assert.equal(seqSub(seqAdd(a, d), a), d);
      assert.ok(seqAdd(a, d) >= 0 && seqAdd(a, d) <= MAX);
    }
  }
});

test('seq: max/min respect wrap', () => {
  assert.equal(seqMax(MAX, 3), 3);
  assert.equal(seqMin(MAX, 3), MAX);
  assert.equal(seqMax(10, 20), 20);
  assert.equal(seqMin(10, 20), 10);
  assert.equal(seqMax(-1, 0), 0); // -1 normalises to 0xffffffff
  assert.equal(seqMin(-1, 0), MAX);
});

test('seq: inWindow is start =< seq < start+len, also across the wrap', () => {
  assert.equal(inWindow(100, 100, 10), true);
  assert.equal(inWindow(109, 100, 10), true);
  assert.equal(inWindow(110, 100, 10), false);
  assert.equal(inWindow(99, 100, 10), false);
  assert.equal(inWindow(5, 100, 0), false); // zero window contains nothing
  assert.equal(inWindow(100, 100, 0), false);
  // window [0xfffffff0, 0x10)
  assert.equal(inWindow(0xfffffff0, 0xfffffff0, 0x20), true);
  assert.equal(inWindow(MAX, 0xfffffff0, 0x20), true);
  assert.equal(inWindow(0, 0xfffffff0, 0x20), true);
  assert.equal(inWindow(0xf, 0xfffffff0, 0x20), true);
  assert.equal(inWindow(0x10, 0xfffffff0, 0x20), false);
  assert.equal(inWindow(0xffffffef, 0xfffffff0, 0x20), false);
});

test('seq: rangeOverlapsWindow (segment acceptability, RFC 9293 §3.10.7.4)', () => {
  // window [1000, 2000)
  assert.equal(rangeOverlapsWindow(900, 100, 1000, 1000), false); // ends at 1000
  assert.equal(rangeOverlapsWindow(900, 101, 1000, 1000), true); // last octet 1000 in window
  assert.equal(rangeOverlapsWindow(1999, 10, 1000, 1000), true);
  assert.equal(rangeOverlapsWindow(2000, 10, 1000, 1000), false);
  assert.equal(rangeOverlapsWindow(500, 5000, 1000, 1000), true); // straddles
  assert.equal(rangeOverlapsWindow(MAX - 5, 10, 0, 100), true); // wraps into window
  assert.equal(rangeOverlapsWindow(1000, 0, 1000, 1000), false);
});
