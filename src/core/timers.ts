/**
 * One timer queue for the whole stack. Nothing in the core arms a host timer per event: the
 * host driver asks for `nextDeadline()`, arms a single host timer for it, and calls
 * `run(now)` when it fires. In simulations the driver simply jumps the virtual clock.
 *
 * A binary min-heap keyed by deadline; cancellation is lazy (a cancelled entry is skipped when it
 * reaches the top), so schedule and cancel are O(log n) and O(1).
 */

export type TimerCallback = (now: number) => void;

export class Timer {
  /** Index in the heap, or -1 when not scheduled. */
  heapIndex = -1;
  deadline = 0;
  constructor(readonly callback: TimerCallback) {}
  get scheduled(): boolean {
    return this.heapIndex >= 0;
  }
}

export class TimerQueue {
  private heap: Timer[] = [];
  /** Called whenever the earliest deadline may have moved earlier, so the driver can re-arm. */
  onEarlierDeadline: (() => void) | undefined;

  get size(): number {
    return this.heap.length;
  }

  /** Creates a reusable timer (allocate once per owner, re-arm many times). */
  create(callback: TimerCallback): Timer {
    return new Timer(callback);
  }

  /** Arms `timer` to fire at absolute time `deadline`, replacing any earlier arming. */
  arm(timer: Timer, deadline: number): void {
    const prevFirst = this.heap.length > 0 ? this.heap[0]!.deadline : Infinity;
    if (timer.heapIndex >= 0) {
      const old = timer.deadline;
      timer.deadline = deadline;
      if (deadline < old) this.up(timer.heapIndex);
      else this.down(timer.heapIndex);
    } else {
      timer.deadline = deadline;
      timer.heapIndex = this.heap.length;
      this.heap.push(timer);
      this.up(timer.heapIndex);
    }
    if (deadline < prevFirst) this.onEarlierDeadline?.();
  }

  /** One-shot convenience: creates and arms a timer. */
  schedule(deadline: number, callback: TimerCallback): Timer {
    const t = new Timer(callback);
    this.arm(t, deadline);
    return t;
  }

  cancel(timer: Timer): void {
    const i = timer.heapIndex;
    if (i < 0) return;
    const last = this.heap.pop()!;
    timer.heapIndex = -1;
    if (i < this.heap.length) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.down(i);
      this.up(last.heapIndex);
    }
  }

  /** The earliest deadline, or undefined when nothing is scheduled. */
  nextDeadline(): number | undefined {
    return this.heap.length > 0 ? this.heap[0]!.deadline : undefined;
  }

  /**
   * Fires every timer whose deadline is <= now, earliest first. A callback may re-arm its own
   * timer or others; timers re-armed at or before `now` fire in this same call, bounded by
   * `limit` firings so a misbehaving callback cannot spin forever.
   */
  run(now: number, limit = 100_000): number {
    let fired = 0;
    while (this.heap.length > 0 && this.heap[0]!.deadline <= now && fired < limit) {
      const t = this.heap[0]!;
      this.cancel(t);
      fired++;
      t.callback(now);
    }
    return fired;
  }

  private up(i: number): void {
    const h = this.heap;
    const t = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pt = h[p]!;
      if (pt.deadline <= t.deadline) break;
      h[i] = pt;
      pt.heapIndex = i;
      i = p;
    }
    h[i] = t;
    t.heapIndex = i;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const t = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && h[r]!.deadline < h[l]!.deadline ? r : l;
      const ct = h[c]!;
      if (ct.deadline >= t.deadline) break;
      h[i] = ct;
      ct.heapIndex = i;
      i = c;
    }
    h[i] = t;
    t.heapIndex = i;
  }
}
