/**
 * An in-memory stand-in for the core TCP layer (the TcpSocket/TcpLayer shape src/api/net.ts
 * codes against): connections are pairs of FakeTcpSockets piped in memory, with a bounded send
 * buffer per socket (write() accepts only what fits; onDrain when there is room again), a
 * bounded receive buffer (a peer that is not reading stops the sender — the "window"), FIN and
 * RST. Delivery runs on setImmediate, a bounded amount per turn, so streams interleave as with
 * a real device. One FakeTcpLayer plays every host: listen() and connect() meet in it.
 */
import type { CoreTcpLayer, CoreTcpListener, CoreTcpSocket, CoreSocketError } from '../../src/api/net.js';

export class FakeSocketError extends Error implements CoreSocketError {
  constructor(
    readonly code: string,
    message = code,
  ) {
    super(message);
  }
}

export interface FakeOptions {
  /** Send-buffer bytes per socket (write() accepts up to this much unsent data). */
  sendCap?: number;
  /** Receive-buffer bytes per socket (the window). */
  recvCap?: number;
  /** Largest onData chunk. */
  chunk?: number;
  /** Bytes moved per event-loop turn, over all sockets. */
  budget?: number;
  local4?: string;
  local6?: string;
}

interface Listening {
  family: 4 | 6;
  address: string;
  port: number;
  onConnection: (s: CoreTcpSocket) => void;
  closed: boolean;
}

export class FakeTcpSocket implements CoreTcpSocket {
  onConnect?: () => void;
  onData?: (data: Uint8Array) => void;
  onEnd?: () => void;
  onDrain?: () => void;
  onError?: (err: CoreSocketError) => void;
  onClose?: () => void;

  peer: FakeTcpSocket | undefined;
  state = 'SYN_SENT';
  reading = true;
  noDelay = false;
  keepAlive: { on: boolean; idleMs: number | undefined } = { on: false, idleMs: undefined };
  bytesReceived = 0;
  bytesSent = 0;
  /** Most bytes ever held in this socket's send + receive buffers together. */
  maxBuffered = 0;
  sendQ: Uint8Array[] = [];
  sendQueued = 0;
  recvQ: Uint8Array[] = [];
  recvQueued = 0;
  needDrain = false;
  finPending = false;
  finSent = false;
  peerFin = false;
  endDelivered = false;
  orphan = false;
  dead = false;
  aborted = false;
  shutdownCalls = 0;
  closeCalls = 0;
  abortCalls = 0;

  constructor(
    readonly layer: FakeTcpLayer,
    readonly family: 4 | 6,
    public localAddress: string,
    public localPort: number,
    public remoteAddress: string,
    public remotePort: number,
  ) {}

  write(data: Uint8Array): number {
    if (this.dead || this.finPending) throw new FakeSocketError('EPIPE', 'write after shutdown/close');
    if (this.state !== 'ESTABLISHED') throw new FakeSocketError('ENOTCONN');
    const n = Math.min(data.length, this.layer.sendCap - this.sendQueued);
    if (n > 0) {
      this.sendQ.push(data.slice(0, n));
      this.sendQueued += n;
      this.note();
      this.layer.kick();
    }
    if (n < data.length) this.needDrain = true;
    return n;
  }

  shutdown(): void {
    this.shutdownCalls++;
    if (this.dead) return;
    this.finPending = true;
    this.layer.kick();
  }

  close(): void {
    this.closeCalls++;
    if (this.dead) return;
    if (this.recvQueued > 0 || this.state !== 'ESTABLISHED') {
      this.abortInternal();
      return;
    }
    this.finPending = true;
    this.orphan = true;
    this.reading = true;
    this.layer.kick();
  }

  abort(): void {
    this.abortCalls++;
    this.abortInternal();
  }

  abortInternal(): void {
    if (this.dead) return;
    this.aborted = true;
    this.die();
    const p = this.peer;
    if (p && !p.dead) {
      p.die();
      setImmediate(() => {
        p.onError?.(new FakeSocketError('ECONNRESET', 'connection reset by peer'));
        p.onClose?.();
      });
    }
    setImmediate(() => this.onClose?.());
  }

  die(): void {
    this.dead = true;
    this.state = 'CLOSED';
    this.sendQ = [];
    this.recvQ = [];
    this.sendQueued = 0;
    this.recvQueued = 0;
  }

  setReading(on: boolean): void {
    this.reading = on;
    if (on) this.layer.kick();
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepAlive = { on, idleMs };
  }

  note(): void {
    const b = this.sendQueued + this.recvQueued;
    if (b > this.maxBuffered) this.maxBuffered = b;
  }

  /** One step; returns bytes moved or events delivered (0 = no progress). */
  step(budget: number): number {
    if (this.dead || this.state !== 'ESTABLISHED') return 0;
    let progress = 0;
    const p = this.peer!;
    // send → peer's receive buffer, within its window
    while (this.sendQ.length > 0 && budget > 0 && !p.dead) {
      const room = this.layer.recvCap - p.recvQueued;
      if (room <= 0) break;
      const head = this.sendQ[0]!;
      const n = Math.min(head.length, room, budget);
      const part = head.subarray(0, n);
      if (n === head.length) this.sendQ.shift();
      else this.sendQ[0] = head.subarray(n);
      this.sendQueued -= n;
      this.bytesSent += n;
      budget -= n;
      progress += n;
      if (p.orphan) {
        // data for a closed socket: RST
        p.abortInternal();
        return progress;
      }
      p.recvQ.push(part);
      p.recvQueued += n;
      p.note();
    }
    if (this.sendQ.length === 0 && this.finPending && !this.finSent) {
      this.finSent = true;
      p.peerFin = true;
      progress++;
    }
    // deliver what we have received
    while (this.reading && this.recvQ.length > 0 && !this.dead) {
      let head = this.recvQ.shift()!;
      if (head.length > this.layer.chunk) {
        this.recvQ.unshift(head.subarray(this.layer.chunk));
        head = head.subarray(0, this.layer.chunk);
      }
      this.recvQueued -= head.length;
      this.bytesReceived += head.length;
      progress += head.length;
      if (!this.orphan) this.onData?.(head.slice());
    }
    if (!this.dead && this.recvQ.length === 0 && this.peerFin && !this.endDelivered && (this.reading || this.orphan)) {
      this.endDelivered = true;
      progress++;
      if (!this.orphan) this.onEnd?.();
    }
    if (!this.dead && this.needDrain && this.sendQueued < this.layer.sendCap) {
      this.needDrain = false;
      progress++;
      this.onDrain?.();
    }
    // both directions finished: closed
    if (!this.dead && this.finSent && this.endDelivered && p.finSent && p.endDelivered) {
      this.state = 'CLOSED';
      p.state = 'CLOSED';
      this.dead = true;
      p.dead = true;
      progress++;
      const a = this.onClose;
      const b = p.onClose;
      setImmediate(() => {
        a?.();
        b?.();
      });
    }
    return progress;
  }
}

export class FakeTcpLayer implements CoreTcpLayer {
  readonly sendCap: number;
  readonly recvCap: number;
  readonly chunk: number;
  readonly budget: number;
  readonly local4: string;
  readonly local6: string;
  readonly sockets = new Set<FakeTcpSocket>();
  private readonly listeners: Listening[] = [];
  private nextPort = 40000;
  private scheduled = false;

  constructor(o: FakeOptions = {}) {
    this.sendCap = o.sendCap ?? 64 * 1024;
    this.recvCap = o.recvCap ?? 64 * 1024;
    this.chunk = o.chunk ?? 16 * 1024;
    this.budget = o.budget ?? 256 * 1024;
    this.local4 = o.local4 ?? '10.0.0.1';
    this.local6 = o.local6 ?? 'fd00::1';
  }

  listen(
    opts: { family: 4 | 6; address?: string; port: number; backlog?: number },
    onConnection: (s: CoreTcpSocket) => void,
  ): CoreTcpListener {
    const wildcard = opts.family === 4 ? '0.0.0.0' : '::';
    const address = opts.address ?? wildcard;
    let port = opts.port;
    if (port === 0) port = this.nextPort++;
    for (const l of this.listeners) {
      if (l.closed || l.family !== opts.family || l.port !== port) continue;
      if (l.address === address || l.address === wildcard || address === wildcard) {
        throw new FakeSocketError('EADDRINUSE', 'address already in use');
      }
    }
    const rec: Listening = { family: opts.family, address, port, onConnection, closed: false };
    this.listeners.push(rec);
    return {
      port,
      address,
      close: () => {
        rec.closed = true;
        const i = this.listeners.indexOf(rec);
        if (i >= 0) this.listeners.splice(i, 1);
      },
    };
  }

  connect(opts: { family: 4 | 6; remoteAddress: string; remotePort: number; localAddress?: string; localPort?: number }): CoreTcpSocket {
    const local = opts.localAddress ?? (opts.family === 4 ? this.local4 : this.local6);
    const c = new FakeTcpSocket(this, opts.family, local, opts.localPort ?? this.nextPort++, opts.remoteAddress, opts.remotePort);
    this.sockets.add(c);
    setImmediate(() => {
      if (c.dead) return;
      const wildcard = opts.family === 4 ? '0.0.0.0' : '::';
      const l = this.listeners.find(
        (x) => !x.closed && x.family === opts.family && x.port === opts.remotePort && (x.address === wildcard || x.address === opts.remoteAddress),
      );
      if (opts.remoteAddress === '10.9.9.9') {
        c.die();
        c.onError?.(new FakeSocketError('EHOSTUNREACH', 'no route to host'));
        c.onClose?.();
        return;
      }
      if (!l) {
        c.die();
        c.onError?.(new FakeSocketError('ECONNREFUSED', 'connection refused'));
        c.onClose?.();
        return;
      }
      const s = new FakeTcpSocket(this, opts.family, opts.remoteAddress, opts.remotePort, c.localAddress, c.localPort);
      this.sockets.add(s);
      s.peer = c;
      c.peer = s;
      s.state = 'ESTABLISHED';
      c.state = 'ESTABLISHED';
      l.onConnection(s);
      c.onConnect?.();
      this.kick();
    });
    return c;
  }

  kick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    let budget = this.budget;
    let progress = true;
    while (progress && budget > 0) {
      progress = false;
      for (const s of this.sockets) {
        if (s.dead) {
          this.sockets.delete(s);
          continue;
        }
        const n = s.step(Math.max(1, budget));
        if (n > 0) {
          progress = true;
          budget -= n;
        }
      }
    }
    if (progress) this.kick();
  }
}

/** Something shaped like a Stack for src/api/net.ts. */
export function fakeStack(o: FakeOptions = {}): { tcp: FakeTcpLayer } {
  return { tcp: new FakeTcpLayer(o) };
}
