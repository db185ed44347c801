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
 */

/** 'ip': frames are raw IPv4/IPv6 packets (TUN). 'ethernet': frames are Ethernet II (TAP). */
export type LinkKind = 'ip' | 'ethernet';

export interface LinkReceiver {
  /** One frame of the current batch. Must not throw. */
  receive(frame: Uint8Array): void;
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
  /** Sends one frame (the caller may reuse `frame` when this returns). */
  send(frame: Uint8Array): void;
  /** Stops receiving and releases the link. Idempotent. */
  close(): Promise<void>;
}
