/**
 * The SACK scoreboard and loss recovery bookkeeping of RFC 6675 ("A Conservative Loss Recovery
 * Algorithm Based on Selective Acknowledgment (SACK) for TCP"), with D-SACK detection per
 * RFC 2883 §4.
 *
 * Storage: the SACKed parts of [SND.UNA, SND.NXT) as a sorted array of disjoint, non-adjacent
 * ranges (merged on insert), bounded by `maxRanges`. When the bound is exceeded the HIGHEST
 * ranges are forgotten — SACK information is advisory (RFC 2018 §8), so forgetting it only
 * costs possibly unnecessary retransmissions, never correctness.
 *
 * Representation of the RFC 6675 §2 variables — all as EXCLUSIVE ends (one past the octet the
 * RFC names), which keeps every range half-open:
 *   HighACK       -> `sndUna`         (SND.UNA)
 *   HighData      -> `sndNxt`         (SND.NXT: highest octet transmitted + 1)
 *   HighRxt       -> `highRxt`        (highest octet retransmitted in this recovery + 1)
 *   RescueRxt     -> `rescueRxt`      (undefined = "None")
 *   RecoveryPoint -> `recoveryPoint`
 * So the RFC's "S2 > HighRxt" is `S2 >= highRxt`, "S1 <= HighRxt" is `S1 < highRxt`, and
 * "HighACK > RescueRxt" is `sndUna > rescueRxt`.
 *
 * "DupThresh discontiguous SACKed sequences" (IsLost, §4): SACK blocks carry no segment
 * boundaries, so each range keeps an estimate of the number of segments it covers: every time a
 * SACK block newly covers n bytes, ceil(n / SMSS) segments are counted (a 100-byte segment counts
 * one). Merged ranges add their counts.
 */
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin, seqSub, type Seq } from './seq.js';

/** A SACK block: [start, end) — RFC 2018 "Left Edge" and "Right Edge" (the octet after the block). */
export interface SackBlock {
  start: Seq;
  end: Seq;
}

interface Range {
  start: Seq;
  end: Seq;
  /** Estimated number of segments SACKed in this range. */
  segs: number;
}

export interface SackUpdateResult {
  /** Bytes newly acknowledged cumulatively (SND.UNA advance). */
  ackedBytes: number;
  /** Bytes newly SACKed by this ACK (RFC 6675 Update()). */
  newlySacked: number;
  /** An RFC 2883 D-SACK block reported by this ACK (not used as SACK information). */
  dsack: SackBlock | undefined;
  /** Blocks ignored as invalid (empty, beyond SND.NXT, wholly below SND.UNA and not a D-SACK). */
  invalidBlocks: number;
  /** This ACK covered RecoveryPoint and so ended loss recovery (RFC 6675 §5). */
  recoveryEnded: boolean;
}

/** A segment NextSeg() proposes (RFC 6675 §4). `rule` is the NextSeg rule that chose it. */
export interface NextSegment {
  seq: Seq;
  len: number;
  rule: 1 | 2 | 3 | 4;
}

export interface ScoreboardOptions {
  /** SMSS in bytes. */
  mss: number;
  /** DupThresh (RFC 6675 §2: 3). */
  dupThresh?: number;
  /** Bound on stored SACKed ranges (default 256). */
  maxRanges?: number;
}

export class SackScoreboard {
  mss: number;
  readonly dupThresh: number;
  readonly maxRanges: number;

  sndUna: Seq;
  sndNxt: Seq;
  highRxt: Seq;
  rescueRxt: Seq | undefined = undefined;
  recoveryPoint: Seq;
  inRecovery = false;
  /** Ranges forgotten because of `maxRanges` (a counter for diagnostics). */
  droppedRanges = 0;
  /**
   * Whether DupThresh infers losses (IsLost, and DupAcks >= DupThresh in shouldEnterRecovery)
   * and NextSeg() may resend holes not deemed lost (rules 3 and 4).
   * A RACK sender clears it once reordering has been observed: from then on only RACK's
   * time-based reordering window marks losses (RFC 8985 §6.2 step 4 uses DupThresh only while
   * RACK.reordering_seen is false; Linux commit 20b654dfe1be "tcp: support DUPACK threshold in
   * RACK" and tcp_time_to_recover(), which ignores the DUPACK count when RACK is enabled).
   * Without it, every reordering of more than DupThresh segments is a spurious fast retransmit.
   */
  dupThreshLoss = true;

  private ranges: Range[] = [];

  constructor(iss: Seq, opts: ScoreboardOptions) {
    this.mss = opts.mss;
    this.dupThresh = opts.dupThresh ?? 3;
    this.maxRanges = Math.max(1, opts.maxRanges ?? 256);
    this.sndUna = iss >>> 0;
    this.sndNxt = iss >>> 0;
    this.highRxt = iss >>> 0;
    this.recoveryPoint = iss >>> 0;
  }

  /** RFC names. */
  get highAck(): Seq {
    return this.sndUna;
  }
  get highData(): Seq {
    return this.sndNxt;
  }

  /** The SACKed ranges, lowest first (copies). */
  sackedRanges(): SackBlock[] {
    return this.ranges.map((r) => ({ start: r.start, end: r.end }));
  }

  /** Total bytes SACKed above SND.UNA. */
  get sackedBytes(): number {
    let n = 0;
    for (const r of this.ranges) n += seqSub(r.end, r.start);
    return n;
  }

  /** End of the highest SACKed octet (exclusive), or SND.UNA when nothing is SACKed. */
  get highestSacked(): Seq {
    const n = this.ranges.length;
    return n > 0 ? this.ranges[n - 1]!.end : this.sndUna;
  }

  /** New data was transmitted up to `end` (exclusive): HighData advances (RFC 6675 §5 (C.3)). */
  onSend(end: Seq): void {
    if (seqGt(end, this.sndNxt)) this.sndNxt = end >>> 0;
  }

  isSacked(seq: Seq): boolean {
    for (const r of this.ranges) {
      if (seqLt(seq, r.start)) return false;
      if (seqLt(seq, r.end)) return true;
    }
    return false;
  }

  /**
   * RFC 6675 Update(): processes the cumulative ACK and the SACK blocks of one ACK (blocks in
   * the order they appear in the option).
   */
  update(ack: Seq, blocks: readonly SackBlock[]): SackUpdateResult {
    const res: SackUpdateResult = { ackedBytes: 0, newlySacked: 0, dsack: undefined, invalidBlocks: 0, recoveryEnded: false };
    ack >>>= 0;
    // RFC 2883 §4: the first block is a D-SACK if it starts below the cumulative ACK, or if it
    // lies within the second block (the test Linux's tcp_check_dsack() applies).
    let first = 0;
    if (blocks.length > 0) {
      const b0 = blocks[0]!;
      const below = seqLt(b0.start, ack);
      const b1 = blocks[1];
      const inSecond = b1 !== undefined && seqGeq(b0.start, b1.start) && seqLeq(b0.end, b1.end) && seqLt(b0.start, b0.end);
      if ((below && seqLt(b0.start, b0.end)) || inSecond) {
        res.dsack = { start: b0.start >>> 0, end: b0.end >>> 0 };
        first = 1;
      }
    }
    // Cumulative ACK (only ACKs within (SND.UNA, SND.NXT] move SND.UNA).
    if (seqGt(ack, this.sndUna) && seqLeq(ack, this.sndNxt)) {
      res.ackedBytes = seqSub(ack, this.sndUna);
      this.sndUna = ack;
      this.discardBelowUna();
      if (seqLt(this.highRxt, ack)) this.highRxt = ack;
      if (this.inRecovery && seqGeq(ack, this.recoveryPoint)) {
        this.inRecovery = false;
        this.rescueRxt = undefined;
        res.recoveryEnded = true;
      }
    }
    for (let i = first; i < blocks.length; i++) {
      const b = blocks[i]!;
      let s = b.start >>> 0;
      const e = b.end >>> 0;
      if (!seqLt(s, e) || seqGt(e, this.sndNxt) || seqLeq(e, this.sndUna)) {
        res.invalidBlocks++;
        continue;
      }
      if (seqLt(s, this.sndUna)) s = this.sndUna;
      res.newlySacked += this.insert(s, e);
    }
    return res;
  }

  /**
   * RFC 6675 IsLost(SeqNum): true when DupThresh discontiguous SACKed segments lie above
   * SeqNum, or more than (DupThresh - 1) * SMSS bytes above SeqNum are SACKed.
   */
  isLost(seq: Seq): boolean {
    if (!this.dupThreshLoss) return false;
    let bytes = 0;
    let segs = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i]!;
      if (seqLeq(r.end, seq)) break;
      if (seqGt(r.start, seq)) {
        bytes += seqSub(r.end, r.start);
        segs += r.segs;
      } else {
        // seq inside this range: count the part above it
        const part = seqSub(r.end, seq) - 1;
        bytes += part;
        if (part > 0) segs += Math.min(r.segs, Math.ceil(part / this.mss));
      }
    }
    return segs >= this.dupThresh || bytes > (this.dupThresh - 1) * this.mss;
  }

  /**
   * RFC 6675 §5 step (2): loss recovery starts when DupAcks >= DupThresh or IsLost(HighACK + 1),
   * i.e. the first unacknowledged octet is deemed lost. `dupAcks` is the caller's count of
   * duplicate ACKs (RFC 6675 §2 definition).
   */
  shouldEnterRecovery(dupAcks: number): boolean {
    if (this.inRecovery || !seqLt(this.sndUna, this.sndNxt)) return false;
    return (this.dupThreshLoss && dupAcks >= this.dupThresh) || this.isLost(this.sndUna);
  }

  /**
   * RFC 6675 SetPipe(): the sender's estimate of bytes outstanding. For each octet in
   * [HighACK, HighData) not SACKed: +1 if not IsLost (original still in flight), +1 if below
   * HighRxt (its retransmission is in flight).
   */
  setPipe(): number {
    let pipe = 0;
    this.forEachHole((a, b, lost) => {
      if (!lost) pipe += seqSub(b, a);
      if (seqLt(a, this.highRxt)) pipe += seqSub(seqMin(b, this.highRxt), a);
    });
    return pipe;
  }

  /**
   * RFC 6675 NextSeg(). `canSendNew`: unsent data is available and the receive window allows
   * it (rule 2). Returns undefined when nothing may be sent. Pure: call `onTransmit` with the
   * result after sending it.
   */
  nextSeg(canSendNew: boolean): NextSegment | undefined {
    const hs = this.highestSacked;
    // Rule 1: smallest unSACKed S2 >= HighRxt, below the highest SACKed octet, IsLost(S2).
    let rule3: NextSegment | undefined;
    let found: NextSegment | undefined;
    this.forEachHole((a, b, lost) => {
      if (found || !seqLt(a, hs)) return;
      const s = seqMax(a, this.highRxt);
      if (!seqLt(s, b)) return;
      const seg: NextSegment = { seq: s, len: Math.min(this.mss, seqSub(b, s)), rule: 1 };
      if (lost) found = seg;
      else if (!rule3) rule3 = { ...seg, rule: 3 };
    });
    if (found) return found;
    // Rule 2: new data (len is SMSS; the caller trims to the data and window available).
    if (canSendNew) return { seq: this.sndNxt, len: this.mss, rule: 2 };
    // Rules 3 and 4 are MAYs that resend data not deemed lost. Without DupThresh (a RACK
    // sender that has seen reordering) a hole is only a segment still in flight or reordered:
    // resending it is spurious by construction, and RACK (RFC 8985 §6.2) and TLP (§7) repair
    // real losses. Linux likewise retransmits only segments marked lost.
    if (!this.dupThreshLoss) return undefined;
    // Rule 3: unSACKed S3 >= HighRxt below the highest SACKed octet (not yet deemed lost).
    if (rule3) return rule3;
    // Rule 4: one rescue retransmission per recovery, including the highest outstanding
    // unSACKed octet, if HighACK > RescueRxt (or RescueRxt is None).
    if (this.inRecovery && (this.rescueRxt === undefined || seqGt(this.sndUna, this.rescueRxt))) {
      let top: [Seq, Seq] | undefined;
      this.forEachHole((a, b) => {
        top = [a, b];
      });
      if (top) {
        const [a, b] = top;
        const s = seqMax(a, seqAdd(b, -this.mss));
        return { seq: s, len: seqSub(b, s), rule: 4 };
      }
    }
    return undefined;
  }

  /**
   * Records a transmission chosen by NextSeg (RFC 6675 §5 (C.2)–(C.3)): a retransmission below
   * HighData moves HighRxt (except under rule 4, which sets RescueRxt = RecoveryPoint and leaves
   * HighRxt); data above HighData moves HighData.
   */
  onTransmit(seg: NextSegment): void {
    const end = seqAdd(seg.seq, seg.len);
    if (seg.rule === 4) {
      this.rescueRxt = this.recoveryPoint;
    } else if (seqLt(seg.seq, this.sndNxt)) {
      const rxEnd = seqMin(end, this.sndNxt);
      if (seqGt(rxEnd, this.highRxt)) this.highRxt = rxEnd;
    }
    this.onSend(end);
  }

  /**
   * RFC 6675 §5 step (4): enter loss recovery. RecoveryPoint = HighData; the first segment
   * (starting at HighACK) is to be retransmitted, and HighRxt and RescueRxt are set to its end
   * (step 4.3). Returns that segment.
   */
  enterRecovery(): NextSegment {
    this.inRecovery = true;
    this.recoveryPoint = this.sndNxt;
    let len = Math.min(this.mss, seqSub(this.sndNxt, this.sndUna));
    const r0 = this.ranges[0];
    if (r0 && seqLt(this.sndUna, r0.start)) len = Math.min(len, seqSub(r0.start, this.sndUna));
    const end = seqAdd(this.sndUna, len);
    this.highRxt = end;
    this.rescueRxt = end;
    return { seq: this.sndUna, len, rule: 1 };
  }

  /**
   * RFC 6675 §5.1: on RTO, RecoveryPoint = HighData and SACK-based recovery terminates.
   * `clearSacks` discards the SACK information (RFC 2018 §8 "SHOULD turn off all of the SACKed
   * bits", since the receiver may have reneged); Linux keeps it unless reneging is detected,
   * hence the default false.
   */
  onRetransmitTimeout(clearSacks = false): void {
    this.recoveryPoint = this.sndNxt;
    this.inRecovery = false;
    this.highRxt = this.sndUna;
    this.rescueRxt = undefined;
    if (clearSacks) this.ranges.length = 0;
  }

  /** Resets to an empty scoreboard at `una` (e.g. after a connection restart). */
  reset(una: Seq): void {
    this.ranges.length = 0;
    this.sndUna = this.sndNxt = this.highRxt = this.recoveryPoint = una >>> 0;
    this.rescueRxt = undefined;
    this.inRecovery = false;
  }

  /**
   * Calls fn(start, end, isLost) for each unSACKed hole in [SND.UNA, SND.NXT), lowest first.
   * IsLost is the same for every octet of a hole (the SACKed data above them is the same).
   */
  forEachHole(fn: (start: Seq, end: Seq, lost: boolean) => void): void {
    const rs = this.ranges;
    const n = rs.length;
    // suffix sums of SACKed bytes/segments at or above range i
    let sufBytes = 0;
    let sufSegs = 0;
    const lostAt: boolean[] = new Array<boolean>(n + 1);
    lostAt[n] = false;
    for (let i = n - 1; i >= 0; i--) {
      sufBytes += seqSub(rs[i]!.end, rs[i]!.start);
      sufSegs += rs[i]!.segs;
      lostAt[i] = this.dupThreshLoss && (sufSegs >= this.dupThresh || sufBytes > (this.dupThresh - 1) * this.mss);
    }
    let a = this.sndUna;
    for (let i = 0; i <= n; i++) {
      const b = i < n ? rs[i]!.start : this.sndNxt;
      if (seqLt(a, b)) fn(a, b, lostAt[i]!);
      if (i < n) a = rs[i]!.end;
    }
  }

  private discardBelowUna(): void {
    const una = this.sndUna;
    let drop = 0;
    for (const r of this.ranges) {
      if (seqLeq(r.end, una)) {
        drop++;
        continue;
      }
      if (seqLt(r.start, una)) {
        const len = seqSub(r.end, una);
        r.start = una;
        r.segs = Math.max(1, Math.min(r.segs, Math.ceil(len / this.mss)));
      }
      break;
    }
    if (drop > 0) this.ranges.splice(0, drop);
  }

  /** Merges [s, e) into the ranges; returns the number of newly SACKed bytes. */
  private insert(s: Seq, e: Seq): number {
    const rs = this.ranges;
    // first range whose end >= s (touching or overlapping or above)
    let i = 0;
    while (i < rs.length && seqLt(rs[i]!.end, s)) i++;
    let j = i;
    let covered = 0;
    let segs = 0;
    let ns = s;
    let ne = e;
    while (j < rs.length && seqLeq(rs[j]!.start, e)) {
      const r = rs[j]!;
      covered += Math.max(0, seqSub(seqMin(r.end, e), seqMax(r.start, s)));
      segs += r.segs;
      ns = seqMin(ns, r.start);
      ne = seqMax(ne, r.end);
      j++;
    }
    const newly = seqSub(e, s) - covered;
    if (newly > 0) segs += Math.ceil(newly / this.mss);
    rs.splice(i, j - i, { start: ns, end: ne, segs });
    if (rs.length > this.maxRanges) {
      this.droppedRanges += rs.length - this.maxRanges;
      rs.length = this.maxRanges;
    }
    return newly;
  }
}
