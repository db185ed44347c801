import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReassemblyQueue } from '../../src/transport/tcp/reassembly.js';

function data(len: number, fill: number): Uint8Array {
  return new Uint8Array(len).fill(fill);
}

function drain(q: ReassemblyQueue): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let p = q.pop(); p; p = q.pop()) parts.push(p);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test('reassembly: RFC 2018 §5 case 3 — SACK blocks, most recent first', () => {
  // 8 segments of 500 bytes from 5000; the 2nd, 4th, 6th and 8th are dropped.
  const q = new ReassemblyQueue(5000);
  q.advance(5500); // 5000 delivered in order by the caller
  q.insert(6000, data(500, 2));
  assert.deepEqual(q.sackBlocks(), [{ start: 6000, end: 6500 }]);
  q.insert(7000, data(500, 4));
  assert.deepEqual(q.sackBlocks(), [
    { start: 7000, end: 7500 },
    { start: 6000, end: 6500 },
  ]);
  q.insert(8000, data(500, 6));
  assert.deepEqual(q.sackBlocks(), [
    { start: 8000, end: 8500 },
    { start: 7000, end: 7500 },
    { start: 6000, end: 6500 },
  ]);
  // the 4th segment (6500) arrives: its block [6000,7500) is first
  q.insert(6500, data(500, 3));
  assert.deepEqual(q.sackBlocks(), [
    { start: 6000, end: 7500 },
    { start: 8000, end: 8500 },
  ]);
  // the 2nd segment (5500) arrives: the caller delivers it, RCV.NXT -> 6000, then the queue
  q.advance(6000);
  const got = drain(q);
  assert.equal(got.length, 1500);
  assert.equal(q.rcvNxt, 7500);
  assert.deepEqual(q.sackBlocks(), [{ start: 8000, end: 8500 }]);
});

test('reassembly: at most max blocks; older blocks repeated in recency order', () => {
  const q = new ReassemblyQueue(0);
  for (let i = 1; i <= 5; i++) q.insert(i * 2000, data(1000, i));
  const b = q.sackBlocks(3); // e.g. with timestamps only 3 fit
  assert.deepEqual(b, [
    { start: 10_000, end: 11_000 },
    { start: 8000, end: 9000 },
    { start: 6000, end: 7000 },
  ]);
  // a duplicate of an old segment triggers the ACK: its block goes first
  q.insert(2000, data(1000, 9));
  assert.deepEqual(q.sackBlocks(2), [
    { start: 2000, end: 3000 },
    { start: 10_000, end: 11_000 },
  ]);
  // D-SACK first (RFC 2883)
  assert.deepEqual(q.sackBlocks(4, { start: 2000, end: 3000 })[0], { start: 2000, end: 3000 });
  assert.equal(q.sackBlocks(4, { start: 2000, end: 3000 }).length, 4);
});

test('reassembly: overlaps keep the old data, fill only gaps', () => {
  const q = new ReassemblyQueue(1000);
  q.insert(2000, data(100, 0x11)); // [2000,2100)
  const r = q.insert(2050, data(100, 0x22)); // [2050,2150)
  assert.deepEqual(r, { stored: 50, duplicate: 50, dropped: false });
  q.insert(1950, data(300, 0x33)); // [1950,2250) covers both: fills [1950,2000) and [2150,2250)
  assert.equal(q.bytes, 300);
  assert.equal(q.blocks().length, 1);
  q.advance(1950);
  const got = drain(q);
  assert.equal(got.length, 300);
  assert.ok(got.subarray(0, 50).every((x) => x === 0x33));
  assert.ok(got.subarray(50, 150).every((x) => x === 0x11)); // old data won
  assert.ok(got.subarray(150, 200).every((x) => x === 0x22));
  assert.ok(got.subarray(200, 300).every((x) => x === 0x33));
});

test('reassembly: copies payload out of the transient frame buffer', () => {
  const q = new ReassemblyQueue(0);
  const frame = data(100, 7);
  q.insert(10, frame.subarray(0, 50));
  frame.fill(0);
  q.advance(10);
  const got = drain(q);
  assert.equal(got.length, 50);
  assert.ok(got.every((x) => x === 7));
});

test('reassembly: bytes below RCV.NXT are trimmed; fully old segments are duplicates', () => {
  const q = new ReassemblyQueue(1000);
  assert.deepEqual(q.insert(500, data(400, 1)), { stored: 0, duplicate: 400, dropped: false });
  const r = q.insert(900, data(300, 1)); // [900,1200): 100 below RCV.NXT
  assert.equal(r.stored, 200);
  assert.equal(r.duplicate, 100);
  assert.equal(drain(q).length, 200);
  assert.equal(q.rcvNxt, 1200);
});

test('reassembly: byte bound drops the newest segment and counts it', () => {
  const q = new ReassemblyQueue(0, { maxBytes: 1000 });
  assert.equal(q.insert(1000, data(600, 1)).stored, 600);
  const r = q.insert(3000, data(500, 2));
  assert.equal(r.dropped, true);
  assert.equal(r.stored, 0);
  assert.equal(q.droppedSegments, 1);
  assert.equal(q.droppedBytes, 500);
  assert.equal(q.bytes, 600);
  // overlap that adds only 400 new bytes still fits
  assert.equal(q.insert(1000, data(1000, 3)).stored, 400);
  assert.equal(q.bytes, 1000);
  // pure duplicates are never "dropped"
  assert.equal(q.insert(1000, data(100, 3)).dropped, false);
});

test('reassembly: advance into a chunk trims it; pop stops at a gap', () => {
  const q = new ReassemblyQueue(0);
  q.insert(100, data(100, 1)); // [100,200)
  q.insert(300, data(100, 2)); // [300,400)
  q.advance(150);
  assert.equal(q.bytes, 150);
  const p = q.pop();
  assert.equal(p?.length, 50);
  assert.equal(q.pop(), undefined);
  assert.equal(q.rcvNxt, 200);
  q.advance(400);
  assert.equal(q.empty, true);
  assert.equal(q.bytes, 0);
});

test('reassembly: works across the sequence wrap', () => {
  const base = 0xfffffc00; // 1024 before the wrap
  const q = new ReassemblyQueue(base);
  q.insert(0xffffff00, data(512, 1)); // [0xffffff00, 0x100)
  q.insert(0x200, data(256, 2));
  assert.deepEqual(q.sackBlocks(), [
    { start: 0x200, end: 0x300 },
    { start: 0xffffff00, end: 0x100 },
  ]);
  q.insert(base, data(768, 3)); // fills up to 0xffffff00
  const got = drain(q);
  assert.equal(got.length, 768 + 512);
  assert.equal(q.rcvNxt, 0x100);
  assert.deepEqual(q.sackBlocks(), [{ start: 0x200, end: 0x300 }]);
});

test('reassembly: many random segments reassemble to the original stream', () => {
  let seed = 12345;
  const rnd = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const stream = new Uint8Array(20_000).map((_, i) => (i * 7) & 0xff);
  const q = new ReassemblyQueue(0);
  const out: number[] = [];
  for (let n = 0; n < 2000 && q.rcvNxt < stream.length; n++) {
    const s = Math.floor(rnd() * stream.length);
    const len = 1 + Math.floor(rnd() * 800);
    const seg = stream.subarray(s, Math.min(stream.length, s + len));
    if (s <= q.rcvNxt && s + seg.length > q.rcvNxt) {
      // in order: deliver directly (fast path), then drain
      const fresh = seg.subarray(q.rcvNxt - s);
      out.push(...fresh);
      q.advance(s + seg.length);
      for (let p = q.pop(); p; p = q.pop()) out.push(...p);
    } else if (s > q.rcvNxt) {
      q.insert(s, seg);
    }
    assert.ok(q.sackBlocks().length <= 4);
  }
  assert.deepEqual(Uint8Array.from(out), stream.subarray(0, out.length));
});

test('reassembly: an out-of-order FIN becomes ready once the data before it is delivered', () => {
  const q = new ReassemblyQueue(0);
  q.insert(500, data(500, 1), true); // data [500,1000) + FIN at 1000
  assert.equal(q.finSeq, 1000);
  assert.equal(q.finReady, false);
  q.advance(500);
  drain(q);
  assert.equal(q.rcvNxt, 1000);
  assert.equal(q.finReady, true);
  const q2 = new ReassemblyQueue(0);
  q2.insert(300, new Uint8Array(0), true); // bare FIN beyond a gap
  assert.equal(q2.finSeq, 300);
  q2.advance(300);
  assert.equal(q2.finReady, true);
});
