/** Node implementations of the core's time and randomness parameters (src/core/clock.ts). */
import { performance } from 'node:perf_hooks';
import { webcrypto } from 'node:crypto';
import type { Clock, RandomSource } from '../core/clock.js';

/** Monotonic milliseconds since process start (fractions included). */
export const nodeClock: Clock = {
  now: () => performance.now(),
};

/**
 * Cryptographically strong randomness. getRandomValues costs a call into the system per use,
 * so bytes are drawn from a 4 KiB pool refilled when exhausted.
 */
class CryptoRandom implements RandomSource {
  private readonly pool = new Uint8Array(4096);
  private readonly words = new DataView(this.pool.buffer);
  private pos = this.pool.length;

  u32(): number {
    if (this.pos + 4 > this.pool.length) this.refill();
    const v = this.words.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  fill(out: Uint8Array): void {
    let done = 0;
    while (done < out.length) {
      if (this.pos === this.pool.length) this.refill();
      const n = Math.min(out.length - done, this.pool.length - this.pos);
      out.set(this.pool.subarray(this.pos, this.pos + n), done);
      // Used bytes are never handed out twice.
      this.pos += n;
      done += n;
    }
  }

  private refill(): void {
    webcrypto.getRandomValues(this.pool);
    this.pos = 0;
  }
}

export const cryptoRandom: RandomSource = new CryptoRandom();
