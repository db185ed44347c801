/**
 * Reno/NewReno congestion control: RFC 5681 (slow start, congestion avoidance, loss window),
 * RFC 3465 (appropriate byte counting), RFC 6928 (initial window). The NewReno fast recovery
 * state machine of RFC 6582 (recover point, partial ACKs, window inflation) is in
 * `../recovery.ts`; this module only owns cwnd and ssthresh.
 *
 * `RenoBase` holds what every loss-based controller shares (slow start, idle restart, loss
 * window, undo); `NewReno` adds RFC 5681 congestion avoidance and multiplicative decrease.
 * CUBIC (`./cubic.ts`) extends the same base.
 */
import type { CongestionController } from './controller.js';

/** RFC 6928 §2 initial window: IW = min(10*MSS, max(2*MSS, 14600)) bytes. */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** RFC 3465 §2.2: the slow start limit L (RECOMMENDED L = 2*SMSS). */
export const ABC_L = 2;

interface RenoUndo {
  cwnd: number;
  ssthresh: number;
}

export abstract class RenoBase implements CongestionController {
  abstract readonly name: string;
  mss: number;
  cwnd: number;
  /** RFC 5681 §3.1: "The initial value of ssthresh SHOULD be set arbitrarily high". */
  ssthresh = Infinity;
  inRecovery = false;
  /** RFC 3465 §2.1 byte counter for congestion avoidance. */
  protected bytesAcked = 0;
  /** In the slow start that follows an RTO (RFC 3465 §2.3: L = 1*SMSS there). */
  protected afterRto = false;
  protected prior: RenoUndo | undefined;

  constructor(mss: number, _now: number) {
    if (!(mss > 0)) throw new RangeError('mss must be positive');
    this.mss = mss;
    this.cwnd = initialWindow(mss);
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  /**
   * SMSS changed. The window keeps its size in segments (cwnd and a finite ssthresh are rescaled),
   * so a PMTU drop does not suddenly allow more segments in flight.
   */
  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    const f = mss / this.mss;
    this.cwnd *= f;
    if (Number.isFinite(this.ssthresh)) this.ssthresh *= f;
    this.bytesAcked *= f;
    this.mss = mss;
  }

  /**
   * Whether the sender is using its window (RFC 7661 §4.3; RFC 5681 §3.1 lets cwnd grow only
   * when it limits sending). In slow start, like Linux, half a window in flight suffices; in
   * congestion avoidance less than one SMSS of the window may be left unused.
   */
  protected cwndLimited(inFlight: number): boolean {
    if (this.inSlowStart) return 2 * inFlight >= this.cwnd;
    return inFlight + this.mss > this.cwnd;
  }

  onAck(ackedBytes: number, now: number, rtt: number | undefined, inFlight: number): void {
    if (this.inRecovery || !(ackedBytes > 0)) return;
    if (!this.cwndLimited(inFlight)) return;
    if (this.inSlowStart) {
      // RFC 5681 §3.1 eq. (2) with RFC 3465 §2.2: cwnd += min(N, L*SMSS).
      const l = this.afterRto ? 1 : ABC_L;
      const incr = Math.min(ackedBytes, l * this.mss);
      // Leave slow start at ssthresh (RFC 5681 §3.1: either may be used when cwnd == ssthresh);
      // the remainder is not carried into congestion avoidance.
      this.cwnd = Math.min(this.cwnd + incr, Math.max(this.ssthresh, this.cwnd));
      if (!this.inSlowStart) {
        this.afterRto = false;
        this.bytesAcked = 0;
      }
      return;
    }
    this.congestionAvoidance(ackedBytes, now, rtt);
  }

  /** Growth once cwnd >= ssthresh. */
  protected abstract congestionAvoidance(ackedBytes: number, now: number, rtt: number | undefined): void;

  /** The ssthresh after a congestion event (fast retransmit or RTO), bytes. */
  protected abstract reducedSsthresh(inFlight: number): number;

  onCongestionEvent(now: number, inFlight: number): void {
    // One reduction per loss episode (RFC 5681 §3.2, RFC 6582 §3.2 step 2).
    if (this.inRecovery) return;
    this.saveUndo();
    this.ssthresh = this.reducedSsthresh(inFlight);
    // RFC 6675 §5 step (4.2) / RFC 6937: cwnd = ssthresh (no inflation; NewReno's RFC 6582
    // inflation is applied by NewRenoRecovery when SACK is not in use).
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
    this.afterRto = false;
    this.inRecovery = true;
    this.onReduced(now, false);
  }

  onRecoveryExit(_now: number): void {
    if (!this.inRecovery) return;
    this.inRecovery = false;
    // RFC 6675 §5 / RFC 6937 §3: on leaving recovery cwnd = ssthresh (whatever inflation or
    // proportional reduction happened during recovery).
    this.cwnd = this.ssthresh;
    this.bytesAcked = 0;
  }

  onRetransmitTimeout(now: number, inFlight: number, repeated = false): void {
    // RFC 5681 §3.1: ssthresh = eq. (4) for the first timeout of a segment, held constant for
    // further timeouts of the same segment; cwnd = loss window LW = 1 SMSS.
    if (!repeated) {
      if (!this.inRecovery) this.saveUndo();
      this.ssthresh = this.reducedSsthresh(inFlight);
    }
    this.cwnd = this.mss;
    this.bytesAcked = 0;
    this.inRecovery = false; // RTO recovery grows by slow start
    this.afterRto = true;
    this.onReduced(now, true);
  }

  /**
   * RFC 5681 §4.1: after an idle period exceeding RTO, cwnd = RW = min(IW, cwnd) before sending.
   * (RFC 7661 new-CWV is gentler; this is the standard behaviour.)
   */
  onIdleRestart(_now: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(this.mss));
    this.bytesAcked = 0;
  }

  /**
   * The last reduction was spurious (RFC 2883 D-SACK, RFC 3522 Eifel, RFC 5682 F-RTO): restore
   * cwnd and ssthresh (RFC 4015 §2 style: cwnd = max(cwnd, prior cwnd)).
   */
  undo(_now: number): void {
    const p = this.prior;
    if (!p) return;
    this.prior = undefined;
    this.cwnd = Math.max(this.cwnd, p.cwnd);
    this.ssthresh = p.ssthresh;
    this.inRecovery = false;
    this.afterRto = false;
    this.bytesAcked = 0;
  }

  protected saveUndo(): void {
    this.prior = { cwnd: this.cwnd, ssthresh: this.ssthresh };
  }

  /** Hook for subclasses after a reduction. */
  protected onReduced(_now: number, _rto: boolean): void {}
}

export class NewReno extends RenoBase {
  readonly name = 'newreno';

  constructor(mss: number, now = 0) {
    super(mss, now);
  }

  /**
   * RFC 5681 §3.1 congestion avoidance with RFC 3465 §2.1 byte counting: bytes acked are
   * accumulated; each time they reach cwnd, cwnd grows by one SMSS (one SMSS per RTT).
   */
  protected congestionAvoidance(ackedBytes: number): void {
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwnd) {
      this.bytesAcked -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  /** RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2*SMSS). */
  protected reducedSsthresh(inFlight: number): number {
    return Math.max(Math.floor(inFlight / 2), 2 * this.mss);
  }
}
