/**
 * Sending segments (the tcp_output.c part): segmentation to the effective MSS, Nagle, sender SWS
 * avoidance, the retransmission paths (RTO go-back-N, RFC 6675 NextSeg with PRR, NewReno), the
 * SYN / SYN-ACK / ACK / RST builders.
 *
 * - RFC 9293 §3.7.1: a segment carries at most Eff.snd.MSS = min(SendMSS, MMS_S) - options;
 *   timestamps (12 bytes) are subtracted once in `conn.mss`, SACK blocks on a data segment shrink
 *   its payload further.
 * - RFC 9293 §3.7.4 / RFC 896 (Nagle): while data is unacknowledged, a less-than-full segment is
 *   held back unless `noDelay`.
 * - RFC 9293 §3.8.6.2.1 (sender SWS avoidance): send when (1) a full segment fits, (2) all queued
 *   data fits and Nagle allows it, or (3) at least Fs·Max(SND.WND) (Fs = 1/2) fits; otherwise
 *   the persist timer doubles as the override timer.
 * - RFC 5681 §4.1 idle restart before sending after an idle period > RTO.
 * - RFC 6298 §5.1: the retransmission timer is started when data is sent and it is not running.
 *
 * Segments are built once, at TX_HEADROOM in the layer's transmit buffer (header, then the
 * payload copied from the send buffer); the IP layer writes its header in front and the link
 * copies the packet. When the route's link has transmit offloads (a TUN device with
 * IFF_VNET_HDR) the checksum is left to the device (the field carries the pseudo-header sum),
 * and new data goes out as TSO super-segments of up to 64 KiB, which the device cuts into
 * MSS-sized segments: the windows, Nagle and SWS rules still count in MSS, each super-segment
 * is a whole number of MSS unless it ends the queued data, and RACK keeps one transmit record
 * per MSS-sized piece, exactly as if the pieces had been sent one by one.
 * Retransmissions stay at most one MSS.
 */
import { fold, pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../../wire/checksum.js';
import { TCP_HEADER_LEN, TcpFlags, emitTcp, tcpHeaderLength } from '../../wire/tcp.js';
import { GsoType, TX_HEADROOM } from '../../link/link.js';
import { St, type TcpConnection } from './connection.js';
import type { TxRecord } from './tx-queue.js';
import { seqAdd, seqGeq, seqGt, seqLeq, seqLt, seqMax, seqMin, seqSub, type Seq } from './seq.js';

const { FIN, SYN, PSH, ACK } = TcpFlags;

/** Whether the state allows sending data / FIN (after the handshake, before the FIN is acknowledged). */
function canSendState(s: St): boolean {
  return s === St.ESTABLISHED || s === St.CLOSE_WAIT || s === St.FIN_WAIT_1 || s === St.CLOSING || s === St.LAST_ACK;
}

/**
 * Builds and sends one segment from the connection: [seq, seq+len) of the send buffer (len may
 * be 0), with `flags`. Adds ACK/window/timestamps/SACK as the connection's state requires.
 */
export function transmit(c: TcpConnection, seq: Seq, len: number, flags: number): number {
  const L = c.layer;
  const repr = L.txRepr;
  const o = repr.options;
  o.mss = undefined;
  o.wscale = undefined;
  o.sackPermitted = undefined;
  o.sack = undefined;
  o.tsVal = undefined;
  o.tsEcr = undefined;
  const syn = (flags & SYN) !== 0;
  if (syn) {
    // RFC 9293 §3.7.1: announce the largest segment we can receive (route MTU - 40/60).
    o.mss = c.routeMss;
    const active = c.state === St.SYN_SENT;
    // RFC 7323 §2.2 / RFC 2018 §2 / RFC 7323 §3.2: on a SYN-ACK only if the peer offered them.
    if (active || c.wscaleOk) o.wscale = c.rcvWscale;
    if (active || c.sackOk) o.sackPermitted = true;
    if (active || c.tsOk) {
      o.tsVal = c.tsNow();
      o.tsEcr = active && !c.tsOk ? 0 : c.tsRecent;
    }
  } else if (c.tsOk) {
    o.tsVal = c.tsNow();
    o.tsEcr = c.tsRecent;
  }
  if (!syn && c.sackOk && c.ooo && (!c.ooo.empty || c.dsack)) {
    const blocks = c.ooo.sackBlocks(c.tsOk ? 3 : 4, c.dsack);
    c.dsack = undefined;
    const arr = L.txSack;
    arr.length = 0;
    for (const b of blocks) arr.push([b.start, b.end]);
    o.sack = arr;
  }
  const isAck = c.state !== St.SYN_SENT || (flags & ACK) !== 0;
  if (isAck) flags |= ACK;
  repr.seq = seq >>> 0;
  repr.ack = isAck ? c.rcvNxt : 0;
  repr.flags = flags;
  repr.srcPort = c.localPort;
  repr.dstPort = c.remotePort;
  repr.urgent = 0;
  let win: number;
  if (syn) {
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    win = Math.min(c.rcvBufSize, 0xffff);
    if (win > c.maxRcvWnd) c.maxRcvWnd = win;
    if (c.state === St.SYN_RECEIVED || c.state === St.SYN_SENT) {
      if (seqGt(seqAdd(c.rcvNxt, win), c.rcvAdvRight) || c.rcvAdvRight === 0) c.rcvAdvRight = seqAdd(c.rcvNxt, win);
    }
  } else {
    const shift = c.wscaleOk ? c.rcvWscale : 0;
    const w = c.windowToAdvertise();
    win = Math.min(0xffff, Math.ceil(w / (1 << shift)));
    const right = seqAdd(c.rcvNxt, win << shift);
    if (seqGt(right, c.rcvAdvRight)) c.rcvAdvRight = right;
    if (win << shift > c.maxRcvWnd) c.maxRcvWnd = win << shift;
  }
  repr.window = win;
  const hlen = tcpHeaderLength(repr);
  const lo = c.txOffloads;
  let gsoSize = 0;
  if (len > 0) {
    // Payload one wire segment carries with these options: SACK blocks take room from the data
    // (RFC 9293 §3.7.1: options reduce the data a segment may carry).
    const room = Math.max(1, c.mss + c.optLen + TCP_HEADER_LEN - hlen);
    if (len > room) {
      const tso = lo !== undefined && lo.txCsum && (c.family === 4 ? lo.tso4 : lo.tso6);
      if (tso) {
        // A super-segment: at most maxGsoBytes of IP packet, whole segments unless it ends here.
        const max = lo.maxGsoBytes - (c.family === 4 ? 20 : 40) - hlen;
        if (len > max) {
          len = Math.max(room, max - (max % room));
          flags &= ~(FIN | PSH);
        }
        if (len > room) gsoSize = room;
      } else {
        len = room;
        flags &= ~(FIN | PSH);
      }
    }
  }
  // Set here: trimming the payload above may have taken FIN and PSH off.
  repr.flags = flags;
  const total = hlen + len;
  const buf = L.txBuf.subarray(TX_HEADROOM, TX_HEADROOM + total);
  if (len > 0) {
    const off = seqSub(seq, c.bufSeq);
    const [a, b] = c.sendBuf.peekParts(off, len);
    buf.set(a, hlen);
    if (b.length > 0) buf.set(b, hlen + a.length);
    if (a.length + b.length < len) {
      // Cannot happen (callers clamp to the buffer); never send garbage.
      L.counters.inc('tcp.internal_short_buffer');
      return -1;
    }
  }
  repr.payload = buf.subarray(hlen, total);
  const pseudo =
    c.family === 4
      ? pseudoHeaderSumV4(c.localAddr as number, c.remoteAddr as number, 6, total)
      : pseudoHeaderSumV6(c.localAddr as Uint8Array, c.remoteAddr as Uint8Array, 6, total);
  // With checksum offload the device completes the sum from the pseudo-header part.
  const csumOff = lo !== undefined && lo.txCsum;
  emitTcp(repr, buf, pseudo, !csumOff);
  let offload;
  if (csumOff) {
    const p = fold(pseudo);
    buf[16] = p >>> 8;
    buf[17] = p & 0xff;
    offload = L.txOffload;
    offload.gsoType = gsoSize === 0 ? GsoType.NONE : c.family === 4 ? GsoType.TCPV4 : GsoType.TCPV6;
    offload.gsoSize = gsoSize;
    offload.l4HeaderLength = hlen;
    offload.csumOffset = 16;
    if (gsoSize !== 0) L.counters.inc('tcp.tx_tso');
  }
  const err = L.sendSegment(c.family, c.localAddr, c.remoteAddr, L.txBuf, TX_HEADROOM, total, c.scope, offload);
  if (err) c.softError = err;
  c.segmentsSent++;
  if (isAck) {
    c.lastAckSent = c.rcvNxt;
    c.ackPending = false;
    c.ackNow = false;
    c.unackedRcv = 0;
    if (c.delackTimer.scheduled) L.timers.cancel(c.delackTimer);
  }
  if (len > 0 || (flags & (SYN | FIN)) !== 0) c.lastSendTime = c.now;
  return len;
}

/** A pure ACK (RFC 9293 §3.10.7.4: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>). */
export function sendAck(c: TcpConnection): void {
  if (c.released || c.state === St.CLOSED || c.state === St.LISTEN || c.state === St.SYN_SENT) return;
  transmit(c, c.sndNxt, 0, ACK);
}

/** RFC 5961 §7: a rate-limited challenge ACK. */
export function challengeAck(c: TcpConnection): void {
  if (!c.layer.takeChallengeAck()) {
    c.layer.counters.drop('tcp.challenge_ack_limited');
    return;
  }
  c.layer.counters.inc('tcp.challenge_acks');
  sendAck(c);
}

/** <SEQ=seq><CTL=RST> from this connection (RFC 9293 §3.10.5 ABORT). */
export function sendRst(c: TcpConnection, seq: Seq): void {
  c.layer.sendRstRaw(c.family, c.localAddr, c.remoteAddr, c.localPort, c.remotePort, seq, c.rcvNxt, true, c.scope);
}

/** The SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED), at ISS. */
export function sendSyn(c: TcpConnection): void {
  transmit(c, c.iss, 0, c.state === St.SYN_SENT ? SYN : SYN | ACK);
  if (seqLt(c.sndNxt, seqAdd(c.iss, 1))) c.sndNxt = seqAdd(c.iss, 1);
  c.lastSendTime = c.now;
}

/**
 * Retransmits from `seq`, at most `maxLen` bytes of data (plus the FIN when it follows them).
 * Returns the sequence space covered (0 when there was nothing to send).
 */
export function retransmitAt(c: TcpConnection, seq: Seq, maxLen: number): number {
  if (seqLt(seq, c.bufSeq)) seq = c.bufSeq;
  const dataLeft = Math.max(0, seqSub(c.dataEnd, seq));
  let len = Math.max(0, Math.min(maxLen, dataLeft, c.mss));
  const finHere = c.finSent && seqAdd(seq, len) === c.finSeq;
  if (len === 0 && !finHere) return 0;
  let flags = ACK;
  if (finHere) flags |= FIN;
  if (len > 0 && seqAdd(seq, len) === c.dataEnd) flags |= PSH;
  const sent = transmit(c, seq, len, flags);
  if (sent < 0 || (sent === 0 && (c.layer.txRepr.flags & FIN) === 0)) return 0;
  c.retransmits++;
  c.layer.counters.inc('tcp.retransmits');
  const covered = sent + ((c.layer.txRepr.flags & FIN) !== 0 ? 1 : 0);
  if (c.rack) rackOnRetransmit(c, seq, seqAdd(seq, covered));
  if (c.undoMarker !== undefined) {
    if (c.sb?.inRecovery) {
      c.undoRetrans += covered;
      if (c.retransStamp === undefined) c.retransStamp = c.tsOk ? c.tsNow() : c.now;
    } else c.undoMarker = undefined; // a retransmission outside the episode: no undo
  }
  // Karn (RFC 6298 §3): no sample from a retransmitted range.
  if (c.rttSeq !== undefined && seqLt(seq, c.rttSeq)) c.rttSeq = undefined;
  armRtx(c);
  return sent + ((c.layer.txRepr.flags & FIN) !== 0 ? 1 : 0);
}

/** RFC 6298 §5.1: start the retransmission timer if it is not running. */
export function armRtx(c: TcpConnection): void {
  if (!c.rtxTimer.scheduled) {
    c.layer.timers.arm(c.rtxTimer, c.now + c.rtt.rto);
    c.ptoArmed = false;
    c.rtxStartTime = c.now;
  }
}

/** Whether any loss recovery (fast, NewReno, RTO go-back or RACK RTO recovery) is in progress. */
export function inRecovery(c: TcpConnection): boolean {
  return (c.sb?.inRecovery ?? false) || (c.nr?.inRecovery ?? false) || goBackActive(c) || c.rtoRack;
}

/**
 * (Re)arms the retransmission timer as an RFC 8985 §7.2 PTO when a tail loss probe is allowed
 * (SACK in use, not in recovery, nothing SACKed, no probe episode, no RTO backoff), else as the
 * RTO. `restart`: RFC 6298 §5.3 (new data was acknowledged) or new data was sent (§7.2).
 */
export function rearmTimer(c: TcpConnection, restart: boolean): void {
  const L = c.layer;
  const now = c.now;
  if (!c.outstanding) {
    L.timers.cancel(c.rtxTimer);
    c.ptoArmed = false;
    return;
  }
  const running = c.rtxTimer.scheduled;
  if (!restart && running && !c.ptoArmed) return; // an RTO is running: keep it
  const flight = seqSub(c.sndNxt, c.sndUna);
  if (c.sackOk && c.sb && c.rtxCount === 0 && c.tlp.canArm(inRecovery(c), c.sb.sackedBytes > 0 ? 1 : 0, flight)) {
    L.timers.arm(c.rtxTimer, c.tlp.ptoDeadline(now, c.rtt.srtt, flight, c.mss, now + c.rtt.rto));
    c.ptoArmed = true;
  } else if (restart || !running || c.ptoArmed) {
    L.timers.arm(c.rtxTimer, now + c.rtt.rto);
    c.ptoArmed = false;
  }
  if (!running) c.rtxStartTime = now;
}

/** RFC 8985 §7.3: the PTO fired — send one probe (new data if possible, else the last segment). */
export function sendTailProbe(c: TcpConnection): void {
  c.ptoArmed = false;
  if (!c.outstanding) return;
  const L = c.layer;
  L.counters.inc('tcp.tlp_probes');
  const canNew = seqLt(c.sndNxt, c.dataEnd) && seqGt(seqAdd(c.sndUna, c.sndWnd), c.sndNxt);
  let sent = false;
  if (canNew) {
    const before = c.sndNxt;
    sent = sendNew(c, 0, true) && c.sndNxt !== before;
    if (sent) c.tlp.onProbeSent(c.sndNxt, false);
  }
  if (!sent) {
    const len = Math.min(c.mss, seqSub(c.sndNxt, c.sndUna));
    const n = retransmitAt(c, seqAdd(c.sndNxt, -len), len);
    if (n > 0) c.tlp.onProbeSent(c.sndNxt, true);
  }
  // §7.3: after the probe, the RTO (not another PTO) guards the flight.
  L.timers.arm(c.rtxTimer, c.now + c.rtt.rto);
  c.ptoArmed = false;
}

/** Index of the first transmit record ending after `seq` (binary search). */
export function rqFind(c: TcpConnection, seq: Seq): number {
  const rq = c.rq;
  let lo = 0;
  let hi = rq.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (seqLeq(rq.at(mid).endSeq, seq)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Splits the record at index i at `at` (inside it); returns the index of the upper part. */
function rqSplit(c: TcpConnection, i: number, at: Seq): number {
  if (c.rq.at(i).sacked) c.rqSacked++;
  return c.rq.split(i, at);
}

/** RACK bookkeeping for a retransmission of [s, e): new xmit_ts, retransmitted, no longer lost. */
function rackOnRetransmit(c: TcpConnection, s: Seq, e: Seq): void {
  let i = rqFind(c, s);
  const rq = c.rq;
  if (i >= rq.length) return;
  if (seqLt(rq.at(i).seq, s)) i = rqSplit(c, i, s);
  const now = c.now;
  for (; i < rq.length && seqLt(rq.at(i).seq, e); i++) {
    if (seqGt(rq.at(i).endSeq, e)) rqSplit(c, i, e);
    const r = rq.at(i);
    r.xmitTs = now;
    r.retransmitted = true;
    r.lost = false;
  }
}

/** The first record RACK marked lost (not SACKed, not retransmitted since), if any. */
export function rackFirstLost(c: TcpConnection): TxRecord | undefined {
  const rq = c.rq;
  for (let i = 0; i < rq.length; i++) {
    const r = rq.at(i);
    if (r.lost && !r.sacked) return r;
  }
  return undefined;
}

/** Sum of the unSACKed bytes in [SND.UNA, end). */
function unsackedBelow(c: TcpConnection, end: Seq): number {
  const sb = c.sb;
  if (!sb) return Math.max(0, seqSub(end, c.sndUna));
  let n = 0;
  sb.forEachHole((a, b) => {
    if (seqLt(a, end)) n += seqSub(seqMin(b, end), a);
  });
  return n;
}

/** Whether the go-back-N retransmission (after RTO or a PMTU drop) is in progress. */
export function goBackActive(c: TcpConnection): boolean {
  return seqLt(c.rtxNxt, c.rtxEnd);
}

/**
 * Bytes in flight by RACK's marks (Linux tcp_packets_in_flight: packets_out - sacked - lost +
 * retrans): every transmit record neither SACKed nor marked lost — an original still in flight,
 * or the retransmission of one — once.
 */
function rackPipe(c: TcpConnection): number {
  let n = 0;
  const rq = c.rq;
  for (let i = 0; i < rq.length; i++) {
    const r = rq.at(i);
    if (!r.sacked && !r.lost) n += seqSub(r.endSeq, r.seq);
  }
  return n;
}

/**
 * What SetPipe() counts for segments RACK has marked lost and not yet retransmitted: RFC 6675
 * counts an octet as in flight unless IsLost() (by DupThresh SACKed segments above it), and
 * once more if it lies below HighRxt (its retransmission is in flight). RACK knows better: a
 * lost segment — an original or a retransmission that was lost again — is not in flight (Linux
 * tcp_packets_in_flight counts lost_out out, and marking a retransmission lost drops it from
 * retrans_out). Without this, a retransmission RACK declares lost keeps occupying the window,
 * so with PRR's cwnd = pipe + sndcnt it is only resent after the next ACK — or the RTO.
 */
function rackLostInPipe(c: TcpConnection): number {
  const sb = c.sb;
  if (!c.rack || !sb) return 0;
  let n = 0;
  const rq = c.rq;
  for (let i = 0; i < rq.length; i++) {
    const r = rq.at(i);
    if (!r.lost || r.sacked) continue;
    if (!sb.isLost(r.seq)) n += seqSub(r.endSeq, r.seq);
    if (seqLt(r.seq, sb.highRxt)) n += seqSub(seqMin(r.endSeq, sb.highRxt), r.seq);
  }
  return n;
}

/** The sender's estimate of bytes in flight (RFC 6675 pipe). */
export function pipe(c: TcpConnection): number {
  if (goBackActive(c)) return unsackedBelow(c, seqMax(c.rtxNxt, c.sndUna)) + Math.max(0, seqSub(c.sndNxt, c.rtxEnd));
  if (c.rtoRack) return rackPipe(c);
  if (c.sb && (c.sb.inRecovery || c.sb.sackedBytes > 0)) return Math.max(0, c.sb.setPipe() - rackLostInPipe(c));
  return seqSub(c.sndNxt, c.sndUna);
}

/**
 * The most new data one segment may carry: the MSS, or with TSO on the route's link as many
 * whole MSS as fit a super-packet of maxGsoBytes (transmit() trims for the exact header).
 */
function tsoLimit(c: TcpConnection): number {
  const lo = c.txOffloads;
  const mss = c.mss;
  if (lo === undefined || !lo.txCsum || !(c.family === 4 ? lo.tso4 : lo.tso6)) return mss;
  const room = lo.maxGsoBytes - (c.family === 4 ? 20 : 40) - TCP_HEADER_LEN - c.optLen;
  return Math.max(mss, room - (room % mss));
}

/** Unsent data (or an unsent FIN) exists. */
function hasUnsent(c: TcpConnection): boolean {
  return seqLt(c.sndNxt, c.dataEnd) || (c.finQueued && !c.finSent);
}

/**
 * Sends new data at SND.NXT if the windows, Nagle and SWS avoidance allow it. `force`: the
 * persist/override timer fired (send what the window allows regardless of SWS/Nagle).
 */
function sendNew(c: TcpConnection, pipeNow: number, force: boolean): boolean {
  const seq = c.sndNxt;
  const dataEnd = c.dataEnd;
  const avail = Math.max(0, seqSub(dataEnd, seq));
  const finPending = c.finQueued && !c.finSent;
  if (avail === 0 && !finPending) return false;
  const wndRoom = seqSub(seqAdd(c.sndUna, c.sndWnd), seq);
  const cwndRoom = Math.floor(c.cc.cwnd - pipeNow);
  const outstanding = c.outstanding;
  if (cwndRoom <= 0 && outstanding) return false;
  const mss = c.mss;
  let len = Math.min(avail, tsoLimit(c), Math.max(0, wndRoom));
  if (outstanding) len = Math.min(len, Math.max(0, cwndRoom));
  if (avail > 0 && len <= 0) return false;
  // A super-segment (TSO) carries whole MSS-sized segments unless it ends the queued data:
  // the windows would otherwise cut a runt segment in the middle of the stream.
  if (len > mss && len < avail) len -= len % mss;
  if (!force && len < avail && len < c.mss) {
    // Limited by the windows: RFC 9293 §3.8.6.2.1 (3): only if at least half the largest
    // window the peer ever offered can go (else wait for the window or the override timer).
    if (len < c.maxSndWnd / 2) return false;
  }
  if (!force && len === avail && len > 0 && len < c.mss && outstanding && !c.noDelay && !finPending) {
    // Nagle (RFC 896, RFC 9293 §3.7.4): one small segment outstanding at a time.
    return false;
  }
  const fin = finPending && seqAdd(seq, len) === dataEnd && wndRoom > len;
  if (len === 0 && !fin) return false;
  let flags = ACK;
  if (fin) flags |= FIN;
  if (len > 0 && seqAdd(seq, len) === dataEnd) flags |= PSH;
  // transmit() may shorten the payload to make room for SACK blocks (then without FIN).
  const sentLen = transmit(c, seq, len, flags);
  if (sentLen < 0 || (sentLen === 0 && !fin)) return false;
  const finSent = fin && (c.layer.txRepr.flags & FIN) !== 0;
  if (sentLen === 0 && !finSent) return false;
  if (!outstanding) c.rtxStartTime = c.now;
  c.sndNxt = seqAdd(seq, sentLen + (finSent ? 1 : 0));
  if (finSent) c.finSent = true;
  c.bytesSent += sentLen;
  c.sb?.onSend(c.sndNxt);
  if (c.prr.active) c.prr.onSend(sentLen);
  if (!c.tsOk && c.rttSeq === undefined && sentLen > 0) {
    c.rttSeq = c.sndNxt;
    c.rttTime = c.now;
  }
  if (c.rack) {
    // One record per segment the device cuts (what the receiver sees: gso_size, the MSS less
    // any SACK blocks), so that SACK and RACK work on the same units with and without TSO.
    const o = c.layer.txOffload;
    const piece = c.txOffloads?.txCsum === true && o.gsoType !== GsoType.NONE ? o.gsoSize : mss;
    const end = c.sndNxt;
    let s = seq;
    do {
      const e = seqSub(end, s) > piece ? seqAdd(s, piece) : end;
      c.rq.push(s, e, c.now);
      s = e;
    } while (s !== end);
  }
  // RFC 8985 §7.2: (re)start the PTO after sending new data; RFC 6298 §5.1 otherwise.
  rearmTimer(c, c.ptoArmed);
  return true;
}

/**
 * tcp_write_xmit: sends what the windows allow — go-back-N retransmissions first, then RFC 6675
 * NextSeg() during SACK recovery, then new data.
 */
export function output(c: TcpConnection, force = false): void {
  if (c.released || !canSendState(c.state) || !c.cc) return;
  const L = c.layer;
  // A route MTU below what we use (e.g. a route change): adopt it and resend (PMTU, RFC 1191).
  const rm = L.routeMss(c);
  if (rm < c.routeMss && c.lowerRouteMss(rm)) startGoBack(c);
  c.txOffloads = L.linkOffloads(c);
  const now = c.now;
  // RFC 5681 §4.1: restart window after an idle period longer than RTO.
  if (!c.outstanding && c.lastSendTime > 0 && now - c.lastSendTime > c.rtt.rto && hasUnsent(c) && !goBackActive(c)) {
    c.cc.onIdleRestart(now);
  }
  for (let guard = 0; guard < 10_000; guard++) {
    const p = pipe(c);
    const cwnd = c.cc.cwnd;
    if (goBackActive(c)) {
      if (seqLt(c.rtxNxt, c.sndUna)) c.rtxNxt = c.sndUna;
      if (!goBackActive(c)) continue;
      // The first unSACKed byte at or above rtxNxt.
      let s: Seq | undefined;
      let e: Seq = c.rtxEnd;
      if (c.sb) {
        const from = c.rtxNxt;
        const end = c.rtxEnd;
        c.sb.forEachHole((a, b) => {
          if (s !== undefined || !seqLt(from, b) || !seqLt(a, end)) return;
          s = seqMax(a, from);
          e = seqMin(b, end);
        });
      } else {
        s = c.rtxNxt;
      }
      if (s === undefined) {
        c.rtxNxt = c.rtxEnd;
        continue;
      }
      if (p >= cwnd && p > 0) break;
      const n = retransmitAt(c, s, Math.min(c.mss, seqSub(e, s)));
      if (n === 0) {
        c.rtxNxt = c.rtxEnd;
        continue;
      }
      c.rtxNxt = seqAdd(s, n);
      continue;
    }
    const sb = c.sb;
    if (sb && sb.inRecovery) {
      // RFC 6675 §5 (C): while cwnd - pipe >= 1 (PRR sets cwnd = pipe + sndcnt).
      if (cwnd - p <= 0) break;
      const canNew = seqLt(c.sndNxt, c.dataEnd) && seqGt(seqAdd(c.sndUna, c.sndWnd), c.sndNxt);
      // RACK-marked losses first (this also repairs lost retransmissions, RFC 8985 §6.2).
      const lost = c.rack ? rackFirstLost(c) : undefined;
      if (lost) {
        const n = retransmitAt(c, lost.seq, seqSub(lost.endSeq, lost.seq));
        if (n === 0) {
          lost.lost = false;
          continue;
        }
        sb.onTransmit({ seq: lost.seq, len: n, rule: 1 });
        c.prr.onSend(n);
        continue;
      }
      const seg = sb.nextSeg(canNew || (c.finQueued && !c.finSent));
      if (!seg) break;
      if (seg.rule === 2) {
        // A full segment whenever cwnd - pipe > 0 (PRR's sndcnt is not a multiple of SMSS).
        if (!sendNew(c, Math.min(p, cwnd - c.mss), true)) break;
        continue;
      }
      const n = retransmitAt(c, seg.seq, seg.len);
      if (n === 0) break;
      sb.onTransmit({ seq: seg.seq, len: n, rule: seg.rule });
      c.prr.onSend(n);
      continue;
    }
    if (c.rtoRack && c.rack) {
      // RFC 8985 §6.3: after an RTO, retransmit what RACK marked lost (the segment at SND.UNA
      // and those whose reordering window expired; later ones as RACK detects them), then new
      // data, as cwnd (slow start from the loss window) allows.
      if (cwnd - p <= 0 && c.outstanding) break;
      const lost = rackFirstLost(c);
      if (lost) {
        const n = retransmitAt(c, lost.seq, seqSub(lost.endSeq, lost.seq));
        if (n === 0) lost.lost = false;
        continue;
      }
    }
    if (!sendNew(c, p, force)) break;
    force = false;
  }
  // Persist / override timer (RFC 9293 §3.8.6.1, §3.8.6.2.1): unsent data, nothing in flight.
  if (!c.outstanding && hasUnsent(c)) {
    if (!c.persistTimer.scheduled) L.timers.arm(c.persistTimer, now + persistInterval(c));
  } else if (c.persistTimer.scheduled && c.outstanding) {
    L.timers.cancel(c.persistTimer);
    c.persistBackoff = 0;
  }
}

export function persistInterval(c: TcpConnection): number {
  const base = Math.max(c.rtt.rto, 200);
  return Math.min(base * 2 ** Math.min(c.persistBackoff, 10), 60_000);
}

/** Starts a go-back-N resend of everything outstanding (RTO, PMTU drop). */
export function startGoBack(c: TcpConnection): void {
  if (!c.outstanding) return;
  c.rtxNxt = c.sndUna;
  c.rtxEnd = c.sndNxt;
}

/** Whether `seq` (+len) is within what was sent (RFC 5927 check for ICMP). */
export function sentRange(c: TcpConnection, seq: Seq): boolean {
  return seqGeq(seq, c.sndUna) && seqLt(seq, seqMax(c.sndNxt, seqAdd(c.sndUna, 1)));
}

