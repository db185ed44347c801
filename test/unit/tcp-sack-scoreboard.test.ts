import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SackScoreboard } from '../../src/transport/tcp/sack-scoreboard.js';

const MSS = 1000;

function board(iss = 0, sent = 10_000): SackScoreboard {
  const sb = new SackScoreboard(iss, { mss: MSS });
  sb.onSend((iss + sent) >>> 0);
  return sb;
}

test('scoreboard: IsLost needs DupThresh SACKed segments or > (DupThresh-1)*SMSS bytes above (RFC 6675 §4)', () => {
  const sb = board();
  sb.update(0, [{ start: 1000, end: 2000 }]);
  assert.equal(sb.isLost(0), false);
  sb.update(0, [{ start: 1000, end: 3000 }]);
  assert.equal(sb.isLost(0), false); // 2 segments, exactly 2*SMSS bytes: not more than
  const r = sb.update(0, [{ start: 1000, end: 4000 }]);
  assert.equal(r.newlySacked, 1000);
  assert.equal(sb.isLost(0), true);
  assert.equal(sb.isLost(999), true);
  assert.equal(sb.isLost(4000), false); // nothing SACKed above
  assert.equal(sb.isSacked(1500), true);
  assert.equal(sb.isSacked(500), false);
});

test('scoreboard: three small discontiguous SACKed segments make the hole lost', () => {
  const sb = new SackScoreboard(0, { mss: MSS });
  sb.onSend(1000);
  sb.update(0, [{ start: 100, end: 200 }]);
  sb.update(0, [{ start: 300, end: 400 }, { start: 100, end: 200 }]);
  assert.equal(sb.isLost(0), false);
  sb.update(0, [{ start: 500, end: 600 }, { start: 300, end: 400 }, { start: 100, end: 200 }]);
  assert.equal(sb.isLost(0), true); // 3 segments although only 300 bytes
  assert.equal(sb.isLost(250), false); // only 2 segments above 250
});

test('scoreboard: SetPipe, recovery entry and NextSeg rules with one loss', () => {
  const sb = board();
  sb.update(0, [{ start: 1000, end: 4000 }]);
  // before recovery: hole [0,1000) lost (not counted); [4000,10000) in flight
  assert.equal(sb.setPipe(), 6000);
  const first = sb.enterRecovery();
  assert.deepEqual(first, { seq: 0, len: 1000, rule: 1 });
  assert.equal(sb.recoveryPoint, 10_000);
  assert.equal(sb.highRxt, 1000);
  assert.equal(sb.rescueRxt, 1000);
  // retransmission of [0,1000) is in flight now
  assert.equal(sb.setPipe(), 7000);
  // rule 1 finds nothing (HighRxt covers the only lost hole), rule 2 sends new data
  assert.deepEqual(sb.nextSeg(true), { seq: 10_000, len: 1000, rule: 2 });
  // no new data: rule 3 has no hole below the highest SACK, rule 4 not allowed yet (HighACK <= RescueRxt)
  assert.equal(sb.nextSeg(false), undefined);
  // the retransmission arrives: cumulative ACK to 4000
  const r = sb.update(4000, []);
  assert.equal(r.ackedBytes, 4000);
  assert.equal(r.recoveryEnded, false);
  assert.deepEqual(sb.sackedRanges(), []);
  // rule 4: rescue retransmission of the highest outstanding unSACKed segment
  const rescue = sb.nextSeg(false);
  assert.deepEqual(rescue, { seq: 9000, len: 1000, rule: 4 });
  sb.onTransmit(rescue!);
  assert.equal(sb.rescueRxt, 10_000);
  assert.equal(sb.highRxt, 4000); // rule 4 does not move HighRxt
  assert.equal(sb.nextSeg(false), undefined); // once per recovery
  const end = sb.update(10_000, []);
  assert.equal(end.recoveryEnded, true);
  assert.equal(sb.inRecovery, false);
});

test('scoreboard: two holes — rule 1 walks them in order; pipe counts retransmissions', () => {
  const sb = board();
  sb.update(1000, [{ start: 4000, end: 10_000 }, { start: 2000, end: 3000 }]);
  assert.equal(sb.sndUna, 1000);
  assert.equal(sb.isLost(1000), true);
  assert.equal(sb.isLost(3000), true);
  assert.equal(sb.setPipe(), 0);
  const first = sb.enterRecovery();
  assert.deepEqual(first, { seq: 1000, len: 1000, rule: 1 });
  const next = sb.nextSeg(true);
  assert.deepEqual(next, { seq: 3000, len: 1000, rule: 1 }); // lost data before new data
  sb.onTransmit(next!);
  assert.equal(sb.highRxt, 4000);
  assert.equal(sb.setPipe(), 2000);
  assert.deepEqual(sb.nextSeg(true), { seq: 10_000, len: 1000, rule: 2 });
});

test('scoreboard: rule 3 retransmits a not-yet-lost hole below the highest SACK when no new data', () => {
  const sb = board();
  sb.update(0, [{ start: 9000, end: 10_000 }]);
  sb.enterRecovery(); // e.g. RACK decided [0,1000) lost
  const seg = sb.nextSeg(false);
  assert.deepEqual(seg, { seq: 1000, len: 1000, rule: 3 });
  sb.onTransmit(seg!);
  assert.deepEqual(sb.nextSeg(false), { seq: 2000, len: 1000, rule: 3 });
});

test('scoreboard: D-SACK detection (RFC 2883 §4) and validation of blocks', () => {
  const sb = board();
  sb.update(5000, []);
  // first block below the cumulative ACK: D-SACK, reported, not counted as invalid
  const r1 = sb.update(5000, [{ start: 1000, end: 2000 }]);
  assert.deepEqual(r1.dsack, { start: 1000, end: 2000 });
  assert.equal(r1.invalidBlocks, 0);
  // first block inside the second: D-SACK for data above the cumulative ACK
  const r2 = sb.update(5000, [{ start: 6000, end: 7000 }, { start: 6000, end: 8000 }]);
  assert.deepEqual(r2.dsack, { start: 6000, end: 7000 });
  assert.deepEqual(sb.sackedRanges(), [{ start: 6000, end: 8000 }]);
  // invalid blocks: beyond SND.NXT, empty, wholly below SND.UNA (not first)
  const r3 = sb.update(5000, [
    { start: 9000, end: 12_000 },
    { start: 8500, end: 8500 },
    { start: 100, end: 200 },
  ]);
  assert.equal(r3.invalidBlocks, 3);
  assert.equal(r3.dsack, undefined);
  // a block straddling SND.UNA is trimmed
  sb.update(5000, [{ start: 8000, end: 9000 }]);
  assert.deepEqual(sb.sackedRanges(), [{ start: 6000, end: 9000 }]);
  sb.update(7000, []);
  assert.deepEqual(sb.sackedRanges(), [{ start: 7000, end: 9000 }]);
  assert.equal(sb.sackedBytes, 2000);
});

test('scoreboard: ranges merge and the store is bounded', () => {
  const sb = new SackScoreboard(0, { mss: MSS, maxRanges: 2 });
  sb.onSend(10_000);
  sb.update(0, [{ start: 1000, end: 2000 }]);
  sb.update(0, [{ start: 3000, end: 4000 }]);
  sb.update(0, [{ start: 5000, end: 6000 }]);
  assert.equal(sb.droppedRanges, 1);
  assert.deepEqual(sb.sackedRanges(), [{ start: 1000, end: 2000 }, { start: 3000, end: 4000 }]);
  sb.update(0, [{ start: 2000, end: 3000 }]); // fills the gap: merged
  assert.deepEqual(sb.sackedRanges(), [{ start: 1000, end: 4000 }]);
  assert.equal(sb.isLost(0), true);
});

test('scoreboard: works across the sequence wrap', () => {
  const iss = 0xffffe000;
  const sb = board(iss, 10_000); // [0xffffe000, 0x710)
  const s = (o: number): number => (iss + o) >>> 0;
  sb.update(s(1000), [{ start: s(3000), end: s(6000) }]);
  assert.equal(sb.isLost(s(1000)), true);
  assert.equal(sb.setPipe(), 4000); // [s(1000),s(3000)) lost; [s(6000), s(10000)) in flight
  const f = sb.enterRecovery();
  assert.equal(f.seq, s(1000));
  assert.deepEqual(sb.nextSeg(false), { seq: s(2000), len: 1000, rule: 1 });
  const r = sb.update(s(10_000), []);
  assert.equal(r.ackedBytes, 9000);
  assert.equal(r.recoveryEnded, true);
});

test('scoreboard: RTO terminates recovery and may clear SACK state (RFC 6675 §5.1)', () => {
  const sb = board();
  sb.update(0, [{ start: 1000, end: 4000 }]);
  sb.enterRecovery();
  sb.onRetransmitTimeout();
  assert.equal(sb.inRecovery, false);
  assert.equal(sb.recoveryPoint, 10_000);
  assert.equal(sb.highRxt, 0);
  assert.equal(sb.sackedBytes, 3000);
  sb.onRetransmitTimeout(true);
  assert.equal(sb.sackedBytes, 0);
});

test('scoreboard: recovery entry on DupThresh duplicate ACKs or IsLost(HighACK+1) (RFC 6675 §5)', () => {
  const sb = board();
  assert.equal(sb.shouldEnterRecovery(2), false);
  assert.equal(sb.shouldEnterRecovery(3), true);
  sb.update(0, [{ start: 1000, end: 4000 }]);
  assert.equal(sb.shouldEnterRecovery(1), true); // IsLost(HighACK + 1)
  sb.enterRecovery();
  assert.equal(sb.shouldEnterRecovery(5), false); // already in recovery
  // a D-SACK block that starts below the cumulative ACK (RFC 2883 / Linux test)
  const r = sb.update(0, [{ start: 0, end: 500 }]);
  assert.equal(r.dsack, undefined); // 0 is not below ACK 0: an ordinary (valid) SACK
  const sb2 = board();
  sb2.update(2000, []);
  assert.deepEqual(sb2.update(2000, [{ start: 1500, end: 2500 }]).dsack, { start: 1500, end: 2500 });
});

test('SackScoreboard: dupThreshLoss = false (RACK after reordering) — no IsLost, no DupThresh recovery, no NextSeg rules 1, 3, 4', () => {
  const sb = new SackScoreboard(1000, { mss: 100 });
  sb.onSend(2000);
  sb.update(1000, [{ start: 1100, end: 1500 }]);
  assert.equal(sb.isLost(1000), true);
  assert.equal(sb.shouldEnterRecovery(0), true);
  sb.dupThreshLoss = false;
  assert.equal(sb.isLost(1000), false);
  assert.equal(sb.shouldEnterRecovery(5), false, 'DupAcks >= DupThresh no longer enters recovery');
  assert.equal(sb.setPipe(), 600, 'holes count as in flight');
  sb.enterRecovery(); // RACK marked a loss
  assert.deepEqual(sb.nextSeg(true), { seq: 2000, len: 100, rule: 2 }, 'new data, not the unmarked hole');
  assert.equal(sb.nextSeg(false), undefined, 'no rule 3 or rescue (rule 4) retransmission');
});
