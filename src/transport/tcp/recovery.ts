/**
 * Loss recovery helpers that drive a congestion controller's window:
 * - `NewRenoRecovery`: NewReno fast retransmit / fast recovery for connections WITHOUT SACK
 *   (RFC 6582, on top of RFC 5681 §3.2). With SACK, the RFC 6675 scoreboard
 *   (`sack-scoreboard.ts`) decides what to send, and
 * - `Prr`: Proportional Rate Reduction (RFC 6937) decides how much, per ACK, during recovery.
 *
 * Sequence conventions: `recover` holds SND.NXT (SND.MAX) at the time it is set, like BSD's
 * snd_recover: the RFC's "the Cumulative Acknowledgment field covers more than recover" is
 * `ack > recover`, and a "full acknowledgment" ("acknowledges all of the data up to and including
 * recover") is `ack >= recover`; an ACK below recover in recovery is a partial ACK.
 *
 * The caller classifies ACKs (RFC 5681 §2 DUPLICATE ACKNOWLEDGMENT definition) and performs the
 * retransmissions this module asks for; cwnd/ssthresh changes go through the controller.
 */
import type { CongestionController } from './congestion/controller.js';
import { seqGeq, seqGt, type Seq } from './seq.js';

export type NewRenoAction =
  /** Nothing to do beyond normal processing. */
  | { kind: 'none' }
  /** Third duplicate ACK: fast retransmit the segment at SND.UNA (RFC 5681 §3.2 steps 2–3). */
  | { kind: 'fast-retransmit'; seq: Seq }
  /** Further duplicate ACK in recovery: cwnd was inflated by one SMSS (step 4). */
  | { kind: 'inflate' }
  /** Partial ACK (RFC 6582 §3.2 step 5): retransmit at the new SND.UNA; maybe reset the timer. */
  | { kind: 'partial'; seq: Seq; resetTimer: boolean }
  /** Full ACK (RFC 6582 §3.2 step 5): recovery is over. */
  | { kind: 'full' };

export class NewRenoRecovery {
  readonly dupThresh: number;
  /** RFC 6582 §3.2 step 1: initialised to the ISS. Exclusive end, see the header. */
  recover: Seq;
  inRecovery = false;
  dupAcks = 0;
  /** Partial ACKs seen in this recovery (the first one resets the retransmit timer). */
  partialAcks = 0;

  constructor(iss: Seq, dupThresh = 3) {
    this.recover = iss >>> 0;
    this.dupThresh = dupThresh;
  }

  /**
   * A duplicate ACK (RFC 5681 §2) arrived. `sndNxt` is the highest sequence sent + 1,
   * `flightSize` the data outstanding.
   */
  onDupAck(ack: Seq, sndNxt: Seq, flightSize: number, cc: CongestionController, now = 0): NewRenoAction {
    if (this.inRecovery) {
      // RFC 5681 §3.2 step 4: inflate by one SMSS for each additional duplicate ACK.
      cc.cwnd += cc.mss;
      return { kind: 'inflate' };
    }
    this.dupAcks++;
    if (this.dupAcks !== this.dupThresh) return { kind: 'none' };
    // RFC 6582 §3.2 step 2: enter fast retransmit only if the ACK covers more than recover;
    // otherwise do not enter it and do not reset ssthresh.
    if (!seqGt(ack, this.recover)) return { kind: 'none' };
    this.recover = sndNxt >>> 0;
    this.inRecovery = true;
    this.partialAcks = 0;
    // RFC 5681 §3.2 step 2: ssthresh = max(FlightSize/2, 2*SMSS); step 3: cwnd = ssthresh + 3*SMSS.
    cc.onCongestionEvent(now, flightSize);
    cc.cwnd = cc.ssthresh + 3 * cc.mss;
    return { kind: 'fast-retransmit', seq: ack >>> 0 };
  }

  /**
   * An ACK that acknowledges new data (`ackedBytes` newly acknowledged, SND.UNA moved to `ack`).
   * `flightSize` is the data outstanding after this ACK.
   */
  onNewAck(ack: Seq, ackedBytes: number, flightSize: number, cc: CongestionController, now = 0): NewRenoAction {
    this.dupAcks = 0;
    if (!this.inRecovery) return { kind: 'none' };
    if (seqGeq(ack, this.recover)) {
      // Full acknowledgment (RFC 6582 §3.2 step 5, option 1):
      // cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
      this.inRecovery = false;
      cc.onRecoveryExit(now);
      cc.cwnd = Math.min(cc.ssthresh, Math.max(flightSize, cc.mss) + cc.mss);
      return { kind: 'full' };
    }
    // Partial acknowledgment: retransmit the first unacknowledged segment; deflate cwnd by the
    // amount of new data acknowledged, then add back SMSS if at least SMSS was acknowledged.
    this.partialAcks++;
    let cwnd = cc.cwnd - ackedBytes;
    if (ackedBytes >= cc.mss) cwnd += cc.mss;
    cc.cwnd = Math.max(cwnd, cc.mss);
    return { kind: 'partial', seq: ack >>> 0, resetTimer: this.partialAcks === 1 };
  }

  /**
   * RFC 6582 §3.2 step 6: after a retransmit timeout, record the highest sequence number
   * transmitted in `recover` and exit fast recovery.
   */
  onRetransmitTimeout(sndNxt: Seq): void {
    this.recover = sndNxt >>> 0;
    this.inRecovery = false;
    this.dupAcks = 0;
  }
}

/**
 * Proportional Rate Reduction (RFC 6937): how much may be sent on each ACK during (SACK-based)
 * fast recovery, so that cwnd converges smoothly to ssthresh instead of halving abruptly
 * (RFC 6675 step 4.2) or inflating (RFC 6582).
 *
 *   On entering recovery: prr_delivered = 0; prr_out = 0; RecoverFS = snd.nxt - snd.una
 *   On every ACK in recovery:
 *     prr_delivered += DeliveredData          (change in snd.una + change in SACKed bytes)
 *     if pipe > ssthresh:  sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
 *     else:                limit = PRR-CRB ? prr_delivered - prr_out
 *                                           : MAX(prr_delivered - prr_out, DeliveredData) + MSS
 *                          sndcnt = MIN(ssthresh - pipe, limit)
 *     cwnd = pipe + sndcnt
 *   On any (re)transmission: prr_out += data sent
 *
 * The default is the RECOMMENDED PRR-SSRB (slow start reduction bound); `conservative` selects
 * PRR-CRB. `pipe` is RFC 6675 SetPipe() (`SackScoreboard.setPipe()`).
 */
export class Prr {
  prrDelivered = 0;
  prrOut = 0;
  recoverFs = 0;
  active = false;

  constructor(public conservative = false) {}

  /** Loss recovery starts; `recoverFs` = SND.NXT - SND.UNA at that point. */
  enter(recoverFs: number): void {
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.recoverFs = Math.max(1, recoverFs);
    this.active = true;
  }

  /**
   * An ACK during recovery delivered `deliveredData` bytes. Returns sndcnt, the bytes that may be
   * sent now (never negative); the sender sets cwnd = pipe + sndcnt.
   */
  onAck(deliveredData: number, pipe: number, ssthresh: number, mss: number): number {
    this.prrDelivered += Math.max(0, deliveredData);
    let sndcnt: number;
    if (pipe > ssthresh) {
      sndcnt = Math.ceil((this.prrDelivered * ssthresh) / this.recoverFs) - this.prrOut;
    } else {
      const limit = this.conservative
        ? this.prrDelivered - this.prrOut
        : Math.max(this.prrDelivered - this.prrOut, deliveredData) + mss;
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    return Math.max(0, sndcnt);
  }

  /** Data was sent or retransmitted during recovery. */
  onSend(bytes: number): void {
    if (this.active) this.prrOut += bytes;
  }

  /** Recovery ended (RFC 6937: cwnd = ssthresh is then set by the controller). */
  exit(): void {
    this.active = false;
  }
}
