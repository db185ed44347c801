import { test } from 'node:test';
import assert from 'node:assert/strict';
import { congestionControllerNames, createCongestionController, initialWindow } from '../../src/transport/tcp/congestion/controller.js';
import { NewReno } from '../../src/transport/tcp/congestion/newreno.js';
import { NewRenoRecovery, Prr } from '../../src/transport/tcp/recovery.js';

test('initial window per RFC 6928: min(10*MSS, max(2*MSS, 14600))', () => {
  assert.equal(initialWindow(1460), 14600);
  assert.equal(initialWindow(1000), 10000);
  assert.equal(initialWindow(536), 5360);
  assert.equal(initialWindow(9000), 18000); // max(2*9000, 14600) = 18000 < 90000
  assert.equal(initialWindow(1500), 14600);
});

test('factory creates both controllers', () => {
  assert.deepEqual(congestionControllerNames(), ['cubic', 'newreno']);
  const n = createCongestionController('newreno', 1000, 0);
  const c = createCongestionController('cubic', 1000, 0);
  assert.equal(n.name, 'newreno');
  assert.equal(c.name, 'cubic');
  assert.equal(n.cwnd, 10000);
  assert.equal(n.ssthresh, Infinity); // RFC 5681 §3.1: arbitrarily high
  assert.throws(() => createCongestionController('bbr', 1000, 0));
});

test('slow start: cwnd += min(N, L*SMSS) per ACK with L = 2 (RFC 5681 §3.1, RFC 3465 §2.2)', () => {
  const r = new NewReno(1000);
  r.onAck(1000, 0, undefined, r.cwnd);
  assert.equal(r.cwnd, 11000);
  r.onAck(5000, 0, undefined, r.cwnd); // stretch ACK: capped at 2*SMSS
  assert.equal(r.cwnd, 13000);
  r.onAck(500, 0, undefined, r.cwnd); // byte counting: partial segment counts its bytes
  assert.equal(r.cwnd, 13500);
  // One window of per-segment ACKs doubles cwnd.
  const d = new NewReno(1000);
  for (let i = 0; i < 10; i++) d.onAck(1000, 0, undefined, 10000);
  assert.equal(d.cwnd, 20000);
});

test('slow start stops at ssthresh, then congestion avoidance grows one SMSS per cwnd of bytes (RFC 3465 §2.1)', () => {
  const r = new NewReno(1000);
  r.ssthresh = 12000;
  r.onAck(2000, 0, undefined, r.cwnd);
  assert.equal(r.cwnd, 12000);
  assert.equal(r.inSlowStart, false);
  r.onAck(2000, 0, undefined, r.cwnd);
  assert.equal(r.cwnd, 12000); // still under one cwnd of bytes
  const traj: number[] = [];
  for (let rtt = 0; rtt < 3; rtt++) {
    const w = r.cwnd;
    for (let acked = 0; acked < w; acked += 1000) r.onAck(1000, 0, undefined, r.cwnd);
    traj.push(r.cwnd);
  }
  // +1 SMSS per window's worth of ACKs (the first round also used the earlier 2000 bytes)
  assert.deepEqual(traj, [13000, 14000, 15000]);
});

test('no growth when not cwnd-limited (RFC 7661 spirit) or during recovery', () => {
  const r = new NewReno(1000);
  r.onAck(1000, 0, undefined, 2000); // only 2000 in flight with a 10000 window
  assert.equal(r.cwnd, 10000);
  r.onCongestionEvent(0, 10000);
  const w = r.cwnd;
  r.onAck(1000, 0, undefined, 10000);
  assert.equal(r.cwnd, w);
});

test('congestion event: ssthresh = max(FlightSize/2, 2*SMSS), cwnd = ssthresh, once per episode (RFC 5681 eq. 4)', () => {
  const r = new NewReno(1000);
  r.cwnd = 40000;
  r.onCongestionEvent(0, 30000); // FlightSize, not cwnd
  assert.equal(r.ssthresh, 15000);
  assert.equal(r.cwnd, 15000);
  assert.equal(r.inRecovery, true);
  r.onCongestionEvent(0, 15000); // same episode: no second reduction
  assert.equal(r.ssthresh, 15000);
  r.cwnd = 17000; // e.g. inflated during recovery
  r.onRecoveryExit(0);
  assert.equal(r.cwnd, 15000);
  assert.equal(r.inRecovery, false);
  const s = new NewReno(1000);
  s.onCongestionEvent(0, 3000);
  assert.equal(s.ssthresh, 2000); // floor of 2*SMSS
});

test('RTO: cwnd = loss window (1 SMSS), ssthresh from FlightSize, held on repeated timeouts; slow start with L=1', () => {
  const r = new NewReno(1000);
  r.cwnd = 40000;
  r.onRetransmitTimeout(0, 40000);
  assert.equal(r.cwnd, 1000);
  assert.equal(r.ssthresh, 20000);
  r.onRetransmitTimeout(0, 1000, true); // same segment timed out again
  assert.equal(r.ssthresh, 20000);
  assert.equal(r.cwnd, 1000);
  // RFC 3465 §2.3: L = 1*SMSS in the slow start following an RTO
  r.onAck(3000, 0, undefined, 1000);
  assert.equal(r.cwnd, 2000);
  r.onAck(3000, 0, undefined, 2000);
  assert.equal(r.cwnd, 3000);
  // full trajectory to ssthresh then linear
  while (r.inSlowStart) r.onAck(1000, 0, undefined, r.cwnd);
  assert.equal(r.cwnd, 20000);
});

test('idle restart: cwnd = min(IW, cwnd) (RFC 5681 §4.1)', () => {
  const r = new NewReno(1000);
  r.cwnd = 50000;
  r.onIdleRestart(0);
  assert.equal(r.cwnd, 10000);
  r.cwnd = 4000;
  r.onIdleRestart(0);
  assert.equal(r.cwnd, 4000);
});

test('undo restores cwnd and ssthresh after a spurious reduction', () => {
  const r = new NewReno(1000);
  r.cwnd = 30000;
  r.ssthresh = 25000;
  r.onCongestionEvent(0, 30000);
  assert.equal(r.cwnd, 15000);
  r.undo(0);
  assert.equal(r.cwnd, 30000);
  assert.equal(r.ssthresh, 25000);
  assert.equal(r.inRecovery, false);
});

test('setMss keeps the window in segments', () => {
  const r = new NewReno(1000);
  r.ssthresh = 20000;
  r.setMss(500);
  assert.equal(r.cwnd, 5000);
  assert.equal(r.ssthresh, 10000);
  assert.equal(r.mss, 500);
});

test('NewReno recovery (RFC 6582): fast retransmit, inflation, partial and full ACKs', () => {
  const cc = new NewReno(1000);
  const rec = new NewRenoRecovery(0);
  // 10 segments [0, 10000) outstanding; segment 1000 lost.
  assert.deepEqual(rec.onDupAck(1000, 10000, 9000, cc), { kind: 'none' });
  assert.deepEqual(rec.onDupAck(1000, 10000, 9000, cc), { kind: 'none' });
  assert.deepEqual(rec.onDupAck(1000, 10000, 9000, cc), { kind: 'fast-retransmit', seq: 1000 });
  assert.equal(cc.ssthresh, 4500);
  assert.equal(cc.cwnd, 4500 + 3000); // ssthresh + 3*SMSS
  assert.equal(rec.recover, 10000);
  assert.deepEqual(rec.onDupAck(1000, 10000, 9000, cc), { kind: 'inflate' });
  assert.equal(cc.cwnd, 8500);
  // partial ACK acking 2000 bytes: deflate by 2000, add back SMSS; first partial resets the timer
  assert.deepEqual(rec.onNewAck(3000, 2000, 7000, cc), { kind: 'partial', seq: 3000, resetTimer: true });
  assert.equal(cc.cwnd, 7500);
  assert.deepEqual(rec.onNewAck(4000, 1000, 6000, cc), { kind: 'partial', seq: 4000, resetTimer: false });
  assert.equal(cc.cwnd, 7500);
  // partial ACK of less than SMSS: no add-back
  rec.onNewAck(4500, 500, 5500, cc);
  assert.equal(cc.cwnd, 7000);
  // full ACK: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)
  assert.deepEqual(rec.onNewAck(10000, 5500, 0, cc), { kind: 'full' });
  assert.equal(cc.cwnd, 2000);
  assert.equal(rec.inRecovery, false);
  assert.equal(cc.inRecovery, false);
});

test('NewReno recovery: no second fast retransmit for dupacks at or below recover (RFC 6582 §3.2 step 2)', () => {
  const cc = new NewReno(1000);
  const rec = new NewRenoRecovery(0);
  for (let i = 0; i < 3; i++) rec.onDupAck(1000, 10000, 9000, cc);
  rec.onNewAck(10000, 9000, 6000, cc);
  assert.equal(cc.cwnd, 4500); // min(4500, 7000)
  const ss = cc.ssthresh;
  // three dupacks at ack == recover: must not enter fast retransmit nor reset ssthresh
  for (let i = 0; i < 3; i++) assert.deepEqual(rec.onDupAck(10000, 16000, 6000, cc), { kind: 'none' });
  assert.equal(cc.ssthresh, ss);
  // once the ACK covers more than recover, a new episode may start
  rec.onNewAck(11000, 1000, 5000, cc);
  rec.onDupAck(11000, 16000, 5000, cc);
  rec.onDupAck(11000, 16000, 5000, cc);
  assert.equal(rec.onDupAck(11000, 16000, 5000, cc).kind, 'fast-retransmit');
  assert.equal(rec.recover, 16000);
});

test('NewReno recovery: RTO records recover and exits recovery (RFC 6582 §3.2)', () => {
  const cc = new NewReno(1000);
  const rec = new NewRenoRecovery(0xfffff000); // works across the wrap
  for (let i = 0; i < 3; i++) rec.onDupAck(0xfffff400, 0x2000, 9000, cc);
  assert.equal(rec.inRecovery, true);
  rec.onRetransmitTimeout(0x3000);
  assert.equal(rec.inRecovery, false);
  assert.equal(rec.recover, 0x3000);
});

test('PRR (RFC 6937): proportional phase sends one segment per two ACKs when halving', () => {
  // Counted in segments (mss = 1), as in the RFC's examples; in bytes the sender would instead
  // accumulate half-segment allowances.
  const prr = new Prr();
  const mss = 1;
  prr.enter(20 * mss); // RecoverFS 20 segments, ssthresh 10
  let pipe = 19 * mss; // one segment lost
  const sent: number[] = [];
  for (let i = 0; i < 10; i++) {
    pipe -= mss; // each ACK SACKs one segment
    const n = prr.onAck(mss, pipe, 10 * mss, mss);
    prr.onSend(n);
    pipe += n;
    sent.push(n / mss);
  }
  assert.deepEqual(sent, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
  assert.equal(prr.prrOut, 5 * mss);
  assert.equal(prr.prrDelivered, 10 * mss);
});

test('PRR (RFC 6937): reduction bound below ssthresh — SSRB allows catching up, CRB is conservative', () => {
  const mss = 1000;
  const ssrb = new Prr();
  ssrb.enter(20 * mss);
  // heavy losses: pipe far below ssthresh
  assert.equal(ssrb.onAck(mss, 2 * mss, 10 * mss, mss), 2 * mss); // max(1000-0, 1000) + MSS
  const crb = new Prr(true);
  crb.enter(20 * mss);
  assert.equal(crb.onAck(mss, 2 * mss, 10 * mss, mss), mss); // prr_delivered - prr_out
  // never more than ssthresh - pipe
  const p = new Prr();
  p.enter(20 * mss);
  assert.equal(p.onAck(5 * mss, 9.5 * mss, 10 * mss, mss), 0.5 * mss);
});
