/**
 * Fragment reassembly for IPv4 (RFC 791 §3.2, RFC 815) and IPv6 (RFC 8200 §4.5).
 *
 * - One buffer per datagram key (v4: src, dst, protocol, id; v6: src, dst, id).
 * - Timeout: `timeoutMs` after the first fragment (v4 30 s like Linux — RFC 791 suggests 15 s;
 *   v6 60 s, RFC 8200 §4.5). On timeout, when the first fragment (offset 0) had arrived, the
 *   owner sends ICMP Time Exceeded code 1 (RFC 792; RFC 8200 §4.5) — `onTimeout`.
 * - Overlaps: IPv6 overlapping fragments discard the whole datagram, including fragments not yet
 *   received (RFC 5722 §4): the entry stays as a tombstone until its timer runs out. We do the
 *   same for IPv4: RFC 791 would let later data win, but overlapping fragments have no legitimate
 *   use and are the classic evasion/attack vector (RFC 1858, "teardrop"), so dropping the
 *   datagram is the safe choice. An exact duplicate (same offset and length, as a retransmitting
 *   middlebox may produce) only drops the duplicate, as Linux does.
 * - Inconsistent fragments (a second, different last fragment; data past the end) discard the
 *   datagram too.
 * - A global memory bound (`ReassemblyBudget`, shared by v4 and v6): when a new fragment does
 *   not fit, the oldest incomplete datagrams are evicted, of either family (counted
 *   `<prefix>.reasm_evicted` under the evicted one's family): a flood of never-completed IPv4
 *   fragments must not starve IPv6 reassembly until its entries time out, nor the reverse. A
 *   fragment larger than the whole budget is dropped (`<prefix>.reasm_memory`).
 * - The size limit (65535) is checked by the caller, who knows the header length.
 */
import type { Counters } from '../core/counters.js';
import type { Timer, TimerQueue } from '../core/timers.js';

export class ReassemblyBudget {
  /** Bytes held now (fragment data, plus the kept first fragments). */
  used = 0;
  /** The most ever held at once: a gauge for `netstack host`'s counter table. */
  peak = 0;
  /** The datagrams holding memory, of every reassembler sharing the budget, oldest first. */
  readonly held = new Set<BudgetEntry>();
  constructor(public max: number) {}
}

/** A datagram in a budget's eviction order. */
export interface BudgetEntry {
  readonly bytes: number;
  evict(): void;
}

export interface FragmentInput {
  key: string;
  /** Byte offset of this fragment's data in the reassembled payload. */
  offset: number;
  /** More-fragments flag. */
  more: boolean;
  /** The fragment's data (copied if kept). */
  data: Uint8Array;
  /**
   * For the offset-0 fragment: the headers that precede the fragmentable part (the IPv4 header,
   * or the IPv6 header plus unfragmentable extension headers), copied and used for the
   * reassembled packet.
   */
  header?: Uint8Array;
  /** For the offset-0 fragment: the whole fragment packet, kept for ICMP Time Exceeded. */
  packet?: Uint8Array;
}

export interface Reassembled {
  header: Uint8Array;
  payload: Uint8Array;
}

interface Piece {
  off: number;
  end: number;
  data: Uint8Array;
}

interface Datagram extends BudgetEntry {
  key: string;
  pieces: Piece[];
  /** Total payload length once the last fragment arrived, else -1. */
  total: number;
  received: number;
  bytes: number;
  header: Uint8Array | undefined;
  packet: Uint8Array | undefined;
  /** Overlap seen: a tombstone that discards further fragments until it times out. */
  dead: boolean;
  created: number;
  timer: Timer;
}

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();

  constructor(
    private readonly timers: TimerQueue,
    private readonly now: () => number,
    private readonly counters: Counters,
    /** 'ipv4' or 'ipv6' */
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly budget: ReassemblyBudget,
    /** Called on timeout with the first fragment (when it arrived) to send Time Exceeded. */
    private readonly onTimeout: (firstFragment: Uint8Array) => void,
  ) {}

  /** Datagrams being reassembled (tombstones included). */
  get size(): number {
    return this.datagrams.size;
  }

  /**
   * Adds a fragment. Returns the reassembled datagram when complete, null while incomplete,
   * or a drop reason (already counted) when the fragment or its datagram was discarded.
   */
  add(f: FragmentInput): Reassembled | null | string {
    const end = f.offset + f.data.length;
    let d = this.datagrams.get(f.key);
    if (d?.dead) return this.dropped('reasm_overlap');
    const cost = f.data.length + (f.packet?.length ?? 0);
    if (cost > this.budget.max) return this.dropped('reasm_memory');
    this.makeRoom(cost, d);
    if (this.budget.used + cost > this.budget.max) return this.dropped('reasm_memory');
    if (!d) {
      const created = this.now();
      const nd: Datagram = {
        key: f.key,
        pieces: [],
        total: -1,
        received: 0,
        bytes: 0,
        header: undefined,
        packet: undefined,
        dead: false,
        created,
        timer: this.timers.create(() => this.expire(nd)),
        evict: () => {
          this.release(nd);
          this.dropped('reasm_evicted');
        },
      };
      d = nd;
      this.datagrams.set(f.key, d);
      this.budget.held.add(d);
      this.timers.arm(d.timer, created + this.timeoutMs);
    }

    // Consistency with the last fragment.
    if (!f.more) {
      if ((d.total >= 0 && d.total !== end) || d.pieces.some((p) => p.end > end)) return this.kill(d, 'reasm_inconsistent');
    } else if (d.total >= 0 && end > d.total) {
      return this.kill(d, 'reasm_inconsistent');
    }

    // Overlap check (RFC 5722): find the insertion point in the sorted list.
    let i = 0;
    while (i < d.pieces.length && d.pieces[i]!.off < f.offset) i++;
    for (const j of [i - 1, i]) {
      const p = d.pieces[j];
      if (!p) continue;
      if (p.off === f.offset && p.end === end) return this.dropped('reasm_duplicate');
      if (f.offset < p.end && p.off < end) return this.kill(d, 'reasm_overlap');
    }
    if (f.data.length === 0 && f.more) return this.dropped('reasm_empty');

    d.pieces.splice(i, 0, { off: f.offset, end, data: Uint8Array.from(f.data) });
    d.received += f.data.length;
    d.bytes += f.data.length;
    this.budget.used += f.data.length;
    if (!f.more) d.total = end;
    if (f.offset === 0) {
      if (f.header) d.header = Uint8Array.from(f.header);
      if (f.packet) {
        d.packet = Uint8Array.from(f.packet);
        d.bytes += d.packet.length;
        this.budget.used += d.packet.length;
      }
    }
    if (this.budget.used > this.budget.peak) this.budget.peak = this.budget.used;

    if (d.total < 0 || d.received !== d.total || !d.header) return null;
    // Complete: pieces are sorted, non-overlapping and sum to the total, so they are contiguous.
    const payload = new Uint8Array(d.total);
    for (const p of d.pieces) payload.set(p.data, p.off);
    const header = d.header;
    this.release(d);
    this.counters.inc(this.prefix + '.reasm_ok');
    return { header, payload };
  }

  /** Discards everything (stack shutdown). */
  clear(): void {
    for (const d of [...this.datagrams.values()]) this.release(d);
  }

  private dropped(reason: string): string {
    const r = this.prefix + '.' + reason;
    this.counters.drop(r);
    return r;
  }

  /** Discards the datagram's data but keeps a tombstone until the timeout (RFC 5722). */
  private kill(d: Datagram, reason: string): string {
    this.budget.used -= d.bytes;
    d.bytes = 0;
    d.pieces = [];
    d.packet = undefined;
    d.header = undefined;
    d.dead = true;
    this.budget.held.delete(d);
    return this.dropped(reason);
  }

  private release(d: Datagram): void {
    this.timers.cancel(d.timer);
    this.budget.used -= d.bytes;
    d.bytes = 0;
    this.datagrams.delete(d.key);
    this.budget.held.delete(d);
  }

  private makeRoom(cost: number, keep?: Datagram): void {
    if (this.budget.used + cost <= this.budget.max) return;
    // Set iteration order is insertion order: oldest first, whichever family.
    for (const d of [...this.budget.held]) {
      if (this.budget.used + cost <= this.budget.max) return;
      if (d === keep || d.bytes === 0) continue;
      d.evict();
    }
  }

  private expire(d: Datagram): void {
    const packet = d.dead ? undefined : d.packet;
    this.datagrams.delete(d.key);
    this.budget.held.delete(d);
    this.budget.used -= d.bytes;
    d.bytes = 0;
    if (d.dead) return;
    this.dropped('reasm_timeout');
    if (packet) this.onTimeout(packet);
  }
}
