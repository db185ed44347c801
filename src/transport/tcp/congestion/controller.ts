/**
 * The congestion controller interface (RFC 5681 terms; RFC 5033 for alternatives) and a factory.
 *
 * A controller owns cwnd and ssthresh (both in BYTES) and nothing else: loss detection (RFC 6675
 * scoreboard, RACK-TLP), the recovery state machine and pacing live elsewhere and call in here.
 * Time comes in as a number of milliseconds; no clocks inside.
 *
 * Calling convention for the sender:
 * - `onAck` for every ACK that cumulatively acknowledges new data (`ackedBytes` > 0) and is not
 *   part of loss recovery; during recovery (between `onCongestionEvent` and `onRecoveryExit`) the
 *   controller ignores growth (cwnd is governed by the recovery algorithm, e.g. RFC 6675/PRR).
 *   `inFlight` is FlightSize *before* this ACK was processed, used for the cwnd-limited check
 *   (RFC 7661 §4.3 / RFC 9438 §5.8 spirit: do not grow cwnd that is not being used).
 * - `onCongestionEvent` when loss is detected by fast retransmit / SACK / RACK (enter recovery).
 *   `inFlight` is FlightSize at that moment (RFC 5681 eq. (4) uses FlightSize, not cwnd).
 * - `onRecoveryExit` when the ACK covering the recovery point arrives.
 * - `onRetransmitTimeout` when the RTO timer expires (RFC 5681 §3.1: cwnd = loss window).
 * - `onIdleRestart` when sending after an idle period longer than RTO (RFC 5681 §4.1).
 * - `undo` when the last congestion event turned out spurious (D-SACK / Eifel / F-RTO).
 */
import { NewReno } from './newreno.js';
import { Cubic } from './cubic.js';

export interface CongestionController {
  readonly name: string;
  /** Sender maximum segment size in bytes (SMSS). */
  readonly mss: number;
  /** Congestion window, bytes. Settable (e.g. by PRR during recovery). */
  cwnd: number;
  /** Slow start threshold, bytes (Infinity initially, RFC 5681 §3.1). */
  ssthresh: number;
  /** Between onCongestionEvent / onRetransmitTimeout and onRecoveryExit. */
  readonly inRecovery: boolean;
  /** Whether the window is currently in slow start (cwnd < ssthresh). */
  readonly inSlowStart: boolean;

  /** SMSS changed (PMTU discovery): rescales the window kept in segments. */
  setMss(mss: number): void;
  /** New data cumulatively acknowledged. `rtt` is the current SRTT in ms if known. */
  onAck(ackedBytes: number, now: number, rtt: number | undefined, inFlight: number): void;
  /** Loss detected by fast retransmit / SACK / RACK: reduce and enter recovery. */
  onCongestionEvent(now: number, inFlight: number): void;
  /** The recovery point was acknowledged: leave recovery. */
  onRecoveryExit(now: number): void;
  /**
   * RTO expired. `repeated`: the timed-out segment had already been retransmitted by the timer
   * (RFC 5681 §3.1: ssthresh is then held constant).
   */
  onRetransmitTimeout(now: number, inFlight: number, repeated?: boolean): void;
  /** Restarting after an idle period longer than one RTO (RFC 5681 §4.1). */
  onIdleRestart(now: number): void;
  /** The last congestion event was spurious: restore the previous state. */
  undo(now: number): void;
}

export type CongestionControlName = 'cubic' | 'newreno';

export { initialWindow } from './newreno.js';

type Factory = (mss: number, now: number) => CongestionController;
const registry = new Map<string, Factory>([
  ['newreno', (mss, now) => new NewReno(mss, now)],
  ['cubic', (mss, now) => new Cubic(mss, now)],
]);

/** Registers another controller implementation (cubic and newreno are built in). */
export function registerCongestionController(name: string, factory: Factory): void {
  registry.set(name, factory);
}

/** The names registered so far. */
export function congestionControllerNames(): string[] {
  return [...registry.keys()].sort();
}

/** Creates a controller by name; throws on an unknown name (a configuration error). */
export function createCongestionController(name: CongestionControlName | string, mss: number, now: number): CongestionController {
  const f = registry.get(name);
  if (!f) throw new Error(`unknown congestion controller: ${name}`);
  return f(mss, now);
}
