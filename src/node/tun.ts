/**
 * TUN/TAP devices as `Link`s, and configuration of the kernel side of a device.
 *
 * A `TunLink` owns the device's queue fds through the native addon (native/addon.cc):
 * - Receive: one ArrayBuffer of fixed-size slots, shared by every queue of the device, and a
 *   Uint32Array of lengths are handed to the addon once. Per batch (up to 64 packets read until
 *   EAGAIN) the addon calls back once; we hand each packet to the receiver as a view into its
 *   slot, then call `flush()`. No copy, no allocation besides the view object. Sharing one
 *   buffer between queues is safe: batches are delivered one at a time on the JS thread, and a
 *   frame is only valid until its batch's flush() returns.
 * - Transmit: `send` copies the frame into a transmit ArrayBuffer and records (offset, length)
 *   in a table; ONE native writeBatch per microtask turn (or when the buffer is full) writes
 *   them all, one write() per packet. A packet the kernel has no room for is dropped and counted,
 *   never retried and never blocking. With `txThread`, the buffer is split into regions and a
 *   native writer thread does the write()s of a submitted region while the stack fills the
 *   next: each write() runs the kernel's receive path for the packet (IP, TCP, waking the
 *   reader), which then overlaps with the stack's JavaScript on another core.
 *
 * With `vnetHdr`, every frame on the device starts with a `vnetHdrSize`-byte virtio_net_hdr
 * (see VIRTIO_NET_HDR_*). The link reads and writes it itself: a received frame reaches the
 * receiver without it, with `RxFlags` saying what the header said (CSUM_VALID for a partial or
 * already verified checksum, GSO for a super-packet of up to 64 KiB); a frame sent with a
 * `TxOffload` gets a header asking the kernel to complete its checksum and cut it into
 * segments (TSO), one sent without gets an all-zero header (a plain packet). `keepVnetHdr`
 * turns this off: frames then carry the raw header in both directions, for callers that
 * handle it themselves.
 */
import { GsoType, RxFlags, type Link, type LinkKind, type LinkOffloads, type LinkReceiver, type TxOffload } from '../link/link.js';
import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { loadNative, type NativeDevice, type NativeLinkInfo, type NativeTunQueue } from './addon.js';

/** TUNSETOFFLOAD flags: which offloaded packets the kernel may hand to user space. */
export interface TunOffloads {
  /** TUN_F_CSUM: packets with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  csum?: boolean;
  /** TUN_F_TSO4: TCP/IPv4 GSO super-packets (needs csum). */
  tso4?: boolean;
  /** TUN_F_TSO6: TCP/IPv6 GSO super-packets (needs csum). */
  tso6?: boolean;
  /** TUN_F_TSO_ECN: TSO packets with CWR set. */
  tsoEcn?: boolean;
  /** TUN_F_USO4: UDP GSO over IPv4 (Linux 6.2+; needs csum and uso6). */
  uso4?: boolean;
  /** TUN_F_USO6: UDP GSO over IPv6 (Linux 6.2+; needs csum and uso4). */
  uso6?: boolean;
}

export interface TunOptions {
  /** Device name (at most 15 bytes), or a template such as 'tun%d'; default 'tun%d'/'tap%d'. */
  name?: string;
  /** A TAP device (Ethernet frames) instead of TUN (IP packets). */
  tap?: boolean;
  /** Sets the device MTU; default: keep the device's (1500 for a new device). */
  mtu?: number;
  /** Make the device persistent (TUNSETPERSIST): it survives close() and process exit. */
  persist?: boolean;
  /** Fail with EBUSY if a device of that name already exists (IFF_TUN_EXCL). */
  exclusive?: boolean;
  /** The device must already exist (e.g. `ip tuntap add dev tun0 mode tun user $USER`). */
  attach?: boolean;
  /** Open this many queues (IFF_MULTI_QUEUE); the kernel spreads flows over them. */
  multiQueue?: number;
  /** IFF_VNET_HDR: frames start with a virtio_net_hdr in both directions. */
  vnetHdr?: boolean;
  /** 10 (struct virtio_net_hdr, the kernel default) or 12 (virtio_net_hdr_mrg_rxbuf). Default 10. */
  vnetHdrSize?: 10 | 12;
  /**
   * With vnetHdr: hand frames to the receiver WITH the raw virtio_net_hdr in front, and expect
   * `send` callers to put one in front of theirs (no RxFlags, no `offloads`). Default false:
   * the link handles the header.
   */
  keepVnetHdr?: boolean;
  /**
   * With vnetHdr (and not keepVnetHdr): advertise transmit offloads (`link.offloads`: checksum
   * completion and TSO4/TSO6, which the kernel accepts from any IFF_VNET_HDR writer). Default true.
   */
  txOffloads?: boolean;
  /** Offloads to enable (needs vnetHdr); reset to none on close(). */
  offloads?: TunOffloads;
  /** The stack's own MAC address on a TAP link; default 02:00:00:00:00:02. */
  mac?: Uint8Array;
  /** A network namespace (name under /var/run/netns, or a path) to create the device in. */
  netns?: string;
  /** Packets read per batch, at most (default 64). */
  rxBatch?: number;
  /**
   * Write packets from a native writer thread (see the module comment). Default: on when the
   * machine has more than one CPU (environment NETSTACK_TX_THREAD=0/1 overrides). Statistics
   * then trail by at most the batches in flight.
   */
  txThread?: boolean;
}

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  /** Batches delivered to the receiver (rxPackets / rxBatches is the mean batch size). */
  rxBatches: number;
  /** Read errors; reading stops after one (see TunLink.onError). */
  rxErrors: number;
  /** Exceptions thrown by the receiver (they are caught: a receive path never throws). */
  receiverErrors: number;
  txPackets: number;
  txBytes: number;
  /** Packets dropped because the kernel had no room (EAGAIN, ENOBUFS), or sent after close. */
  txDrops: number;
  /** Packets the kernel refused otherwise (e.g. EINVAL for a malformed packet, EIO). */
  txErrors: number;
  /** Received GSO super-packets (vnetHdr), handed to the receiver whole. */
  rxGso: number;
  /** Received frames dropped by the link: shorter than the virtio_net_hdr, or a GSO type the stack cannot take (UDP). */
  rxDropped: number;
  /** Super-segments sent for the kernel to cut (TSO). */
  txGso: number;
}

/** virtio_net_hdr fields and values (linux/virtio_net.h), for links opened with vnetHdr. */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** The parsed virtio_net_hdr (little-endian fields: the kernel's default for TUN on x86/arm). */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

export function parseVnetHdr(frame: Uint8Array): VnetHdr {
  const le16 = (o: number): number => frame[o]! | (frame[o + 1]! << 8);
  return { flags: frame[0]!, gsoType: frame[1]!, hdrLen: le16(2), gsoSize: le16(4), csumStart: le16(6), csumOffset: le16(8) };
}

export const DEFAULT_TAP_MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x02);

/** Packets read per wake-up: the batch size measured to double throughput over per-packet calls. */
const DEFAULT_RX_BATCH = 64;
/** Transmit entries per writeBatch call (per region with the writer thread). */
const TX_ENTRIES = 512;
/** Regions of the transmit buffer with the writer thread: one being filled, the rest in flight. */
const TX_REGIONS = 4;
/** Largest packet the kernel hands over: 64 KiB GSO super-packets (gso_max_size 65536). */
const MAX_PACKET = 65536;
/** Ethernet header with one VLAN tag, on TAP. */
const ETH_OVERHEAD = 18;
/** Largest IP packet a TSO super-segment may be (gso_max_size is 65536; IPv4 Total Length stops at 65535). */
const MAX_GSO_BYTES = 65535;

/** The TUNSETOFFLOAD mask for `offloads`. */
export function offloadFlags(offloads: TunOffloads | undefined): number {
  if (!offloads) return 0;
  const F = loadNative().TUN_F;
  return (
    (offloads.csum ? F.CSUM : 0) |
    (offloads.tso4 ? F.TSO4 : 0) |
    (offloads.tso6 ? F.TSO6 : 0) |
    (offloads.tsoEcn ? F.TSO_ECN : 0) |
    (offloads.uso4 ? F.USO4 : 0) |
    (offloads.uso6 ? F.USO6 : 0)
  );
}

/**
 * The writer thread pays off only with a second CPU to run the kernel's share on.
 * NETSTACK_TX_THREAD=0 or 1 overrides (for measurements).
 */
function defaultTxThread(): boolean {
  const env = process.env.NETSTACK_TX_THREAD;
  if (env === '0' || env === '1') return env === '1';
  return availableParallelism() > 1;
}

function einval(message: string): Error {
  return Object.assign(new Error(message), { code: 'EINVAL' });
}

/**
 * Opens (creating if needed) a TUN or TAP device. Nothing arrives until `attach(receiver)`.
 * Throws errors with `code` ('EPERM', 'EBUSY', 'ENODEV', 'ENOENT', 'EINVAL', ...) and a message
 * that names the cause and the remedy.
 */
export function openTun(options: TunOptions = {}): TunLink {
  const queues = options.multiQueue ?? 1;
  if (!Number.isInteger(queues) || queues < 1 || queues > 256) throw einval('multiQueue must be an integer in 1..256');
  if (options.mac !== undefined && options.mac.length !== 6) throw einval('mac must be 6 bytes');
  const rxBatch = options.rxBatch ?? DEFAULT_RX_BATCH;
  if (!Number.isInteger(rxBatch) || rxBatch < 1 || rxBatch > 4096) throw einval('rxBatch must be an integer in 1..4096');
  const offloads = offloadFlags(options.offloads);
  if (offloads !== 0 && !options.vnetHdr) {
    throw einval('offloads need vnetHdr: without the virtio-net header user space cannot see partial checksums or GSO');
  }
  const native = loadNative();
  const dev = native.open({
    name: options.name,
    tap: options.tap === true,
    persist: options.persist === true,
    exclusive: options.exclusive === true,
    attach: options.attach === true,
    queues,
    multiQueue: options.multiQueue !== undefined && options.multiQueue > 1,
    vnetHdr: options.vnetHdr === true,
    vnetHdrSize: options.vnetHdrSize ?? 10,
    offloads,
    mtu: options.mtu,
    netns: options.netns,
  });
  const link = new TunLink(dev, options, rxBatch, offloads);
  trackOpen(link);
  return link;
}

/**
 * Links not yet closed, closed on process exit. Offloads are device state that outlives the
 * process (on a persistent device the next user would get partial checksums without a header
 * to say so), and process.exit() skips the addon's environment cleanup hooks; 'exit'
 * listeners run both on process.exit() and when the event loop empties.
 *
 * Held weakly, so that a link dropped without close() can still be collected (the addon then
 * closes its fds and resets offloads in the finalizer).
 */
const openRefs = new Set<WeakRef<TunLink>>();
const linkRefs = new WeakMap<TunLink, WeakRef<TunLink>>();
const forgetCollected = new FinalizationRegistry<WeakRef<TunLink>>((ref) => openRefs.delete(ref));
let exitHookInstalled = false;

function trackOpen(link: TunLink): void {
  const ref = new WeakRef(link);
  openRefs.add(ref);
  linkRefs.set(link, ref);
  forgetCollected.register(link, ref);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const r of [...openRefs]) void r.deref()?.close();
  });
}

function untrack(link: TunLink): void {
  const ref = linkRefs.get(link);
  if (ref) openRefs.delete(ref);
}

export class TunLink implements Link {
  readonly kind: LinkKind;
  readonly mtu: number;
  /** The stack's own MAC on a TAP link (the `mac` option); undefined for TUN. */
  readonly mac: Uint8Array | undefined;
  /** The kernel side's MAC address on a TAP link when it was opened; undefined for TUN. */
  readonly deviceMac: Uint8Array | undefined;
  readonly name: string;
  readonly ifindex: number;
  readonly netns: string | undefined;
  /** Bytes of virtio_net_hdr in front of every frame on the device; 0 without vnetHdr. */
  readonly vnetHdrSize: number;
  /** Enabled TUNSETOFFLOAD flags (what the kernel may hand us: partial checksums, TSO super-packets). */
  offloadFlags: number;
  /** Transmit offloads (Link.offloads): with vnetHdr, unless keepVnetHdr or txOffloads: false. */
  readonly offloads: LinkOffloads | undefined;
  /** Counters. With the writer thread, reading them waits for what it holds to be written. */
  get stats(): TunStats {
    if (this.txThreaded) {
      if (!this.closed) this.queues[0]!.drain();
      this.readTxStatus();
    }
    return this.st;
  }
  private readonly st: TunStats = {
    rxPackets: 0,
    rxBytes: 0,
    rxBatches: 0,
    rxErrors: 0,
    receiverErrors: 0,
    txPackets: 0,
    txBytes: 0,
    txDrops: 0,
    txErrors: 0,
    rxGso: 0,
    rxDropped: 0,
    txGso: 0,
  };
  /** The last exception thrown by the receiver, for diagnostics. */
  lastReceiverError: unknown;
  /**
   * Called when reading fails (e.g. the device was deleted); reading has stopped then. Without
   * a handler the error becomes a process warning.
   */
  onError: ((err: NodeJS.ErrnoException) => void) | undefined;

  private readonly queues: NativeTunQueue[];
  private receiver: LinkReceiver | undefined;
  private reading = false;
  private closed = false;

  /** The link reads and writes the virtio_net_hdr (vnetHdr without keepVnetHdr): its size, else 0. */
  private readonly hdr: number;
  private readonly slotSize: number;
  private readonly rxBatch: number;
  private rxBuffer: ArrayBuffer | undefined;
  private rxBytes: Uint8Array | undefined;
  private rxLengths: Uint32Array | undefined;

  private readonly txBuffer: ArrayBuffer;
  private readonly txBytes: Uint8Array;
  private readonly txTable: Uint32Array;
  private txCount = 0;
  private txUsed = 0;
  private txPendingBytes = 0;
  /** Writer thread: the region being filled, its start in the buffer and its size; status words. */
  private readonly txThreaded: boolean;
  private txRegion = 0;
  private txBase = 0;
  private readonly txRegionSize: number;
  private readonly txStatus = new Uint32Array(4);
  private readonly txSeen = [0, 0, 0];
  private txScheduled = false;
  private txDroppedSeen = 0;
  private txErrorsSeen = 0;
  private readonly flushTask = (): void => {
    this.txScheduled = false;
    this.flushTx();
  };

  /** Use openTun(). */
  constructor(dev: NativeDevice, options: TunOptions, rxBatch: number, offloads: number) {
    const tap = options.tap === true;
    this.kind = tap ? 'ethernet' : 'ip';
    this.mtu = dev.mtu;
    this.mac = tap ? new Uint8Array(options.mac ?? DEFAULT_TAP_MAC) : undefined;
    this.deviceMac = tap && dev.mac ? dev.mac : undefined;
    this.name = dev.name;
    this.ifindex = dev.ifindex;
    this.netns = options.netns;
    this.vnetHdrSize = options.vnetHdr ? (options.vnetHdrSize ?? 10) : 0;
    this.offloadFlags = offloads;
    this.hdr = options.keepVnetHdr ? 0 : this.vnetHdrSize;
    this.offloads =
      this.hdr > 0 && options.txOffloads !== false
        ? Object.freeze({ txCsum: true, tso4: true, tso6: true, maxGsoBytes: MAX_GSO_BYTES })
        : undefined;
    this.queues = dev.queues;
    this.rxBatch = rxBatch;
    // A read shorter than the packet is cut silently, so a slot holds the largest packet the
    // kernel can produce whatever the MTU (it may change under us), 64-byte aligned.
    this.slotSize = (this.vnetHdrSize + MAX_PACKET + (tap ? ETH_OVERHEAD : 0) + 63) & ~63;
    this.txThreaded = options.txThread ?? defaultTxThread();
    const regions = this.txThreaded ? TX_REGIONS : 1;
    // A region holds at least two of the largest frames (a 64 KiB super-segment plus header).
    this.txRegionSize = this.txThreaded ? Math.max(1 << 20, 2 * this.slotSize) : Math.max(1 << 20, 4 * this.slotSize);
    this.txBuffer = new ArrayBuffer(regions * this.txRegionSize);
    this.txBytes = new Uint8Array(this.txBuffer);
    this.txTable = new Uint32Array(2 * TX_ENTRIES * regions);
    this.queues[0]!.setupTx(this.txBuffer, this.txTable);
    if (this.txThreaded) this.queues[0]!.startTxThread(regions, TX_ENTRIES, this.txStatus);
  }

  /** Number of queues (fds) of the device. */
  get queueCount(): number {
    return this.queues.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  attach(receiver: LinkReceiver): void {
    if (this.closed) throw Object.assign(new Error(`${this.name} is closed`), { code: 'EBADF' });
    this.receiver = receiver;
    if (this.reading) return;
    this.reading = true;
    this.rxBuffer = new ArrayBuffer(this.slotSize * this.rxBatch);
    this.rxBytes = new Uint8Array(this.rxBuffer);
    this.rxLengths = new Uint32Array(this.rxBatch);
    const onBatch = (count: number): void => this.deliver(count);
    const onError = (err: NodeJS.ErrnoException): void => this.readFailed(err);
    for (const q of this.queues) q.startReading(this.rxBuffer, this.slotSize, this.rxBatch, this.rxLengths, onBatch, onError);
  }

  /** Stops reading (the kernel queues, then drops, packets meanwhile); the link no longer keeps the process alive. */
  pause(): void {
    if (this.closed || !this.reading) return;
    for (const q of this.queues) q.pause();
  }

  resume(): void {
    if (this.closed || !this.reading) return;
    for (const q of this.queues) q.resume();
  }

  send(frame: Uint8Array, offload?: TxOffload): void {
    if (this.closed) {
      this.st.txDrops++;
      return;
    }
    const hdr = this.hdr;
    const len = frame.length + hdr;
    if (len > this.txRegionSize) {
      if (hdr > 0) {
        // Far past any packet size: the kernel would refuse it too.
        this.st.txErrors++;
        return;
      }
      // Larger than the whole transmit buffer: cannot be a valid packet, but let the kernel say so.
      this.flushTx();
      this.countWrites(1, this.queues[0]!.write(frame) ? 1 : 0, len);
      return;
    }
    if (this.txCount === TX_ENTRIES || this.txUsed + len > this.txRegionSize) this.flushTx();
    const at = this.txBase + this.txUsed;
    if (hdr > 0) this.writeVnetHdr(at, offload);
    this.txBytes.set(frame, at + hdr);
    const i = (this.txRegion * TX_ENTRIES + this.txCount) * 2;
    this.txTable[i] = at;
    this.txTable[i + 1] = len;
    this.txCount++;
    this.txUsed += len;
    this.txPendingBytes += len;
    if (!this.txScheduled) {
      this.txScheduled = true;
      queueMicrotask(this.flushTask);
    }
  }

  /**
   * The virtio_net_hdr (little-endian) for a frame at `at` in the transmit buffer: all zeros for
   * a plain packet; NEEDS_CSUM with csum_start/offset for a partial checksum; plus gso_type,
   * gso_size and hdr_len for a super-segment the kernel cuts (virtio spec §5.1.6.2).
   */
  private writeVnetHdr(at: number, o: TxOffload | undefined): void {
    const b = this.txBytes;
    if (o === undefined) {
      b.fill(0, at, at + this.hdr);
      return;
    }
    const gso = o.gsoType;
    const hdrLen = o.l4Offset + o.l4HeaderLength;
    const csumStart = o.l4Offset;
    b[at] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    b[at + 1] = gso;
    b[at + 2] = hdrLen & 0xff;
    b[at + 3] = hdrLen >>> 8;
    b[at + 4] = o.gsoSize & 0xff;
    b[at + 5] = o.gsoSize >>> 8;
    b[at + 6] = csumStart & 0xff;
    b[at + 7] = csumStart >>> 8;
    b[at + 8] = o.csumOffset & 0xff;
    b[at + 9] = o.csumOffset >>> 8;
    if (this.hdr === 12) {
      b[at + 10] = 0; // num_buffers (mergeable rx buffers only)
      b[at + 11] = 0;
    }
    if (gso !== GsoType.NONE) this.st.txGso++;
  }

  /** Writes queued frames now instead of at the end of the current microtask turn. */
  flushTx(): void {
    const count = this.txCount;
    if (count === 0) return;
    const bytes = this.txPendingBytes;
    this.txCount = 0;
    this.txUsed = 0;
    this.txPendingBytes = 0;
    const q = this.queues[0]!;
    if (!this.txThreaded) {
      this.countWrites(count, q.writeBatch(count), bytes);
      return;
    }
    q.submit(this.txRegion, count);
    this.st.txBytes += bytes;
    this.txRegion = (this.txRegion + 1) % TX_REGIONS;
    this.txBase = this.txRegion * this.txRegionSize;
    // Waits only when the writer thread is a whole ring of regions behind.
    q.acquire(this.txRegion);
    this.readTxStatus();
  }

  /** Writer thread: folds its counters (written, dropped, errors; 32-bit, wrapping) into stats. */
  private readTxStatus(): void {
    const st = this.txStatus;
    const seen = this.txSeen;
    const w = (st[0]! - seen[0]!) >>> 0;
    const d = (st[1]! - seen[1]!) >>> 0;
    const e = (st[2]! - seen[2]!) >>> 0;
    if ((w | d | e) === 0) return;
    seen[0] = st[0]!;
    seen[1] = st[1]!;
    seen[2] = st[2]!;
    this.st.txPackets += w;
    this.st.txDrops += d;
    this.st.txErrors += e;
  }

  /** TUNSETPERSIST: a persistent device survives close(); `setPersist(false)` then close() deletes it. */
  setPersist(on: boolean): void {
    this.requireOpen();
    this.queues[0]!.setPersist(on);
  }

  /** TUNSETOFFLOAD (needs vnetHdr). */
  setOffloads(offloads: TunOffloads): void {
    this.requireOpen();
    const flags = offloadFlags(offloads);
    if (flags !== 0 && this.vnetHdrSize === 0) throw einval('offloads need vnetHdr');
    this.queues[0]!.setOffload(flags);
    this.offloadFlags = flags;
  }

  /** Writes pending frames, stops reading, resets offloads, closes the fds. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.flushTx();
      this.closed = true;
      this.receiver = undefined;
      // Offloads are device state that outlives the fd (they matter on a persistent device).
      // Closing the first queue also ends the writer thread once it wrote what it holds.
      for (const q of this.queues) q.close(true);
      if (this.txThreaded) this.readTxStatus();
      untrack(this);
    }
    return Promise.resolve();
  }

  private countWrites(count: number, written: number, bytes: number): void {
    if (written === count) {
      this.st.txPackets += count;
      this.st.txBytes += bytes;
      return;
    }
    // Some failed: the native counters say how (bytes are then approximate: all but the failed).
    this.st.txPackets += written;
    this.st.txBytes += count === 0 ? 0 : Math.round((bytes * written) / count);
    const [dropped, errors] = this.queues[0]!.txCounters();
    this.st.txDrops += dropped - this.txDroppedSeen;
    this.st.txErrors += errors - this.txErrorsSeen;
    this.txDroppedSeen = dropped;
    this.txErrorsSeen = errors;
  }

  private deliver(count: number): void {
    const receiver = this.receiver;
    const buf = this.rxBuffer!;
    const lengths = this.rxLengths!;
    if (receiver === undefined) return; // closed during this batch
    this.st.rxBatches++;
    const hdr = this.hdr;
    for (let i = 0; i < count && !this.closed; i++) {
      const len = lengths[i]!;
      this.st.rxPackets++;
      this.st.rxBytes += len;
      const at = i * this.slotSize;
      let flags = 0;
      if (hdr > 0) {
        if (len < hdr) {
          this.st.rxDropped++;
          continue;
        }
        flags = this.rxFlags(at);
        if (flags < 0) {
          this.st.rxDropped++;
          continue;
        }
      }
      try {
        receiver.receive(new Uint8Array(buf, at + hdr, len - hdr), flags);
      } catch (e) {
        this.receiverFailed(e);
      }
    }
    try {
      receiver.flush();
    } catch (e) {
      this.receiverFailed(e);
    }
  }

  /**
   * RxFlags from the virtio_net_hdr at `at` in the receive buffer, or -1 for a frame the stack
   * cannot take whole: a UDP super-packet (USO, only if enabled by hand) would lose its
   * datagram boundaries.
   */
  private rxFlags(at: number): number {
    const b = this.rxBytes!;
    const f = b[at]!;
    let flags = (f & (VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID)) !== 0 ? RxFlags.CSUM_VALID : 0;
    const gso = b[at + 1]! & ~GsoType.ECN;
    if (gso !== GsoType.NONE) {
      if (gso !== GsoType.TCPV4 && gso !== GsoType.TCPV6) return -1;
      this.st.rxGso++;
      flags |= RxFlags.GSO;
    }
    return flags;
  }

  private receiverFailed(e: unknown): void {
    this.st.receiverErrors++;
    this.lastReceiverError = e;
  }

  private readFailed(err: NodeJS.ErrnoException): void {
    this.st.rxErrors++;
    if (this.onError) {
      try {
        this.onError(err);
      } catch (e) {
        this.receiverFailed(e);
      }
    } else {
      process.emitWarning(err);
    }
  }

  private requireOpen(): void {
    if (this.closed) throw Object.assign(new Error(`${this.name} is closed`), { code: 'EBADF' });
  }
}

/** An address with its prefix length, e.g. '10.0.0.1/24' or 'fd00::1/64'. */
export interface Cidr {
  family: 4 | 6;
  bytes: Uint8Array;
  prefixLength: number;
}

/** Parses 'a.b.c.d/n' or an IPv6 address '/n'; throws an EINVAL error. */
export function parseCidr(text: string): Cidr {
  const slash = text.lastIndexOf('/');
  if (slash < 0) throw einval(`address '${text}' needs a prefix length, e.g. 10.0.0.1/24 or fd00::1/64`);
  const addr = text.slice(0, slash);
  const plen = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(plen)) throw einval(`bad prefix length in '${text}'`);
  const prefixLength = Number(plen);
  if (isIPv4(addr)) {
    if (prefixLength > 32) throw einval(`prefix length above 32 in '${text}'`);
    return { family: 4, bytes: Uint8Array.from(addr.split('.').map(Number)), prefixLength };
  }
  if (isIPv6(addr)) {
    if (prefixLength > 128) throw einval(`prefix length above 128 in '${text}'`);
    return { family: 6, bytes: parseIPv6(addr), prefixLength };
  }
  throw einval(`'${addr}' is not an IPv4 or IPv6 address (in '${text}')`);
}

/** Text to 16 bytes; the text has passed net.isIPv6 (zone ids are not allowed here). */
function parseIPv6(text: string): Uint8Array {
  if (text.includes('%')) throw einval(`zone ids are not allowed in an interface address: '${text}'`);
  const out = new Uint8Array(16);
  const toWords = (part: string): number[] => {
    if (part === '') return [];
    const words: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const b = piece.split('.').map(Number);
        words.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else {
        words.push(parseInt(piece, 16));
      }
    }
    return words;
  };
  const dbl = text.indexOf('::');
  const head = toWords(dbl < 0 ? text : text.slice(0, dbl));
  const tail = dbl < 0 ? [] : toWords(text.slice(dbl + 2));
  const words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  words.forEach((w, i) => {
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

export interface DeviceConfig {
  up?: boolean;
  mtu?: number;
  /** The kernel side's MAC address (TAP). */
  mac?: Uint8Array;
  /** Addresses for the kernel side, e.g. '10.0.0.1/24', 'fd00::1/64' (IPv6 without DAD). */
  addresses?: string[];
  netns?: string;
}

/**
 * Configures the kernel side of a device through rtnetlink (like `ip link set` and
 * `ip addr replace`): MTU and MAC first, then addresses, then the link state.
 */
export function configureDevice(name: string, config: DeviceConfig): void {
  const native = loadNative();
  // Parse everything before changing anything.
  const addresses = (config.addresses ?? []).map(parseCidr);
  if (config.mac !== undefined && config.mac.length !== 6) throw einval('mac must be 6 bytes');
  if (config.mtu !== undefined || config.mac !== undefined) {
    native.setLink(name, { mtu: config.mtu, mac: config.mac }, config.netns);
  }
  for (const a of addresses) native.addAddress(name, a.family, a.bytes, a.prefixLength, config.netns);
  if (config.up !== undefined) native.setLink(name, { up: config.up }, config.netns);
}

/** Deletes a network interface (RTM_DELLINK), e.g. a persistent TUN/TAP device. */
export function deleteDevice(name: string, netns?: string): void {
  loadNative().deleteLink(name, netns);
}

/** The interface's index; throws an ENODEV error if there is none of that name. */
export function ifIndex(name: string, netns?: string): number {
  const info = loadNative().linkInfo(name, netns);
  if (info === null) {
    throw Object.assign(new Error(`no such network interface: ${name}${netns ? ` in network namespace ${netns}` : ''} (ENODEV)`), {
      code: 'ENODEV',
    });
  }
  return info.ifindex;
}

/** Index, MTU, flags, MAC and kind of an interface, or null if there is none of that name. */
export function linkInfo(name: string, netns?: string): NativeLinkInfo | null {
  return loadNative().linkInfo(name, netns);
}
