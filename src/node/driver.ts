/**
 * The Node edge of the stack's time: one host timer for the whole stack. The core never arms
 * host timers; this driver arms exactly ONE `setTimeout` for `stack.nextDeadline()`, runs
 * `stack.poll()` when it fires, and re-arms. It re-arms whenever the stack's timer queue reports
 * an earlier deadline (`timers.onEarlierDeadline`), and after each receive batch it polls if
 * something is due (`stack.addFlushListener`). The timer is ref'd while running (it keeps the process
 * alive) and cleared on stop().
 */
import type { Stack } from '../stack.js';

/** setTimeout's maximum delay (2^31 - 1 ms); longer delays are re-armed in steps. */
const MAX_DELAY = 0x7fffffff;

export class NodeDriver {
  private timer: NodeJS.Timeout | undefined;
  /** The deadline the host timer is armed for. */
  private armedFor: number | undefined;
  private running = false;
  private prevOnEarlier: (() => void) | undefined;
  private removeFlush: (() => void) | undefined;

  constructor(private readonly stack: Stack) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.prevOnEarlier = this.stack.timers.onEarlierDeadline;
    this.stack.timers.onEarlierDeadline = () => {
      this.prevOnEarlier?.();
      this.rearm();
    };
    this.removeFlush = this.stack.addFlushListener(() => this.pollIfDue());
    this.pollIfDue();
    this.rearm();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.clear();
    this.stack.timers.onEarlierDeadline = this.prevOnEarlier;
    this.removeFlush?.();
    this.removeFlush = undefined;
  }

  /** Runs due timers now (also called after each receive batch). */
  pollIfDue(): void {
    if (!this.running) return;
    const d = this.stack.nextDeadline();
    if (d !== undefined && d <= this.stack.clock.now()) {
      this.stack.poll();
      this.rearm();
    }
  }

  private clear(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = undefined;
  }

  private rearm(): void {
    if (!this.running) return;
    const d = this.stack.nextDeadline();
    if (d === undefined) {
      this.clear();
      return;
    }
    if (this.timer !== undefined && this.armedFor !== undefined && this.armedFor <= d) return;
    this.clear();
    const delay = Math.min(MAX_DELAY, Math.max(0, Math.ceil(d - this.stack.clock.now())));
    this.armedFor = d;
    this.timer = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    if (!this.running) return;
    try {
      this.stack.poll();
    } catch {
      this.stack.counters.drop('internal.exception');
    }
    this.rearm();
  }
}
