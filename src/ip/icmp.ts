/**
 * ICMP for IPv4 (RFC 792, RFC 1122 §3.2.2).
 *
 * - Echo requests to one of our addresses are answered with the same identifier, sequence and
 *   data, of any size (RFC 1122 §3.2.2.6): a 60000-byte request arrives fragmented (reassembled
 *   by ipv4.ts) and its reply is fragmented on output. Echo requests to a broadcast or multicast
 *   address are ignored, like Linux's icmp_echo_ignore_broadcasts (RFC 1122 §3.2.2.6 allows it).
 * - Errors we originate (port/protocol unreachable, reassembly time exceeded) obey RFC 1122
 *   §3.2.2: never about an ICMP error, a datagram to a broadcast/multicast address or received
 *   as link-layer broadcast/multicast, a non-initial fragment, or a datagram whose source is not
 *   a single host (0.0.0.0, loopback, broadcast, multicast, class E). They are rate-limited by
 *   a token bucket (RFC 1812 §4.3.2.8) and quote the invoking packet truncated so the error
 *   datagram is at most 576 bytes (RFC 1812 §4.3.2.3).
 * - Received errors are counted (`icmp.rx.<type>`) and passed to `onError` listeners.
 */
import {
  ICMPV4_ERROR_MAX_DATAGRAM,
  emitIcmpv4,
  emitIcmpv4Error,
  icmpv4ErrorLength,
  icmpv4Length,
  isIcmpv4Error,
  parseIcmpv4,
  type Icmpv4ErrorRepr,
} from '../wire/icmpv4.js';
import { IPV4_HEADER_LEN, type Ipv4Parsed } from '../wire/ipv4.js';
import { isIpv4Multicast, isIpv4Broadcast } from '../wire/address.js';
import type { IpContext, RxInfo } from './context.js';
import type { Counter } from '../core/counters.js';
import type { Ipv4Layer } from './ipv4.js';
import { PROTO_ICMP } from './ipv4.js';

const PROTO_TCP = 6;

const TYPE_NAMES: Record<number, string> = {
  0: 'echo_reply',
  3: 'dest_unreachable',
  4: 'source_quench',
  5: 'redirect',
  8: 'echo_request',
  11: 'time_exceeded',
  12: 'param_problem',
  13: 'timestamp',
  14: 'timestamp_reply',
};

export function icmp4TypeName(t: number): string {
  return TYPE_NAMES[t] ?? `type_${t}`;
}

/**
 * The errno a connected UDP socket sees for an ICMP error: only the "hard" errors of Linux's
 * icmp_err_convert (protocol/port unreachable, administratively prohibited) and parameter
 * problem.
 */
export function icmp4Errno(type: number, code: number): string | undefined {
  if (type === 12) return 'EPROTO';
  if (type !== 3) return undefined;
  switch (code) {
    case 2:
      return 'ENOPROTOOPT';
    case 3:
      return 'ECONNREFUSED';
    case 9:
    case 11:
      return 'ENETUNREACH';
    case 10:
    case 12:
    case 13:
      return 'EHOSTUNREACH';
    default:
      return undefined;
  }
}

export interface Icmp4EchoReply {
  src: number;
  ident: number;
  seq: number;
  data: Uint8Array;
}

export interface Icmp4ErrorInfo {
  src: number;
  type: number;
  code: number;
  /** The quoted invoking packet (IPv4 header and at least 8 bytes). */
  invoking: Uint8Array;
}

export class Icmp4 {
  /** Echo replies we receive (for ping). Data is a copy. */
  onEchoReply: ((r: Icmp4EchoReply) => void) | undefined;
  /** ICMP errors we receive. */
  onError: ((e: Icmp4ErrorInfo) => void) | undefined;

  /** Counters of the echo path, resolved once. */
  private readonly cRx: Counter;
  private readonly cRxEchoRequest: Counter;
  private readonly cTxEchoReply: Counter;
  private readonly cTx: Counter;

  constructor(
    private readonly ctx: IpContext,
    private readonly ip: Ipv4Layer,
  ) {
    const c = ctx.counters;
    this.cRx = c.counter('icmp.rx');
    this.cRxEchoRequest = c.counter('icmp.rx.echo_request');
    this.cTxEchoReply = c.counter('icmp.tx.echo_reply');
    this.cTx = c.counter('icmp.tx');
  }

  input(ip: Ipv4Parsed, rx: RxInfo, multicast: boolean): void {
    const c = this.ctx.counters;
    this.cRx.inc();
    const m = parseIcmpv4(ip.payload);
    if (typeof m === 'string') {
      c.drop(m);
      return;
    }
    switch (m.kind) {
      case 'echoRequest':
        this.cRxEchoRequest.inc();
        if (multicast || rx.linkMulticast) {
          c.drop('icmp.echo_broadcast_ignored');
          return;
        }
        this.sendMessage(ip.dst, ip.src, { kind: 'echoReply', ident: m.ident, seq: m.seq, data: m.data });
        this.cTxEchoReply.inc();
        return;
      case 'echoReply':
        c.inc('icmp.rx.echo_reply');
        this.onEchoReply?.({ src: ip.src, ident: m.ident, seq: m.seq, data: m.data.slice() });
        return;
      case 'dstUnreachable':
      case 'timeExceeded':
      case 'paramProblem': {
        const type = m.kind === 'dstUnreachable' ? 3 : m.kind === 'timeExceeded' ? 11 : 12;
        c.inc('icmp.rx.' + icmp4TypeName(type));
        // A frag-needed quoting TCP is validated by TCP (RFC 5927 §4.1: the quoted sequence
        // number must be in SND.UNA..SND.NXT of a connection), which keeps its own path MTU;
        // recording it here unchecked would let a blind attacker shrink any host's MTU. Quoting
        // UDP it counts only when one of our sockets could have sent the datagram; quoting
        // anything else (we send no DF datagrams of other protocols) it is ignored.
        if (m.kind === 'dstUnreachable' && m.code === 4 && m.invoking[9] !== PROTO_TCP) {
          if (this.ctx.udp.ownsQuoted(m.invoking)) this.ip.fragNeeded(m.invoking, m.nextHopMtu);
          else c.drop('icmp.frag_needed_unmatched');
        }
        const errno = icmp4Errno(type, m.code);
        if (errno) this.ctx.udp.icmpError4(m.invoking, errno);
        if (m.invoking[0]! >>> 4 === 4) {
          const h = this.ctx.icmpErrorHandlers4.get(m.invoking[9]!);
          h?.(type, m.code, m.invoking, m.kind === 'dstUnreachable' ? m.nextHopMtu : 0);
        }
        this.onError?.({ src: ip.src, type, code: m.code, invoking: m.invoking.slice() });
        return;
      }
      case 'other':
        c.inc('icmp.rx.' + icmp4TypeName(m.type));
        c.drop('icmp.unhandled_type');
        return;
    }
  }

  /** Sends an echo request (ping). Returns null or an errno code. */
  sendEcho(dst: number, ident: number, seq: number, data: Uint8Array, src?: number): string | null {
    const s = src ?? this.ip.source(dst);
    if (typeof s === 'string') return s;
    this.ctx.counters.inc('icmp.tx.echo_request');
    return this.sendMessage(s, dst, { kind: 'echoRequest', ident, seq, data });
  }

  private sendMessage(src: number, dst: number, repr: Parameters<typeof emitIcmpv4>[0]): string | null {
    const buf = new Uint8Array(icmpv4Length(repr));
    emitIcmpv4(repr, buf);
    this.cTx.inc();
    return this.ip.output(src, dst, PROTO_ICMP, buf);
  }

  /**
   * Sends an ICMP error about `invoking` (the whole offending packet, `ip` its parsed header),
   * unless RFC 1122 §3.2.2 forbids it or the rate limit is hit (both counted).
   */
  sendError(ip: Ipv4Parsed, invoking: Uint8Array, rx: RxInfo, dstMulticast: boolean, type: number, code: number): void {
    const c = this.ctx.counters;
    if (ip.protocol === PROTO_ICMP) {
      // Never about an ICMP error; look at the type byte of the invoking ICMP message.
      const t = ip.payload.length > 0 ? ip.payload[0]! : -1;
      if (ip.fragOffset !== 0 || t < 0 || isIcmpv4Error(t) || !(t in TYPE_NAMES)) {
        c.inc('icmp.error_suppressed.icmp_error');
        return;
      }
    }
    if (dstMulticast || isIpv4Broadcast(ip.dst) || isIpv4Multicast(ip.dst) || rx.linkMulticast) {
      c.inc('icmp.error_suppressed.broadcast');
      return;
    }
    if (ip.fragOffset !== 0) {
      c.inc('icmp.error_suppressed.fragment');
      return;
    }
    const s = ip.src;
    if (s === 0 || s >>> 24 === 127 || isIpv4Broadcast(s) || isIpv4Multicast(s) || s >>> 28 === 0xf || this.ip.isAnyBroadcast(s)) {
      c.inc('icmp.error_suppressed.bad_src');
      return;
    }
    if (!this.ctx.icmpErrors.take()) {
      c.drop('icmp.rate_limited');
      return;
    }
    // Source: the address the offending datagram was sent to if it is ours, else the
    // interface's (RFC 1122 §3.2.2).
    let src: number | string = this.ip.isLocal(ip.dst) ? ip.dst : this.ip.source(s, rx.iface);
    if (typeof src === 'string') return;
    const maxLen = ICMPV4_ERROR_MAX_DATAGRAM - IPV4_HEADER_LEN;
    const whole = invoking.subarray(0, ip.headerLength + ip.payloadLength);
    const buf = new Uint8Array(icmpv4ErrorLength(whole.length, maxLen));
    let repr: Icmpv4ErrorRepr;
    if (type === 3) repr = { kind: 'dstUnreachable', code, nextHopMtu: 0, invoking: whole };
    else if (type === 11) repr = { kind: 'timeExceeded', code, invoking: whole };
    else repr = { kind: 'paramProblem', code, pointer: 0, invoking: whole };
    emitIcmpv4Error(repr, buf, maxLen);
    c.inc('icmp.tx');
    c.inc('icmp.tx.' + icmp4TypeName(type));
    this.ip.output(src, s, PROTO_ICMP, buf);
  }
}
