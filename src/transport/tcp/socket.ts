/**
 * The core TCP socket API (what `src/api/net.ts` builds on). A `TcpSocket` is the application's
 * handle on one connection (`TcpConnection`, the RFC 9293 TCB in `connection.ts`).
 *
 * Callbacks are plain optional properties. They are never invoked re-entrantly from inside
 * `write()`, `shutdown()`, `close()`, `abort()`, `setReading()` or the `TcpLayer.connect/listen`
 * calls: events those calls cause are queued and delivered from the stack's timer queue (a
 * timer armed at "now"), i.e. on the next `timers.run()`. Events caused by incoming segments or
 * timers are delivered at the end of processing that segment / timer.
 *
 * Order of delivery for one connection: onConnect, onData (in order), onEnd, onDrain, onError,
 * onClose. onClose comes exactly once, when the connection is fully gone: after an error, or after
 * both directions were closed (TIME-WAIT or CLOSED), or after abort().
 */
import { SocketError } from '../errors.js';
import type { TcpConnection } from './connection.js';

export { SocketError };

export interface TcpKeepAliveOptions {
  enabled: boolean;
  /** Idle time before the first probe (default 2 h like Linux tcp_keepalive_time). */
  idleMs?: number;
  /** Interval between probes (default 75 s). */
  intervalMs?: number;
  /** Unanswered probes before ETIMEDOUT (default 9). */
  probes?: number;
}

export interface TcpSocketOptions {
  noDelay?: boolean;
  /** Send buffer bytes (default 1 MiB). */
  sendBufferSize?: number;
  /** Receive buffer bytes (default 1 MiB); the window scale is chosen from it. */
  receiveBufferSize?: number;
  keepAlive?: TcpKeepAliveOptions;
  /** RFC 5482-style user timeout: abort with ETIMEDOUT when data stays unacknowledged this long (0 = off). */
  userTimeoutMs?: number;
  congestionControl?: 'cubic' | 'newreno';
}

export interface TcpInfo {
  state: string;
  sndUna: number;
  sndNxt: number;
  sndWnd: number;
  rcvNxt: number;
  rcvWnd: number;
  cwnd: number;
  ssthresh: number;
  srtt: number | undefined;
  rttvar: number | undefined;
  rto: number;
  /** Effective send MSS (payload bytes per full segment, options accounted for). */
  mss: number;
  /** MSS announced by the peer. */
  peerMss: number;
  sndWscale: number;
  rcvWscale: number;
  timestamps: boolean;
  sack: boolean;
  inRecovery: boolean;
  retransmits: number;
  segmentsSent: number;
  segmentsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Soft error recorded from ICMP (RFC 1122 §4.2.3.9), if any. */
  softError: string | undefined;
  congestionControl: string;
}

export class TcpSocket {
  onConnect?: () => void;
  onData?: (data: Uint8Array) => void;
  onEnd?: () => void;
  onDrain?: () => void;
  onError?: (err: SocketError) => void;
  onClose?: () => void;

  /** @internal */
  constructor(readonly conn: TcpConnection) {}

  get family(): 4 | 6 {
    return this.conn.family;
  }
  get localAddress(): string {
    return this.conn.localAddressText();
  }
  get localPort(): number {
    return this.conn.localPort;
  }
  get remoteAddress(): string {
    return this.conn.remoteAddressText();
  }
  get remotePort(): number {
    return this.conn.remotePort;
  }
  /** RFC 9293 state name ('SYN-SENT', 'ESTABLISHED', ..., 'CLOSED'). */
  get state(): string {
    return this.conn.stateName;
  }

  /** Bytes accepted into the send buffer (a copy is taken); fewer than offered = full, wait for onDrain. */
  write(data: Uint8Array): number {
    return this.conn.userWrite(data);
  }
  /** Half-close: a FIN follows the queued data. */
  shutdown(): void {
    this.conn.userShutdown();
  }
  /** Shutdown and stop reading; data arriving afterwards is answered with RST (Linux). */
  close(): void {
    this.conn.userClose();
  }
  /** Sends RST (when synchronized) and frees the connection at once. onClose follows. */
  abort(): void {
    this.conn.userAbort();
  }
  /** Flow control: while off, in-order data is held (bounded by the window) and the window shrinks. */
  setReading(on: boolean): void {
    this.conn.setReading(on);
  }
  setNoDelay(on: boolean): void {
    this.conn.setNoDelay(on);
  }
  setKeepAlive(on: boolean, idleMs?: number): void {
    this.conn.setKeepAlive(on, idleMs);
  }
  setUserTimeout(ms: number): void {
    this.conn.userTimeoutMs = Math.max(0, ms);
  }

  get bytesReceived(): number {
    return this.conn.bytesReceived;
  }
  get bytesSent(): number {
    return this.conn.bytesSent;
  }
  /** Segments retransmitted. */
  get retransmits(): number {
    return this.conn.retransmits;
  }
  /** Bytes written but not yet acknowledged. */
  get bufferedSend(): number {
    return this.conn.sendBuf.length;
  }
  info(): TcpInfo {
    return this.conn.info();
  }
}

/** A listening socket (see TcpLayer.listen). */
export interface TcpListener {
  readonly port: number;
  readonly address: string;
  readonly family: 4 | 6;
  close(): void;
}
