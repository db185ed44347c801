/**
 * Segment arrival for an existing connection (the tcp_input.c part): RFC 9293 §3.10.7.3
 * (SYN-SENT) and §3.10.7.4 (the other states) in the RFC's order — sequence check with the
 * acceptability table, RST, SYN, ACK, URG (ignored), text, FIN — with:
 * - RFC 7323 §5 PAWS (before the sequence check) and the §4.3 TS.Recent update rule;
 * - RFC 5961 §3.2 (RST not exactly at RCV.NXT → challenge ACK), §4.2 (SYN in a synchronized
 *   state → challenge ACK), §5.2 (ACK acceptability SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT),
 *   §7 (rate limit, in the layer);
 * - RFC 7323 §2.3 window scaling (the window of a SYN is never scaled);
 * - RFC 5681 §2 duplicate ACKs, RFC 6582 NewReno without SACK, RFC 6675 + RFC 6937 PRR with SACK;
 * - RFC 6298 RTT samples (timestamps, or one timed segment with Karn's rule);
 * - receive: in-order delivery, reassembly.ts for out-of-order data (SACK blocks, RFC 2018),
 *   ACK policy of RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized
 *   segment, at once for out-of-order data, for data that fills a hole, and for a FIN; otherwise
 *   delayed (40 ms); Linux's quick-ack mode for the first segments of a connection.
 */
import { TcpFlags, type TcpOptionsScratch } from '../../wire/tcp.js';
import { St, type TcpConnection } from './connection.js';
import type { TxQueue, TxRecord } from './tx-queue.js';
import { challengeAck, goBackActive, inRecovery, output, pipe, rackFirstLost, rearmTimer, retransmitAt, rqFind, sendAck, sendSyn } from './output.js';
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqSub, type Seq } from './seq.js';
import type { SackBlock } from './sack-scoreboard.js';
import type { RackAckInfo } from './rack.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

/** RFC 7323 §5.5: TS.Recent is invalid after 24 days of idleness. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** A received segment (one reusable instance per layer). `payload` is a view into the frame. */
export class Segment {
  seq: Seq = 0;
  ack: Seq = 0;
  flags = 0;
  window = 0;
  payload: Uint8Array = new Uint8Array(0);
  opts!: TcpOptionsScratch;
  /** Let through PAWS as a disordered duplicate ACK: must not update the send window. */
  disordered = false;
  /** SEG.LEN: payload + SYN + FIN. */
  get len(): number {
    return this.payload.length + (this.flags & SYN ? 1 : 0) + (this.flags & FIN ? 1 : 0);
  }
}

const blocksScratch: SackBlock[] = [];
const NO_BLOCKS: readonly SackBlock[] = Object.freeze([]);

/** Reused block objects (the scoreboard copies what it keeps): no allocation per SACK. */
const blockPool: SackBlock[] = [
  { start: 0, end: 0 },
  { start: 0, end: 0 },
  { start: 0, end: 0 },
  { start: 0, end: 0 },
];

function sackBlocksOf(s: Segment): SackBlock[] {
  blocksScratch.length = 0;
  const o = s.opts;
  for (let i = 0; i < o.sackCount; i++) {
    const b = blockPool[i]!;
    b.start = o.sackBlocks[2 * i]!;
    b.end = o.sackBlocks[2 * i + 1]!;
    blocksScratch.push(b);
  }
  return blocksScratch;
}

/**
 * Entry point: a segment for connection `c` (never LISTEN, handled by the layer). Inside a link
 * batch (TcpLayer.batching) the output step waits for the end of the batch, so that one ACK
 * (and one output run) answers every segment of the batch for this connection.
 */
export function segmentArrives(c: TcpConnection, s: Segment): void {
  c.segmentsReceived++;
  if (c.state === St.SYN_SENT) synSent(c, s);
  else otherStates(c, s);
  if (c.released) return;
  if (c.layer.batching) c.layer.deferOutput(c);
  else afterSegments(c);
}

/** After one segment, or a batch of them: send what the ACKs allowed, then any ACK still owed. */
export function afterSegments(c: TcpConnection): void {
  if (c.released) return;
  if (c.state !== St.SYN_SENT && c.state !== St.SYN_RECEIVED && c.state !== St.TIME_WAIT) output(c);
  if (c.ackNow) sendAck(c);
}

/** Applies the options of the peer's SYN (RFC 9293 §3.7.1, RFC 7323 §2.2 §3.2, RFC 2018 §2). */
export function applySynOptions(c: TcpConnection, o: TcpOptionsScratch, weOffered: boolean): void {
  c.peerMss = o.mss > 0 ? o.mss : c.family === 4 ? 536 : 1220;
  if (o.wscale >= 0 && weOffered) {
    c.wscaleOk = true;
    c.sndWscale = Math.min(o.wscale, 14);
  } else {
    c.wscaleOk = false;
    c.sndWscale = 0;
    c.rcvWscale = 0;
  }
  c.sackOk = o.sackPermitted && weOffered;
  c.tsOk = o.hasTimestamps && weOffered;
  if (c.tsOk) {
    c.tsRecent = o.tsVal;
    c.tsRecentAt = c.now;
  }
}

/** RFC 9293 §3.10.7.3. */
function synSent(c: TcpConnection, s: Segment): void {
  const L = c.layer;
  const hasAck = (s.flags & ACK) !== 0;
  // First: check the ACK bit.
  if (hasAck && (seqLeq(s.ack, c.iss) || seqGt(s.ack, c.sndNxt))) {
    if (!(s.flags & RST)) L.sendRstRaw(c.family, c.localAddr, c.remoteAddr, c.localPort, c.remotePort, s.ack, 0, false, c.scope);
    L.counters.drop('tcp.syn_sent_bad_ack');
    return;
  }
  // Second: the RST bit (RFC 5961 §3.2: acceptable when it acknowledges the SYN).
  if (s.flags & RST) {
    if (hasAck) c.fail('ECONNREFUSED', 'connection refused');
    else L.counters.drop('tcp.syn_sent_rst_no_ack');
    return;
  }
  // Fourth: the SYN bit.
  if (!(s.flags & SYN)) {
    L.counters.drop('tcp.syn_sent_no_syn');
    return;
  }
  c.irs = s.seq;
  c.rcvNxt = seqAdd(s.seq, 1);
  c.lastAckSent = c.rcvNxt;
  applySynOptions(c, s.opts, true);
  c.initCongestion();
  c.rcvAdvRight = seqAdd(c.rcvNxt, Math.min(c.rcvBufSize, 0xffff));
  c.lastRecvTime = c.now;
  if (hasAck) {
    // Our SYN is acknowledged: ESTABLISHED.
    c.sndUna = s.ack;
    takeRttSample(c, s, true);
    if (c.rtxCount > 0) c.rtt.resetAfterSynTimeout();
    c.rtxCount = 0;
    L.timers.cancel(c.rtxTimer);
    c.sndWnd = s.window; // RFC 7323 §2.2: not scaled in a SYN
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = s.seq;
    c.sndWl2 = s.ack;
    c.sb?.reset(c.sndUna);
    c.setState(St.ESTABLISHED);
    c.evConnect = true;
    c.scheduleEvents();
    if (c.keepAlive) L.timers.arm(c.keepaliveTimer, c.now + c.keepIdleMs);
    c.ackNow = true;
    if (s.payload.length > 0 || s.flags & FIN) {
      s.seq = seqAdd(s.seq, 1);
      s.flags &= ~SYN;
      textAndFin(c, s);
    }
    if (c.finQueued) c.setState(St.FIN_WAIT_1);
    output(c);
  } else {
    // Simultaneous open (§3.10.7.3): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
    c.sndWnd = s.window;
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = s.seq;
    c.sndWl2 = c.iss;
    c.setState(St.SYN_RECEIVED);
    sendSyn(c);
    L.timers.arm(c.rtxTimer, c.now + c.rtt.rto);
  }
}

function takeRttSample(c: TcpConnection, s: Segment, syn: boolean): void {
  const o = s.opts;
  if (c.tsOk && o.hasTimestamps && o.tsEcr !== 0) {
    const r = seqSub(c.tsNow(), o.tsEcr);
    if (r >= 0 && r < 3_600_000) c.rtt.sample(r, false, true);
    return;
  }
  if (syn) {
    if (c.rtxCount === 0) c.rtt.sample(c.now - c.lastSendTime);
    return;
  }
  if (c.rttSeq !== undefined && seqGeq(s.ack, c.rttSeq)) {
    c.rtt.sample(c.now - c.rttTime);
    c.rttSeq = undefined;
  }
}

/**
 * PAWS exemption for a reordered duplicate ACK. RFC 7323 §5.3 R1 treats every segment whose
 * TSval is below TS.Recent as a possible old duplicate; but PAWS exists to reject old DATA
 * (§5.1, and Appendix H's pseudo-code applies it before the sequence check), and a pure ACK
 * that only repeats SND.UNA changes no state except through its SACK blocks. Reordering on the
 * return path (or the receiver's own out-of-order ACK generation) makes such ACKs arrive after
 * one with a later TSval; dropping them loses their SACK and D-SACK information, which RFC 6675
 * and RFC 8985 need. Linux tcp_disordered_ack() (tcp_paws_discard()) lets an ACK through when
 * all of these hold, and so do we:
 * 1. a pure ACK (no data, SYN, FIN or RST) with SEG.SEQ = RCV.NXT;
 * 2. a duplicate ACK: SEG.ACK = SND.UNA;
 * 3. it would not update the send window (tcp_may_update_window() is false: SEG.SEQ is not
 *    after SND.WL1, and at SND.WL1 it neither opens the window nor closes it to zero) —
 *    processAck() is also told (Segment.disordered) not to take its window;
 * 4. its TSval is within the replay window of TS.Recent: 1.2 RTO (tcp_tsval_replay()).
 */
export function disorderedAck(c: TcpConnection, s: Segment): boolean {
  if ((s.flags & (ACK | SYN | FIN | RST)) !== ACK || s.payload.length !== 0) return false;
  if (s.seq !== c.rcvNxt || s.ack !== c.sndUna) return false;
  const wnd = s.window << (c.wscaleOk ? c.sndWscale : 0);
  if (seqGt(s.seq, c.sndWl1) || (s.seq === c.sndWl1 && (wnd > c.sndWnd || wnd === 0))) return false;
  return seqSub(c.tsRecent, s.opts.tsVal) <= 1.2 * c.rtt.rto;
}

/**
 * Linux tcp_oow_rate_limited() (sysctl tcp_invalid_ratelimit, 500 ms): the duplicate ACK that
 * answers an unacceptable PURE ACK (failed PAWS, or out of window) is sent at most once per
 * 500 ms per connection. Under ACK reordering nearly every reordered ACK fails PAWS; answering
 * each would double the ACK traffic and, since those answers are themselves reordered, bounce
 * ACKs between the two ends. Segments with data are always answered. The interval is
 * `TcpLimits.oowAckIntervalMs`.
 */
function oowAck(c: TcpConnection, s: Segment): void {
  if (s.payload.length > 0 || s.flags & (SYN | FIN)) {
    c.ackNow = true;
    return;
  }
  if (c.now - c.oowAckAt < c.layer.config.oowAckIntervalMs) {
    c.layer.counters.inc('tcp.oow_ack_limited');
    return;
  }
  c.oowAckAt = c.now;
  c.ackNow = true;
}

/**
 * The segment acceptability test of §3.10.7.4 (first step). One departure, as in Linux
 * (tcp_sequence(): !after(seq, rcv_nxt + window)): a zero-length segment AT the right edge,
 * SEG.SEQ = RCV.NXT + RCV.WND, is acceptable. That is the pure ACK of a peer that has filled our
 * window exactly (its SND.NXT is our right edge); the table's strict "<" would drop it together
 * with its acknowledgment and SACK blocks, count it as out of window and answer it with an ACK.
 */
function acceptable(c: TcpConnection, seq: Seq, segLen: number, wnd: number): boolean {
  const nxt = c.rcvNxt;
  if (segLen === 0) {
    if (wnd === 0) return seq === nxt;
    return seqLeq(nxt, seq) && seqLeq(seq, seqAdd(nxt, wnd));
  }
  if (wnd === 0) return false;
  const end = seqAdd(seq, segLen - 1);
  return (seqLeq(nxt, seq) && seqLt(seq, seqAdd(nxt, wnd))) || (seqLeq(nxt, end) && seqLt(end, seqAdd(nxt, wnd)));
}

/** RFC 9293 §3.10.7.4 for SYN-RECEIVED and the synchronized states. */
function otherStates(c: TcpConnection, s: Segment): void {
  const L = c.layer;
  const now = c.now;
  const origSeq = s.seq;
  // SYN-RECEIVED: a retransmitted SYN means our SYN-ACK was lost: send it again.
  if (c.state === St.SYN_RECEIVED && s.flags & SYN && !(s.flags & ACK) && s.seq === c.irs) {
    sendSyn(c);
    return;
  }
  // TIME-WAIT: a retransmitted FIN is acknowledged and restarts the 2·MSL timeout.
  if (c.state === St.TIME_WAIT && s.flags & FIN && !(s.flags & (RST | SYN)) && seqLeq(seqAdd(s.seq, s.len), c.rcvNxt)) {
    c.ackNow = true;
    L.timers.arm(c.stateTimer, now + L.config.timeWaitMs);
    return;
  }
  // RFC 7323 §5.3 R1 (PAWS): drop segments whose TSval is older than TS.Recent.
  const o = s.opts;
  s.disordered = false;
  if (c.tsOk && o.hasTimestamps && !(s.flags & RST) && seqLt(o.tsVal, c.tsRecent)) {
    if (now - c.tsRecentAt > PAWS_IDLE_MS) {
      c.tsRecent = o.tsVal; // §5.5: TS.Recent is stale; accept
    } else if (disorderedAck(c, s)) {
      s.disordered = true;
      L.counters.inc('tcp.paws_disordered_ack');
    } else {
      L.counters.drop('tcp.paws');
      // Linux tcp_send_dupack(): data below RCV.NXT (typically the late original of a segment
      // whose retransmission arrived first and moved TS.Recent) is reported with a D-SACK
      // (RFC 2883 §4), so the sender learns its retransmission was unnecessary (RFC 3708).
      if (s.payload.length > 0 && seqLt(s.seq, c.rcvNxt)) {
        L.counters.inc('tcp.duplicate_data');
        const end = seqAdd(s.seq, s.payload.length);
        if (c.sackOk) c.dsack = { start: s.seq, end: seqLt(end, c.rcvNxt) ? end : c.rcvNxt };
      }
      oowAck(c, s);
      return;
    }
  }
  // First: the sequence number.
  const wnd = c.rcvWnd;
  if (!acceptable(c, s.seq, s.len, wnd)) {
    if (wnd === 0 && s.seq === c.rcvNxt && !(s.flags & SYN)) {
      // §3.10.7.4: with a zero window, still process ACKs and RSTs; drop the data.
      if (s.payload.length > 0) L.counters.drop('tcp.zero_window');
      s.payload = s.payload.subarray(0, 0);
      s.flags &= ~FIN;
    } else {
      // Wholly below RCV.NXT: an old duplicate (a retransmission of data we already have, a
      // keep-alive or zero-window probe), not a segment beyond the right edge we advertised.
      const old = seqLt(s.seq, c.rcvNxt) && seqLeq(seqAdd(s.seq, s.len), c.rcvNxt);
      if (!(s.flags & RST)) {
        oowAck(c, s); // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>
        if (s.payload.length > 0 && seqLeq(seqAdd(s.seq, s.payload.length), c.rcvNxt)) {
          // A duplicate: report it with a D-SACK block (RFC 2883 §4, first block).
          L.counters.inc('tcp.duplicate_data');
          if (c.sackOk) c.dsack = { start: s.seq, end: seqAdd(s.seq, s.payload.length) };
        }
      }
      L.counters.drop(s.flags & RST ? 'tcp.rst_out_of_window' : old ? 'tcp.old_duplicate' : 'tcp.out_of_window');
      return;
    }
  }
  // Trim to the window: data before RCV.NXT, and beyond RCV.NXT + RCV.WND.
  if (s.flags & SYN && seqLt(s.seq, c.rcvNxt)) {
    s.flags &= ~SYN;
    s.seq = seqAdd(s.seq, 1);
  }
  const before = seqSub(c.rcvNxt, s.seq);
  if (before > 0) {
    if (before >= s.payload.length) {
      if (before > s.payload.length) s.flags &= ~FIN; // the FIN was processed already
      s.payload = s.payload.subarray(s.payload.length);
    } else s.payload = s.payload.subarray(before);
    s.seq = c.rcvNxt;
  }
  const beyond = seqSub(seqAdd(s.seq, s.payload.length), seqAdd(c.rcvNxt, wnd));
  if (beyond > 0) {
    s.payload = s.payload.subarray(0, Math.max(0, s.payload.length - beyond));
    s.flags &= ~FIN;
  }
  // RFC 7323 §4.3 (3): TS.Recent update.
  if (c.tsOk && o.hasTimestamps && seqGeq(o.tsVal, c.tsRecent) && seqLeq(origSeq, c.lastAckSent)) {
    c.tsRecent = o.tsVal;
    c.tsRecentAt = now;
  }
  c.lastRecvTime = now;
  c.keepaliveProbes = 0;
  // Second: the RST bit (RFC 5961 §3.2).
  if (s.flags & RST) {
    if (origSeq !== c.rcvNxt) {
      challengeAck(c);
      L.counters.drop('tcp.rst_not_exact');
      return;
    }
    L.counters.inc('tcp.resets_received');
    switch (c.state) {
      case St.SYN_RECEIVED:
        // Passive open: back to LISTEN (the half-open connection goes); active: refused.
        if (c.listener && !c.accepted) c.destroy();
        else c.fail('ECONNREFUSED', 'connection refused');
        return;
      case St.ESTABLISHED:
      case St.FIN_WAIT_1:
      case St.FIN_WAIT_2:
      case St.CLOSE_WAIT:
        c.fail('ECONNRESET', 'connection reset by peer');
        return;
      default:
        c.destroy();
        return;
    }
  }
  // Fourth: the SYN bit (RFC 5961 §4.2: challenge ACK in every synchronized state).
  if (s.flags & SYN) {
    challengeAck(c);
    L.counters.drop('tcp.syn_in_window');
    return;
  }
  // Fifth: the ACK field.
  if (!(s.flags & ACK)) {
    L.counters.drop('tcp.no_ack');
    return;
  }
  if (c.state === St.SYN_RECEIVED) {
    if (seqLt(c.sndUna, s.ack) && seqLeq(s.ack, c.sndNxt)) {
      establishFromSynReceived(c, s);
      if (c.released) return;
    } else {
      if (L.synRecvCookieAck(c, s)) return;
      L.sendRstRaw(c.family, c.localAddr, c.remoteAddr, c.localPort, c.remotePort, s.ack, 0, false, c.scope);
      L.counters.drop('tcp.syn_recv_bad_ack');
      return;
    }
  }
  // RFC 5961 §5.2: SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT, else ACK and drop. The ACK
  // answering a pure ACK goes through the out-of-window limiter (Linux sends none at all here).
  if (seqGt(s.ack, c.sndNxt)) {
    oowAck(c, s);
    L.counters.drop('tcp.ack_unsent');
    return;
  }
  if (seqLt(s.ack, seqAdd(c.sndUna, -Math.max(c.maxSndWnd, 1)))) {
    challengeAck(c);
    L.counters.drop('tcp.ack_too_old');
    return;
  }
  if (c.state === St.TIME_WAIT) {
    // Only a retransmitted FIN can arrive here (handled above); anything else is ignored.
    return;
  }
  processAck(c, s);
  if (c.released) return;
  const finAcked = c.finSent && seqGt(c.sndUna, c.finSeq);
  switch (c.state) {
    case St.FIN_WAIT_1:
      if (finAcked) {
        c.setState(St.FIN_WAIT_2);
        c.armFinWait2();
      }
      break;
    case St.CLOSING:
      if (finAcked) c.enterTimeWait();
      return;
    case St.LAST_ACK:
      if (finAcked) c.destroy();
      return;
    default:
      break;
  }
  // Sixth: URG is ignored (RFC 6093: new applications should not use it).
  // Seventh and eighth: text and FIN.
  textAndFin(c, s);
}

function establishFromSynReceived(c: TcpConnection, s: Segment): void {
  const L = c.layer;
  takeRttSample(c, s, true);
  c.rtxCount = 0;
  L.timers.cancel(c.rtxTimer);
  c.sndUna = s.ack;
  c.sndWnd = s.window << (c.wscaleOk ? c.sndWscale : 0);
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = s.seq;
  c.sndWl2 = s.ack;
  c.sb?.reset(c.sndUna);
  c.setState(c.finQueued ? St.FIN_WAIT_1 : St.ESTABLISHED);
  if (c.keepAlive) L.timers.arm(c.keepaliveTimer, c.now + c.keepIdleMs);
  if (c.listener && !c.accepted) L.acceptReady(c);
  else {
    c.evConnect = true;
    c.scheduleEvents();
  }
}

/** §3.10.7.4 fifth step for ESTABLISHED and later: SND.UNA, the send window, loss recovery. */
function processAck(c: TcpConnection, s: Segment): void {
  const L = c.layer;
  const now = c.now;
  const ack = s.ack;
  const wndNew = s.window << (c.wscaleOk ? c.sndWscale : 0);
  const flightBefore = seqSub(c.sndNxt, c.sndUna);
  const oldUna = c.sndUna;
  let acked = 0;
  const sb = c.sb;
  let newlySacked = 0;
  let recoveryEnded = false;
  let dsack: SackBlock | undefined;
  if (seqGt(ack, c.sndUna)) {
    acked = seqSub(ack, c.sndUna);
    takeRttSample(c, s, false);
    const dataAcked = Math.max(0, Math.min(seqSub(ack, c.bufSeq), c.sendBuf.length));
    if (dataAcked > 0) {
      c.sendBuf.ack(dataAcked);
      c.bufSeq = seqAdd(c.bufSeq, dataAcked);
    }
    c.sndUna = ack;
    c.rtxCount = 0;
    c.persistBackoff = 0;
    // RACK RTO recovery ends once everything outstanding at the RTO is acknowledged.
    if (c.rtoRack && seqGeq(ack, c.rtoRecover)) c.rtoRack = false;
    if (goBackActive(c) && seqLt(c.rtxNxt, ack)) c.rtxNxt = ack;
    c.checkDrain();
  }
  let rackLost = false;
  if (sb) {
    const r = sb.update(ack, s.opts.sackCount > 0 ? sackBlocksOf(s) : NO_BLOCKS);
    newlySacked = r.newlySacked;
    recoveryEnded = r.recoveryEnded;
    dsack = r.dsack;
    if (dsack && c.undoMarker !== undefined) undoDsack(c, dsack);
    if (c.rack && !goBackActive(c)) rackLost = rackOnAck(c, s, dsack !== undefined, recoveryEnded);
    else if (c.rack) rackTrim(c);
    if (c.rack?.reorderingSeen) sb.dupThreshLoss = false;
    if (acked > 0 && c.undoMarker !== undefined && c.undoEifel === undefined && c.retransStamp !== undefined) {
      // RFC 3522 §3.2 (Eifel detection): the first ACK for the retransmitted head echoes the
      // TSval of the copy that filled the hole (RFC 7323 §4.3: TS.Recent comes from the segment
      // at RCV.NXT); older than the episode's first retransmission (that of the head, sent by
      // enterSackRecovery) → the original arrived: the head was delayed, not lost.
      if (c.tsOk && s.opts.hasTimestamps && s.opts.tsEcr !== 0) c.undoEifel = seqLt(s.opts.tsEcr, c.retransStamp);
      else c.undoEifel = false;
    }
  }
  // Window update (§3.10.7.4): if SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK).
  // Like Linux (tcp_may_update_window) we also take the window from any segment whose ACK
  // advances SND.UNA: otherwise a retransmitted segment from the peer (SEG.SEQ < SND.WL1) moves
  // SND.UNA but leaves SND.WND anchored to the old edge, and we would send past the peer's
  // advertised right edge (SND.UNA + SND.WND).
  const oldWnd = c.sndWnd;
  if (
    !s.disordered &&
    seqGeq(ack, oldUna) &&
    (seqGt(ack, oldUna) || seqLt(c.sndWl1, s.seq) || (c.sndWl1 === s.seq && seqLeq(c.sndWl2, ack)))
  ) {
    c.sndWnd = wndNew;
    c.sndWl1 = s.seq;
    c.sndWl2 = ack;
    if (wndNew > c.maxSndWnd) c.maxSndWnd = wndNew;
  }
  // RFC 5681 §2 duplicate ACK (RFC 6675 §2: with SACK, an ACK that newly SACKs data counts).
  const isDup =
    acked === 0 &&
    ack === oldUna &&
    flightBefore > 0 &&
    (sb ? newlySacked > 0 : s.payload.length === 0 && !(s.flags & (SYN | FIN)) && c.sndWnd === oldWnd);
  const srtt = c.rtt.srtt;
  const cc = c.cc;
  if (sb) {
    if (recoveryEnded) {
      cc.onRecoveryExit(now);
      c.prr.exit();
      c.undoEnd = c.sb!.recoveryPoint;
    }
    if (c.undoMarker !== undefined && !sb.inRecovery) tryUndo(c);
    if (sb.inRecovery) {
      // RFC 6937: DeliveredData = change in SND.UNA + change in SACKed bytes.
      const p = pipe(c);
      const sndcnt = c.prr.onAck(acked + newlySacked, p, cc.ssthresh, c.mss);
      cc.cwnd = p + sndcnt;
    } else {
      if (isDup) c.dupAcks++;
      else if (acked > 0) c.dupAcks = 0;
      if (acked > 0) cc.onAck(acked, now, srtt, flightBefore);
      // Any segment RACK has marked lost and not yet retransmitted starts (another) recovery,
      // also one marked during the previous episode beyond its RecoveryPoint (Linux
      // tcp_time_to_recover(): lost_out > 0) — a new loss window, a new reduction.
      const rackPending = rackLost || (c.rack !== undefined && sb.sackedBytes > 0 && rackFirstLost(c) !== undefined);
      if (!goBackActive(c) && seqGeq(c.sndUna, c.rtoRecover) && (sb.shouldEnterRecovery(c.dupAcks) || (rackPending && c.outstanding))) enterSackRecovery(c);
    }
  } else {
    if (acked > 0) {
      const flightAfter = seqSub(c.sndNxt, c.sndUna);
      const wasInRecovery = c.nr.inRecovery;
      const act = c.nr.onNewAck(ack, acked, flightAfter, cc, now);
      if (!wasInRecovery) cc.onAck(acked, now, srtt, flightBefore);
      if (act.kind === 'partial') {
        retransmitAt(c, c.sndUna, c.mss);
        if (act.resetTimer) L.timers.arm(c.rtxTimer, now + c.rtt.rto);
      }
      c.dupAcks = 0;
    } else if (isDup && !goBackActive(c)) {
      const act = c.nr.onDupAck(ack, c.sndNxt, flightBefore, cc, now);
      if (act.kind === 'fast-retransmit') {
        L.counters.inc('tcp.fast_retransmits');
        retransmitAt(c, c.sndUna, c.mss);
      }
    }
  }
  // RFC 8985 §7.4: did a tail loss probe repair a loss?
  if (c.tlp.inEpisode) {
    const outcome = c.tlp.onAck(ack, dsack, isDup && s.opts.sackCount === 0);
    if (outcome === 'loss' && !inRecovery(c)) {
      L.counters.inc('tcp.tlp_recoveries');
      cc.onCongestionEvent(now, flightBefore);
      cc.onRecoveryExit(now);
    }
  }
  // RFC 6298 §5.2 / §5.3 (or the PTO, RFC 8985 §7.2).
  if (!c.outstanding) {
    L.timers.cancel(c.rtxTimer);
    c.ptoArmed = false;
  } else if (acked > 0) {
    rearmTimer(c, true);
    c.rtxStartTime = now;
  } else {
    rearmTimer(c, false);
  }
  if (c.sndWnd > 0 && c.persistTimer.scheduled && oldWnd === 0) {
    // The window opened: send now rather than at the next probe.
    L.timers.cancel(c.persistTimer);
    c.persistBackoff = 0;
  }
}

/** Per-ACK scratch for RACK (one ACK is processed at a time; nothing keeps them). */
const deliveredScratch: TxRecord[] = [];
const ackInfoScratch: RackAckInfo = {
  now: 0,
  delivered: deliveredScratch,
  tsEcr: undefined,
  dsack: false,
  sndUna: 0,
  sndNxt: 0,
  inRecovery: false,
  exitingRecovery: false,
  segsSacked: 0,
  srtt: undefined,
  rttSample: undefined,
};

/** Drops the transmit records below SND.UNA; returns those newly delivered (not SACKed before). */
function rackTrim(c: TcpConnection, delivered?: TxRecord[]): void {
  const rq = c.rq;
  const una = c.sndUna;
  let k = 0;
  while (k < rq.length && seqLeq(rq.at(k).endSeq, una)) {
    const r = rq.at(k);
    if (r.sacked) c.rqSacked--;
    else delivered?.push(r);
    k++;
  }
  if (k > 0) rq.dropFront(k);
  if (rq.length > 0 && seqLt(rq.at(0).seq, una)) rq.at(0).seq = una;
}

/**
 * RACK per-ACK processing (RFC 8985 §6.2 steps 1–5): finds the segments this ACK delivered
 * (cumulatively or by SACK), updates RACK, and marks losses. Returns whether any were marked.
 */
function rackOnAck(c: TcpConnection, s: Segment, hasDsack: boolean, exiting: boolean): boolean {
  const rack = c.rack!;
  const rq = c.rq;
  // Scratch (no allocation per ACK): filled here, read by rack.onAck, then left alone.
  const delivered = deliveredScratch;
  delivered.length = 0;
  rackTrim(c, delivered);
  const o = s.opts;
  for (let b = hasDsack ? 1 : 0; b < o.sackCount; b++) {
    const bs = o.sackBlocks[2 * b]!;
    const be = o.sackBlocks[2 * b + 1]!;
    if (!seqLt(bs, be)) continue;
    for (let i = rqFind(c, bs); i < rq.length && seqLt(rq.at(i).seq, be); i++) {
      const r = rq.at(i);
      if (!r.sacked && seqGeq(r.seq, bs) && seqLeq(r.endSeq, be)) {
        r.sacked = true;
        c.rqSacked++;
        delivered.push(r);
      }
    }
  }
  if (delivered.length === 0 && !hasDsack) return false;
  const now = c.now;
  // TSecr as the (whole-millisecond) time its TSval was sent: tsNow() is floor(now) + offset.
  const tsEcr = c.tsOk && o.hasTimestamps && o.tsEcr !== 0 ? Math.floor(now) - seqSub(c.tsNow(), o.tsEcr) : undefined;
  const info = ackInfoScratch;
  info.now = now;
  info.delivered = delivered;
  info.tsEcr = tsEcr;
  info.dsack = hasDsack;
  info.sndUna = c.sndUna;
  info.sndNxt = c.sndNxt;
  info.inRecovery = c.sb?.inRecovery ?? false;
  info.exitingRecovery = exiting;
  info.segsSacked = c.rqSacked;
  info.srtt = c.rtt.srtt;
  rack.onAck(info);
  delivered.length = 0;
  // Nothing SACKed and not in recovery: only cumulative ACKs, which deliver the oldest
  // segments, so no outstanding segment can have been sent before RACK.xmit_ts; skip the O(n)
  // scan (Linux walks its time-ordered list and stops at the same point).
  if (c.rqSacked === 0 && !(c.sb?.inRecovery ?? false) && !c.reoTimer.scheduled) return false;
  return rackDetect(c);
}

/** RACK_detect_loss_and_arm_timer (RFC 8985 §6.2 step 5). Returns whether losses were marked. */
export function rackDetect(c: TcpConnection): boolean {
  const res = c.rack!.detectLoss(c.now, notSacked(c.rq));
  const L = c.layer;
  if (res.deadline !== undefined) L.timers.arm(c.reoTimer, res.deadline);
  else if (c.reoTimer.scheduled) L.timers.cancel(c.reoTimer);
  if (res.lost.length > 0) L.counters.inc('tcp.rack_losses', res.lost.length);
  return res.lost.length > 0;
}

function* notSacked(rq: TxQueue): Iterable<TxRecord> {
  for (let i = 0; i < rq.length; i++) {
    const r = rq.at(i);
    if (!r.sacked) yield r;
  }
}

/** The RACK reordering timer fired: detect again, recover if needed. */
export function rackTimeout(c: TcpConnection): void {
  if (!c.rack || !c.sb || goBackActive(c)) return;
  if (!rackDetect(c)) return;
  if (!c.sb.inRecovery && seqGeq(c.sndUna, c.rtoRecover) && c.outstanding) enterSackRecovery(c);
  output(c);
}

/**
 * A D-SACK (RFC 2883) reported duplicate sequence space. When it lies in the current undo
 * episode's retransmitted range, one of our retransmissions was unnecessary (RFC 3708 §3): the
 * original arrived too, so it was delayed, not lost. That is reordering (Linux
 * tcp_sacktag_one() lowers the reordering point for a D-SACKed retransmission): RACK stops
 * relying on DupThresh and widens its window (RFC 8985 §6.2 steps 3–4).
 */
function undoDsack(c: TcpConnection, d: SackBlock): void {
  const lo = c.undoMarker!;
  const hi = c.undoEnd;
  const s = seqGt(d.start, lo) ? d.start : lo;
  const e = seqLt(d.end, hi) ? d.end : hi;
  if (!seqLt(s, e)) return;
  c.undoRetrans = Math.max(0, c.undoRetrans - seqSub(e, s));
  c.layer.counters.inc('tcp.dsack_spurious_rtx');
  if (c.rack) c.rack.reorderingSeen = true;
}

/**
 * Undo of a spurious fast recovery, once it has ended (Linux tcp_try_undo_recovery() at the
 * end of recovery and tcp_try_undo_dsack() for D-SACKs arriving after it): when every octet
 * retransmitted in the episode has been reported as a duplicate by D-SACK (RFC 3708 §3.2:
 * "all retransmissions were unnecessary"), or when Eifel detection (RFC 3522) showed that the
 * original of the first retransmission was delivered, the reduction was spurious: restore
 * cwnd and ssthresh (RFC 4015 response, the controller's `undo`; RFC 9438 §4.9 for CUBIC).
 */
function tryUndo(c: TcpConnection): void {
  if (c.undoRetrans > 0 && c.undoEifel !== true) return;
  c.layer.counters.inc(c.undoRetrans <= 0 ? 'tcp.undo_dsack' : 'tcp.undo_eifel');
  c.undoMarker = undefined;
  c.cc.undo(c.now);
}

/** RFC 6675 §5 step (4) with PRR (RFC 6937). */
function enterSackRecovery(c: TcpConnection): void {
  const sb = c.sb!;
  const flight = seqSub(c.sndNxt, c.sndUna);
  c.layer.counters.inc('tcp.fast_retransmits');
  // The reduction is from min(FlightSize, cwnd). FlightSize (SND.NXT - SND.UNA, RFC 5681)
  // includes the SACKed data above the holes; while a hole stays open for more than a round
  // trip (a lost retransmission, or a loss RACK waits out), it grows far beyond cwnd and
  // β·FlightSize is no reduction at all — cwnd then ratchets up across loss episodes. RFC 9438
  // §4.6 allows cwnd (what Linux uses: tcp_cubic, tcp_reno ssthresh from snd_cwnd).
  c.cc.onCongestionEvent(c.now, Math.min(flight, c.cc.cwnd));
  c.prr.enter(flight);
  // A new undo episode (Linux tcp_init_undo()): [SND.UNA, RecoveryPoint).
  c.undoMarker = c.sndUna;
  c.undoEnd = c.sndNxt;
  c.undoRetrans = 0;
  c.retransStamp = undefined;
  // Eifel can tell which copy of the head filled the hole only if the head had not been
  // retransmitted before (else an older retransmission echoes a TSval before this episode).
  const head = c.rq.first();
  c.undoEifel = c.tsOk && head !== undefined && head.seq === c.sndUna && !head.retransmitted ? undefined : false;
  const seg = sb.enterRecovery();
  const n = retransmitAt(c, seg.seq, seg.len);
  c.prr.onSend(n);
  c.dupAcks = 0;
}

/** Seventh (segment text) and eighth (FIN) steps. */
function textAndFin(c: TcpConnection, s: Segment): void {
  const L = c.layer;
  const st = c.state;
  const hasData = s.payload.length > 0;
  const fin = (s.flags & FIN) !== 0;
  if (!hasData && !fin) return;
  if (st !== St.ESTABLISHED && st !== St.FIN_WAIT_1 && st !== St.FIN_WAIT_2 && st !== St.SYN_RECEIVED) {
    // CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: the peer already sent its FIN; ignore.
    if (hasData) L.counters.drop('tcp.data_after_fin');
    return;
  }
  if (c.userClosed && hasData) {
    // Linux (tcp_rcv_state_process): new data after close() → reset.
    L.counters.drop('tcp.data_after_close');
    L.sendRstRaw(c.family, c.localAddr, c.remoteAddr, c.localPort, c.remotePort, c.sndNxt, 0, false, c.scope);
    c.destroy();
    return;
  }
  const ooo = c.ooo!;
  if (s.seq === c.rcvNxt) {
    const hadHole = !ooo.empty;
    if (hasData && !c.quickAckStarted) {
      // Linux tcp_event_data_recv() → tcp_incr_quickack(): the first data segment starts
      // quick-ack mode, an immediate ACK for each of the next rcv_wnd / (2·rcv_mss) segments
      // (at least 2, at most TCP_MAX_QUICKACKS = 16), so that the sender's slow start is not
      // slowed by delayed ACKs (RFC 5681 §4.2 allows ACKing every segment).
      c.quickAckStarted = true;
      c.quickAcks = Math.max(c.quickAcks, Math.min(16, Math.max(2, Math.floor(c.rcvWnd / (2 * c.rcvMss)))));
    }
    if (hasData) {
      c.rcvNxt = seqAdd(c.rcvNxt, s.payload.length);
      c.deliver(s.payload);
      if (s.payload.length > c.rcvMss) c.rcvMss = Math.min(s.payload.length, c.routeMss);
      c.unackedRcv += s.payload.length;
    }
    let finNow = fin;
    if (hadHole) {
      ooo.advance(c.rcvNxt);
      for (let chunk = ooo.pop(); chunk; chunk = ooo.pop()) c.deliverOwned(chunk);
      c.rcvNxt = ooo.rcvNxt;
      if (ooo.finReady) finNow = true;
      c.ackNow = true; // filled (part of) a hole: ACK at once (RFC 5681 §4.2)
    } else {
      ooo.advance(c.rcvNxt);
    }
    if (finNow) {
      processFin(c);
      return;
    }
    // ACK policy: every second full-sized segment, else delayed (RFC 9293 §3.8.6.3).
    if (c.quickAcks > 0) {
      c.quickAcks--;
      c.ackNow = true;
    } else if (c.unackedRcv >= 2 * c.rcvMss || (s.flags & PSH && c.rcvWnd < c.mss)) {
      c.ackNow = true;
    } else if (!c.ackNow) {
      c.ackPending = true;
      if (!c.delackTimer.scheduled) L.timers.arm(c.delackTimer, c.now + L.config.delayedAckMs);
    }
  } else {
    // Out of order (seq > RCV.NXT after trimming): queue, ACK at once with SACK (RFC 5681 §4.2).
    const r = ooo.insert(s.seq, s.payload, fin);
    if (r.dropped) L.counters.drop('tcp.ooo_queue_full');
    L.counters.inc('tcp.ooo_segments');
    c.ackNow = true;
  }
}

/** §3.10.7.4 eighth step: the FIN is in order. */
function processFin(c: TcpConnection): void {
  c.rcvNxt = seqAdd(c.rcvNxt, 1);
  c.ooo?.advance(c.rcvNxt);
  c.finReceived = true;
  c.eofPending = true;
  c.scheduleEvents();
  c.ackNow = true;
  switch (c.state) {
    case St.SYN_RECEIVED:
    case St.ESTABLISHED:
      c.setState(St.CLOSE_WAIT);
      break;
    case St.FIN_WAIT_1:
      if (c.finSent && seqGt(c.sndUna, c.finSeq)) {
        c.enterTimeWait();
      } else c.setState(St.CLOSING);
      break;
    case St.FIN_WAIT_2:
      c.layer.timers.cancel(c.stateTimer);
      c.enterTimeWait();
      break;
    default:
      break;
  }
}
