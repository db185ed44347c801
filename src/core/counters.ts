/**
 * Counters for every packet received, sent and dropped. Drops are always counted with a reason
 * (`drop.<layer>.<reason>`), so a malformed or unwanted packet leaves a trace and never throws.
 *
 * Names are dotted paths: `ipv4.rx`, `ipv4.tx`, `udp.rx`, `drop.ipv4.bad_checksum`, ...
 */
export class Counters {
  private readonly values = new Map<string, number>();

  inc(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }

  /** Counts a dropped packet; `reason` is `<layer>.<why>`, e.g. `ipv4.bad_checksum`. */
  drop(reason: string): void {
    this.inc('drop.' + reason);
    this.inc('drop.total');
  }

  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** A sorted snapshot, for printing and tests. */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of [...this.values.keys()].sort()) out[k] = this.values.get(k)!;
    return out;
  }

  /** Drops only, keyed by reason without the `drop.` prefix. */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of this.values) if (k.startsWith('drop.') && k !== 'drop.total') out[k.slice(5)] = v;
    return out;
  }

  reset(): void {
    this.values.clear();
  }
}
