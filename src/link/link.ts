/**
 * The one interface every link implements: a TUN device (layer 3, IP packets), a TAP device
 * (layer 2, Ethernet frames), an in-memory pair, or a wrapper such as the pcap recorder.
 *
 * This file is part of the stack core: it imports nothing from Node.
 *
 * Ownership rules, which keep the hot path free of copies:
 * - `send(frame)`: the link is done with `frame` when `send` returns (it copies or writes it),
 *   so the caller may reuse its buffer at once.
 * - `receiver.receive(frame)`: `frame` is valid only until the batch's `flush()` returns; a
 *   receiver that keeps bytes longer copies them.
 *
 * Offloads (a TUN device opened with IFF_VNET_HDR): the link strips and writes the
 * virtio-net header itself; the stack sees IP packets plus `RxFlags` on receive and hands a
 * `TxOffload` with a frame to send. Wrappers (pcap, impairment) pass both through.
 */

/**
 * Bytes a sender leaves free in front of a transport segment it builds, so that the IP header
 * (IPv6: 40, IPv4: 20, with options up to 60) and a link header can be written there instead of
 * copying the segment into a new packet.
 */
export const TX_HEADROOM = 128;

/** 'ip': frames are raw IPv4/IPv6 packets (TUN). 'ethernet': frames are Ethernet II (TAP). */
export type LinkKind = 'ip' | 'ethernet';

/**
 * Per-frame receive flags (a bit set) a link with offloads passes with `receive`: what the
 * device (the kernel, through the virtio-net header) already did for the frame.
 */
export const RxFlags = {
  /**
   * The transport checksum need not be verified: the frame came from the local kernel with a
   * partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM: the checksum field holds only the
   * pseudo-header sum) or one it already checked (VIRTIO_NET_HDR_F_DATA_VALID).
   */
  CSUM_VALID: 1,
  /**
   * A GSO super-packet (e.g. TCP segmented by the sender's TSO, not yet split): the IP total
   * length may exceed the MTU, and the TCP payload may exceed the MSS.
   */
  GSO: 2,
} as const;

/** virtio_net_hdr gso_type values (linux/virtio_net.h), used by `TxOffload.gsoType`. */
export const GsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  /** Flag: the TCP super-packet has CWR set (TSO_ECN). */
  ECN: 0x80,
} as const;

/**
 * Work a link's device does for one transmitted frame (IFF_VNET_HDR offloads): complete a
 * partial transport checksum and/or cut a TCP super-segment into `gsoSize`-byte segments
 * (TSO). The object is reused by the sender: it is valid only during `send`.
 */
export interface TxOffload {
  /** GsoType.NONE (checksum only), TCPV4 or TCPV6. */
  gsoType: number;
  /** Payload bytes per segment the device cuts (the MSS); 0 without GSO. */
  gsoSize: number;
  /** Offset of the transport header in the frame (the IP layer sets it). */
  l4Offset: number;
  /** Transport header length (TCP: with options): the headers copied into every segment end at l4Offset + l4HeaderLength. */
  l4HeaderLength: number;
  /**
   * Offset of the checksum field inside the transport header (TCP 16, UDP 6). The field holds
   * the pseudo-header sum (folded, not inverted) and the device completes it over
   * [l4Offset, end of frame) — per segment for GSO (VIRTIO_NET_HDR_F_NEEDS_CSUM).
   */
  csumOffset: number;
}

/** What a link's device can do for transmitted frames (see TxOffload). */
export interface LinkOffloads {
  /** Completes partial transport checksums (TCP, UDP) on transmit. */
  readonly txCsum: boolean;
  /** Cuts TCP/IPv4 super-segments (TSO4). */
  readonly tso4: boolean;
  /** Cuts TCP/IPv6 super-segments (TSO6). */
  readonly tso6: boolean;
  /** Largest super-packet, IP header included (the kernel's gso_max_size: 65536; IPv4 is bounded by 65535). */
  readonly maxGsoBytes: number;
}

export interface LinkReceiver {
  /**
   * One frame of the current batch, with `RxFlags` (0 or absent when the link offloads
   * nothing). Must not throw.
   */
  receive(frame: Uint8Array, flags?: number): void;
  /** The batch is over: the time to send ACKs and queued output once for the whole batch. */
  flush(): void;
}

export interface Link {
  readonly kind: LinkKind;
  /** Largest frame payload: the IP MTU (the Ethernet header is not counted). */
  readonly mtu: number;
  /** The link's own hardware address (6 bytes) for 'ethernet' links. */
  readonly mac: Uint8Array | undefined;
  /** Sets who receives frames; batches start arriving after this. */
  attach(receiver: LinkReceiver): void;
  /**
   * Transmit offloads the link's device performs; absent or undefined: none (every frame is
   * complete, checksums included, and at most `mtu` bytes).
   */
  readonly offloads?: LinkOffloads | undefined;
  /**
   * Sends one frame (the caller may reuse `frame` when this returns). `offload` asks the device
   * to complete the checksum or segment the frame; only allowed when `offloads` says so.
   */
  send(frame: Uint8Array, offload?: TxOffload): void;
  /** Stops receiving and releases the link. Idempotent. */
  close(): Promise<void>;
}
