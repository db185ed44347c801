/**
 * Initial sequence numbers (RFC 6528 "Defending against Sequence Number Attacks", §3):
 *
 *     ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * "where M is the 4 microsecond timer, and F() is a pseudorandom function (PRF) of the
 * connection-id." M comes from the supplied time (ms, fractions allowed): M = floor(now * 250)
 * mod 2^32. F is SipHash-2-4 (`src/core/siphash.ts`) keyed with a secret the caller draws from
 * its RandomSource (RFC 6528 §3: the key should be changed periodically only with care, since a
 * change may make new ISNs collide with an old incarnation's sequence space).
 */
import type { RandomSource } from '../../core/clock.js';
import type { SipKey } from '../../core/siphash.js';
import { hashFlow, randomSipKey, type IpAddr } from '../ports.js';
import type { Seq } from './seq.js';

/** M: the 4 µs clock from a time in ms (RFC 6528 §3, as in RFC 793). */
export function isnClock(nowMs: number): number {
  return Math.floor(nowMs * 250) % 0x1_0000_0000 >>> 0;
}

export class IsnGenerator {
  constructor(private readonly key: SipKey) {}

  static fromRandom(random: RandomSource): IsnGenerator {
    return new IsnGenerator(randomSipKey(random));
  }

  /** F(): the keyed hash of the connection-id (low 32 bits of SipHash-2-4). */
  offset(localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number): number {
    return hashFlow(this.key, localAddr, localPort & 0xffff, remoteAddr, remotePort & 0xffff).lo;
  }

  /** ISN = M + F(...) mod 2^32. */
  isn(now: number, localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number): Seq {
    return (isnClock(now) + this.offset(localAddr, localPort, remoteAddr, remotePort)) >>> 0;
  }
}
