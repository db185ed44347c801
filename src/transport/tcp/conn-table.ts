/**
 * The connection table: TCBs by 4-tuple (family, local address and port, remote address and
 * port). Looked up for every received segment, so it is keyed by a number — the port pair,
 * which nearly always tells connections apart (each active open picks its own ephemeral port) —
 * and the addresses are compared only on the few candidates, instead of building and hashing
 * a string key per segment. Iteration follows insertion order.
 */
import type { IpAddr } from '../ports.js';
import type { TcpConnection } from './connection.js';

type Bucket = TcpConnection | TcpConnection[];

export class ConnTable {
  /** By `localPort * 65536 + remotePort`: one connection, or several sharing the port pair. */
  private readonly byPorts = new Map<number, Bucket>();
  /** Every connection, in insertion order (for iteration). */
  private readonly all = new Set<TcpConnection>();

  get size(): number {
    return this.all.size;
  }

  get(family: 4 | 6, local: IpAddr, lport: number, remote: IpAddr, rport: number): TcpConnection | undefined {
    const b = this.byPorts.get(lport * 65536 + rport);
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return matches(b, family, local, remote) ? b : undefined;
    for (const c of b) if (matches(c, family, local, remote)) return c;
    return undefined;
  }

  has(family: 4 | 6, local: IpAddr, lport: number, remote: IpAddr, rport: number): boolean {
    return this.get(family, local, lport, remote, rport) !== undefined;
  }

  /** Adds `c` under its 4-tuple; a connection already there under the same tuple is replaced. */
  add(c: TcpConnection): void {
    const old = this.get(c.family, c.localAddr, c.localPort, c.remoteAddr, c.remotePort);
    if (old !== undefined) this.delete(old);
    const k = c.localPort * 65536 + c.remotePort;
    const b = this.byPorts.get(k);
    if (b === undefined) this.byPorts.set(k, c);
    else if (Array.isArray(b)) b.push(c);
    else this.byPorts.set(k, [b, c]);
    this.all.add(c);
  }

  /** Removes `c` if it is in the table (not another connection with the same tuple). */
  delete(c: TcpConnection): void {
    if (!this.all.delete(c)) return;
    const k = c.localPort * 65536 + c.remotePort;
    const b = this.byPorts.get(k);
    if (b === c) this.byPorts.delete(k);
    else if (Array.isArray(b)) {
      const i = b.indexOf(c);
      if (i >= 0) b.splice(i, 1);
      if (b.length === 1) this.byPorts.set(k, b[0]!);
    }
  }

  values(): IterableIterator<TcpConnection> {
    return this.all.values();
  }
}

function matches(c: TcpConnection, family: 4 | 6, local: IpAddr, remote: IpAddr): boolean {
  return c.family === family && addrEq(c.localAddr, local) && addrEq(c.remoteAddr, remote);
}

function addrEq(a: IpAddr, b: IpAddr): boolean {
  if (typeof a === 'number' || typeof b === 'number') return a === b;
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}
