/**
 * RACK-TLP loss detection (RFC 8985).
 *
 * RACK ("Recent ACKnowledgment", §6) infers losses from time: a segment is lost when a segment
 * sent sufficiently later (by more than the reordering window) has been delivered. TLP ("Tail
 * Loss Probe", §7) sends one probe when the ACK stream stops, so tail losses are repaired by
 * RACK/fast recovery instead of an RTO.
 *
 * The caller owns the retransmission queue. Each queued segment is (or is wrapped by) a
 * `RackSegment` with its latest transmit time; the caller passes the newly delivered segments
 * (cumulatively or selectively acknowledged) to `onAck`, and the still-outstanding ones to
 * `detectLoss`. Times are milliseconds; nothing here reads a clock.
 */
import { seqGeq, seqGt, seqLt, type Seq } from './seq.js';
import type { SackBlock } from './sack-scoreboard.js';

/** RFC 8985 §6.1 per-segment state. */
export interface RackSegment {
  /** First sequence number. */
  seq: Seq;
  /** Segment.end_seq: the sequence number after the last byte. */
  endSeq: Seq;
  /** Segment.xmit_ts: time of the latest (re)transmission, ms. */
  xmitTs: number;
  /** Segment.retransmitted. */
  retransmitted: boolean;
  /** Segment.lost: marked by RACK (the caller clears it when retransmitting). */
  lost: boolean;
  /**
   * Delivered by a SACK block rather than by the cumulative ACK (optional). The ACK's TSecr
   * says which copy of a segment arrived only for the segment that advanced RCV.NXT: RFC 7323
   * §4.3 (2) leaves TS.Recent unchanged for out-of-order data, so the ACK of a SACKed segment
   * echoes the TSval of an earlier in-order segment.
   */
  sacked?: boolean;
}

/** Inputs of RACK's per-ACK steps (§6.2 steps 1–4). */
export interface RackAckInfo {
  now: number;
  /** Segments newly acknowledged by this ACK, cumulatively or selectively (any order). */
  delivered: readonly RackSegment[];
  /**
   * The ACK's timestamp echo (TSecr) converted to the time base of xmitTs, if timestamps are
   * used: the timestamp clock ticks in whole milliseconds, so this is the transmit time of the
   * echoed segment rounded down to the tick (it is compared with Math.floor(xmitTs)).
   */
  tsEcr?: number | undefined;
  /** The ACK carried a D-SACK (RFC 2883). */
  dsack: boolean;
  /** SND.UNA after this ACK. */
  sndUna: Seq;
  /** SND.NXT. */
  sndNxt: Seq;
  /** In fast recovery or RTO recovery after this ACK. */
  inRecovery: boolean;
  /** This ACK ended fast or RTO recovery. */
  exitingRecovery: boolean;
  /** Number of segments currently SACKed (RACK.segs_sacked). */
  segsSacked: number;
  /** Current SRTT, ms (undefined before the first sample). */
  srtt: number | undefined;
  /** Optional RTT sample from RFC 6298 / RFC 7323 for min_RTT (step 1). */
  rttSample?: number | undefined;
}

export interface RackLossResult {
  /** Segments newly marked lost (already flagged `lost`, in the order given). */
  lost: RackSegment[];
  /** RFC 8985 "timeout": ms until the reordering timer must fire; 0 = no timer needed. */
  timeout: number;
  /** now + timeout, or undefined when no timer is needed. */
  deadline: number | undefined;
}

export interface RackOptions {
  /** DupThresh (§6.2 step 4; default 3). */
  dupThresh?: number;
  /** Window of the min_RTT filter, ms (§6.2 step 1 recommends a windowed min; default 300 s like Linux). */
  minRttWindow?: number;
}

/** Step 2's order: ascending xmit_ts, then end_seq. */
function byXmitTs(x: RackSegment, y: RackSegment): number {
  return x.xmitTs - y.xmitTs || (seqLt(x.endSeq, y.endSeq) ? -1 : 1);
}

/** Step 3's order: ascending end_seq. */
function byEndSeq(x: RackSegment, y: RackSegment): number {
  return seqLt(x.endSeq, y.endSeq) ? -1 : x.endSeq === y.endSeq ? 0 : 1;
}

/** Whether `xs` is already sorted by `cmp` (no adjacent pair out of order). */
function inOrder(xs: readonly RackSegment[], cmp: (x: RackSegment, y: RackSegment) => number): boolean {
  for (let i = 1; i < xs.length; i++) if (cmp(xs[i - 1]!, xs[i]!) > 0) return false;
  return true;
}

/** RACK_sent_after(t1, seq1, t2, seq2) (§6.2 step 2). */
export function rackSentAfter(t1: number, seq1: Seq, t2: number, seq2: Seq): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2));
}

export class Rack {
  readonly dupThresh: number;
  readonly minRttWindow: number;

  /** RACK.xmit_ts: latest transmit time among delivered segments (-Infinity = none). */
  xmitTs = -Infinity;
  /** RACK.end_seq: end_seq of that segment. */
  endSeq: Seq = 0;
  /** RACK.segs_sacked. */
  segsSacked = 0;
  /** RACK.fack: highest end_seq delivered so far (undefined = none yet). */
  fack: Seq | undefined = undefined;
  /** RACK.min_RTT (windowed min; undefined before any sample). */
  minRtt: number | undefined = undefined;
  private minRttAt = 0;
  /** RACK.rtt: RTT of the most recently sent delivered segment. */
  rtt = 0;
  /** RACK.reordering_seen. */
  reorderingSeen = false;
  /** RACK.reo_wnd, ms. */
  reoWnd = 0;
  /** RACK.dsack_round (undefined = None). */
  dsackRound: Seq | undefined = undefined;
  /** RACK.reo_wnd_mult. */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist. */
  reoWndPersist = 16;

  constructor(opts: RackOptions = {}) {
    this.dupThresh = opts.dupThresh ?? 3;
    this.minRttWindow = opts.minRttWindow ?? 300_000;
  }

  /** Step 1: feed an RTT measurement into the min_RTT filter. */
  updateMinRtt(rtt: number, now: number): void {
    if (!(rtt >= 0)) return;
    if (this.minRtt === undefined || rtt <= this.minRtt || now - this.minRttAt > this.minRttWindow) {
      this.minRtt = rtt;
      this.minRttAt = now;
    }
  }

  /** §6.2 steps 1–4 for one ACK. Returns the new RACK.reo_wnd. */
  onAck(a: RackAckInfo): number {
    const now = a.now;
    this.segsSacked = a.segsSacked;
    // Step 1.
    if (a.rttSample !== undefined) this.updateMinRtt(a.rttSample, now);

    // Step 2: RACK_update(), in ascending order of xmit_ts.
    // Usually already in order (a cumulative ACK delivers the oldest segments, sent in order):
    // sorting a copy is needed only when it is not (the sort is stable, so the order is the same).
    const byTs = inOrder(a.delivered, byXmitTs) ? a.delivered : [...a.delivered].sort(byXmitTs);
    for (const s of byTs) {
      const rtt = now - s.xmitTs;
      if (s.retransmitted) {
        // Ambiguous: was the original or the retransmission delivered? RFC 8985 §6.2 step 2:
        // skip when the ACK's TSecr predates the retransmission — meaningful only for a
        // cumulatively acknowledged segment (see RackSegment.sacked: a SACKed segment's ACK
        // echoes an older in-order segment, and skipping it would leave RACK.xmit_ts behind
        // every retransmission, so a lost retransmission is never detected). Then, like Linux
        // (tcp_rack_advance), skip an RTT below min_RTT: the original, not the retransmission.
        if (a.tsEcr !== undefined && !s.sacked && a.tsEcr < Math.floor(s.xmitTs)) continue;
        if (this.minRtt !== undefined && rtt < this.minRtt) continue;
      } else if (a.rttSample === undefined) {
        this.updateMinRtt(rtt, now);
      }
      this.rtt = rtt;
      if (rackSentAfter(s.xmitTs, s.endSeq, this.xmitTs, this.endSeq)) {
        this.xmitTs = s.xmitTs;
        this.endSeq = s.endSeq;
      }
    }

    // Step 3: RACK_detect_reordering(), in ascending order of end_seq.
    const bySeq = inOrder(a.delivered, byEndSeq) ? a.delivered : [...a.delivered].sort(byEndSeq);
    for (const s of bySeq) {
      if (this.fack === undefined || seqGt(s.endSeq, this.fack)) this.fack = s.endSeq;
      else if (seqLt(s.endSeq, this.fack) && !s.retransmitted) this.reorderingSeen = true;
    }

    // Step 4: RACK_update_reo_wnd().
    if (this.dsackRound !== undefined && seqGeq(a.sndUna, this.dsackRound)) this.dsackRound = undefined;
    if (this.dsackRound === undefined && a.dsack) {
      this.dsackRound = a.sndNxt;
      this.reoWndMult += 1;
      this.reoWndPersist = 16;
    } else if (a.exitingRecovery) {
      this.reoWndPersist -= 1;
      if (this.reoWndPersist <= 0) this.reoWndMult = 1;
    }
    this.reoWnd = this.computeReoWnd(a.inRecovery, a.srtt);
    return this.reoWnd;
  }

  private computeReoWnd(inRecovery: boolean, srtt: number | undefined): number {
    if (!this.reorderingSeen) {
      if (inRecovery) return 0;
      if (this.segsSacked >= this.dupThresh) return 0;
    }
    const w = (this.reoWndMult * (this.minRtt ?? 0)) / 4;
    return srtt === undefined ? w : Math.min(w, srtt);
  }

  /**
   * §6.2 step 5, RACK_detect_loss(): marks outstanding segments lost and returns the time until
   * the reordering timer (RACK_detect_loss_and_arm_timer) must run again. `outstanding` are the
   * segments neither cumulatively nor selectively acknowledged. A segment already marked lost
   * and not yet retransmitted (the RFC's xmit_ts = INFINITE_TS) is skipped.
   */
  detectLoss(now: number, outstanding: Iterable<RackSegment>): RackLossResult {
    const lost: RackSegment[] = [];
    let timeout = 0;
    if (this.xmitTs === -Infinity) return { lost, timeout: 0, deadline: undefined };
    for (const s of outstanding) {
      if (s.lost) continue;
      if (!rackSentAfter(this.xmitTs, this.endSeq, s.xmitTs, s.endSeq)) continue;
      const remaining = s.xmitTs + this.rtt + this.reoWnd - now;
      if (remaining <= 0) {
        s.lost = true;
        lost.push(s);
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    return { lost, timeout, deadline: timeout > 0 ? now + timeout : undefined };
  }

  /**
   * §6.3, RACK_mark_losses_on_RTO(): on RTO expiry, the segment at SND.UNA and every segment
   * whose reordering deadline has passed are lost.
   */
  markLossesOnRto(now: number, outstanding: Iterable<RackSegment>, sndUna: Seq): RackSegment[] {
    const lost: RackSegment[] = [];
    for (const s of outstanding) {
      if (s.lost) continue;
      if (s.seq === sndUna >>> 0 || s.xmitTs + this.rtt + this.reoWnd - now <= 0) {
        s.lost = true;
        lost.push(s);
      }
    }
    return lost;
  }
}

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK timer, 200 ms. */
export const TLP_WC_DEL_ACK_T = 200;

export type TlpProbe =
  /** Send the lowest-sequence unsent segment (up to SMSS) as the probe. */
  | { kind: 'new' }
  /** Retransmit the highest-sequence segment sent so far. */
  | { kind: 'retransmit'; seq: Seq; len: number };

export type TlpAckOutcome =
  /** No TLP episode, or the ACK does not cover the probe yet. */
  | 'none'
  /** The probe was new data and was delivered; episode over, no loss. */
  | 'delivered'
  /** A D-SACK shows the original and the probe both arrived; episode over, no loss. */
  | 'spurious'
  /** The probe repaired a loss: episode over; the caller MUST invoke congestion control (§7.4.2). */
  | 'loss'
  /** A pure duplicate ACK of TLP.end_seq: both copies arrived (no SACK); episode over, no loss. */
  | 'no-loss-dupack';

export class Tlp {
  /** TLP.end_seq (undefined = None): SND.NXT when the probe was sent. */
  endSeq: Seq | undefined = undefined;
  /** TLP.is_retrans: the probe was a retransmission. */
  isRetrans = false;
  /** TLP.max_ack_delay (WCDelAckT), ms. */
  maxAckDelay: number;

  constructor(maxAckDelay = TLP_WC_DEL_ACK_T) {
    this.maxAckDelay = maxAckDelay;
  }

  /** Whether a probe episode is in progress. */
  get inEpisode(): boolean {
    return this.endSeq !== undefined;
  }

  /**
   * §7.2: whether the PTO may be armed: not in fast or RTO recovery, no SACKed-but-unacknowledged
   * segments, no TLP episode in progress, and data outstanding.
   */
  canArm(inRecovery: boolean, sackedSegments: number, flightSize: number): boolean {
    return !inRecovery && sackedSegments === 0 && this.endSeq === undefined && flightSize > 0;
  }

  /**
   * §7.2 PTO computation: 2*SRTT (+ WCDelAckT when FlightSize is one segment), 1 s without an
   * SRTT, and never beyond the RTO expiry (`rtoDeadline`, absolute). Returns the absolute deadline.
   */
  ptoDeadline(now: number, srtt: number | undefined, flightSize: number, mss: number, rtoDeadline?: number): number {
    let pto: number;
    if (srtt !== undefined) {
      pto = 2 * srtt;
      if (flightSize <= mss) pto += this.maxAckDelay;
    } else {
      pto = 1000;
    }
    let deadline = now + pto;
    if (rtoDeadline !== undefined && deadline > rtoDeadline) deadline = rtoDeadline;
    return deadline;
  }

  /**
   * §7.3 probe selection when the PTO fires: new data if some is unsent and the receive window
   * allows, else the highest-sequence segment sent so far ([lastSeq, lastSeq + lastLen)).
   */
  selectProbe(canSendNew: boolean, lastSeq: Seq, lastLen: number): TlpProbe {
    if (canSendNew) return { kind: 'new' };
    return { kind: 'retransmit', seq: lastSeq >>> 0, len: lastLen };
  }

  /** §7.3: the probe was sent; `sndNxt` is SND.NXT after sending it. */
  onProbeSent(sndNxt: Seq, isRetrans: boolean): void {
    this.isRetrans = isRetrans;
    this.endSeq = sndNxt >>> 0;
  }

  /**
   * §7.4.2, TLP_process_ack(). `ack` is the cumulative ACK; `dsack` the ACK's D-SACK block, if
   * any; `pureDupAck`: the ACK is a duplicate ACK (RFC 5681 §2) without SACK information.
   */
  onAck(ack: Seq, dsack: SackBlock | undefined, pureDupAck: boolean): TlpAckOutcome {
    const end = this.endSeq;
    if (end === undefined || seqLt(ack, end)) return 'none';
    if (!this.isRetrans) {
      this.endSeq = undefined;
      return 'delivered';
    }
    if (dsack && seqLt(dsack.start, end) && seqGeq(dsack.end, end)) {
      this.endSeq = undefined;
      return 'spurious';
    }
    if (seqGt(ack, end)) {
      this.endSeq = undefined;
      return 'loss';
    }
    if (pureDupAck) {
      this.endSeq = undefined;
      return 'no-loss-dupack';
    }
    return 'none';
  }

  /** RTO fired or the connection reset: the episode ends. */
  reset(): void {
    this.endSeq = undefined;
    this.isRetrans = false;
  }
}
