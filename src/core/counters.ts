/**
 * Counters for every packet received, sent and dropped. Drops are always counted with a reason
 * (`drop.<layer>.<reason>`), so a malformed or unwanted packet leaves a trace and never throws.
 *
 * Names are dotted paths: `ipv4.rx`, `ipv4.tx`, `udp.rx`, `drop.ipv4.bad_checksum`, ...
 *
 * Hot paths resolve a name once (`counter(name)`) and keep the `Counter` handle: `h.inc()` is a
 * field update, where `inc(name)` costs a hash lookup per packet. A counter shows in snapshots
 * only once it has been incremented (as if created by its first `inc`), in that order.
 */
export class Counter {
  value = 0;
  /** Incremented at least once since the last reset: listed in snapshots. */
  listed = false;

  constructor(
    readonly name: string,
    private readonly owner: Counters,
  ) {}

  inc(n = 1): void {
    if (!this.listed) this.owner.list(this);
    this.value += n;
  }
}

export class Counters {
  /** Every counter handed out or incremented, by name. */
  private readonly handles = new Map<string, Counter>();
  /** Counters incremented since the last reset, in the order of their first increment. */
  private listed: Counter[] = [];

  /** The handle for `name` (created at zero, not listed until incremented). */
  counter(name: string): Counter {
    let h = this.handles.get(name);
    if (h === undefined) {
      h = new Counter(name, this);
      this.handles.set(name, h);
    }
    return h;
  }

  inc(name: string, n = 1): void {
    this.counter(name).inc(n);
  }

  /** Counts a dropped packet; `reason` is `<layer>.<why>`, e.g. `ipv4.bad_checksum`. */
  drop(reason: string): void {
    this.counter('drop.' + reason).inc();
    this.dropTotal.inc();
  }

  private readonly dropTotal = this.counter('drop.total');

  get(name: string): number {
    return this.handles.get(name)?.value ?? 0;
  }

  /** @internal first increment of `h`. */
  list(h: Counter): void {
    h.listed = true;
    this.listed.push(h);
  }

  /** A sorted snapshot, for printing and tests. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of [...this.listed].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) out[h.name] = h.value;
    return out;
  }

  /** Drops only, keyed by reason without the `drop.` prefix. */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const h of this.listed) if (h.name.startsWith('drop.') && h.name !== 'drop.total') out[h.name.slice(5)] = h.value;
    return out;
  }

  reset(): void {
    for (const h of this.handles.values()) {
      h.value = 0;
      h.listed = false;
    }
    this.listed = [];
  }
}
