/**
 * Resource limits of a Stack. Every limit that is hit counts a drop (`drop.<layer>.<reason>`).
 */
export interface StackLimits {
  /** Bytes held by IPv4 + IPv6 reassembly together (default 4 MiB, Linux ipfrag_high_thresh). */
  reassemblyBytes: number;
  /** IPv4 reassembly timeout, ms (default 30000 like Linux; RFC 791 suggests 15 s). */
  reassemblyTimeout4Ms: number;
  /** IPv6 reassembly timeout, ms (default 60000, RFC 8200 §4.5). */
  reassemblyTimeout6Ms: number;
  /** Neighbour cache entries per interface and family (default 512). */
  neighborEntries: number;
  /** Packets queued per unresolved neighbour (default 16). */
  neighborPending: number;
  /** Bytes queued per unresolved neighbour (default 256 KiB). */
  neighborPendingBytes: number;
  /** ARP requests / NS sent before giving up (default 3, RFC 4861 MAX_MULTICAST_SOLICIT). */
  neighborRetries: number;
  /** Interval between them, ms (default 1000, RFC 4861 RETRANS_TIMER). */
  neighborRetransmitMs: number;
  /** REACHABLE lifetime of a confirmed neighbour, ms (default 30000, RFC 4861 REACHABLE_TIME). */
  neighborReachableMs: number;
  /** ICMP/ICMPv6 errors per second, token bucket rate (default 100; 0 disables errors). */
  icmpErrorRate: number;
  /** Token bucket depth (default 50, like Linux icmp_msgs_burst). */
  icmpErrorBurst: number;
  /** TTL of IPv4 packets we originate (default 64, RFC 1700 / Linux). */
  defaultTtl: number;
  /** Hop limit of IPv6 packets we originate (default 64). */
  defaultHopLimit: number;
}

export const DEFAULT_LIMITS: StackLimits = {
  reassemblyBytes: 4 * 1024 * 1024,
  reassemblyTimeout4Ms: 30_000,
  reassemblyTimeout6Ms: 60_000,
  neighborEntries: 512,
  neighborPending: 16,
  neighborPendingBytes: 256 * 1024,
  neighborRetries: 3,
  neighborRetransmitMs: 1000,
  neighborReachableMs: 30_000,
  icmpErrorRate: 100,
  icmpErrorBurst: 50,
  defaultTtl: 64,
  defaultHopLimit: 64,
};
