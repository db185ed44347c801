import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cubic, CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, cubicK, cubicW } from '../../src/transport/tcp/congestion/cubic.js';

const close = (a: number, b: number, eps = 1e-6): void => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test('cubic constants (RFC 9438 §4.2, §4.3 eq. 3)', () => {
  assert.equal(CUBIC_C, 0.4);
  assert.equal(CUBIC_BETA, 0.7);
  close(CUBIC_ALPHA, 0.9 / 1.7); // 3(1-0.7)/(1+0.7) = 0.52941...
  close(CUBIC_ALPHA, 0.5294117647);
});

test('K = cbrt((W_max - cwnd_epoch)/C) and W(t) = C(t-K)^3 + W_max (eqs. 1, 2)', () => {
  // W_max = 100, cwnd_epoch = 70 (= beta*W_max): K = cbrt(30/0.4) = cbrt(75)
  const k = cubicK(100, 70);
  close(k, 4.217163326508746);
  close(cubicK(100, 100 * CUBIC_BETA), Math.cbrt((100 * (1 - 0.7)) / 0.4));
  close(cubicW(0, k, 100), 70); // starts at cwnd_epoch
  close(cubicW(1, k, 100), 86.68076383512988); // 0.4 * (1 - 4.2172)^3 + 100
  close(cubicW(2, k, 100), 95.64033568663878);
  close(cubicW(k, k, 100), 100); // plateau at W_max
  close(cubicW(6, k, 100), 102.26670325646442); // convex region beyond K
  // concave below K (increments shrink), convex above (increments grow)
  const d1 = cubicW(2, k, 100) - cubicW(1, k, 100);
  const d2 = cubicW(3, k, 100) - cubicW(2, k, 100);
  const d5 = cubicW(6, k, 100) - cubicW(5, k, 100);
  const d6 = cubicW(7, k, 100) - cubicW(6, k, 100);
  assert.ok(d2 < d1);
  assert.ok(d6 > d5);
  // K negative when cwnd_epoch > W_max: still W(0) = cwnd_epoch
  const kn = cubicK(50, 60);
  assert.ok(kn < 0);
  close(cubicW(0, kn, 50), 60);
});

test('multiplicative decrease: ssthresh = flight*0.7, W_max = cwnd, cwnd = ssthresh (§4.6)', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  assert.equal(c.wMax, 100);
  close(c.ssthresh, 70_000);
  close(c.cwnd, 70_000);
  assert.equal(c.cwndPrior, 100);
  // floor of 2 segments
  const s = new Cubic(1000, 0);
  s.cwnd = 2000;
  s.onCongestionEvent(0, 2000);
  assert.equal(s.ssthresh, 2000);
  assert.equal(s.cwnd, 2000);
});

test('congestion avoidance follows W_cubic(t+RTT) after the Reno-friendly start (§4.2–§4.5)', () => {
  const mss = 1000;
  const c = new Cubic(mss, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  c.onRecoveryExit(0);
  close(c.cwnd, 70_000);
  // first ACK in CA at t=1 s starts the epoch: K = cbrt(75), W_est = 70
  c.onAck(1000, 1000, 100, c.cwnd);
  assert.equal(c.epochStart, 1000);
  close(c.k, 4.217163326508746);
  // W(0) = 70 < W_est = 70 + alpha/70 -> Reno-friendly region: cwnd = W_est
  close(c.wEst, 70.00756302521009);
  close(c.cwnd, 70_007.56302521009, 1e-6);
  // at t = 2 s: W(2) = 95.64 > W_est; target = W(2 + 0.1) = 96.204 (within [cwnd, 1.5cwnd])
  c.onAck(1000, 3000, 100, c.cwnd);
  close(c.wEst, 70.01512523337487);
  close(c.cwnd / mss, 70.38175780010958);
});

test('target is capped at 1.5*cwnd and never below cwnd (§4.2)', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  c.onRecoveryExit(0);
  c.onAck(1000, 0, 0, c.cwnd); // epoch start at 0
  const before = c.cwnd / 1000;
  // very far in the future: W(t+RTT) huge -> target = 1.5*cwnd -> +0.5 segment per acked segment
  c.onAck(1000, 100_000, 0, c.cwnd);
  close(c.cwnd / 1000, before + ((1.5 * before - before) / before) * 1);
});

test('fast convergence: W_max = cwnd*(1+beta)/2 when cwnd < W_max (§4.7)', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  c.onRecoveryExit(0);
  c.cwnd = 80_000;
  c.onCongestionEvent(10, 80_000);
  close(c.wMax!, 68); // 80 * 1.7 / 2
  close(c.ssthresh, 56_000);
  const nf = new Cubic(1000, 0);
  nf.fastConvergence = false;
  nf.cwnd = 100_000;
  nf.onCongestionEvent(0, 100_000);
  nf.onRecoveryExit(0);
  nf.cwnd = 80_000;
  nf.onCongestionEvent(10, 80_000);
  assert.equal(nf.wMax, 80);
  // cwnd above W_max: W_max = cwnd
  const up = new Cubic(1000, 0);
  up.cwnd = 100_000;
  up.onCongestionEvent(0, 100_000);
  up.onRecoveryExit(0);
  up.cwnd = 120_000;
  up.onCongestionEvent(10, 120_000);
  assert.equal(up.wMax, 120);
});

test('Reno-friendly region: with a short RTT and small W_max cwnd tracks W_est (§4.3)', () => {
  const mss = 1000;
  const c = new Cubic(mss, 0);
  c.cwnd = 10_000;
  c.onCongestionEvent(0, 10_000); // W_max 10, cwnd 7
  c.onRecoveryExit(0);
  let now = 0;
  const rtt = 10;
  for (let r = 0; r < 50; r++) {
    const segs = Math.floor(c.cwnd / mss);
    for (let i = 0; i < segs; i++) c.onAck(mss, now, rtt, c.cwnd);
    now += rtt;
  }
  const t = (now - c.epochStart!) / 1000;
  const wt = cubicW(t, c.k, c.wMax!);
  assert.ok(c.wEst > wt, `W_est ${c.wEst} should exceed W_cubic ${wt}`);
  close(c.cwnd / mss, c.wEst, 1e-9);
  // AIMD rate: about alpha_cubic segments per RTT until W_est reaches cwnd_prior, 1 after
  assert.ok(c.wEst > 10 && c.wEst < 7 + 50 * 1.0 + 1);
});

test('alpha_cubic becomes 1 once W_est >= cwnd_prior (§4.3)', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 10_000;
  c.onCongestionEvent(0, 10_000);
  c.onRecoveryExit(0);
  c.onAck(1000, 0, 10, c.cwnd);
  c.wEst = 10; // reached cwnd_prior
  const cw = c.cwnd / 1000;
  c.onAck(1000, 0, 10, c.cwnd);
  close(c.wEst, 10 + 1 / cw);
});

test('RTO: cwnd = 1 SMSS, ssthresh via beta; first CA stage uses K = 0 and W_max = cwnd (§4.8)', () => {
  const mss = 1000;
  const c = new Cubic(mss, 0);
  c.cwnd = 50_000;
  c.onRetransmitTimeout(0, 40_000);
  assert.equal(c.cwnd, 1000);
  close(c.ssthresh, 28_000);
  while (c.inSlowStart) c.onAck(1000, 0, 50, c.cwnd);
  close(c.cwnd, 28_000);
  c.onAck(1000, 5000, 50, c.cwnd);
  assert.equal(c.k, 0);
  assert.equal(c.wMax, 28);
  assert.equal(c.cwndEpoch, 28);
  // repeated RTO of the same segment holds ssthresh
  const d = new Cubic(mss, 0);
  d.cwnd = 50_000;
  d.onRetransmitTimeout(0, 40_000);
  d.onRetransmitTimeout(100, 1000, true);
  close(d.ssthresh, 28_000);
});

test('spurious congestion event undo restores the CUBIC state (§4.9)', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  c.onRecoveryExit(0);
  c.onAck(1000, 10, 50, c.cwnd);
  const snapshot = { wMax: c.wMax, k: c.k, epoch: c.epochStart, cwnd: c.cwnd, ss: c.ssthresh };
  c.onCongestionEvent(20, c.cwnd);
  assert.notEqual(c.wMax, snapshot.wMax);
  c.undo(30);
  assert.equal(c.wMax, snapshot.wMax);
  assert.equal(c.k, snapshot.k);
  assert.equal(c.epochStart, snapshot.epoch);
  assert.equal(c.cwnd, snapshot.cwnd);
  assert.equal(c.ssthresh, snapshot.ss);
});

test('idle restart starts a new epoch with K from W_max and the restarted cwnd', () => {
  const c = new Cubic(1000, 0);
  c.cwnd = 100_000;
  c.onCongestionEvent(0, 100_000);
  c.onRecoveryExit(0);
  c.onAck(1000, 0, 50, c.cwnd);
  c.onIdleRestart(60_000);
  assert.equal(c.epochStart, undefined);
  assert.equal(c.cwnd, 10_000); // RFC 5681 §4.1 restart window = IW
  c.ssthresh = 5000; // stay in CA
  c.onAck(1000, 61_000, 50, c.cwnd);
  assert.equal(c.epochStart, 61_000);
  close(c.k, Math.cbrt((100 - 10) / 0.4));
});

test('slow start in CUBIC is standard (ABC L=2)', () => {
  const c = new Cubic(1000, 0);
  assert.equal(c.cwnd, 10_000);
  c.onAck(4000, 0, 10, c.cwnd);
  assert.equal(c.cwnd, 12_000);
});

test('cubic: with an ACK clock, cwnd follows W_cubic and plateaus near W_max at t = K', () => {
  const mss = 1000;
  const c = new Cubic(mss, 0);
  c.cwnd = 100 * mss;
  c.onCongestionEvent(0, 100 * mss);
  c.onRecoveryExit(0);
  const rtt = 100;
  let now = 0;
  const k = Math.cbrt(75); // 4.217 s
  const at = new Map<number, number>();
  while (now <= 7000) {
    const segs = Math.floor(c.cwnd / mss);
    for (let i = 0; i < segs; i++) c.onAck(mss, now, rtt, c.cwnd);
    now += rtt;
    at.set(now, c.cwnd / mss);
  }
  // the window tracks W(t + RTT) one RTT ahead, so it is close to W(t) at each point
  for (const t of [1000, 2000, 3000, 4000, 5000, 6000]) {
    const w = at.get(t)!;
    const want = cubicW(t / 1000, k, 100);
    assert.ok(Math.abs(w - want) / want < 0.03, `t=${t}: cwnd ${w} vs W(t) ${want}`);
  }
  const plateau = at.get(4200)!;
  assert.ok(plateau > 98 && plateau < 102, `plateau ${plateau}`);
  assert.ok(at.get(7000)! > 105); // convex probing beyond W_max
});
