/**
 * Receive-side out-of-order queue (RFC 9293 §3.10.7.4 "Segment Arrives", seventh step: "Segments
 * with higher beginning sequence numbers SHOULD be held for later processing") and the SACK
 * blocks the receiver reports (RFC 2018 §4, RFC 2883 D-SACK).
 *
 * - Data is stored by sequence range in a sorted array of disjoint chunks. The payload bytes are
 *   COPIED out of the caller's (transient) frame buffer, one copy per new byte.
 * - Overlaps: OLD DATA WINS. RFC 9293 lets an implementation keep either copy of overlapping
 *   bytes (§3.10.7.4: "only the new parts are processed" for the in-window data); we keep what
 *   was already queued and store only the gaps the new segment fills, which avoids retroactively
 *   changing data we may already have SACKed (and the classic overlap-rewrite evasion).
 * - Bounded by `maxBytes`: a segment whose new bytes would not fit is dropped as a whole (the
 *   NEWEST data is dropped; already queued — and possibly SACKed — data is never reneged) and
 *   counted in `droppedSegments` / `droppedBytes`.
 * - In-order delivery: when RCV.NXT advances (`advance`), `pop()` returns the queued chunks that
 *   are now contiguous with RCV.NXT and moves RCV.NXT past them.
 * - SACK blocks (RFC 2018 §4): the first block contains the most recently received segment
 *   (unless that segment advanced RCV.NXT), then the blocks of the next most recently received
 *   segments, skipping blocks already listed, then any remaining blocks (highest first).
 *   At most 4 blocks (3 when the timestamp option is present — the caller passes `max`).
 */
import { seqAdd, seqLt, seqSub, type Seq } from './seq.js';
import type { SackBlock } from './sack-scoreboard.js';

interface Chunk {
  seq: Seq;
  data: Uint8Array;
}

export interface ReassemblyOptions {
  /** Bound on queued bytes (default 1 MiB). */
  maxBytes?: number;
  /** How many recent arrivals to remember for SACK ordering (default 8). */
  recentLimit?: number;
}

export interface InsertResult {
  /** New bytes stored. */
  stored: number;
  /** Bytes of the segment that were already queued or below RCV.NXT (duplicates). */
  duplicate: number;
  /** The segment was dropped because of the byte bound. */
  dropped: boolean;
}

export class ReassemblyQueue {
  rcvNxt: Seq;
  readonly maxBytes: number;
  private readonly recentLimit: number;
  private chunks: Chunk[] = [];
  private queued = 0;
  /** Start sequence of recently received out-of-order segments, most recent first. */
  private recent: Seq[] = [];
  droppedSegments = 0;
  droppedBytes = 0;
  /** Sequence number of an out-of-order FIN (the octet after the last data), if one arrived. */
  finSeq: Seq | undefined = undefined;

  constructor(rcvNxt: Seq, opts: ReassemblyOptions = {}) {
    this.rcvNxt = rcvNxt >>> 0;
    this.maxBytes = opts.maxBytes ?? 1 << 20;
    this.recentLimit = opts.recentLimit ?? 8;
  }

  /** Bytes queued. */
  get bytes(): number {
    return this.queued;
  }

  /**
   * Whether RCV.NXT has reached a queued FIN: all data before it was delivered, so the FIN can
   * now be processed (RFC 9293 §3.10.7.4, eighth step) — the caller then advances RCV.NXT by one.
   */
  get finReady(): boolean {
    return this.finSeq !== undefined && this.rcvNxt === this.finSeq && this.chunks.length === 0;
  }

  /** Number of stored chunks. */
  get chunkCount(): number {
    return this.chunks.length;
  }

  get empty(): boolean {
    return this.chunks.length === 0;
  }

  /**
   * Queues a segment's payload at `seq` (the caller has already trimmed it to the receive
   * window). Bytes below RCV.NXT are ignored. Copies the new bytes. `fin`: the segment carries a
   * FIN, remembered in `finSeq` (see `finReady`).
   */
  insert(seq: Seq, payload: Uint8Array, fin = false): InsertResult {
    seq >>>= 0;
    const res: InsertResult = { stored: 0, duplicate: 0, dropped: false };
    if (fin) this.finSeq = seqAdd(seq, payload.length);
    let off = 0;
    const below = seqSub(this.rcvNxt, seq);
    if (below > 0) {
      off = Math.min(below, payload.length);
      res.duplicate += off;
    }
    if (off >= payload.length) return res;
    const s = seqAdd(seq, off);
    const len = payload.length - off;
    // rel offsets from rcvNxt
    const rs = seqSub(s, this.rcvNxt);
    const re = rs + len;

    // Collect gaps of [rs, re) not covered by existing chunks.
    const cs = this.chunks;
    let i = this.firstEndingAfter(rs);
    const gaps: [number, number][] = [];
    let cur = rs;
    let j = i;
    while (j < cs.length && cur < re) {
      const c = cs[j]!;
      const cStart = seqSub(c.seq, this.rcvNxt);
      const cEnd = cStart + c.data.length;
      if (cStart >= re) break;
      if (cStart > cur) gaps.push([cur, cStart]);
      cur = Math.max(cur, cEnd);
      j++;
    }
    if (cur < re) gaps.push([cur, re]);
    let newBytes = 0;
    for (const [a, b] of gaps) newBytes += b - a;
    res.duplicate += len - newBytes;

    if (newBytes > 0 && this.queued + newBytes > this.maxBytes) {
      this.droppedSegments++;
      this.droppedBytes += newBytes;
      res.dropped = true;
      return res;
    }

    // Insert the gap chunks (copies) in order at their positions.
    const newChunks: Chunk[] = gaps.map(([a, b]) => ({
      seq: seqAdd(this.rcvNxt, a),
      data: payload.slice(off + (a - rs), off + (b - rs)),
    }));
    if (newChunks.length > 0) {
      // chunks in [i, j) are interleaved with the gaps; rebuild that span sorted.
      const span = cs.slice(i, j).concat(newChunks);
      span.sort((x, y) => seqSub(x.seq, y.seq));
      cs.splice(i, j - i, ...span);
      this.queued += newBytes;
      res.stored = newBytes;
    }
    // RFC 2018 §4: remember the arrival for the first SACK block (also for duplicates).
    this.noteRecent(s);
    return res;
  }

  /**
   * The caller delivered in-order data up to `rcvNxt` itself (the fast path). Queued data below
   * it is discarded (trimmed).
   */
  advance(rcvNxt: Seq): void {
    rcvNxt >>>= 0;
    if (!seqLt(this.rcvNxt, rcvNxt)) return;
    this.rcvNxt = rcvNxt;
    const cs = this.chunks;
    let drop = 0;
    for (const c of cs) {
      const end = seqAdd(c.seq, c.data.length);
      if (seqSub(end, rcvNxt) <= 0) {
        drop++;
        this.queued -= c.data.length;
        continue;
      }
      const cut = seqSub(rcvNxt, c.seq);
      if (cut > 0) {
        c.data = c.data.subarray(cut);
        c.seq = rcvNxt;
        this.queued -= cut;
      }
      break;
    }
    if (drop > 0) cs.splice(0, drop);
    this.pruneRecent();
  }

  /**
   * Removes and returns the next chunk if it starts at RCV.NXT, advancing RCV.NXT past it;
   * undefined when the queue head is not contiguous. Call in a loop after advancing.
   */
  pop(): Uint8Array | undefined {
    const c = this.chunks[0];
    if (!c || c.seq !== this.rcvNxt) return undefined;
    this.chunks.shift();
    this.queued -= c.data.length;
    this.rcvNxt = seqAdd(this.rcvNxt, c.data.length);
    this.pruneRecent();
    return c.data;
  }

  /** All contiguous ranges held, lowest first. */
  blocks(): SackBlock[] {
    const out: SackBlock[] = [];
    for (const c of this.chunks) {
      const end = seqAdd(c.seq, c.data.length);
      const last = out[out.length - 1];
      if (last && last.end === c.seq) last.end = end;
      else out.push({ start: c.seq, end });
    }
    return out;
  }

  /**
   * The SACK blocks to send (RFC 2018 §4), most recent first, at most `max` (4, or 3 with
   * timestamps). `dsack`, if given, is placed first (RFC 2883 §4: a D-SACK block is the first
   * block; the block containing it, if queued, naturally follows as the most recent).
   */
  sackBlocks(max = 4, dsack?: SackBlock): SackBlock[] {
    const all = this.blocks();
    const out: SackBlock[] = [];
    if (dsack && max > 0) out.push({ start: dsack.start >>> 0, end: dsack.end >>> 0 });
    const used = new Set<number>();
    for (const s of this.recent) {
      if (out.length >= max) break;
      const k = all.findIndex((b) => !seqLt(s, b.start) && seqLt(s, b.end));
      if (k < 0 || used.has(k)) continue;
      used.add(k);
      out.push(all[k]!);
    }
    for (let k = all.length - 1; k >= 0 && out.length < max; k--) {
      if (used.has(k)) continue;
      used.add(k);
      out.push(all[k]!);
    }
    return out;
  }

  /** Drops everything (e.g. on RST). */
  clear(): void {
    this.finSeq = undefined;
    this.chunks.length = 0;
    this.queued = 0;
    this.recent.length = 0;
  }

  private firstEndingAfter(rel: number): number {
    // binary search: first chunk whose end (relative) > rel
    const cs = this.chunks;
    let lo = 0;
    let hi = cs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const c = cs[mid]!;
      if (seqSub(c.seq, this.rcvNxt) + c.data.length > rel) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private noteRecent(s: Seq): void {
    const r = this.recent;
    const k = r.indexOf(s);
    if (k >= 0) r.splice(k, 1);
    r.unshift(s);
    if (r.length > this.recentLimit) r.length = this.recentLimit;
  }

  private pruneRecent(): void {
    const n = this.rcvNxt;
    this.recent = this.recent.filter((s) => seqSub(s, n) >= 0 && this.holds(s));
  }

  private holds(s: Seq): boolean {
    for (const c of this.chunks) {
      if (seqLt(s, c.seq)) return false;
      if (seqLt(s, seqAdd(c.seq, c.data.length))) return true;
    }
    return false;
  }
}
