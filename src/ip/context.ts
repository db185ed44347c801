/**
 * What the IP-layer modules share: the Stack implements this. Kept as an interface so the
 * modules (ipv4.ts, ipv6.ts, icmp.ts, icmp6.ts, arp.ts, ndp.ts) do not import the Stack class.
 */
import type { Clock, RandomSource } from '../core/clock.js';
import type { Counters } from '../core/counters.js';
import type { TimerQueue } from '../core/timers.js';
import type { UdpLayer } from '../transport/udp.js';
import type { NetInterface } from './interface.js';
import type { RouteTable } from './routes.js';
import type { TokenBucket } from './ratelimit.js';
import type { StackLimits } from './limits.js';

/** Per-packet receive context. */
export interface RxInfo {
  iface: NetInterface;
  /** The frame arrived as link-layer broadcast or multicast (Ethernet group bit). */
  linkMulticast: boolean;
  /**
   * The link says the transport checksum need not be verified (RxFlags.CSUM_VALID: a partial
   * checksum from the local kernel, or one it verified). Only for the packet as received: a
   * reassembled datagram is verified.
   */
  csumValid?: boolean;
}

/** A handler for a transport protocol other than UDP/ICMP (e.g. TCP). */
export type ProtocolHandler4 = (src: number, dst: number, payload: Uint8Array, rx: RxInfo) => void;
export type ProtocolHandler6 = (src: Uint8Array, dst: Uint8Array, payload: Uint8Array, rx: RxInfo) => void;

/**
 * ICMP errors about packets of a transport protocol, demultiplexed by the quoted header
 * (RFC 1122 §3.2.2, RFC 4443 §2.4(b)): `type`/`code` of the ICMP/ICMPv6 message, `invoking`
 * the quoted packet (IP header first, possibly truncated), `mtu` for fragmentation needed /
 * packet too big (0 otherwise).
 */
export type IcmpErrorHandler = (type: number, code: number, invoking: Uint8Array, mtu: number) => void;

export interface IpContext {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly counters: Counters;
  readonly timers: TimerQueue;
  readonly limits: StackLimits;
  readonly interfaces: readonly NetInterface[];
  readonly routes: RouteTable;
  readonly udp: UdpLayer;
  /** Shared ICMP/ICMPv6 error rate limiter. */
  readonly icmpErrors: TokenBucket;
  readonly protocols4: Map<number, ProtocolHandler4>;
  readonly protocols6: Map<number, ProtocolHandler6>;
  readonly icmpErrorHandlers4: Map<number, IcmpErrorHandler>;
  readonly icmpErrorHandlers6: Map<number, IcmpErrorHandler>;
  /**
   * Queues a packet addressed to one of our own addresses for local delivery (on the next
   * poll, never re-entrantly) through `iface`'s input path.
   */
  loopback(iface: NetInterface, packet: Uint8Array): void;
  /** Frames `payload` in Ethernet II and sends it on `iface`. */
  sendEthernet(iface: NetInterface, dst: Uint8Array, ethertype: number, payload: Uint8Array): void;
}
