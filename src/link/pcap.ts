/**
 * A `Link` wrapper that records every frame, in both directions, in the classic pcap format
 * (https://www.tcpdump.org/manpages/pcap-savefile.5.html), readable by tcpdump and Wireshark.
 *
 * Part of the core: no Node imports. Bytes go to a `PcapSink` (src/node/pcap-file.ts writes a
 * file), and timestamps come from a wall-clock parameter (pcap timestamps are wall-clock time,
 * which the core does not read by itself).
 */
import type { Link, LinkKind, LinkOffloads, LinkReceiver, TxOffload } from './link.js';

export interface PcapSink {
  /** Appends bytes. `bytes` is valid only during the call: a sink that keeps them copies. */
  write(bytes: Uint8Array): void;
  close(): Promise<void>;
}

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_SNAPLEN = 262144;
/** LINKTYPE_ETHERNET */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: raw IPv4 or IPv6, told apart by the version nibble. */
export const LINKTYPE_RAW = 101;

export function pcapLinkType(kind: LinkKind): number {
  return kind === 'ethernet' ? LINKTYPE_ETHERNET : LINKTYPE_RAW;
}

/** The 24-byte file header (little-endian, like the record headers). */
export function pcapFileHeader(linkType: number, snaplen = PCAP_SNAPLEN): Uint8Array {
  const h = new Uint8Array(24);
  const v = new DataView(h.buffer);
  v.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
  v.setUint16(4, 2, true); // version 2.4
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true); // thiszone: timestamps are UTC
  v.setUint32(12, 0, true); // sigfigs
  v.setUint32(16, snaplen, true);
  v.setUint32(20, linkType, true);
  return h;
}

export interface PcapRecorderOptions {
  /** Leading bytes of every frame that are not part of it, e.g. a TUN link's virtio_net_hdr. */
  strip?: number;
  snaplen?: number;
}

export class PcapRecorder implements Link {
  /** Records written. */
  records = 0;
  private readonly recordHeader = new Uint8Array(16);
  private readonly headerView = new DataView(this.recordHeader.buffer);
  private readonly strip: number;
  private readonly snaplen: number;
  private closed = false;

  constructor(
    private readonly inner: Link,
    private readonly sink: PcapSink,
    /** Wall-clock milliseconds since the Unix epoch; default Date.now (an ECMAScript global). */
    private readonly wallClockMs: () => number = () => Date.now(),
    options: PcapRecorderOptions = {},
  ) {
    this.strip = options.strip ?? 0;
    this.snaplen = options.snaplen ?? PCAP_SNAPLEN;
    sink.write(pcapFileHeader(pcapLinkType(inner.kind), this.snaplen));
  }

  get kind(): LinkKind {
    return this.inner.kind;
  }
  get mtu(): number {
    return this.inner.mtu;
  }
  get mac(): Uint8Array | undefined {
    return this.inner.mac;
  }
  /** The inner link's offloads: super-segments and partial checksums are recorded as sent. */
  get offloads(): LinkOffloads | undefined {
    return this.inner.offloads;
  }

  attach(receiver: LinkReceiver): void {
    this.inner.attach({
      receive: (frame, flags) => {
        this.record(frame);
        receiver.receive(frame, flags);
      },
      flush: () => receiver.flush(),
    });
  }

  send(frame: Uint8Array, offload?: TxOffload): void {
    this.record(frame);
    this.inner.send(frame, offload);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.inner.close();
    await this.sink.close();
  }

  private record(frame: Uint8Array): void {
    if (this.closed) return;
    const data = this.strip > 0 ? frame.subarray(Math.min(this.strip, frame.length)) : frame;
    const incl = Math.min(data.length, this.snaplen);
    const ms = this.wallClockMs();
    let sec = Math.floor(ms / 1000);
    let usec = Math.floor((ms - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    const v = this.headerView;
    v.setUint32(0, sec >>> 0, true);
    v.setUint32(4, usec, true);
    v.setUint32(8, incl, true);
    v.setUint32(12, data.length, true);
    this.sink.write(this.recordHeader);
    this.sink.write(incl === data.length ? data : data.subarray(0, incl));
    this.records++;
  }
}
