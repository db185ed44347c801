/**
 * Retransmission timer computation (RFC 6298, "Computing TCP's Retransmission Timer").
 *
 * - §2.1: until an RTT measurement has been made, RTO = 1 second (`initialRto`).
 * - §2.2: on the first measurement R: SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, K*RTTVAR), K = 4.
 * - §2.3: on each subsequent measurement R':
 *     RTTVAR = (1 - beta) * RTTVAR + beta * |SRTT - R'|   (computed with the OLD SRTT)
 *     SRTT   = (1 - alpha) * SRTT + alpha * R'
 *     RTO    = SRTT + max(G, K*RTTVAR)                     alpha = 1/8, beta = 1/4.
 * - §2.4: "Whenever RTO is computed, if it is less than 1 second, then the RTO SHOULD be rounded up
 *   to 1 second." DEVIATION (Linux-like): the floor is `minRto`, default 200 ms. Pass
 *   `minRto: 1000` for the RFC value.
 * - §2.5: a maximum value may be placed on RTO provided it is at least 60 seconds
 *   (`maxRto`, default 120 s, like Linux's TCP_RTO_MAX; values below 60 s are raised to 60 s).
 * - §3 (Karn's algorithm): RTT samples MUST NOT be taken from retransmitted segments — unless the
 *   sample comes from the TCP timestamp option (RFC 7323 §4), which is unambiguous. `sample()`
 *   takes both facts and ignores ambiguous samples.
 * - §5.5: when the retransmission timer expires, "back off the timer": RTO = RTO * 2, capped by
 *   the maximum (§2.5). `backoff()` does that.
 * - §5.7 / "Note that a TCP implementation MAY clear SRTT and RTTVAR after backing off the timer
 *   multiple times": see `clearAfterBackoffs`. A new valid sample recomputes RTO from SRTT and
 *   RTTVAR, which removes the backoff (RFC 6298 §5, the last paragraph of the backoff discussion;
 *   Karn's algorithm keeps the backed-off value until an unambiguous sample arrives).
 *
 * RFC 7323 §4.2 / Appendix G suggest scaling alpha and beta by the number of samples per RTT
 * when every segment is timed with timestamps. We do not (neither does Linux's estimator in its
 * basic form); callers can rate-limit samples to one per RTT if they want RFC 6298 behaviour.
 *
 * All times are in milliseconds (fractions allowed).
 */

export interface RttOptions {
  /** RTO floor (RFC 6298 §2.4 says 1000 ms; default 200 ms like Linux's TCP_RTO_MIN). */
  minRto?: number;
  /** RTO ceiling (§2.5, at least 60 000 ms; default 120 000 ms). */
  maxRto?: number;
  /** RTO before the first sample (§2.1: 1000 ms). */
  initialRto?: number;
  /** Clock granularity G in ms (§2.2; default 1 ms). */
  granularity?: number;
  /**
   * After this many consecutive backoffs SRTT and RTTVAR are discarded so the next sample
   * re-initialises them per §2.2 (RFC 6298 §5 "MAY clear SRTT and RTTVAR"). 0 = never (default).
   */
  clearAfterBackoffs?: number;
}

export const RTT_ALPHA = 1 / 8;
export const RTT_BETA = 1 / 4;
export const RTT_K = 4;

export class RttEstimator {
  readonly minRto: number;
  readonly maxRto: number;
  readonly initialRto: number;
  readonly granularity: number;
  readonly clearAfterBackoffs: number;

  /** Smoothed RTT, undefined until the first valid sample. */
  srtt: number | undefined = undefined;
  /** RTT variation, undefined until the first valid sample. */
  rttvar: number | undefined = undefined;
  /** The most recent valid sample. */
  latestRtt: number | undefined = undefined;
  /** The smallest valid sample seen (for RACK's min_RTT; callers may want a windowed filter). */
  minRtt: number | undefined = undefined;
  /** Number of consecutive backoffs since the last valid sample. */
  backoffCount = 0;
  /** RTO before backoff (what §2.2/§2.3 computed, clamped). */
  private baseRto: number;
  private rtoValue: number;

  constructor(opts: RttOptions = {}) {
    this.minRto = opts.minRto ?? 200;
    this.maxRto = Math.max(opts.maxRto ?? 120_000, 60_000);
    this.initialRto = opts.initialRto ?? 1000;
    this.granularity = opts.granularity ?? 1;
    this.clearAfterBackoffs = opts.clearAfterBackoffs ?? 0;
    this.baseRto = this.initialRto;
    this.rtoValue = this.initialRto;
  }

  /** The current retransmission timeout in ms (including any backoff). */
  get rto(): number {
    return this.rtoValue;
  }

  /** Whether at least one valid sample has been taken. */
  get hasSample(): boolean {
    return this.srtt !== undefined;
  }

  /**
   * Feeds one RTT measurement (ms). `retransmitted`: the sample was taken from a segment that was
   * retransmitted; it is ignored (Karn, RFC 6298 §3) unless `fromTimestamp` says it was measured
   * with the timestamp option's echo (RFC 7323 §4, unambiguous). Returns whether it was used.
   */
  sample(rtt: number, retransmitted = false, fromTimestamp = false): boolean {
    if (!(rtt >= 0) || !Number.isFinite(rtt)) return false;
    if (retransmitted && !fromTimestamp) return false;
    if (this.srtt === undefined || this.rttvar === undefined) {
      // §2.2
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      // §2.3: RTTVAR first, with the old SRTT.
      this.rttvar = (1 - RTT_BETA) * this.rttvar + RTT_BETA * Math.abs(this.srtt - rtt);
      this.srtt = (1 - RTT_ALPHA) * this.srtt + RTT_ALPHA * rtt;
    }
    this.latestRtt = rtt;
    if (this.minRtt === undefined || rtt < this.minRtt) this.minRtt = rtt;
    this.backoffCount = 0;
    this.baseRto = this.clamp(this.srtt + Math.max(this.granularity, RTT_K * this.rttvar));
    this.rtoValue = this.baseRto;
    return true;
  }

  /** §5.5: the retransmission timer expired; doubles RTO (capped at maxRto). Returns the new RTO. */
  backoff(): number {
    this.backoffCount++;
    this.rtoValue = Math.min(this.rtoValue * 2, this.maxRto);
    if (this.clearAfterBackoffs > 0 && this.backoffCount >= this.clearAfterBackoffs) {
      this.srtt = undefined;
      this.rttvar = undefined;
    }
    return this.rtoValue;
  }

  /**
   * RFC 6298 §5.7: if the timer expired while waiting for a SYN's ACK and the implementation uses
   * an RTO below 3 s, RTO must be re-initialised to 3 s when data transmission begins (unless an
   * RTT sample was taken from the SYN exchange). Call when the handshake completes after such a
   * timeout.
   */
  resetAfterSynTimeout(): void {
    if (this.srtt === undefined) {
      this.backoffCount = 0;
      this.baseRto = 3000; // maxRto is at least 60 s
      this.rtoValue = 3000;
    }
  }

  /** Forgets everything (back to §2.1). */
  reset(): void {
    this.srtt = undefined;
    this.rttvar = undefined;
    this.latestRtt = undefined;
    this.minRtt = undefined;
    this.backoffCount = 0;
    this.baseRto = this.initialRto;
    this.rtoValue = this.initialRto;
  }

  private clamp(rto: number): number {
    return Math.min(Math.max(rto, this.minRto), this.maxRto);
  }
}
