/**
 * Time and randomness are parameters of the stack core, never globals: the core imports
 * nothing from Node, so it runs on a virtual clock in deterministic simulations and in any
 * JavaScript runtime. Node-specific implementations live in src/node/.
 */

/** A monotonic clock in milliseconds (fractions allowed). */
export interface Clock {
  now(): number;
}

/** A source of random numbers. Security-relevant values (ISNs, ports, IP IDs) come from here. */
export interface RandomSource {
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number;
  /** Fills `out` with random bytes. */
  fill(out: Uint8Array): void;
}

/** A clock that only moves when told to: for tests and simulations. */
export class VirtualClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  /** Moves time forward to `t` (never backwards). */
  set(t: number): void {
    if (t > this.t) this.t = t;
  }
  advance(ms: number): void {
    if (ms > 0) this.t += ms;
  }
}

/**
 * A seeded pseudo-random generator (xoshiro128**): the same seed gives the same sequence, so a
 * simulation that fails can be replayed from its seed. Not for production use.
 */
export class SeededRandom implements RandomSource {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // splitmix32 expands the seed into the four state words.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  fill(out: Uint8Array): void {
    for (let i = 0; i < out.length; i += 4) {
      let r = this.u32();
      for (let j = i; j < i + 4 && j < out.length; j++) {
        out[j] = r & 0xff;
        r >>>= 8;
      }
    }
  }

  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
