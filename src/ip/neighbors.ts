/**
 * A neighbour cache, shared by ARP (IPv4, RFC 826 / RFC 1122 §2.3.2) and Neighbor Discovery
 * (IPv6, RFC 4861 §7.3). The state machine is a simplified RFC 4861 one:
 *
 *   (none) --send--> INCOMPLETE --answer--> REACHABLE --reachableMs--> STALE
 *   INCOMPLETE: multicast/broadcast solicitation every `retransmitMs`, `maxRetries` in all
 *               (RFC 1122 §2.3.2.1 asks to limit ARP retries; RFC 4861 §10 MAX_MULTICAST_SOLICIT
 *               = 3, RETRANS_TIMER = 1 s); on failure the queued packets are dropped and counted.
 *   STALE --send--> DELAY (delayMs, RFC 4861 DELAY_FIRST_PROBE_TIME = 5 s) --> PROBE (unicast
 *               solicitations, `maxRetries`) --no answer--> entry deleted.
 *   STALE entries unused for `staleGcMs` are garbage-collected.
 *
 * Packets waiting for resolution are copied into a bounded per-entry queue (RFC 1122 §2.3.2.2:
 * "SHOULD save at least one (the latest) packet"; when full, the oldest is dropped, like Linux
 * unres_qlen). The entry count is bounded: when full, the least recently updated
 * non-INCOMPLETE entry is evicted; if all are INCOMPLETE the new request is dropped.
 *
 * Drops are counted as `<prefix>.<reason>` (prefix 'arp' or 'ndp').
 */
import type { Counters } from '../core/counters.js';
import type { Timer, TimerQueue } from '../core/timers.js';

export type NeighborState = 'incomplete' | 'reachable' | 'stale' | 'delay' | 'probe';

export interface NeighborLimits {
  /** Maximum number of entries (default 512). */
  maxEntries: number;
  /** Packets queued per unresolved entry (default 16). */
  maxPending: number;
  /** Bytes queued per unresolved entry (default 256 KiB, like Linux unres_qlen_bytes): a
   *  queued packet may be a whole datagram that is fragmented once resolved. */
  maxPendingBytes: number;
  /** Solicitations before giving up (default 3). */
  maxRetries: number;
  /** Interval between solicitations in ms (default 1000). */
  retransmitMs: number;
  /** How long a confirmed entry stays REACHABLE (default 30000, RFC 4861 REACHABLE_TIME). */
  reachableMs: number;
  /** DELAY before unicast probing of a STALE entry in use (default 5000). */
  delayMs: number;
  /** Unused STALE entries are removed after this long (default 600000). */
  staleGcMs: number;
}

export const DEFAULT_NEIGHBOR_LIMITS: NeighborLimits = {
  maxEntries: 512,
  maxPending: 16,
  maxPendingBytes: 256 * 1024,
  maxRetries: 3,
  retransmitMs: 1000,
  reachableMs: 30_000,
  delayMs: 5000,
  staleGcMs: 600_000,
};

export interface NeighborEntry<K> {
  readonly key: K;
  readonly keyStr: string;
  state: NeighborState;
  mac: Uint8Array | undefined;
  pending: Uint8Array[];
  /** Solicitations sent in the current INCOMPLETE/PROBE round. */
  probes: number;
  updated: number;
  timer: Timer;
}

export interface NeighborHooks<K> {
  /** Sends a solicitation: broadcast/multicast when `unicastMac` is undefined, else a unicast probe. */
  solicit(key: K, unicastMac: Uint8Array | undefined): void;
  /** Sends an IP packet to a resolved MAC (the caller frames it). */
  transmit(packet: Uint8Array, mac: Uint8Array): void;
  /** Called for every queued packet dropped because resolution failed (e.g. ICMP unreachable). */
  unreachable?(packet: Uint8Array): void;
}

export interface NeighborUpdate {
  /** Create an entry if none exists (ARP: we are the target; NDP: NS/RA with a link-layer option). */
  create: boolean;
  /** The neighbour confirmed reachability (ARP reply, solicited NA). */
  reachable: boolean;
  /** May replace a different cached MAC (NA Override flag; always true for ARP). */
  override: boolean;
}

export class NeighborCache<K> {
  private readonly entries = new Map<string, NeighborEntry<K>>();
  readonly limits: NeighborLimits;

  constructor(
    private readonly timers: TimerQueue,
    private readonly now: () => number,
    private readonly counters: Counters,
    /** 'arp' or 'ndp': the counter prefix. */
    private readonly prefix: string,
    private readonly keyOf: (k: K) => string,
    private readonly hooks: NeighborHooks<K>,
    limits?: Partial<NeighborLimits>,
  ) {
    this.limits = { ...DEFAULT_NEIGHBOR_LIMITS, ...limits };
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): NeighborEntry<K> | undefined {
    return this.entries.get(this.keyOf(key));
  }

  /** The state of `key`'s entry, or undefined. */
  state(key: K): NeighborState | undefined {
    return this.get(key)?.state;
  }

  /** All entries (for inspection). */
  list(): NeighborEntry<K>[] {
    return [...this.entries.values()];
  }

  /**
   * Sends `packet` to `key`: at once when the MAC is known, else queued (copied) while the
   * neighbour is resolved.
   */
  send(key: K, packet: Uint8Array): void {
    let e = this.get(key);
    if (!e) {
      e = this.create(key);
      if (!e) {
        this.counters.drop(this.prefix + '.cache_full');
        return;
      }
      e.state = 'incomplete';
      this.enqueue(e, packet);
      e.probes = 1;
      this.hooks.solicit(key, undefined);
      this.timers.arm(e.timer, this.now() + this.limits.retransmitMs);
      return;
    }
    switch (e.state) {
      case 'incomplete':
        this.enqueue(e, packet);
        return;
      case 'stale':
        // RFC 4861 §7.3.3: sending to a STALE entry moves it to DELAY.
        e.state = 'delay';
        this.timers.arm(e.timer, this.now() + this.limits.delayMs);
        break;
      default:
        break;
    }
    this.hooks.transmit(packet, e.mac!);
  }

  /** Information about `key`'s MAC from a received ARP packet / NS / NA. */
  update(key: K, mac: Uint8Array, how: NeighborUpdate): void {
    let e = this.get(key);
    if (!e) {
      if (!how.create) return;
      e = this.create(key);
      if (!e) {
        this.counters.drop(this.prefix + '.cache_full');
        return;
      }
      e.mac = Uint8Array.from(mac);
      this.setState(e, how.reachable ? 'reachable' : 'stale');
      return;
    }
    const now = this.now();
    if (e.state === 'incomplete') {
      e.mac = Uint8Array.from(mac);
      this.setState(e, how.reachable ? 'reachable' : 'stale');
      const queued = e.pending;
      e.pending = [];
      for (const p of queued) this.hooks.transmit(p, e.mac);
      return;
    }
    const changed = !sameMac(e.mac!, mac);
    if (changed && !how.override) {
      // RFC 4861 §7.2.5: O=0 with a different address does not update; a REACHABLE entry goes STALE.
      if (e.state === 'reachable') this.setState(e, 'stale');
      return;
    }
    e.mac = Uint8Array.from(mac);
    e.updated = now;
    if (how.reachable) this.setState(e, 'reachable');
    else if (changed) this.setState(e, 'stale');
  }

  delete(key: K): void {
    const e = this.get(key);
    if (e) this.remove(e);
  }

  clear(): void {
    for (const e of [...this.entries.values()]) this.remove(e);
  }

  private create(key: K): NeighborEntry<K> | undefined {
    if (this.entries.size >= this.limits.maxEntries && !this.evict()) return undefined;
    const keyStr = this.keyOf(key);
    const e: NeighborEntry<K> = {
      key,
      keyStr,
      state: 'incomplete',
      mac: undefined,
      pending: [],
      probes: 0,
      updated: this.now(),
      timer: this.timers.create(() => this.expire(e)),
    };
    this.entries.set(keyStr, e);
    return e;
  }

  /** Evicts the least recently updated resolved entry; false when every entry is INCOMPLETE. */
  private evict(): boolean {
    let victim: NeighborEntry<K> | undefined;
    for (const e of this.entries.values()) {
      if (e.state === 'incomplete') continue;
      if (!victim || e.updated < victim.updated) victim = e;
    }
    if (!victim) return false;
    this.counters.inc(this.prefix + '.evicted');
    this.remove(victim);
    return true;
  }

  private remove(e: NeighborEntry<K>): void {
    this.timers.cancel(e.timer);
    this.entries.delete(e.keyStr);
    for (const p of e.pending) {
      this.counters.drop(this.prefix + '.resolution_failed');
      this.hooks.unreachable?.(p);
    }
    e.pending = [];
  }

  private enqueue(e: NeighborEntry<K>, packet: Uint8Array): void {
    if (packet.length > this.limits.maxPendingBytes) {
      this.counters.drop(this.prefix + '.queue_full');
      return;
    }
    let bytes = packet.length;
    for (const p of e.pending) bytes += p.length;
    while (e.pending.length > 0 && (e.pending.length >= this.limits.maxPending || bytes > this.limits.maxPendingBytes)) {
      bytes -= e.pending.shift()!.length;
      this.counters.drop(this.prefix + '.queue_full');
    }
    e.pending.push(Uint8Array.from(packet));
  }

  private setState(e: NeighborEntry<K>, s: NeighborState): void {
    e.state = s;
    e.updated = this.now();
    e.probes = 0;
    if (s === 'reachable') this.timers.arm(e.timer, e.updated + this.limits.reachableMs);
    else if (s === 'stale') this.timers.arm(e.timer, e.updated + this.limits.staleGcMs);
  }

  private expire(e: NeighborEntry<K>): void {
    const now = this.now();
    switch (e.state) {
      case 'incomplete':
      case 'probe':
        if (e.probes < this.limits.maxRetries) {
          e.probes++;
          this.hooks.solicit(e.key, e.state === 'probe' ? e.mac : undefined);
          this.timers.arm(e.timer, now + this.limits.retransmitMs);
        } else {
          this.counters.inc(this.prefix + '.resolution_timeout');
          this.remove(e);
        }
        return;
      case 'reachable':
        this.setState(e, 'stale');
        return;
      case 'delay':
        e.state = 'probe';
        e.probes = 1;
        this.hooks.solicit(e.key, e.mac);
        this.timers.arm(e.timer, now + this.limits.retransmitMs);
        return;
      case 'stale':
        this.remove(e);
        return;
    }
  }
}

function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
