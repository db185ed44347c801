/**
 * Connection timers, all on the stack's one TimerQueue (one `Timer` per connection per kind,
 * re-armed; see connection.ts):
 * - retransmission (RFC 6298 §5; SYN / SYN-ACK retries like Linux tcp_syn_retries = 6,
 *   tcp_synack_retries = 5; data: tcp_retries2 = 15 and the user timeout, RFC 5482 / RFC 9293
 *   §3.8.3 R2) — RFC 5681 §3.1 loss window, RFC 6675 §5.1, RFC 6582 §3.2 step 6;
 * - delayed ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2: < 500 ms, 40 ms by default like Linux);
 * - persist (zero-window probes, RFC 9293 §3.8.6.1, with exponential backoff; Linux-style probe
 *   <SEQ=SND.UNA-1>, which the peer must answer with an ACK carrying its window), also the SWS
 *   override timer of §3.8.6.2.1;
 * - keep-alive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6: <SEQ=SND.NXT-1> probes after idle);
 * - TIME-WAIT (2·MSL) and the FIN-WAIT-2 timeout (Linux tcp_fin_timeout).
 */
import { TcpFlags } from '../../wire/tcp.js';
import { St, type TcpConnection, type TxRecord } from './connection.js';
import { output, persistInterval, sendAck, sendSyn, sendTailProbe, transmit } from './output.js';
import { seqAdd, seqSub } from './seq.js';
import { rackTimeout } from './input.js';

export function onRtxTimer(c: TcpConnection): void {
  if (c.released) return;
  const L = c.layer;
  const d = L.config;
  const now = c.now;
  if (c.state === St.SYN_SENT || c.state === St.SYN_RECEIVED) {
    const limit = c.state === St.SYN_SENT ? d.synRetries : d.synAckRetries;
    if (c.rtxCount >= limit) {
      if (c.state === St.SYN_SENT || c.accepted) c.fail(c.softError ?? 'ETIMEDOUT', 'connection timed out');
      else c.destroy();
      return;
    }
    c.rtxCount++;
    c.rtt.backoff();
    c.retransmits++;
    L.counters.inc('tcp.retransmits');
    sendSyn(c);
    L.timers.arm(c.rtxTimer, now + c.rtt.rto);
    return;
  }
  if (!c.outstanding) return;
  if (c.ptoArmed) {
    sendTailProbe(c);
    return;
  }
  // RFC 9293 §3.8.3 R2 / RFC 5482: give up.
  if ((c.userTimeoutMs > 0 && now - c.rtxStartTime >= c.userTimeoutMs) || c.rtxCount >= d.retries2) {
    c.fail(c.softError ?? 'ETIMEDOUT', 'connection timed out');
    return;
  }
  const flight = seqSub(c.sndNxt, c.sndUna);
  L.counters.inc('tcp.rto_timeouts');
  // RFC 5681 §3.1 (ssthresh held for repeated timeouts), cwnd = 1 SMSS.
  c.cc.onRetransmitTimeout(now, flight, c.rtxCount > 0);
  // RFC 6298 §5.5: back off.
  c.rtt.backoff();
  c.rtxCount++;
  c.dupAcks = 0;
  c.rttSeq = undefined;
  // SACK reneging (RFC 2018 §8): the segment at SND.UNA is still unacknowledged after an RTO
  // although it was SACKed, so the receiver discarded it (or the SACK was forged). Like Linux
  // tcp_timeout_mark_lost() (is_reneg), forget every SACK mark, so that the RTO retransmits
  // SND.UNA and the scoreboard stops counting data the receiver may not have.
  const head = c.rq.first();
  const reneged = head !== undefined && head.sacked && head.seq === c.sndUna;
  if (reneged) {
    for (let i = 0; i < c.rq.length; i++) c.rq.at(i).sacked = false;
    c.rqSacked = 0;
    L.counters.inc('tcp.sack_reneging');
  }
  c.sb?.onRetransmitTimeout(reneged);
  c.undoMarker = undefined; // the RTO's reduction is not undone by fast-recovery evidence
  c.prr.exit();
  c.tlp.reset();
  c.nr.onRetransmitTimeout(c.sndNxt);
  c.rtoRecover = c.sndNxt;
  // RFC 8985 §6.3 (Linux tcp_timeout_mark_lost): the segment at SND.UNA and every segment
  // whose RACK reordering window has expired are lost; the others may still be in flight and
  // are left to RACK, which keeps detecting losses from the ACKs of the retransmissions.
  // RFC 6298 §5.4 needs only the earliest segment resent. (Should nothing be marked — no
  // unSACKed record at SND.UNA, e.g. after the peer reneged — fall back to go-back-N.)
  const lost = c.rack && c.sb ? c.rack.markLossesOnRto(now, unSacked(c), c.sndUna) : [];
  c.rtoRack = lost.length > 0;
  if (c.rtoRack) {
    c.rtxNxt = c.rtxEnd = c.sndUna; // no go-back
    if (c.reoTimer.scheduled) L.timers.cancel(c.reoTimer);
    L.counters.inc('tcp.rack_rto_losses', lost.length);
  } else {
    // Resend everything outstanding, starting at SND.UNA (RFC 6298 §5.4), as cwnd allows.
    c.rtxNxt = c.sndUna;
    c.rtxEnd = c.sndNxt;
  }
  L.timers.cancel(c.rtxTimer);
  output(c);
  // §5.6: restart with the backed-off RTO (output armed it when it sent; keep the start time).
  L.timers.arm(c.rtxTimer, now + c.rtt.rto);
}

function* unSacked(c: TcpConnection): Iterable<TxRecord> {
  for (const r of c.rq) if (!r.sacked) yield r;
}

export function onReoTimer(c: TcpConnection): void {
  if (c.released) return;
  rackTimeout(c);
}

export function onDelackTimer(c: TcpConnection): void {
  if (c.released) return;
  if (c.ackPending) sendAck(c);
}

export function onPersistTimer(c: TcpConnection): void {
  if (c.released || c.state === St.TIME_WAIT) return;
  if (c.outstanding) return;
  const unsent = seqSub(c.dataEnd, c.sndNxt) > 0 || (c.finQueued && !c.finSent);
  if (!unsent) {
    c.persistBackoff = 0;
    return;
  }
  if (c.sndWnd > 0) {
    // SWS override (§3.8.6.2.1 (4)): send what the window allows now.
    output(c, true);
  } else {
    // Zero-window probe: an old sequence number forces the peer to ACK with its window.
    c.layer.counters.inc('tcp.window_probes');
    transmit(c, seqAdd(c.sndUna, -1), 0, TcpFlags.ACK);
    c.persistBackoff++;
  }
  if (!c.outstanding && !c.persistTimer.scheduled && !c.released) c.layer.timers.arm(c.persistTimer, c.now + persistInterval(c));
}

export function onKeepaliveTimer(c: TcpConnection): void {
  if (c.released || !c.keepAlive) return;
  if (c.state !== St.ESTABLISHED && c.state !== St.CLOSE_WAIT && c.state !== St.FIN_WAIT_2) return;
  const L = c.layer;
  const now = c.now;
  const idle = now - c.lastRecvTime;
  if (c.outstanding || idle < c.keepIdleMs) {
    c.keepaliveProbes = 0;
    L.timers.arm(c.keepaliveTimer, Math.max(now + 1, c.lastRecvTime + c.keepIdleMs));
    return;
  }
  if (c.keepaliveProbes >= c.keepProbes) {
    c.fail(c.softError ?? 'ETIMEDOUT', 'keep-alive timed out');
    return;
  }
  c.keepaliveProbes++;
  L.counters.inc('tcp.keepalive_probes');
  transmit(c, seqAdd(c.sndNxt, -1), 0, TcpFlags.ACK);
  L.timers.arm(c.keepaliveTimer, now + c.keepIntervalMs);
}

export function onStateTimer(c: TcpConnection): void {
  if (c.released) return;
  if (c.state === St.TIME_WAIT || c.state === St.FIN_WAIT_2) c.destroy();
}
