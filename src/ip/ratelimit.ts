/**
 * A token bucket for ICMP error generation (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f): "an IPv6 node
 * MUST limit the rate of ICMPv6 error messages it originates"; token bucket suggested there).
 * `ratePerSec` tokens are added per second up to `burst`; each error takes one.
 * A rate of 0 disables errors; Infinity disables limiting.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly now: () => number,
    public ratePerSec: number,
    public burst: number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes one token; false when the bucket is empty. */
  take(): boolean {
    if (this.ratePerSec === Infinity) return true;
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.ratePerSec) / 1000);
      this.last = t;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    return false;
  }
}
