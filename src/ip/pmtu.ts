/**
 * A path MTU cache (RFC 1191 for IPv4, RFC 8201 for IPv6): learned from ICMP "fragmentation
 * needed" / ICMPv6 Packet Too Big about packets we sent; used to fragment our own datagrams (and
 * by TCP for its MSS). Entries expire after `ttlMs` (RFC 1191 §6.3 and RFC 8201 §4 suggest
 * 10 minutes) so that an increase is eventually noticed. The cache is bounded (oldest entry
 * evicted) so forged ICMP cannot grow it without limit, and the learned value is clamped to a
 * floor (IPv4: 552 like Linux min_pmtu, against forged tiny MTUs; IPv6: 1280, RFC 8201 §4).
 */
export class PmtuCache<K> {
  private readonly entries = new Map<K, { mtu: number; expires: number }>();

  constructor(
    private readonly now: () => number,
    readonly floor: number,
    readonly ttlMs = 600_000,
    readonly maxEntries = 1024,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The learned MTU for `dst`, or undefined (use the interface MTU). */
  get(dst: K): number | undefined {
    const e = this.entries.get(dst);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(dst);
      return undefined;
    }
    return e.mtu;
  }

  /** Records a smaller MTU for `dst`; returns the value stored, or undefined if ignored. */
  update(dst: K, mtu: number, linkMtu: number): number | undefined {
    const m = Math.min(linkMtu, Math.max(this.floor, mtu));
    const cur = this.get(dst);
    if (m >= (cur ?? linkMtu)) return undefined; // only decreases (RFC 1191 §6.3)
    if (!this.entries.has(dst) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.delete(dst);
    this.entries.set(dst, { mtu: m, expires: this.now() + this.ttlMs });
    return m;
  }

  clear(): void {
    this.entries.clear();
  }
}
