/**
 * Ephemeral port selection (RFC 6056 "Recommendations for Transport-Protocol Port
 * Randomization") and the keyed flow hash shared by the ISN generator and SYN cookies.
 *
 * `EphemeralPortSelector` implements RFC 6056 §3.3.4, Algorithm 4 ("Double-Hash Port Selection
 * Algorithm"):
 *
 *     offset = F(local_IP, remote_IP, remote_port, secret_key1)
 *     index  = G(local_IP, remote_IP, remote_port, secret_key2) % TABLE_LENGTH
 *     count  = num_ephemeral
 *     do {
 *       port = min_ephemeral + (offset + table[index]) % num_ephemeral
 *       table[index]++
 *       if (check_suitable_port(port)) return port
 *       count--
 *     } while (count > 0)
 *     return ERROR
 *
 * F and G are SipHash-2-4 under two independent random keys; table[] starts with random values
 * (RFC 6056 §3.3.4 initialisation). The range defaults to 1024–65535, the whole range RFC 6056
 * §3.2 recommends (Linux uses 32768–60999; IANA's dynamic range is 49152–65535).
 */
import type { RandomSource } from '../core/clock.js';
import { siphash24, sipKey, type SipKey } from '../core/siphash.js';

/** An IPv4 address as a u32, or an IPv6 address as 16 bytes. */
export type IpAddr = number | Uint8Array;

const scratch = new Uint8Array(16 + 16 + 2 + 2 + 4);

function putAddr(buf: Uint8Array, o: number, a: IpAddr): number {
  if (typeof a === 'number') {
    buf[o] = a >>> 24;
    buf[o + 1] = a >>> 16;
    buf[o + 2] = a >>> 8;
    buf[o + 3] = a;
    return o + 4;
  }
  buf.set(a.subarray(0, 16), o);
  return o + 16;
}

/**
 * SipHash-2-4 over (localAddr, localPort, remoteAddr, remotePort, extra): a keyed hash of a flow.
 * Pass `localPort` -1 to leave it out (RFC 6056's F takes no local port). Returns {hi, lo}.
 */
export function hashFlow(key: SipKey, localAddr: IpAddr, localPort: number, remoteAddr: IpAddr, remotePort: number, extra = 0): { hi: number; lo: number } {
  let o = putAddr(scratch, 0, localAddr);
  o = putAddr(scratch, o, remoteAddr);
  if (localPort >= 0) {
    scratch[o++] = localPort >>> 8;
    scratch[o++] = localPort;
  }
  scratch[o++] = remotePort >>> 8;
  scratch[o++] = remotePort;
  scratch[o++] = extra >>> 24;
  scratch[o++] = extra >>> 16;
  scratch[o++] = extra >>> 8;
  scratch[o++] = extra;
  return siphash24(key, scratch.subarray(0, o));
}

/** A random 16-byte SipHash key. */
export function randomSipKey(random: RandomSource): SipKey {
  const k = new Uint8Array(16);
  random.fill(k);
  return sipKey(k);
}

export interface PortSelectorOptions {
  /** Lowest ephemeral port (default 1024). */
  min?: number;
  /** Highest ephemeral port (default 65535). */
  max?: number;
  /** TABLE_LENGTH of Algorithm 4 (default 1024). */
  tableLength?: number;
}

export class EphemeralPortSelector {
  readonly min: number;
  readonly max: number;
  private readonly key1: SipKey;
  private readonly key2: SipKey;
  private readonly table: Uint16Array;

  constructor(random: RandomSource, opts: PortSelectorOptions = {}) {
    this.min = opts.min ?? 1024;
    this.max = opts.max ?? 65535;
    if (!(this.min >= 1 && this.max <= 65535 && this.min <= this.max)) throw new RangeError('bad ephemeral port range');
    this.key1 = randomSipKey(random);
    this.key2 = randomSipKey(random);
    this.table = new Uint16Array(Math.max(1, opts.tableLength ?? 1024));
    for (let i = 0; i < this.table.length; i++) this.table[i] = random.u32() & 0xffff;
  }

  /** Number of ports in the range (num_ephemeral). */
  get size(): number {
    return this.max - this.min + 1;
  }

  /**
   * Picks a local port for a connection from `localAddr` to `remoteAddr:remotePort`; `inUse(port)`
   * is the check_suitable_port() of the RFC, inverted (true = not suitable). Returns undefined
   * when every port in the range is in use.
   */
  select(localAddr: IpAddr, remoteAddr: IpAddr, remotePort: number, inUse: (port: number) => boolean): number | undefined {
    const num = this.size;
    const offset = hashFlow(this.key1, localAddr, -1, remoteAddr, remotePort).lo;
    const index = hashFlow(this.key2, localAddr, -1, remoteAddr, remotePort).lo % this.table.length;
    for (let count = num; count > 0; count--) {
      const port = this.min + ((offset + this.table[index]!) % num);
      this.table[index] = (this.table[index]! + 1) & 0xffff;
      if (!inUse(port)) return port;
    }
    return undefined;
  }
}
