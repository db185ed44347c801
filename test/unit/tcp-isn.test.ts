import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { sipKey } from '../../src/core/siphash.js';
import { IsnGenerator, isnClock } from '../../src/transport/tcp/isn.js';
import { EphemeralPortSelector } from '../../src/transport/ports.js';
import { cookieTsOptions, cookieTsval, SYN_COOKIE_MSS_V4, SYN_COOKIE_MSS_V6, SynCookies } from '../../src/transport/tcp/syn-cookie.js';

const A = 0x0a000001; // 10.0.0.1
const B = 0x0a000002;

test('isn: M is a 4 µs clock (RFC 6528 §3)', () => {
  assert.equal(isnClock(0), 0);
  assert.equal(isnClock(1), 250);
  assert.equal(isnClock(0.004), 1);
  assert.equal(isnClock(1000), 250_000);
  // wraps modulo 2^32 after 2^32 * 4 µs ≈ 4.77 hours
  assert.equal(isnClock(2 ** 32 / 250), 0);
  assert.equal(isnClock(2 ** 32 / 250 + 1), 250);
});

test('isn: ISN = M + F(tuple, key): per-tuple offset, advancing with time', () => {
  const g = new IsnGenerator(sipKey(Uint8Array.from({ length: 16 }, (_, i) => i)));
  const i0 = g.isn(0, A, 1234, B, 80);
  const i1 = g.isn(1, A, 1234, B, 80);
  assert.equal((i1 - i0) >>> 0, 250);
  assert.equal(i0, g.offset(A, 1234, B, 80));
  // different connection-ids give unrelated offsets
  const others = new Set([g.isn(0, A, 1235, B, 80), g.isn(0, A, 1234, B, 81), g.isn(0, B, 1234, A, 80), g.isn(0, A, 1234, B + 1, 80)]);
  assert.equal(others.size, 4);
  assert.ok(!others.has(i0));
  // a different key gives a different offset
  const g2 = IsnGenerator.fromRandom(new SeededRandom(1));
  assert.notEqual(g2.isn(0, A, 1234, B, 80), i0);
  // IPv6 tuples
  const v6a = new Uint8Array(16).fill(0x20);
  const v6b = new Uint8Array(16).fill(0x21);
  assert.notEqual(g.isn(0, v6a, 1, v6b, 2), g.isn(0, v6b, 1, v6a, 2));
  const x = g.isn(5, v6a, 1, v6b, 2);
  assert.ok(Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
});

test('ports: consecutive connections to one destination get successive ports (RFC 6056 alg. 4)', () => {
  const sel = new EphemeralPortSelector(new SeededRandom(42));
  const p1 = sel.select(A, B, 80, () => false)!;
  const p2 = sel.select(A, B, 80, () => false)!;
  const next = p1 === 65535 ? 1024 : p1 + 1;
  assert.equal(p2, next);
  assert.ok(p1 >= 1024 && p1 <= 65535);
});

test('ports: different destinations spread over the range', () => {
  const sel = new EphemeralPortSelector(new SeededRandom(7));
  const buckets = new Array<number>(8).fill(0);
  const N = 4000;
  for (let i = 0; i < N; i++) {
    const p = sel.select(A, (B + i) >>> 0, 443, () => false)!;
    assert.ok(p >= 1024 && p <= 65535);
    buckets[Math.floor(((p - 1024) * 8) / (65536 - 1024))]!++;
  }
  // each eighth of the range gets roughly N/8 = 500; allow a wide margin
  for (const b of buckets) assert.ok(b > 350 && b < 650, `bucket ${b}`);
});

test('ports: collisions are retried; exhaustion returns undefined', () => {
  const sel = new EphemeralPortSelector(new SeededRandom(3), { min: 2000, max: 2009 });
  const used = new Set<number>();
  for (let i = 0; i < 10; i++) {
    const p = sel.select(A, B, 80, (x) => used.has(x));
    assert.ok(p !== undefined && p >= 2000 && p <= 2009 && !used.has(p));
    used.add(p);
  }
  assert.equal(used.size, 10);
  assert.equal(sel.select(A, B, 80, (x) => used.has(x)), undefined);
  let probes = 0;
  sel.select(A, B, 80, () => (++probes, true));
  assert.equal(probes, 10); // tries every port exactly once
  assert.throws(() => new EphemeralPortSelector(new SeededRandom(1), { min: 10, max: 5 }));
});

test('syn cookie: round trip recovers the MSS class (Linux-style encoding)', () => {
  const sc = SynCookies.fromRandom(new SeededRandom(9));
  const clientIsn = 0xfffffff0;
  for (const [mss, want] of [
    [1460, 1460],
    [1500, 1460],
    [1440, 1440],
    [1400, 1300],
    [600, 536],
    [200, 536],
  ] as const) {
    const { cookie, mss: enc } = sc.make(1000, A, 80, B, 5555, clientIsn, mss);
    assert.equal(enc, want);
    // final ACK: ack = cookie + 1, seq = client ISN + 1 (wraps)
    assert.equal(sc.check(2000, A, 80, B, 5555, (cookie + 1) >>> 0, (clientIsn + 1) >>> 0), want);
  }
  const v6 = sc.make(0, A, 80, B, 1, 7, 9000, SYN_COOKIE_MSS_V6);
  assert.equal(v6.mss, 8940);
  assert.equal(sc.check(0, A, 80, B, 1, v6.cookie + 1, 8, SYN_COOKIE_MSS_V6), 8940);
  assert.equal(SynCookies.mssIndex(1300, SYN_COOKIE_MSS_V4), 1);
});

test('syn cookie: expiry after maxAge counter periods', () => {
  const sc = SynCookies.fromRandom(new SeededRandom(10)); // 60 s period, max age 2
  const t0 = 59_000; // counter 0
  const { cookie } = sc.make(t0, A, 80, B, 5555, 1000, 1460);
  const ok = (t: number): number | undefined => sc.check(t, A, 80, B, 5555, cookie + 1, 1001);
  assert.equal(ok(t0), 1460);
  assert.equal(ok(60_000), 1460); // next period (diff 1)
  assert.equal(ok(119_999), 1460);
  assert.equal(ok(120_000), undefined); // diff 2: expired
  const sc1 = SynCookies.fromRandom(new SeededRandom(10), { periodMs: 1000, maxAge: 4 });
  const c1 = sc1.make(0, A, 80, B, 1, 5, 536).cookie;
  assert.equal(sc1.check(3999, A, 80, B, 1, c1 + 1, 6), 536);
  assert.equal(sc1.check(4000, A, 80, B, 1, c1 + 1, 6), undefined);
});

test('syn cookie: forged or mismatched ACKs are rejected', () => {
  const sc = SynCookies.fromRandom(new SeededRandom(11));
  const { cookie } = sc.make(0, A, 80, B, 5555, 1000, 1460);
  assert.equal(sc.check(0, A, 80, B, 5556, cookie + 1, 1001), undefined); // other port
  assert.equal(sc.check(0, A, 80, B + 1, 5555, cookie + 1, 1001), undefined); // other address
  // (the encoding is linear in the client ISN, like Linux's: an ACK whose seq is off by one only
  // shifts the MSS index; what protects the cookie is the secret H0/H1, not the client ISN)
  assert.equal(sc.check(0, A, 80, B, 5555, cookie + 2, 1001), undefined); // other cookie
  let accepted = 0;
  const rnd = new SeededRandom(12);
  for (let i = 0; i < 5000; i++) if (sc.check(0, A, 80, B, 5555, rnd.u32(), rnd.u32()) !== undefined) accepted++;
  assert.equal(accepted, 0);
});

test('syn cookie: options in the timestamp low bits', () => {
  const ts = cookieTsval(100_000, { wscale: 7, sackOk: true, ecnOk: false });
  assert.ok(ts <= 100_000 && 100_000 - ts < 64);
  assert.deepEqual(cookieTsOptions(ts), { wscale: 7, sackOk: true, ecnOk: false });
  const ts2 = cookieTsval(64, { wscale: undefined, sackOk: false, ecnOk: true });
  assert.deepEqual(cookieTsOptions(ts2), { wscale: undefined, sackOk: false, ecnOk: true });
  assert.ok(ts2 <= 64);
});
