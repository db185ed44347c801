/**
 * CUBIC congestion control (RFC 9438).
 *
 * The window is kept in bytes (`cwnd`, possibly fractional) but the CUBIC formulas run in units
 * of segments (SMSS) and seconds, exactly as written in the RFC:
 *
 *   §4.2 eq. (1)  W_cubic(t) = C * (t - K)^3 + W_max
 *   §4.2 eq. (2)  K = cubic_root((W_max - cwnd_epoch) / C)
 *   §4.3 eq. (4)  W_est = W_est + alpha_cubic * segments_acked / cwnd,
 *                 alpha_cubic = 3 * (1 - beta_cubic) / (1 + beta_cubic)   (eq. (3))
 *   §4.6          ssthresh = flight_size * beta_cubic; cwnd = max(ssthresh, 2); ssthresh = max(ssthresh, 2)
 *   §4.7          fast convergence: W_max = cwnd * (1 + beta_cubic) / 2 if cwnd < W_max
 *   §4.8          RTO: Reno's loss window, ssthresh via beta_cubic; the first congestion
 *                 avoidance stage after it uses K = 0 and W_max = cwnd at its start.
 *   §4.9          spurious congestion events: undo restores the saved state.
 *
 * C = 0.4, beta_cubic = 0.7. t is the time since the start of the current congestion avoidance
 * stage (the first ACK processed in congestion avoidance after a reduction or idle restart).
 *
 * Per ACK in congestion avoidance (§4.2–§4.5): if W_cubic(t) < W_est the flow is in the
 * Reno-friendly region and cwnd = W_est; otherwise (concave or convex region) with
 * target = clamp(W_cubic(t + RTT), cwnd, 1.5*cwnd), cwnd += (target - cwnd) / cwnd per acked
 * segment. RTT is the `rtt` passed to onAck (the caller's SRTT); 0 when unknown.
 *
 * Not implemented: HyStart++ (RFC 9406) — slow start is standard Reno slow start with ABC.
 */
import { RenoBase } from './newreno.js';

export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** §4.3 eq. (3): 3 * (1 - 0.7) / (1 + 0.7) = 0.9/1.7 ≈ 0.5294. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** §4.2 eq. (2), in segments and seconds. */
export function cubicK(wMax: number, cwndEpoch: number, c = CUBIC_C): number {
  return Math.cbrt((wMax - cwndEpoch) / c);
}

/** §4.2 eq. (1), in segments; t and k in seconds. */
export function cubicW(t: number, k: number, wMax: number, c = CUBIC_C): number {
  const d = t - k;
  return c * d * d * d + wMax;
}

interface CubicUndo {
  cwnd: number;
  ssthresh: number;
  wMax: number | undefined;
  k: number;
  epochStart: number | undefined;
  cwndEpoch: number;
  wEst: number;
  cwndPrior: number;
}

export class Cubic extends RenoBase {
  readonly name = 'cubic';
  /** Whether fast convergence (§4.7) is on (RFC: SHOULD). */
  fastConvergence = true;

  /** W_max in segments (undefined before the first congestion event). */
  wMax: number | undefined = undefined;
  /** K in seconds. */
  k = 0;
  /** Start of the current congestion avoidance stage (ms), undefined when not started. */
  epochStart: number | undefined = undefined;
  /** cwnd at the start of the epoch, segments. */
  cwndEpoch = 0;
  /** Reno-friendly estimate W_est, segments. */
  wEst = 0;
  /** cwnd before the most recent reduction, segments (§4.3 alpha switch, §4.9 undo). */
  cwndPrior = 0;
  private cubicUndo: CubicUndo | undefined;

  constructor(mss: number, now = 0) {
    super(mss, now);
  }

  /** W_cubic(t) for t seconds into the current epoch, segments (for tests and tracing). */
  wCubic(t: number): number {
    return cubicW(t, this.k, this.wMax ?? this.cwndEpoch);
  }

  protected congestionAvoidance(ackedBytes: number, now: number, rtt: number | undefined): void {
    const mss = this.mss;
    if (this.epochStart === undefined) this.startEpoch(now);
    const cwnd = this.cwnd / mss;
    const segmentsAcked = ackedBytes / mss;
    const t = (now - this.epochStart!) / 1000;
    const wMax = this.wMax!;

    // §4.3 Reno-friendly region: W_est grows like AIMD with alpha_cubic, or 1 once W_est has
    // reached cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * segmentsAcked) / cwnd;

    const wt = cubicW(t, this.k, wMax);
    if (wt < this.wEst) {
      this.cwnd = Math.max(this.cwnd, this.wEst * mss);
      return;
    }
    // §4.4/§4.5 concave and convex regions.
    const r = (rtt ?? 0) / 1000;
    let target = cubicW(t + r, this.k, wMax);
    if (target < cwnd) target = cwnd;
    else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
    this.cwnd = (cwnd + ((target - cwnd) / cwnd) * segmentsAcked) * mss;
  }

  private startEpoch(now: number): void {
    const cwnd = this.cwnd / this.mss;
    this.epochStart = now;
    this.cwndEpoch = cwnd;
    this.wEst = cwnd; // §4.3: W_est = cwnd_epoch at the start of congestion avoidance
    if (this.afterRtoCa || this.wMax === undefined) {
      // §4.8 (first CA stage after an RTO), and the first CA stage without any congestion
      // event: K = 0, W_max = cwnd at the start of the stage.
      this.afterRtoCa = false;
      this.wMax = cwnd;
      this.k = 0;
    } else {
      // §4.2 eq. (2); negative when cwnd_epoch > W_max (convex from the start, W(0) = cwnd_epoch).
      this.k = cubicK(this.wMax, cwnd);
    }
  }

  /** Set by an RTO; consumed at the next epoch start. */
  private afterRtoCa = false;

  /** §4.6: ssthresh = flight_size * beta_cubic, at least 2 segments. */
  protected reducedSsthresh(inFlight: number): number {
    return Math.max(inFlight * CUBIC_BETA, 2 * this.mss);
  }

  override onCongestionEvent(now: number, inFlight: number): void {
    if (this.inRecovery) return;
    this.saveCubicUndo();
    const cwnd = this.cwnd / this.mss;
    // §4.7 fast convergence.
    if (this.fastConvergence && this.wMax !== undefined && cwnd < this.wMax) {
      this.wMax = (cwnd * (1 + CUBIC_BETA)) / 2;
    } else {
      this.wMax = cwnd;
    }
    this.cwndPrior = cwnd;
    super.onCongestionEvent(now, inFlight); // ssthresh = max(flight*beta, 2 SMSS); cwnd = ssthresh
  }

  override onRetransmitTimeout(now: number, inFlight: number, repeated = false): void {
    if (!repeated && !this.inRecovery) this.saveCubicUndo();
    if (!repeated) this.cwndPrior = this.cwnd / this.mss;
    super.onRetransmitTimeout(now, inFlight, repeated);
  }

  protected override onReduced(_now: number, rto: boolean): void {
    this.epochStart = undefined;
    if (rto) this.afterRtoCa = true;
  }

  /** Idle restart: also starts a new epoch (K recomputed from W_max and the restarted cwnd). */
  override onIdleRestart(now: number): void {
    super.onIdleRestart(now);
    this.epochStart = undefined;
  }

  /** §4.9: restore the state saved at the spurious congestion event. */
  override undo(now: number): void {
    const u = this.cubicUndo;
    super.undo(now);
    if (!u) return;
    this.cubicUndo = undefined;
    this.wMax = u.wMax;
    this.k = u.k;
    this.epochStart = u.epochStart;
    this.cwndEpoch = u.cwndEpoch;
    this.wEst = u.wEst;
    this.cwndPrior = u.cwndPrior;
    this.afterRtoCa = false;
  }

  private saveCubicUndo(): void {
    this.cubicUndo = {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      wMax: this.wMax,
      k: this.k,
      epochStart: this.epochStart,
      cwndEpoch: this.cwndEpoch,
      wEst: this.wEst,
      cwndPrior: this.cwndPrior,
    };
  }
}
