/**
 * The transmit records of a connection (RACK's per-segment state, RFC 8985 §6.1), in sequence
 * order over [SND.UNA, SND.NXT): a ring buffer, so that the cumulative ACK drops records from
 * the front in O(1) per record (an array's splice(0, k) moves every remaining record) and new
 * segments append at the back. Record objects are reused once dropped: a record is only valid
 * until the queue is next modified — callers never keep one across segments or timers.
 */
import type { Seq } from './seq.js';
import type { RackSegment } from './rack.js';

/** A transmitted segment (metadata only: the bytes stay in the send buffer). */
export interface TxRecord extends RackSegment {
  sacked: boolean;
}

function blank(): TxRecord {
  return { seq: 0, endSeq: 0, xmitTs: 0, retransmitted: false, lost: false, sacked: false };
}

export class TxQueue implements Iterable<TxRecord> {
  /**
   * Slots, a power of two (none until the first push: idle connections stay small). Slots
   * outside [head, head + length) hold spare records for reuse.
   */
  private slots: Array<TxRecord | undefined> = [];
  private mask = 0;
  private head = 0;
  length = 0;

  /** The i-th record from the front (0 <= i < length). */
  at(i: number): TxRecord {
    return this.slots[(this.head + i) & this.mask]!;
  }

  /** The front record (lowest sequence), if any. */
  first(): TxRecord | undefined {
    return this.length > 0 ? this.slots[this.head]! : undefined;
  }

  /** Appends a record for a new transmission of [seq, endSeq) at `xmitTs`. */
  push(seq: Seq, endSeq: Seq, xmitTs: number): TxRecord {
    if (this.length === this.slots.length) this.grow();
    const i = (this.head + this.length) & this.mask;
    let r = this.slots[i];
    if (r === undefined) r = this.slots[i] = blank();
    r.seq = seq;
    r.endSeq = endSeq;
    r.xmitTs = xmitTs;
    r.retransmitted = false;
    r.lost = false;
    r.sacked = false;
    this.length++;
    return r;
  }

  /**
   * Splits the record at index i at `at` (strictly inside it): the record keeps [seq, at) and a
   * copy of its state covering [at, endSeq) is inserted after it. Returns the upper part's index.
   */
  split(i: number, at: Seq): number {
    if (this.length === this.slots.length) this.grow();
    const mask = this.mask;
    // Shift [i + 1, length) up by one, reusing the spare record past the end for the new one.
    const spareSlot = (this.head + this.length) & mask;
    const upper = this.slots[spareSlot] ?? blank();
    for (let k = this.length; k > i + 1; k--) this.slots[(this.head + k) & mask] = this.slots[(this.head + k - 1) & mask];
    const r = this.at(i);
    upper.seq = at;
    upper.endSeq = r.endSeq;
    upper.xmitTs = r.xmitTs;
    upper.retransmitted = r.retransmitted;
    upper.lost = r.lost;
    upper.sacked = r.sacked;
    r.endSeq = at;
    this.slots[(this.head + i + 1) & mask] = upper;
    this.length++;
    return i + 1;
  }

  /** Removes the first k records (they become spares). */
  dropFront(k: number): void {
    if (k >= this.length) {
      this.head = (this.head + this.length) & this.mask;
      this.length = 0;
      return;
    }
    this.head = (this.head + k) & this.mask;
    this.length -= k;
  }

  clear(): void {
    this.dropFront(this.length);
  }

  /** Empties the queue and frees its storage (TIME-WAIT keeps no transmit state). */
  release(): void {
    this.slots = [];
    this.mask = 0;
    this.head = 0;
    this.length = 0;
  }

  *[Symbol.iterator](): Iterator<TxRecord> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  private grow(): void {
    const n = this.slots.length;
    const size = n === 0 ? 16 : 2 * n;
    const next = new Array<TxRecord | undefined>(size).fill(undefined);
    for (let i = 0; i < n; i++) next[i] = this.slots[(this.head + i) & this.mask];
    this.slots = next;
    this.mask = size - 1;
    this.head = 0;
  }
}
