/**
 * The send byte queue: bytes written by the application and not yet acknowledged, from SND.UNA
 * onward (offset 0 is the byte at SND.UNA). A ring buffer:
 *
 * - `append` copies the application's bytes in once (the only per-byte copy) and accepts at most
 *   the free space (backpressure: it returns how many bytes it took).
 * - `peek(offset, len)` gives the bytes for building a segment without copying when they are
 *   contiguous in the ring (a subarray view); when they wrap, they are copied into the caller's
 *   scratch buffer (or a new one). `peekParts` returns the one or two views instead.
 * - `ack(n)` frees n bytes from the front (SND.UNA advanced by n).
 *
 * The ring starts small and doubles up to `capacity` as data is queued (growth re-copies the
 * queued bytes once per doubling; amortised O(1) per byte), so idle sockets hold little memory.
 * Views returned by peek are valid until the next append/ack that grows the ring; callers copy
 * them into the outgoing frame right away anyway.
 */

export class SendBuffer {
  readonly capacity: number;
  private buf: Uint8Array;
  private head = 0; // index of offset 0 (SND.UNA)
  private len = 0;

  constructor(capacity: number, initialSize = 16 * 1024) {
    if (!(capacity > 0)) throw new RangeError('capacity must be positive');
    this.capacity = capacity;
    this.buf = new Uint8Array(Math.min(capacity, Math.max(1, initialSize)));
  }

  /** Bytes queued (unacknowledged, sent or not). */
  get length(): number {
    return this.len;
  }

  /** Bytes that `append` would accept now. */
  get free(): number {
    return this.capacity - this.len;
  }

  /** Appends up to `free` bytes of `data` (copied); returns the number accepted. */
  append(data: Uint8Array): number {
    const n = Math.min(data.length, this.capacity - this.len);
    if (n <= 0) return 0;
    if (this.len + n > this.buf.length) this.grow(this.len + n);
    const size = this.buf.length;
    let tail = this.head + this.len;
    if (tail >= size) tail -= size;
    const first = Math.min(n, size - tail);
    this.buf.set(first === data.length ? data : data.subarray(0, first), tail);
    if (first < n) this.buf.set(data.subarray(first, n), 0);
    this.len += n;
    return n;
  }

  /**
   * The bytes [offset, offset + len) from SND.UNA: a view into the ring when contiguous, else a
   * copy into `scratch` (which must hold `len` bytes; a new array is allocated without it).
   * `len` is clamped to what is queued.
   */
  peek(offset: number, len: number, scratch?: Uint8Array): Uint8Array {
    const [a, b] = this.peekParts(offset, len);
    if (b.length === 0) return a;
    const out = scratch && scratch.length >= a.length + b.length ? scratch.subarray(0, a.length + b.length) : new Uint8Array(a.length + b.length);
    out.set(a, 0);
    out.set(b, a.length);
    return out;
  }

  /** The bytes [offset, offset + len) as one or two views (the second empty unless wrapping). */
  peekParts(offset: number, len: number): [Uint8Array, Uint8Array] {
    offset = Math.min(Math.max(0, offset), this.len);
    const n = Math.max(0, Math.min(len, this.len - offset));
    const size = this.buf.length;
    let start = this.head + offset;
    if (start >= size) start -= size;
    const first = Math.min(n, size - start);
    const a = this.buf.subarray(start, start + first);
    const b = this.buf.subarray(0, n - first);
    return [a, b];
  }

  /** Frees `n` bytes from the front (acknowledged); returns the number freed. */
  ack(n: number): number {
    n = Math.max(0, Math.min(n, this.len));
    this.head += n;
    if (this.head >= this.buf.length) this.head -= this.buf.length;
    this.len -= n;
    if (this.len === 0) this.head = 0;
    return n;
  }

  /** Discards everything. */
  clear(): void {
    this.head = 0;
    this.len = 0;
  }

  private grow(need: number): void {
    let size = this.buf.length;
    while (size < need) size *= 2;
    size = Math.min(size, this.capacity);
    const nb = new Uint8Array(size);
    const [a, b] = this.peekParts(0, this.len);
    nb.set(a, 0);
    nb.set(b, a.length);
    this.buf = nb;
    this.head = 0;
  }
}
