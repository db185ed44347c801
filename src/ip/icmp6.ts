/**
 * ICMPv6 (RFC 4443) for a host.
 *
 * - Echo requests are answered with the same identifier, sequence and data, of any size (the
 *   reply is fragmented by ipv6.ts when needed); requests to a multicast group we joined are
 *   answered from a unicast address of the interface (RFC 4443 §4.2).
 * - Neighbor Discovery messages (133-137) are validated with `ndpCheckIpHeader` (hop limit 255
 *   etc., RFC 4861 §7.1) and passed to the interface's Ndp (Ethernet links only).
 * - Errors we originate follow RFC 4443 §2.4(e): never about an ICMPv6 error or a Redirect, a
 *   packet to a multicast address or received as link-layer multicast/broadcast (except Packet
 *   Too Big and Parameter Problem code 2 for an option of action 10), a non-initial fragment, or
 *   a packet whose source is unspecified or multicast. They are rate-limited (§2.4(f)) and quote
 *   as much of the invoking packet as fits in 1280 bytes (§2.4(c)).
 */
import {
  ICMPV6_ERROR_MAX_LEN,
  Icmpv6Type,
  emitIcmpv6,
  emitIcmpv6Error,
  icmpv6ErrorLength,
  icmpv6Length,
  parseIcmpv6,
  type Icmpv6ErrorRepr,
  type Icmpv6Repr,
} from '../wire/icmpv6.js';
import { ndpCheckIpHeader } from '../wire/ndp.js';
import { pseudoHeaderSumV6 } from '../wire/checksum.js';
import { isIpv6Multicast, isIpv6Unspecified } from '../wire/address.js';
import type { IpContext, RxInfo } from './context.js';
import type { Counter } from '../core/counters.js';
import { PROTO_ICMPV6, type Ipv6Layer, type Ipv6Meta } from './ipv6.js';
import type { NetInterface } from './interface.js';

const PROTO_TCP = 6;

const TYPE_NAMES: Record<number, string> = {
  1: 'dest_unreachable',
  2: 'packet_too_big',
  3: 'time_exceeded',
  4: 'param_problem',
  128: 'echo_request',
  129: 'echo_reply',
  133: 'router_solicit',
  134: 'router_advert',
  135: 'neighbor_solicit',
  136: 'neighbor_advert',
  137: 'redirect',
};

export function icmp6TypeName(t: number): string {
  return TYPE_NAMES[t] ?? `type_${t}`;
}

export interface Icmp6EchoReply {
  src: Uint8Array;
  ident: number;
  seq: number;
  data: Uint8Array;
}

export interface Icmp6ErrorInfo {
  src: Uint8Array;
  type: number;
  code: number;
  invoking: Uint8Array;
}

export class Icmp6 {
  onEchoReply: ((r: Icmp6EchoReply) => void) | undefined;
  onError: ((e: Icmp6ErrorInfo) => void) | undefined;

  /** Counters of the echo path, resolved once. */
  private readonly cRx: Counter;
  private readonly cRxEchoRequest: Counter;
  private readonly cTxEchoReply: Counter;
  private readonly cTx: Counter;

  constructor(
    private readonly ctx: IpContext,
    private readonly ip: Ipv6Layer,
  ) {
    const c = ctx.counters;
    this.cRx = c.counter('icmp6.rx');
    this.cRxEchoRequest = c.counter('icmp6.rx.echo_request');
    this.cTxEchoReply = c.counter('icmp6.tx.echo_reply');
    this.cTx = c.counter('icmp6.tx');
  }

  input(payload: Uint8Array, meta: Ipv6Meta, rx: RxInfo): void {
    const c = this.ctx.counters;
    this.cRx.inc();
    const m = parseIcmpv6(payload, pseudoHeaderSumV6(meta.src, meta.dst, PROTO_ICMPV6, payload.length));
    if (typeof m === 'string') {
      c.drop(m);
      return;
    }
    if (isIpv6Unspecified(meta.src) && m.kind !== 'neighborSolicit' && m.kind !== 'routerSolicit') {
      c.drop('icmp6.unspecified_src');
      return;
    }
    switch (m.kind) {
      case 'echoRequest': {
        this.cRxEchoRequest.inc();
        let src: Uint8Array | string = meta.dst;
        if (meta.multicast) src = this.ip.source(meta.src, rx.iface);
        if (typeof src === 'string') return;
        this.cTxEchoReply.inc();
        this.send(src, meta.src, { kind: 'echoReply', ident: m.ident, seq: m.seq, data: m.data }, rx.iface);
        return;
      }
      case 'echoReply':
        c.inc('icmp6.rx.echo_reply');
        this.onEchoReply?.({ src: meta.src.slice(), ident: m.ident, seq: m.seq, data: m.data.slice() });
        return;
      case 'dstUnreachable':
      case 'packetTooBig':
      case 'timeExceeded':
      case 'paramProblem': {
        const type = { dstUnreachable: 1, packetTooBig: 2, timeExceeded: 3, paramProblem: 4 }[m.kind];
        c.inc('icmp6.rx.' + icmp6TypeName(type));
        // Quoting TCP: validated and recorded by TCP (RFC 5927 §4.1), see Icmp4.input.
        // Quoting UDP: only when one of our sockets could have sent it (see Icmp4.input).
        if (m.kind === 'packetTooBig' && m.invoking[6] !== PROTO_TCP) {
          if (this.ctx.udp.ownsQuoted(m.invoking)) this.ip.packetTooBig(m.invoking, m.mtu);
          else c.drop('icmp6.packet_too_big_unmatched');
        }
        // Hard errors for connected UDP sockets (Linux icmpv6_err_convert, fatal entries).
        const errno =
          m.kind === 'dstUnreachable' ? (m.code === 4 ? 'ECONNREFUSED' : m.code === 1 ? 'EACCES' : undefined) : m.kind === 'paramProblem' ? 'EPROTO' : undefined;
        if (errno) this.ctx.udp.icmpError6(m.invoking, errno);
        // The quoted packet's transport (directly after the fixed header; extension headers in
        // quotes are not walked — the quote may be truncated).
        if (m.invoking[0]! >>> 4 === 6) {
          const h = this.ctx.icmpErrorHandlers6.get(m.invoking[6]!);
          h?.(type, m.code, m.invoking, m.kind === 'packetTooBig' ? m.mtu : 0);
        }
        this.onError?.({ src: meta.src.slice(), type, code: m.code, invoking: m.invoking.slice() });
        return;
      }
      case 'other':
        c.inc('icmp6.rx.' + icmp6TypeName(m.type));
        c.drop('icmp6.unhandled_type');
        return;
      default: {
        // Neighbor Discovery.
        const type = { routerSolicit: 133, routerAdvert: 134, neighborSolicit: 135, neighborAdvert: 136, redirect: 137 }[m.kind];
        c.inc('icmp6.rx.' + icmp6TypeName(type));
        const err = ndpCheckIpHeader(m, meta.src, meta.dst, meta.hopLimit);
        if (err) {
          c.drop(err);
          return;
        }
        if (!rx.iface.ndp) {
          c.drop('ndp.not_ethernet');
          return;
        }
        rx.iface.ndp.input(m, meta);
      }
    }
  }

  /** Sends an ICMPv6 message (informational or ND) built from `repr`. Null or an errno code. */
  send(src: Uint8Array, dst: Uint8Array, repr: Icmpv6Repr, iface?: NetInterface, hopLimit?: number): string | null {
    const len = icmpv6Length(repr);
    const buf = new Uint8Array(len);
    emitIcmpv6(repr, buf, pseudoHeaderSumV6(src, dst, PROTO_ICMPV6, len));
    this.cTx.inc();
    const opts: { iface?: NetInterface; hopLimit?: number } = {};
    if (iface) opts.iface = iface;
    if (hopLimit !== undefined) opts.hopLimit = hopLimit;
    return this.ip.output(src, dst, PROTO_ICMPV6, buf, opts);
  }

  /** Sends an echo request (ping6). */
  sendEcho(dst: Uint8Array, ident: number, seq: number, data: Uint8Array, iface?: NetInterface): string | null {
    const src = this.ip.source(dst, iface);
    if (typeof src === 'string') return src;
    this.ctx.counters.inc('icmp6.tx.echo_request');
    return this.send(src, dst, { kind: 'echoRequest', ident, seq, data }, iface);
  }

  /** Parameter Problem about the raw `packet` (RFC 4443 §3.4). */
  sendParamProblem(packet: Uint8Array, rx: RxInfo, code: number, pointer: number, allowMulticast: boolean): void {
    const meta = {
      src: packet.subarray(8, 24),
      dst: packet.subarray(24, 40),
      hopLimit: packet[7]!,
      packet,
      multicast: isIpv6Multicast(packet.subarray(24, 40)),
      chain: undefined,
    };
    this.sendError(meta, rx, 4, code, pointer, allowMulticast);
  }

  /** An error about the packet in `meta`, unless RFC 4443 §2.4(e) forbids it or rate-limited. */
  sendError(
    meta: Pick<Ipv6Meta, 'src' | 'dst' | 'packet' | 'multicast'> & { chain: Ipv6Meta['chain'] | undefined },
    rx: RxInfo,
    type: number,
    code: number,
    param: number,
    allowMulticast = false,
  ): void {
    const c = this.ctx.counters;
    const w = meta.chain;
    if (w) {
      if (w.fragment && w.fragment.fragOffset !== 0) {
        c.inc('icmp6.error_suppressed.fragment');
        return;
      }
      if (w.protocol === PROTO_ICMPV6 && (!w.fragment || w.fragment.fragOffset === 0)) {
        const t = w.offset < w.end ? meta.packet[w.offset]! : 0;
        if (t < 128 || t === Icmpv6Type.Redirect) {
          c.inc('icmp6.error_suppressed.icmp_error');
          return;
        }
      }
    }
    const exempt = type === Icmpv6Type.PacketTooBig || (type === Icmpv6Type.ParamProblem && code === 2 && allowMulticast);
    if ((meta.multicast || rx.linkMulticast) && !exempt) {
      c.inc('icmp6.error_suppressed.multicast');
      return;
    }
    if (isIpv6Unspecified(meta.src) || isIpv6Multicast(meta.src)) {
      c.inc('icmp6.error_suppressed.bad_src');
      return;
    }
    if (!this.ctx.icmpErrors.take()) {
      c.drop('icmp6.rate_limited');
      return;
    }
    let src: Uint8Array | string = !meta.multicast && this.ip.isLocal(meta.dst) ? meta.dst : this.ip.source(meta.src, rx.iface);
    if (typeof src === 'string') return;
    const len = icmpv6ErrorLength(meta.packet.length, ICMPV6_ERROR_MAX_LEN);
    const buf = new Uint8Array(len);
    let repr: Icmpv6ErrorRepr;
    if (type === 1) repr = { kind: 'dstUnreachable', code, invoking: meta.packet };
    else if (type === 2) repr = { kind: 'packetTooBig', code: 0, mtu: param, invoking: meta.packet };
    else if (type === 3) repr = { kind: 'timeExceeded', code, invoking: meta.packet };
    else repr = { kind: 'paramProblem', code, pointer: param, invoking: meta.packet };
    const dst = meta.src.slice();
    src = src.slice();
    emitIcmpv6Error(repr, buf, pseudoHeaderSumV6(src, dst, PROTO_ICMPV6, len), ICMPV6_ERROR_MAX_LEN);
    c.inc('icmp6.tx');
    c.inc('icmp6.tx.' + icmp6TypeName(type));
    this.ip.output(src, dst, PROTO_ICMPV6, buf, { iface: rx.iface });
  }
}
