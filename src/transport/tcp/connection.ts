/**
 * The TCP connection: the Transmission Control Block of RFC 9293 §3.3.1 and the state machine of
 * §3.3.2, plus the user calls of §3.10.1–§3.10.6 (OPEN is in layer.ts). Segment processing is in
 * input.ts (like Linux tcp_input.c), sending in output.ts (tcp_output.c), timers in timers.ts.
 *
 * Sequence-space bookkeeping:
 * - SND.UNA / SND.NXT as in RFC 9293; SND.NXT never moves backwards (it is BSD's snd_max): a
 *   retransmission after a PMTU drop, or after an RTO without SACK, re-sends [SND.UNA, recover)
 *   through `rtxNxt` ("go-back-N", skipping SACKed ranges); with SACK an RTO resends what RACK
 *   marks lost (`rtoRack`, RFC 8985 §6.3); fast retransmits pick single holes.
 * - The send buffer (send-buffer.ts) holds the bytes from `bufSeq` (SND.UNA once the SYN is
 *   acknowledged, until the FIN): retransmissions re-read it, no segment copies are kept.
 * - The FIN occupies the sequence number `finSeq` = bufSeq + sendBuf.length once the user
 *   shut down the sending side.
 */
import type { Timer } from '../../core/timers.js';
import type { LinkOffloads } from '../../link/link.js';
import { formatIpv4, formatIpv6 } from '../../wire/address.js';
import { SocketError } from '../errors.js';
import type { IpAddr } from '../ports.js';
import { createCongestionController, type CongestionController } from './congestion/controller.js';
import { Prr, NewRenoRecovery } from './recovery.js';
import { Rack, Tlp } from './rack.js';
import { TxQueue } from './tx-queue.js';
import { ReassemblyQueue } from './reassembly.js';
import { RttEstimator } from './rtt.js';
import { SackScoreboard, type SackBlock } from './sack-scoreboard.js';
import { SendBuffer } from './send-buffer.js';
import { seqAdd, seqGt, seqSub, type Seq } from './seq.js';
import { TcpSocket, type TcpInfo, type TcpSocketOptions } from './socket.js';
import type { TcpLayer } from './layer.js';
import { output, sendAck, sendRst } from './output.js';
import { onDelackTimer, onKeepaliveTimer, onPersistTimer, onReoTimer, onRtxTimer, onStateTimer } from './timers.js';

export type { TxRecord } from './tx-queue.js';

/** RFC 9293 §3.3.2 states. */
export const enum St {
  CLOSED = 0,
  LISTEN = 1,
  SYN_SENT = 2,
  SYN_RECEIVED = 3,
  ESTABLISHED = 4,
  FIN_WAIT_1 = 5,
  FIN_WAIT_2 = 6,
  CLOSE_WAIT = 7,
  CLOSING = 8,
  LAST_ACK = 9,
  TIME_WAIT = 10,
}

export const STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN-SENT',
  'SYN-RECEIVED',
  'ESTABLISHED',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'CLOSE-WAIT',
  'CLOSING',
  'LAST-ACK',
  'TIME-WAIT',
] as const;

/** Synchronized states (RFC 9293 §3.5.2 group 3 and SYN-RECEIVED). */
export function synchronized(s: St): boolean {
  return s >= St.SYN_RECEIVED;
}

/** The largest window scale shift (RFC 7323 §2.3). */
const MAX_WSCALE = 14;

/** The shift that lets a 16-bit window field describe `buf` bytes (RFC 7323 §2.2). */
export function wscaleFor(buf: number): number {
  let s = 0;
  while (s < MAX_WSCALE && 0xffff << s < buf) s++;
  return s;
}

export class TcpConnection {
  readonly socket: TcpSocket;
  state: St = St.CLOSED;
  /** Whether the application has been given the socket (passive opens: after accept). */
  accepted: boolean;
  /** Passive open: the listener that owns it until accept. */
  listener: import('./layer.js').ListenerImpl | undefined;
  /** Counted in the listener's SYN queue (SYN-RECEIVED, passive). */
  inSynQueue = false;

  // ---- RFC 9293 §3.3.1 send sequence variables ----
  iss: Seq = 0;
  sndUna: Seq = 0;
  sndNxt: Seq = 0;
  /** Peer's window, bytes (already scaled). */
  sndWnd = 0;
  sndWl1: Seq = 0;
  sndWl2: Seq = 0;
  /** The largest window the peer offered (RFC 9293 §3.8.6.2.1 Max(SND.WND); RFC 5961 MAX.SND.WND). */
  maxSndWnd = 0;
  /** Sequence number of sendBuf offset 0. */
  bufSeq: Seq = 0;
  readonly sendBuf: SendBuffer;
  /** The user shut down sending: a FIN follows the data. */
  finQueued = false;
  /** The FIN has been sent at least once (it is at finSeq). */
  finSent = false;
  /** Go-back-N retransmission pointer after RTO / PMTU drop (active while seqLt(rtxNxt, rtxEnd)). */
  rtxNxt: Seq = 0;
  rtxEnd: Seq = 0;
  /** RFC 6582 "recover" for RTO: no fast recovery before SND.UNA passes it. */
  rtoRecover: Seq = 0;
  /**
   * RTO recovery driven by RACK (RFC 8985 §6.3; Linux TCP_CA_Loss with RACK) instead of the
   * go-back-N resend: only the segments RACK marked lost are retransmitted, until SND.UNA
   * reaches `rtoRecover`. With SACK (RACK) only.
   */
  rtoRack = false;

  // ---- receive sequence variables ----
  irs: Seq = 0;
  rcvNxt: Seq = 0;
  /** Right edge of the window we advertised last (RCV.NXT + RCV.WND then); never moves left. */
  rcvAdvRight: Seq = 0;
  readonly rcvBufSize: number;
  /** The largest window we have advertised (Linux window_clamp for the window-update test). */
  maxRcvWnd = 0;
  ooo: ReassemblyQueue | undefined;
  /** In-order data not yet handed to the application (plus the open chunk, below). */
  rcvQueue: Uint8Array[] = [];
  rcvQueued = 0;
  /**
   * The open chunk: in-order data copied into the layer's receive slab (TcpLayer.copyIn) that
   * later segments extend while they land right after it, so a batch of segments reaches the
   * application as one chunk. `rcvTail` is the slab (undefined = no open chunk), the chunk is
   * rcvTail[rcvTailStart..rcvTailEnd); it moves to rcvQueue when anything else is queued or
   * the queue is handed over.
   */
  private rcvTail: Uint8Array | undefined;
  private rcvTailStart = 0;
  private rcvTailEnd = 0;
  reading = true;
  /** The peer's FIN has been processed (RCV.NXT moved past it). */
  finReceived = false;
  /** onEnd is due once rcvQueue drains. */
  eofPending = false;
  /** RCV.NXT in the last segment we sent (RFC 7323 Last.ACK.sent). */
  lastAckSent: Seq = 0;
  /** Largest payload seen (Linux rcv_mss), for the every-second-segment ACK rule. */
  rcvMss = 536;
  /** A D-SACK block (RFC 2883) to report in the next ACK. */
  dsack: SackBlock | undefined;
  /** An ACK is owed (delayed). */
  ackPending = false;
  /** An ACK must go out at the end of this segment's processing (unless data carried it). */
  ackNow = false;
  /** Queued for output at the end of the current link batch (TcpLayer.deferOutput). */
  outputPending = false;
  /** In the layer's list of connections with events to deliver (TcpLayer.markDirty). */
  dirtyQueued = false;
  /** Bytes received since the last ACK we sent. */
  unackedRcv = 0;
  /** Immediate ACKs still to send (quick-ack mode, Linux icsk_ack.quick). */
  quickAcks = 0;
  /** The first data segment arrived and started quick-ack mode. */
  quickAckStarted = false;

  // ---- options ----
  /** Our receive window shift (used only if wscaleOk). */
  rcvWscale = 0;
  /** The peer's shift applied to its window field. */
  sndWscale = 0;
  wscaleOk = false;
  tsOk = false;
  sackOk = false;
  tsRecent = 0;
  tsRecentAt = 0;
  /** Per-connection timestamp offset (RFC 7323 §5.4). */
  tsOffset = 0;
  /** MSS the peer announced (default 536 / 1220 when absent, RFC 9293 §3.7.1). */
  peerMss: number;
  /** Largest segment (payload) the route allows: MTU - 40 / - 60. */
  routeMss: number;
  /** Payload bytes in a full-sized segment: min(peerMss, routeMss) minus the fixed options. */
  mss: number;
  /** Transmit offloads of the route's link (checksum, TSO), refreshed by each output() call. */
  txOffloads: LinkOffloads | undefined = undefined;

  // ---- congestion / loss recovery ----
  readonly rtt: RttEstimator;
  cc!: CongestionController;
  sb: SackScoreboard | undefined;
  nr!: NewRenoRecovery;
  readonly prr = new Prr();
  /** Tail loss probe (RFC 8985 §7); used with SACK, like Linux. */
  readonly tlp = new Tlp();
  /** The retransmission timer currently stands for the PTO, not the RTO. */
  ptoArmed = false;
  /** RACK (RFC 8985 §6), with SACK only: per-segment transmit records over [SND.UNA, SND.NXT). */
  rack: Rack | undefined;
  readonly rq = new TxQueue();
  /** Records marked SACKed (RACK.segs_sacked). */
  rqSacked = 0;
  /** RACK reordering timer (RFC 8985 §6.2 step 5). */
  readonly reoTimer: Timer;
  /**
   * Undo of a spurious fast recovery (Linux undo_marker / undo_retrans / retrans_stamp): SND.UNA
   * when the episode began (undefined = no episode that may still be undone), its RecoveryPoint,
   * the sequence space retransmitted in it and not yet reported duplicate by a D-SACK (RFC 3708),
   * the TSval of its first retransmission, and whether the first ACK covering that
   * retransmission echoed an earlier TSval (RFC 3522 Eifel detection: the original arrived).
   */
  undoMarker: Seq | undefined = undefined;
  undoEnd: Seq = 0;
  undoRetrans = 0;
  retransStamp: number | undefined = undefined;
  undoEifel: boolean | undefined = undefined;
  /** Time of the last duplicate ACK answering an unacceptable pure ACK (Linux tcp_oow_rate_limited). */
  oowAckAt = -Infinity;
  dupAcks = 0;
  /** Segment timing without timestamps (Karn): seq whose ACK ends the measurement, and send time. */
  rttSeq: Seq | undefined = undefined;
  rttTime = 0;
  /** Time the last data was sent (idle restart, RFC 5681 §4.1). */
  lastSendTime = 0;
  lastRecvTime = 0;
  /** Time of the oldest unacknowledged transmission (user timeout). */
  rtxStartTime = 0;
  rtxCount = 0;
  persistBackoff = 0;
  keepaliveProbes = 0;
  softError: string | undefined;

  // ---- options from the user ----
  noDelay: boolean;
  keepAlive: boolean;
  keepIdleMs: number;
  keepIntervalMs: number;
  keepProbes: number;
  userTimeoutMs: number;
  /** close() was called: stop reading, data after it is answered with RST. */
  userClosed = false;

  // ---- timers (one per kind, re-armed) ----
  readonly rtxTimer: Timer;
  readonly delackTimer: Timer;
  readonly persistTimer: Timer;
  readonly keepaliveTimer: Timer;
  /** TIME-WAIT, FIN-WAIT-2 timeout. */
  readonly stateTimer: Timer;
  readonly eventTimer: Timer;

  // ---- statistics ----
  bytesReceived = 0;
  bytesSent = 0;
  retransmits = 0;
  segmentsSent = 0;
  segmentsReceived = 0;

  // ---- pending application events ----
  evConnect = false;
  evDrain = false;
  evError: SocketError | undefined;
  evClose = false;
  /** write() accepted less than offered: onDrain is owed when room appears. */
  wantDrain = false;
  closeNotified = false;
  private flushing = false;
  /** The layer removed this connection from its tables. */
  released = false;

  constructor(
    readonly layer: TcpLayer,
    readonly family: 4 | 6,
    public localAddr: IpAddr,
    public localPort: number,
    readonly remoteAddr: IpAddr,
    readonly remotePort: number,
    readonly scope: number | undefined,
    opts: TcpSocketOptions,
    passive: boolean,
  ) {
    // IPv6 addresses arrive as views into the received packet, valid only until the batch's
    // flush() returns (src/link/link.ts): links reuse their receive slots, so a kept view would
    // later read another packet's bytes (an IPv4 packet's, say) and the connection would send
    // to a wrong address or to none (drop.ipv6.no_route).
    if (typeof localAddr !== 'number') this.localAddr = localAddr.slice();
    if (typeof remoteAddr !== 'number') this.remoteAddr = remoteAddr.slice();
    const d = layer.config;
    const timers = layer.timers;
    this.socket = new TcpSocket(this);
    this.accepted = !passive;
    // The ring starts small and grows with use (half-open connections stay cheap).
    this.sendBuf = new SendBuffer(opts.sendBufferSize ?? d.sendBufferSize, 4096);
    this.rcvBufSize = Math.max(1, opts.receiveBufferSize ?? d.receiveBufferSize);
    this.rcvWscale = wscaleFor(this.rcvBufSize);
    this.noDelay = opts.noDelay ?? false;
    this.keepAlive = opts.keepAlive?.enabled ?? false;
    this.keepIdleMs = opts.keepAlive?.idleMs ?? d.keepAliveIdleMs;
    this.keepIntervalMs = opts.keepAlive?.intervalMs ?? d.keepAliveIntervalMs;
    this.keepProbes = opts.keepAlive?.probes ?? d.keepAliveProbes;
    this.userTimeoutMs = opts.userTimeoutMs ?? 0;
    this.peerMss = family === 4 ? 536 : 1220;
    this.routeMss = layer.routeMss(this);
    this.mss = Math.min(this.peerMss, this.routeMss);
    this.rtt = new RttEstimator({ minRto: d.minRtoMs, initialRto: d.initialRtoMs, maxRto: d.maxRtoMs });
    this.ccName = opts.congestionControl ?? d.congestionControl;
    this.rtxTimer = timers.create(() => this.guard(() => onRtxTimer(this)));
    this.delackTimer = timers.create(() => this.guard(() => onDelackTimer(this)));
    this.persistTimer = timers.create(() => this.guard(() => onPersistTimer(this)));
    this.keepaliveTimer = timers.create(() => this.guard(() => onKeepaliveTimer(this)));
    this.stateTimer = timers.create(() => this.guard(() => onStateTimer(this)));
    this.eventTimer = timers.create(() => this.flushEvents());
    this.reoTimer = timers.create(() => this.guard(() => onReoTimer(this)));
  }

  readonly ccName: string;

  get now(): number {
    return this.layer.now();
  }

  get stateName(): string {
    return STATE_NAMES[this.state];
  }

  /** Runs a timer callback: never throws into the timer queue, then delivers events. */
  private guard(fn: () => void): void {
    this.layer.pinNow();
    try {
      fn();
    } catch (e) {
      this.layer.counters.inc('tcp.internal_error');
      this.layer.lastInternalError = e;
    } finally {
      this.layer.unpinNow();
    }
    this.flushEvents();
  }

  /** Sets up sequence numbers and the sender's machinery once the ISS is chosen. */
  initSend(iss: Seq): void {
    this.iss = iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.bufSeq = seqAdd(this.iss, 1);
    this.rtxNxt = this.rtxEnd = this.rtoRecover = this.iss;
    this.nr = new NewRenoRecovery(this.iss);
  }

  /** Called when the handshake fixes the MSS and options (both sides). */
  initCongestion(): void {
    this.recomputeMss();
    this.cc = createCongestionController(this.ccName, this.mss, this.now);
    if (this.sackOk) {
      this.sb = new SackScoreboard(this.sndUna, { mss: this.mss });
      this.rack = new Rack();
    }
    this.ooo = new ReassemblyQueue(this.rcvNxt, { maxBytes: Math.max(this.rcvBufSize, 4 * this.mss) });
    this.rcvMss = Math.min(536, this.mss);
  }

  /** Fixed option bytes on every segment (timestamps: 12, RFC 7323 Appendix A layout). */
  get optLen(): number {
    return this.tsOk ? 12 : 0;
  }

  recomputeMss(): void {
    this.mss = Math.max(64, Math.min(this.peerMss, this.routeMss) - this.optLen);
  }

  /** A lower path MTU (ICMP frag-needed / packet-too-big, or a route change). */
  lowerRouteMss(newRouteMss: number): boolean {
    if (newRouteMss >= this.routeMss) return false;
    this.routeMss = newRouteMss;
    const old = this.mss;
    this.recomputeMss();
    if (this.mss === old) return false;
    if (this.cc) this.cc.setMss(this.mss);
    if (this.sb) this.sb.mss = this.mss;
    return true;
  }

  // ---- receive window (RFC 9293 §3.8.6.2.2) ----

  /** Free receive buffer space: what the window may offer. */
  rcvSpace(): number {
    return Math.max(0, this.rcvBufSize - this.rcvQueued);
  }

  /** RCV.WND as advertised (right edge minus RCV.NXT, never negative). */
  get rcvWnd(): number {
    return Math.max(0, seqSub(this.rcvAdvRight, this.rcvNxt));
  }

  /**
   * The window to put in an outgoing segment (unscaled bytes) and move rcvAdvRight. Receiver SWS
   * avoidance (RFC 9293 §3.8.6.2.2): the right edge only moves when it can move by at least
   * min(RCV.BUFF/2, Eff.snd.MSS); it never moves left (§3.8.6.2.2 "shrinking the window" is
   * strongly discouraged).
   */
  windowToAdvertise(): number {
    const space = this.rcvSpace();
    const right = seqAdd(this.rcvNxt, space);
    const inc = seqSub(right, this.rcvAdvRight);
    const threshold = Math.min(this.rcvBufSize >> 1, this.mss);
    if (inc >= threshold || (inc > 0 && space === this.rcvBufSize)) this.rcvAdvRight = right;
    return this.rcvWnd;
  }

  /**
   * Whether the application's read opened the window enough to tell the peer now rather than
   * with the next (possibly delayed) ACK. Linux __tcp_cleanup_rbuf(): when the window the peer
   * still has (RCV.NXT .. the advertised right edge) is at most half the largest window we
   * advertised (Linux: window_clamp; ours starts at the SYN's unscaled window and grows) and
   * the window we can now advertise is at least twice that — e.g. a buffer under 2 MSS, where
   * the sender cannot send the next segment until it hears of the space — subject to receiver
   * SWS avoidance (RFC 9293 §3.8.6.2.2: the right edge moves by min(RCV.BUFF/2, MSS) or more).
   */
  windowUpdateWorthwhile(): boolean {
    const cur = this.rcvWnd;
    if (2 * cur > this.maxRcvWnd) return false;
    const space = this.rcvSpace();
    if (space === 0 || space < 2 * cur) return false;
    const inc = seqSub(seqAdd(this.rcvNxt, space), this.rcvAdvRight);
    const threshold = Math.min(this.rcvBufSize >> 1, this.mss);
    return inc >= threshold || (inc > 0 && space === this.rcvBufSize);
  }

  /**
   * After a read: send the ACK now instead of waiting for the delayed-ACK timer when the window
   * grew enough (windowUpdateWorthwhile), or when an ACK is pending for more than one full-sized
   * segment (Linux __tcp_cleanup_rbuf: rcv_nxt - rcv_wup > rcv_mss).
   */
  ackAfterRead(): boolean {
    return this.windowUpdateWorthwhile() || (this.ackPending && this.unackedRcv > this.rcvMss);
  }

  // ---- state ----

  setState(s: St): void {
    if (this.state === s) return;
    const was = this.state;
    this.state = s;
    this.layer.onStateChange(this, was, s);
  }

  /** Enters TIME-WAIT (RFC 9293 §3.10.7.4): 2·MSL timer; the application sees the socket closed. */
  enterTimeWait(): void {
    this.setState(St.TIME_WAIT);
    this.cancelDataTimers();
    // Only the sequence numbers matter from here on.
    this.ooo?.clear();
    this.rq.release();
    this.layer.timers.arm(this.stateTimer, this.now + this.layer.config.timeWaitMs);
    this.notifyClose();
  }

  cancelDataTimers(): void {
    const t = this.layer.timers;
    t.cancel(this.rtxTimer);
    t.cancel(this.persistTimer);
    t.cancel(this.delackTimer);
    t.cancel(this.keepaliveTimer);
    t.cancel(this.reoTimer);
  }

  /**
   * Deletes the TCB (CLOSED). `err` is reported to the application first. Idempotent.
   */
  destroy(err?: SocketError): void {
    if (this.released) return;
    if (err && !this.closeNotified && !this.evError) this.evError = err;
    this.setState(St.CLOSED);
    this.cancelDataTimers();
    this.layer.timers.cancel(this.stateTimer);
    this.sendBuf.clear();
    this.ooo?.clear();
    this.layer.release(this);
    this.notifyClose();
  }

  notifyClose(): void {
    if (this.closeNotified) return;
    this.evClose = true;
    this.scheduleEvents();
  }

  /** Aborts with an error (RST received, timeout, ICMP hard error). */
  fail(code: string, message: string): void {
    this.destroy(new SocketError(code, message, this.state === St.SYN_SENT ? 'connect' : 'read'));
  }

  // ---- receiving data for the application ----

  /** In-order data (a view into the frame: copied here, into the layer's receive slab). */
  deliver(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    this.bytesReceived += n;
    const L = this.layer;
    const at = L.copyIn(data, this.rcvTail, this.rcvTailEnd);
    if (at === this.rcvTailEnd && this.rcvTail === L.rxSlab) {
      this.rcvTailEnd = at + n; // right after the open chunk: extend it
    } else {
      this.closeRcvTail();
      this.rcvTail = L.rxSlab;
      this.rcvTailStart = at;
      this.rcvTailEnd = at + n;
    }
    this.rcvQueued += n;
    this.scheduleEvents();
  }

  /** Moves the open chunk, if any, to rcvQueue. */
  private closeRcvTail(): void {
    const t = this.rcvTail;
    if (t === undefined) return;
    this.rcvQueue.push(t.subarray(this.rcvTailStart, this.rcvTailEnd));
    this.rcvTail = undefined;
  }

  /** Data that was already copied (from the out-of-order queue). */
  deliverOwned(data: Uint8Array): void {
    if (data.length === 0) return;
    this.bytesReceived += data.length;
    this.closeRcvTail();
    this.rcvQueue.push(data);
    this.rcvQueued += data.length;
    this.scheduleEvents();
  }

  // ---- events ----

  /** Events are flushed at the end of input/timer processing; from user calls via eventTimer. */
  scheduleEvents(): void {
    if (this.layer.inInput) this.layer.markDirty(this);
    else if (!this.eventTimer.scheduled) this.layer.timers.arm(this.eventTimer, this.now);
  }

  /** Delivers the pending application events (never from inside a user call). */
  flushEvents(): void {
    if (this.flushing || !this.accepted) return;
    this.flushing = true;
    const s = this.socket;
    try {
      for (let guard = 0; guard < 1000; guard++) {
        if (this.evConnect) {
          this.evConnect = false;
          call(this, s.onConnect);
          continue;
        }
        if (this.reading && this.rcvQueued > 0) {
          this.closeRcvTail();
          const q = this.rcvQueue;
          this.rcvQueue = [];
          this.rcvQueued = 0;
          for (const chunk of q) {
            if (s.onData) call1(this, s.onData, chunk);
          }
          // The buffer emptied: tell the peer if the window opened enough (window update).
          if (synchronized(this.state) && !this.finReceived && this.state !== St.TIME_WAIT && !this.released && this.ackAfterRead()) {
            sendAck(this);
          }
          continue;
        }
        if (this.eofPending && this.rcvQueued === 0 && this.reading) {
          this.eofPending = false;
          call(this, s.onEnd);
          continue;
        }
        if (this.evDrain) {
          this.evDrain = false;
          call(this, s.onDrain);
          continue;
        }
        if (this.evError) {
          const e = this.evError;
          this.evError = undefined;
          if (!this.closeNotified) call1(this, s.onError, e);
          continue;
        }
        if (this.evClose && !(this.reading && this.rcvQueued > 0) && !this.eofPending) {
          this.evClose = false;
          if (!this.closeNotified) {
            this.closeNotified = true;
            call(this, s.onClose);
          }
          continue;
        }
        break;
      }
    } finally {
      this.flushing = false;
    }
  }

  // ---- user calls (RFC 9293 §3.10.2–§3.10.5) ----

  /** SEND (§3.10.2). */
  userWrite(data: Uint8Array): number {
    if (this.finQueued || this.state === St.CLOSED || this.released || this.userClosed) {
      this.evError ??= new SocketError('EPIPE', 'write after end', 'write');
      this.scheduleEvents();
      return 0;
    }
    if (this.state === St.CLOSE_WAIT || this.state === St.ESTABLISHED || this.state === St.SYN_SENT || this.state === St.SYN_RECEIVED) {
      const n = this.sendBuf.append(data);
      if (n < data.length) this.wantDrain = true;
      if (n > 0 && (this.state === St.ESTABLISHED || this.state === St.CLOSE_WAIT)) {
        const L = this.layer;
        L.pinNow();
        try {
          output(this);
        } finally {
          L.unpinNow();
        }
      }
      return n;
    }
    this.evError ??= new SocketError('EPIPE', 'connection is closing', 'write');
    this.scheduleEvents();
    return 0;
  }

  /** CLOSE of the sending side (§3.10.4): FIN after the queued data. */
  userShutdown(): void {
    if (this.finQueued || this.released) return;
    switch (this.state) {
      case St.SYN_SENT:
        // §3.10.4: delete the TCB in SYN-SENT ("closing" error to pending calls).
        if (this.sendBuf.length === 0) {
          this.destroy();
          return;
        }
        this.finQueued = true;
        return;
      case St.SYN_RECEIVED:
      case St.ESTABLISHED:
        this.finQueued = true;
        if (this.state === St.ESTABLISHED) {
          this.setState(St.FIN_WAIT_1);
          output(this);
        }
        return;
      case St.CLOSE_WAIT:
        this.finQueued = true;
        this.setState(St.LAST_ACK);
        output(this);
        return;
      default:
        return;
    }
  }

  /** close(): shutdown, stop reading; FIN-WAIT-2 gets a timeout (Linux tcp_fin_timeout). */
  userClose(): void {
    if (this.released) return;
    this.userClosed = true;
    this.reading = false;
    const hadUnread = this.rcvQueued > 0;
    this.rcvQueue = [];
    this.rcvTail = undefined;
    this.rcvQueued = 0;
    this.eofPending = false;
    if (hadUnread && synchronized(this.state) && this.state !== St.TIME_WAIT) {
      // RFC 2525 §2.17 / Linux: closing with unread data sends RST instead of FIN.
      this.userAbort();
      return;
    }
    this.userShutdown();
    if (this.state === St.FIN_WAIT_2) this.armFinWait2();
  }

  armFinWait2(): void {
    if (this.userClosed) this.layer.timers.arm(this.stateTimer, this.now + this.layer.config.finWait2Ms);
  }

  /** ABORT (§3.10.5). */
  userAbort(): void {
    if (this.released) return;
    if (this.state === St.SYN_RECEIVED || this.state === St.ESTABLISHED || this.state === St.FIN_WAIT_1 || this.state === St.FIN_WAIT_2 || this.state === St.CLOSE_WAIT) {
      sendRst(this, this.sndNxt);
    }
    this.destroy();
  }

  setReading(on: boolean): void {
    if (this.userClosed) return;
    this.reading = on;
    if (on && (this.rcvQueued > 0 || this.eofPending)) this.scheduleEvents();
  }

  setNoDelay(on: boolean): void {
    this.noDelay = on;
    if (on && (this.state === St.ESTABLISHED || this.state === St.CLOSE_WAIT)) output(this);
  }

  setKeepAlive(on: boolean, idleMs?: number): void {
    this.keepAlive = on;
    if (idleMs !== undefined && idleMs > 0) this.keepIdleMs = idleMs;
    this.keepaliveProbes = 0;
    if (on && synchronized(this.state)) this.layer.timers.arm(this.keepaliveTimer, this.now + this.keepIdleMs);
    else this.layer.timers.cancel(this.keepaliveTimer);
  }

  // ---- misc ----

  /** Space freed in the send buffer: owe onDrain. */
  checkDrain(): void {
    if (this.wantDrain && this.sendBuf.free > 0 && this.sendBuf.length < this.sendBuf.capacity / 2 + 1) {
      this.wantDrain = false;
      this.evDrain = true;
      this.scheduleEvents();
    }
  }

  /** The sequence number after the last byte of data queued. */
  get dataEnd(): Seq {
    return seqAdd(this.bufSeq, this.sendBuf.length);
  }

  /** FIN's sequence number once queued. */
  get finSeq(): Seq {
    return this.dataEnd;
  }

  /** Our timestamp clock (ms ticks, RFC 7323 §5.4 with a per-connection offset). */
  tsNow(): number {
    return (Math.floor(this.now) + this.tsOffset) >>> 0;
  }

  localAddressText(): string {
    return addrText(this.localAddr);
  }
  remoteAddressText(): string {
    return addrText(this.remoteAddr);
  }

  info(): TcpInfo {
    return {
      state: this.stateName,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      sndWnd: this.sndWnd,
      rcvNxt: this.rcvNxt,
      rcvWnd: this.rcvWnd,
      cwnd: this.cc?.cwnd ?? 0,
      ssthresh: this.cc?.ssthresh ?? Infinity,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      mss: this.mss,
      peerMss: this.peerMss,
      sndWscale: this.wscaleOk ? this.sndWscale : 0,
      rcvWscale: this.wscaleOk ? this.rcvWscale : 0,
      timestamps: this.tsOk,
      sack: this.sackOk,
      inRecovery: (this.sb?.inRecovery ?? false) || (this.nr?.inRecovery ?? false),
      retransmits: this.retransmits,
      segmentsSent: this.segmentsSent,
      segmentsReceived: this.segmentsReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      softError: this.softError,
      congestionControl: this.cc?.name ?? this.ccName,
    };
  }

  /** Whether SND.NXT is beyond SND.UNA (something unacknowledged is outstanding). */
  get outstanding(): boolean {
    return seqGt(this.sndNxt, this.sndUna);
  }
}

function addrText(a: IpAddr): string {
  return typeof a === 'number' ? formatIpv4(a) : formatIpv6(a);
}

function call(c: TcpConnection, fn: (() => void) | undefined): void {
  if (!fn) return;
  try {
    fn();
  } catch (e) {
    c.layer.counters.inc('tcp.callback_exception');
    c.layer.lastCallbackError = e;
  }
}

function call1<T>(c: TcpConnection, fn: ((a: T) => void) | undefined, a: T): void {
  if (!fn) return;
  try {
    fn(a);
  } catch (e) {
    c.layer.counters.inc('tcp.callback_exception');
    c.layer.lastCallbackError = e;
  }
}
