import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rack, rackSentAfter, Tlp, type RackAckInfo, type RackSegment } from '../../src/transport/tcp/rack.js';

function seg(seq: number, len: number, xmitTs: number, retransmitted = false): RackSegment {
  return { seq, endSeq: seq + len, xmitTs, retransmitted, lost: false };
}

function ack(now: number, delivered: RackSegment[], extra: Partial<RackAckInfo> = {}): RackAckInfo {
  return {
    now,
    delivered,
    dsack: false,
    sndUna: 0,
    sndNxt: 10_000,
    inRecovery: false,
    exitingRecovery: false,
    segsSacked: delivered.length,
    srtt: 100,
    ...extra,
  };
}

test('RACK_sent_after orders by time then sequence (§6.2 step 2)', () => {
  assert.equal(rackSentAfter(2, 0, 1, 100), true);
  assert.equal(rackSentAfter(1, 200, 1, 100), true);
  assert.equal(rackSentAfter(1, 100, 1, 100), false);
  assert.equal(rackSentAfter(1, 5, 1, 0xfffffff0), true); // sequence wrap
});

test('RACK: reordering window min_RTT/4 delays the loss decision, then the timer expires (§6.2)', () => {
  const rack = new Rack();
  const a = seg(0, 1000, 0);
  const b = seg(1000, 1000, 10);
  const c = seg(2000, 1000, 20);
  // C SACKed at t=125: RTT 105
  const w = rack.onAck(ack(125, [c]));
  assert.equal(rack.rtt, 105);
  assert.equal(rack.xmitTs, 20);
  assert.equal(rack.endSeq, 3000);
  assert.equal(rack.minRtt, 105);
  assert.equal(w, 105 / 4); // reordering not seen, one SACKed segment, not in recovery
  let r = rack.detectLoss(125, [a, b]);
  assert.deepEqual(r.lost, []);
  // A: 0 + 105 + 26.25 - 125 = 6.25; B: 10 + 105 + 26.25 - 125 = 16.25 -> timer for the max
  assert.equal(r.timeout, 16.25);
  assert.equal(r.deadline, 141.25);
  r = rack.detectLoss(135, [a, b]);
  assert.deepEqual(r.lost, [a]);
  assert.equal(a.lost, true);
  assert.equal(r.timeout, 6.25);
  r = rack.detectLoss(141.25, [a, b]);
  assert.deepEqual(r.lost, [b]);
  assert.equal(r.timeout, 0);
  assert.equal(r.deadline, undefined);
  // segments sent after RACK.xmit_ts are never marked
  const d = seg(3000, 1000, 30);
  assert.deepEqual(rack.detectLoss(10_000, [d]).lost, []);
});

test('RACK: zero reordering window in recovery or with DupThresh SACKed segments and no reordering seen', () => {
  const rack = new Rack();
  const s = [seg(0, 1000, 0), seg(1000, 1000, 1), seg(2000, 1000, 2), seg(3000, 1000, 3)];
  assert.equal(rack.onAck(ack(103, [s[1]!, s[2]!, s[3]!], { segsSacked: 3 })), 0);
  const r = rack.detectLoss(103, [s[0]!]);
  assert.deepEqual(r.lost, [s[0]]); // 0 + 100 + 0 - 103 < 0
  const rack2 = new Rack();
  assert.equal(rack2.onAck(ack(103, [s[3]!], { inRecovery: true, segsSacked: 1 })), 0);
});

test('RACK: reordering detection keeps the window even in recovery (§6.2 step 3)', () => {
  const rack = new Rack();
  rack.onAck(ack(120, [seg(2000, 1000, 20)]));
  assert.equal(rack.reorderingSeen, false);
  assert.equal(rack.fack, 3000);
  // an original (never retransmitted) segment below fack is delivered: reordering
  rack.onAck(ack(130, [seg(1000, 1000, 10)]));
  assert.equal(rack.reorderingSeen, true);
  const w = rack.onAck(ack(140, [], { inRecovery: true, segsSacked: 5 }));
  assert.equal(w, rack.minRtt! / 4);
  // a retransmitted segment below fack is not reordering
  const r2 = new Rack();
  r2.onAck(ack(120, [seg(2000, 1000, 20)]));
  r2.onAck(ack(300, [seg(1000, 1000, 200, true)]));
  assert.equal(r2.reorderingSeen, false);
});

test('RACK: window is capped by SRTT and grows with D-SACK rounds, reset after 16 recoveries (§6.2 step 4)', () => {
  const rack = new Rack();
  rack.updateMinRtt(100, 0);
  const base = { sndUna: 0, sndNxt: 10_000, srtt: 1000 };
  assert.equal(rack.onAck(ack(0, [], base)), 25);
  assert.equal(rack.onAck(ack(0, [], { ...base, dsack: true })), 50);
  assert.equal(rack.reoWndMult, 2);
  assert.equal(rack.dsackRound, 10_000);
  // another D-SACK in the same round: no further growth
  assert.equal(rack.onAck(ack(0, [], { ...base, sndUna: 5000, dsack: true })), 50);
  // the round ends once SND.UNA >= dsack_round; the next D-SACK grows again
  assert.equal(rack.onAck(ack(0, [], { ...base, sndUna: 10_000, sndNxt: 20_000, dsack: true })), 75);
  assert.equal(rack.reoWndPersist, 16);
  // capped at SRTT
  assert.equal(rack.onAck(ack(0, [], { ...base, sndUna: 20_000, srtt: 40 })), 40);
  // 16 D-SACK-free recoveries reset the multiplier
  for (let i = 0; i < 15; i++) rack.onAck(ack(0, [], { ...base, sndUna: 30_000, exitingRecovery: true }));
  assert.equal(rack.reoWndMult, 3);
  rack.onAck(ack(0, [], { ...base, sndUna: 30_000, exitingRecovery: true }));
  assert.equal(rack.reoWndMult, 1);
});

test('RACK: ambiguous retransmitted segments do not update RACK.rtt (§6.2 step 2)', () => {
  const rack = new Rack();
  rack.onAck(ack(100, [seg(0, 1000, 0)]));
  assert.equal(rack.rtt, 100);
  // retransmitted at 150, ACK echoes a timestamp older than the retransmission: skip
  rack.onAck(ack(200, [seg(1000, 1000, 150, true)], { tsEcr: 100 }));
  assert.equal(rack.rtt, 100);
  assert.equal(rack.xmitTs, 0);
  // retransmitted, RTT below min_RTT: skip
  rack.onAck(ack(210, [seg(2000, 1000, 180, true)]));
  assert.equal(rack.rtt, 100);
  // retransmitted, plausible RTT: used
  rack.onAck(ack(400, [seg(3000, 1000, 250, true)]));
  assert.equal(rack.rtt, 150);
  assert.equal(rack.xmitTs, 250);
});

test('RACK: newest transmission wins when several segments are delivered by one ACK', () => {
  const rack = new Rack();
  rack.onAck(ack(200, [seg(2000, 1000, 50), seg(0, 1000, 0), seg(1000, 1000, 50)]));
  assert.equal(rack.xmitTs, 50);
  assert.equal(rack.endSeq, 3000); // same time: higher end_seq
  assert.equal(rack.rtt, 150);
});

test('RACK: RTO marks SND.UNA and expired segments lost (§6.3)', () => {
  const rack = new Rack();
  rack.onAck(ack(100, [seg(5000, 1000, 0)]));
  const s1 = seg(0, 1000, 900);
  const s2 = seg(1000, 1000, 0);
  const s3 = seg(2000, 1000, 950);
  const lost = rack.markLossesOnRto(1000, [s1, s2, s3], 0);
  assert.deepEqual(lost, [s1, s2]);
});

test('TLP: PTO = 2*SRTT, + WCDelAckT for a one-segment flight, 1 s without SRTT, clamped to RTO (§7.2)', () => {
  const tlp = new Tlp();
  assert.equal(tlp.ptoDeadline(1000, 100, 3000, 1000), 1200);
  assert.equal(tlp.ptoDeadline(1000, 100, 1000, 1000), 1400);
  assert.equal(tlp.ptoDeadline(1000, undefined, 3000, 1000), 2000);
  assert.equal(tlp.ptoDeadline(1000, 100, 3000, 1000, 1150), 1150);
  assert.equal(tlp.canArm(false, 0, 3000), true);
  assert.equal(tlp.canArm(true, 0, 3000), false);
  assert.equal(tlp.canArm(false, 1, 3000), false);
  assert.equal(tlp.canArm(false, 0, 0), false);
  tlp.onProbeSent(5000, true);
  assert.equal(tlp.canArm(false, 0, 3000), false); // one episode at a time
});

test('TLP: probe selection — new data first, else the highest segment sent (§7.3)', () => {
  const tlp = new Tlp();
  assert.deepEqual(tlp.selectProbe(true, 4000, 1000), { kind: 'new' });
  assert.deepEqual(tlp.selectProbe(false, 4000, 1000), { kind: 'retransmit', seq: 4000, len: 1000 });
});

test('TLP: loss detection from the probe ACK (§7.4)', () => {
  const t = new Tlp();
  // new-data probe delivered
  t.onProbeSent(6000, false);
  assert.equal(t.onAck(5000, undefined, false), 'none');
  assert.equal(t.onAck(6000, undefined, false), 'delivered');
  assert.equal(t.inEpisode, false);
  // retransmission probe, D-SACK for it: both copies arrived
  t.onProbeSent(5000, true);
  assert.equal(t.onAck(5000, { start: 4000, end: 5000 }, false), 'spurious');
  // retransmission probe, later ACK beyond TLP.end_seq without D-SACK: the probe repaired a loss
  t.onProbeSent(5000, true);
  assert.equal(t.onAck(5000, undefined, false), 'none'); // ack == end_seq, advancing: wait
  assert.equal(t.onAck(6000, undefined, false), 'loss');
  // retransmission probe, pure duplicate ACK at end_seq: no loss
  t.onProbeSent(5000, true);
  assert.equal(t.onAck(5000, undefined, true), 'no-loss-dupack');
  assert.equal(t.onAck(7000, undefined, false), 'none'); // no episode
});

test('RACK: a SACKed retransmission advances RACK.xmit_ts although TSecr predates it (RFC 7323 §4.3), so a lost retransmission is detected (§6.2)', () => {
  const rack = new Rack();
  rack.onAck(ack(100, [seg(0, 1000, 0)]));
  // [1000, 2000) and [2000, 3000) were lost and retransmitted at 150 and 151.
  const a = seg(1000, 1000, 150, true);
  const b = { ...seg(2000, 1000, 151, true), sacked: true };
  // b's retransmission is SACKed at 260; the ACK echoes the TSval of the last in-order segment
  // (sent at 0) — out-of-order data does not update TS.Recent.
  rack.onAck(ack(260, [b], { tsEcr: 0, inRecovery: true }));
  assert.equal(rack.xmitTs, 151);
  assert.equal(rack.rtt, 109);
  // a's retransmission, sent before b's, is lost: 150 + RACK.rtt (109) + reo_wnd (0 in
  // recovery without reordering) <= 260.
  const r = rack.detectLoss(260, [a]);
  assert.deepEqual(r.lost, [a]);
  // Had RACK.xmit_ts stayed at 0 (the TSecr test applied to SACKed segments), a would
  // never be marked and only the RTO would repair it.
  const stuck = new Rack();
  stuck.onAck(ack(100, [seg(0, 1000, 0)]));
  assert.deepEqual(stuck.detectLoss(260, [seg(1000, 1000, 150, true)]).lost, []);
});

test('RACK: a cumulatively ACKed retransmission whose ACK echoes an older TSval is skipped; TSecr in whole ms (§6.2 step 2)', () => {
  const rack = new Rack();
  rack.onAck(ack(100, [seg(0, 1000, 0)]));
  // retransmitted at 150.4: the TSval sent was 150 (ms ticks); an ACK echoing 150 was caused by it.
  rack.onAck(ack(300, [seg(1000, 1000, 150.4, true)], { tsEcr: 150 }));
  assert.equal(rack.xmitTs, 150.4);
  // an ACK echoing 149 was caused by the original: skipped
  rack.onAck(ack(320, [seg(2000, 1000, 160, true)], { tsEcr: 149 }));
  assert.equal(rack.xmitTs, 150.4);
});
