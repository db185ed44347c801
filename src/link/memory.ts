/**
 * Two `Link`s connected back to back in memory: what one sends, the other receives. For unit
 * tests and simulations of the stack without devices.
 *
 * Part of the core: no Node imports. Delivery is explicit (`deliver()` on the receiving link)
 * so that a test controls interleaving, or automatic (`auto: true`), scheduled with
 * queueMicrotask like a device's batch arriving on a later turn.
 *
 * With `offloads`, both ends advertise them, like a veth pair with TSO and GRO: a frame sent
 * with a TxOffload reaches the peer whole, flagged RxFlags.CSUM_VALID (its checksum is only
 * the pseudo-header part) and RxFlags.GSO for a super-segment (larger than the MTU).
 */
import { GsoType, RxFlags, type Link, type LinkKind, type LinkOffloads, type LinkReceiver, type TxOffload } from './link.js';

export interface MemoryLinkOptions {
  kind: LinkKind;
  /** IP MTU of both ends; larger frames (plus the Ethernet header on 'ethernet') are dropped. */
  mtu: number;
  /** MAC of end A ('ethernet'); default 02:00:00:00:00:0a. */
  macA?: Uint8Array;
  /** MAC of end B ('ethernet'); default 02:00:00:00:00:0b. */
  macB?: Uint8Array;
  /** Deliver queued frames automatically, in a microtask after the first send. */
  auto?: boolean;
  /** Frames each end queues before dropping (default 1024). */
  queueLimit?: number;
  /** Transmit offloads both ends advertise (see the module comment). */
  offloads?: LinkOffloads;
}

const ETH_HEADER = 14;

export class MemoryLink implements Link {
  readonly kind: LinkKind;
  readonly mtu: number;
  readonly mac: Uint8Array | undefined;
  readonly offloads: LinkOffloads | undefined;
  /** Frames this end accepted for sending (copied into the peer's queue). */
  sent = 0;
  /** Frames this end delivered to its receiver. */
  received = 0;
  /** Frames dropped on the way to this end: its queue was full. */
  dropped = 0;
  /** Frames this end refused to send: larger than the MTU, or a closed link. */
  sendDropped = 0;

  private peer!: MemoryLink;
  private receiver: LinkReceiver | undefined;
  private queue: Uint8Array[] = [];
  private queueFlags: number[] = [];
  private closed = false;
  private scheduled = false;
  private readonly maxFrame: number;

  private constructor(
    kind: LinkKind,
    mtu: number,
    mac: Uint8Array | undefined,
    private readonly auto: boolean,
    private readonly queueLimit: number,
    offloads: LinkOffloads | undefined,
  ) {
    this.offloads = offloads;
    this.kind = kind;
    this.mtu = mtu;
    this.mac = mac;
    this.maxFrame = mtu + (kind === 'ethernet' ? ETH_HEADER : 0);
  }

  /** Two connected ends, [A, B]. */
  static pair(options: MemoryLinkOptions): [MemoryLink, MemoryLink] {
    const eth = options.kind === 'ethernet';
    const limit = options.queueLimit ?? 1024;
    const a = new MemoryLink(
      options.kind,
      options.mtu,
      eth ? new Uint8Array(options.macA ?? [2, 0, 0, 0, 0, 0x0a]) : undefined,
      options.auto === true,
      limit,
      options.offloads,
    );
    const b = new MemoryLink(
      options.kind,
      options.mtu,
      eth ? new Uint8Array(options.macB ?? [2, 0, 0, 0, 0, 0x0b]) : undefined,
      options.auto === true,
      limit,
      options.offloads,
    );
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** Frames waiting for deliver(). */
  get pending(): number {
    return this.queue.length;
  }

  attach(receiver: LinkReceiver): void {
    this.receiver = receiver;
    if (this.auto && this.queue.length > 0) this.schedule();
  }

  send(frame: Uint8Array, offload?: TxOffload): void {
    let flags = 0;
    if (offload !== undefined) {
      const o = this.offloads;
      const gso = offload.gsoType;
      if (o === undefined || !o.txCsum || (gso === GsoType.TCPV4 && !o.tso4) || (gso === GsoType.TCPV6 && !o.tso6)) {
        this.sendDropped++;
        return;
      }
      flags = RxFlags.CSUM_VALID | (gso !== GsoType.NONE ? RxFlags.GSO : 0);
    }
    const max = flags & RxFlags.GSO ? this.offloads!.maxGsoBytes + (this.maxFrame - this.mtu) : this.maxFrame;
    if (this.closed || frame.length > max) {
      this.sendDropped++;
      return;
    }
    this.sent++;
    this.peer.enqueue(frame.slice(), flags);
  }

  /**
   * Delivers the frames queued now as one batch (receive each, then flush) and returns how
   * many. Frames sent to this end during the batch wait for the next one. Without a receiver,
   * frames stay queued. An exception from the receiver propagates (receivers must not throw;
   * a test wants to see it), after the batch has left the queue.
   */
  deliver(): number {
    const receiver = this.receiver;
    if (receiver === undefined || this.closed || this.queue.length === 0) return 0;
    const batch = this.queue;
    const flags = this.queueFlags;
    this.queue = [];
    this.queueFlags = [];
    for (let i = 0; i < batch.length; i++) {
      this.received++;
      receiver.receive(batch[i]!, flags[i]!);
    }
    receiver.flush();
    return batch.length;
  }

  /** Delivers on both ends until neither has anything queued; returns the frames delivered. */
  static settle(a: MemoryLink, b: MemoryLink, maxRounds = 1000): number {
    let total = 0;
    for (let i = 0; i < maxRounds; i++) {
      const n = a.deliver() + b.deliver();
      if (n === 0) break;
      total += n;
    }
    return total;
  }

  close(): Promise<void> {
    this.closed = true;
    this.receiver = undefined;
    this.queue = [];
    this.queueFlags = [];
    return Promise.resolve();
  }

  private enqueue(frame: Uint8Array, flags: number): void {
    if (this.closed || this.queue.length >= this.queueLimit) {
      this.dropped++;
      return;
    }
    this.queue.push(frame);
    this.queueFlags.push(flags);
    if (this.auto && this.receiver !== undefined) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.deliver();
    });
  }
}
