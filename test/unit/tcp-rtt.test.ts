import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RttEstimator } from '../../src/transport/tcp/rtt.js';

test('rtt: initial RTO is 1 s before any sample (RFC 6298 §2.1)', () => {
  const r = new RttEstimator();
  assert.equal(r.rto, 1000);
  assert.equal(r.srtt, undefined);
  assert.equal(r.hasSample, false);
});

test('rtt: first sample sets SRTT=R, RTTVAR=R/2, RTO=SRTT+max(G,4*RTTVAR) (§2.2)', () => {
  const r = new RttEstimator({ minRto: 1000 });
  assert.equal(r.sample(100), true);
  assert.equal(r.srtt, 100);
  assert.equal(r.rttvar, 50);
  // 100 + 4*50 = 300 -> rounded up to the 1 s minimum (§2.4) with minRto 1000
  assert.equal(r.rto, 1000);
  const l = new RttEstimator(); // Linux-like 200 ms floor
  l.sample(100);
  assert.equal(l.rto, 300);
  const big = new RttEstimator({ minRto: 1000 });
  big.sample(2000);
  assert.equal(big.rto, 2000 + 4 * 1000);
});

test('rtt: subsequent samples follow §2.3 (RTTVAR first, with the old SRTT)', () => {
  const r = new RttEstimator({ minRto: 0 });
  r.sample(100);
  r.sample(200);
  // RTTVAR = 3/4*50 + 1/4*|100-200| = 37.5 + 25 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
  assert.equal(r.rttvar, 62.5);
  assert.equal(r.srtt, 112.5);
  assert.equal(r.rto, 112.5 + 4 * 62.5);
  r.sample(112.5);
  // RTTVAR = 3/4*62.5 + 0 = 46.875; SRTT unchanged
  assert.equal(r.rttvar, 46.875);
  assert.equal(r.srtt, 112.5);
  assert.equal(r.rto, 112.5 + 187.5);
});

test('rtt: clock granularity G bounds the variance term (§2.2)', () => {
  const r = new RttEstimator({ minRto: 0, granularity: 10 });
  r.sample(100);
  for (let i = 0; i < 100; i++) r.sample(100); // RTTVAR decays towards 0
  assert.ok(r.rttvar! < 1);
  assert.equal(r.rto, 100 + 10); // SRTT + max(G, K*RTTVAR) = 100 + G
});

test('rtt: min and max clamps (§2.4, §2.5)', () => {
  const r = new RttEstimator(); // min 200
  r.sample(10);
  assert.equal(r.rto, 200);
  const m = new RttEstimator({ maxRto: 60_000 });
  m.sample(50_000);
  assert.equal(m.rto, 60_000);
  // a max below 60 s is raised to 60 s (§2.5: "at least 60 seconds")
  const low = new RttEstimator({ maxRto: 5000 });
  assert.equal(low.maxRto, 60_000);
  assert.equal(new RttEstimator().maxRto, 120_000);
});

test('rtt: exponential backoff doubles RTO up to the maximum (§5.5)', () => {
  const r = new RttEstimator();
  const seen: number[] = [];
  for (let i = 0; i < 9; i++) seen.push(r.backoff());
  assert.deepEqual(seen, [2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000]);
  assert.equal(r.backoffCount, 9);
});

test("rtt: Karn's rule ignores retransmitted samples unless timestamped (§3, RFC 7323 §4)", () => {
  const r = new RttEstimator();
  r.sample(100);
  r.backoff();
  r.backoff();
  assert.equal(r.rto, 1200); // 300 * 4
  assert.equal(r.sample(5000, true), false); // ambiguous: ignored, backoff kept
  assert.equal(r.rto, 1200);
  assert.equal(r.srtt, 100);
  assert.equal(r.sample(100, true, true), true); // timestamp echo: unambiguous
  assert.equal(r.backoffCount, 0);
  // RTO recomputed from SRTT/RTTVAR, removing the backoff
  assert.equal(r.srtt, 100);
  assert.equal(r.rttvar, 37.5);
  assert.equal(r.rto, 100 + 150);
});

test('rtt: a new valid sample after backoff resets RTO to the computed value', () => {
  const r = new RttEstimator();
  r.sample(100);
  r.backoff();
  assert.equal(r.rto, 600);
  r.sample(100);
  assert.equal(r.rto, 100 + 4 * 37.5);
});

test('rtt: optional clearing of SRTT/RTTVAR after repeated backoffs (§5 note)', () => {
  const r = new RttEstimator({ clearAfterBackoffs: 3 });
  r.sample(100);
  r.sample(120);
  r.backoff();
  r.backoff();
  assert.notEqual(r.srtt, undefined);
  r.backoff();
  assert.equal(r.srtt, undefined);
  r.sample(400); // re-initialised per §2.2
  assert.equal(r.srtt, 400);
  assert.equal(r.rttvar, 200);
});

test('rtt: RTO re-initialised to 3 s after a SYN timeout without samples (§5.7)', () => {
  const r = new RttEstimator();
  r.backoff();
  r.resetAfterSynTimeout();
  assert.equal(r.rto, 3000);
  assert.equal(r.backoffCount, 0);
});

test('rtt: invalid samples are rejected; minRtt tracked', () => {
  const r = new RttEstimator();
  assert.equal(r.sample(-1), false);
  assert.equal(r.sample(Number.NaN), false);
  r.sample(50);
  r.sample(30);
  r.sample(80);
  assert.equal(r.minRtt, 30);
  assert.equal(r.latestRtt, 80);
  r.reset();
  assert.equal(r.rto, 1000);
  assert.equal(r.minRtt, undefined);
});
