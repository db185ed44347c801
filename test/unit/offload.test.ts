/**
 * Transmit and receive offloads without a device:
 * - two Stacks on a virtual clock joined by a test wire. Stack A's link advertises checksum
 *   offload and TSO; the wire does what the kernel does with a frame written with a
 *   virtio_net_hdr (a reference implementation written here, independently of src/ip/gso.ts):
 *   cut a super-segment into gso_size pieces and complete every checksum. The peer B sees
 *   only ordinary segments, each checked here (size, checksum) before delivery.
 * - the other way, the wire hands B's super-segments to A whole with RxFlags (the kernel's TSO
 *   to user space): A must take a TCP/IP packet larger than the MTU and a segment larger than
 *   the MSS, trusting the flagged partial checksum — and must not without the flag.
 * - src/ip/gso.ts (software segmentation, used when a link cannot) against the reference.
 * - TunLink's virtio_net_hdr bytes on transmit and their parsing on receive, with a fake
 *   native queue (no device needed).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../../src/stack.js';
import { SeededRandom, VirtualClock } from '../../src/core/clock.js';
import { GsoType, RxFlags, type Link, type LinkOffloads, type LinkReceiver, type TxOffload } from '../../src/link/link.js';
import { completeChecksum, segmentTcp } from '../../src/ip/gso.js';
import { TunLink } from '../../src/node/tun.js';
import type { NativeDevice, NativeTunQueue } from '../../src/node/addon.js';
import type { TcpSocket } from '../../src/transport/tcp/socket.js';

// ---- an independent reference of the Internet checksum and of the kernel's segmentation --------

/** RFC 1071 sum of 16-bit big-endian words, plainly. */
function onesSum(bytes: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (bytes[i]! << 8) | (i + 1 < end ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

function pseudo(pkt: Uint8Array, l4len: number): number {
  const v4 = pkt[0]! >> 4 === 4;
  return v4 ? onesSum(pkt, 12, 20, 6 + l4len) : onesSum(pkt, 8, 40, 6 + l4len);
}

/** True when the TCP checksum of this IPv4/IPv6 packet (no extension headers) is complete and right. */
function tcpChecksumOk(pkt: Uint8Array): boolean {
  const l4 = pkt[0]! >> 4 === 4 ? (pkt[0]! & 15) * 4 : 40;
  return onesSum(pkt, l4, pkt.length, pseudo(pkt, pkt.length - l4)) === 0xffff;
}

/**
 * What the kernel does with a frame written to a TUN device with a virtio_net_hdr: for
 * NEEDS_CSUM, sum from csum_start to the end (the field holds the pseudo-header part) and store
 * the complement; for GSO, first cut the payload after hdr_len into gso_size pieces, fixing
 * the IP lengths (IPv4: id + i, header checksum), the TCP sequence numbers, FIN/PSH (last
 * piece only) and CWR (first only), and the checksum with each piece's own length.
 */
function kernelSegments(frame: Uint8Array, o: TxOffload): Uint8Array[] {
  const v4 = frame[0]! >> 4 === 4;
  const hdrLen = o.l4Offset + o.l4HeaderLength;
  const csumAt = o.l4Offset + o.csumOffset;
  if (o.gsoType === GsoType.NONE) {
    const p = frame.slice();
    const partial = (p[csumAt]! << 8) | p[csumAt + 1]!;
    p[csumAt] = 0;
    p[csumAt + 1] = 0;
    const c = ~onesSum(p, o.l4Offset, p.length, partial) & 0xffff;
    p[csumAt] = c >> 8;
    p[csumAt + 1] = c & 0xff;
    return [p];
  }
  const out: Uint8Array[] = [];
  const payload = frame.length - hdrLen;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const seq = view.getUint32(o.l4Offset + 4);
  const id = v4 ? view.getUint16(4) : 0;
  for (let off = 0, i = 0; off < payload; off += o.gsoSize, i++) {
    const n = Math.min(o.gsoSize, payload - off);
    const p = new Uint8Array(hdrLen + n);
    p.set(frame.subarray(0, hdrLen));
    p.set(frame.subarray(hdrLen + off, hdrLen + off + n), hdrLen);
    const v = new DataView(p.buffer);
    if (v4) {
      v.setUint16(2, p.length);
      v.setUint16(4, (id + i) & 0xffff);
      v.setUint16(10, 0);
      v.setUint16(10, ~onesSum(p, 0, 20) & 0xffff);
    } else {
      v.setUint16(4, p.length - 40);
    }
    v.setUint32(o.l4Offset + 4, (seq + off) >>> 0);
    let flags = p[o.l4Offset + 13]!;
    if (off + n < payload) flags &= ~0x09; // FIN, PSH
    if (i > 0) flags &= ~0x80; // CWR
    p[o.l4Offset + 13] = flags;
    v.setUint16(csumAt, 0);
    v.setUint16(csumAt, ~onesSum(p, o.l4Offset, p.length, pseudo(p, p.length - o.l4Offset)) & 0xffff);
    out.push(p);
  }
  return out;
}

// ---- a test wire ---------------------------------------------------------------------------------

const TSO: LinkOffloads = Object.freeze({ txCsum: true, tso4: true, tso6: true, maxGsoBytes: 65535 });

interface Sent {
  frame: Uint8Array;
  offload: TxOffload | undefined;
}

class WireLink implements Link {
  readonly kind = 'ip' as const;
  readonly mac = undefined;
  peer!: WireLink;
  receiver: LinkReceiver | undefined;
  queue: Array<{ frame: Uint8Array; flags: number }> = [];
  readonly sent: Sent[] = [];
  /** Frames that reached the peer: after the reference segmentation, or whole. */
  readonly wire: Uint8Array[] = [];
  /** Drop every `dropEvery`-th frame put on the wire (0: none), counted in `dropped`. */
  dropEvery = 0;
  dropped = 0;
  private onWire = 0;
  constructor(
    readonly mtu: number,
    readonly offloads: LinkOffloads | undefined,
    /** How frames with a TxOffload reach the peer: cut by the reference, or whole with RxFlags. */
    readonly mode: 'segment' | 'whole',
  ) {}
  attach(r: LinkReceiver): void {
    this.receiver = r;
  }
  send(frame: Uint8Array, offload?: TxOffload): void {
    const copy = offload ? { ...offload } : undefined;
    this.sent.push({ frame: frame.slice(), offload: copy });
    if (copy === undefined) {
      assert.ok(frame.length <= this.mtu, `a plain frame of ${frame.length} bytes on an MTU ${this.mtu} link`);
      this.deliver(frame.slice(), 0);
    } else if (this.mode === 'segment') {
      for (const seg of kernelSegments(frame, copy)) {
        assert.ok(seg.length <= this.mtu, `a cut segment of ${seg.length} bytes exceeds the MTU`);
        this.deliver(seg, 0);
      }
    } else {
      this.deliver(frame.slice(), RxFlags.CSUM_VALID | (copy.gsoType !== GsoType.NONE ? RxFlags.GSO : 0));
    }
  }
  private deliver(frame: Uint8Array, flags: number): void {
    if (this.dropEvery > 0 && ++this.onWire % this.dropEvery === 0) {
      this.dropped++;
      return;
    }
    this.wire.push(frame);
    this.peer.queue.push({ frame, flags });
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  /** Delivers what is queued as one batch; returns how many frames. */
  pump(): number {
    const q = this.queue;
    this.queue = [];
    for (const f of q) this.receiver?.receive(f.frame, f.flags);
    if (q.length > 0) this.receiver?.flush();
    return q.length;
  }
}

interface Pair {
  clock: VirtualClock;
  a: Stack;
  b: Stack;
  la: WireLink;
  lb: WireLink;
  /** Runs deliveries and timers until nothing moves or `done()`; bounded. */
  run(done: () => boolean): void;
}

function pair(la: WireLink, lb: WireLink): Pair {
  la.peer = lb;
  lb.peer = la;
  const clock = new VirtualClock(1000);
  const a = new Stack({ clock, random: new SeededRandom(1) });
  const b = new Stack({ clock, random: new SeededRandom(2) });
  a.addInterface(la, { addresses: ['10.0.0.1/24', 'fd00::1/64'] });
  b.addInterface(lb, { addresses: ['10.0.0.2/24', 'fd00::2/64'] });
  return {
    clock,
    a,
    b,
    la,
    lb,
    run(done) {
      for (let i = 0; i < 200_000 && !done(); i++) {
        const moved = la.pump() + lb.pump();
        a.poll();
        b.poll();
        if (moved === 0) {
          const next = Math.min(a.nextDeadline() ?? Infinity, b.nextDeadline() ?? Infinity);
          if (next === Infinity) return;
          clock.set(Math.max(next, clock.now() + 0.01));
        } else {
          clock.advance(0.05);
        }
      }
    },
  };
}

function pattern(n: number, seed: number): Uint8Array {
  const d = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    d[i] = x >>> 24;
  }
  return d;
}

/** `from` connects to `to` and sends `data`; returns what `to` received. */
function transfer(p: Pair, from: Stack, to: Stack, family: 4 | 6, data: Uint8Array): Uint8Array {
  const chunks: Uint8Array[] = [];
  let got = 0;
  let ended = false;
  to.tcp.listen({ family, port: 5000 }, (s: TcpSocket) => {
    s.onData = (d) => {
      chunks.push(d.slice());
      got += d.length;
    };
    s.onEnd = () => {
      ended = true;
      s.close();
    };
  });
  const c = from.tcp.connect({ family, remoteAddress: family === 4 ? (to === p.b ? '10.0.0.2' : '10.0.0.1') : to === p.b ? 'fd00::2' : 'fd00::1', remotePort: 5000 });
  let off = 0;
  const pump = (): void => {
    while (off < data.length) {
      const n = c.write(data.subarray(off, Math.min(data.length, off + 256 * 1024)));
      off += n;
      if (n === 0) return;
    }
    c.shutdown();
  };
  c.onConnect = pump;
  c.onDrain = pump;
  p.run(() => ended);
  assert.ok(ended, `the transfer finished (received ${got} of ${data.length})`);
  const out = new Uint8Array(got);
  let o = 0;
  for (const ch of chunks) {
    out.set(ch, o);
    o += ch.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

describe('TSO: a stack on a link with transmit offloads', () => {
  for (const family of [4, 6] as const) {
    test(`IPv${family}: super-segments up to 64 KiB with the header fields the kernel needs; cut by the reference, every segment valid and the data exact`, () => {
      const p = pair(new WireLink(1500, TSO, 'segment'), new WireLink(1500, undefined, 'segment'));
      const data = pattern(3_000_000, family);
      const got = transfer(p, p.a, p.b, family, data);
      assert.ok(equalBytes(got, data), 'B received exactly what A sent');
      const ipHdr = family === 4 ? 20 : 40;
      const gso = p.la.sent.filter((s) => s.offload && s.offload.gsoType !== GsoType.NONE);
      assert.ok(gso.length > 0, 'A sent super-segments');
      let maxLen = 0;
      for (const s of gso) {
        const f = s.frame;
        const o = s.offload!;
        maxLen = Math.max(maxLen, f.length);
        assert.equal(o.gsoType, family === 4 ? GsoType.TCPV4 : GsoType.TCPV6);
        assert.equal(o.l4Offset, ipHdr, 'csum_start: the TCP header');
        assert.equal(o.csumOffset, 16, 'csum_offset: the TCP checksum field');
        const thl = (f[ipHdr + 12]! >> 4) * 4;
        assert.equal(o.l4HeaderLength, thl, 'hdr_len - csum_start: the whole TCP header');
        assert.equal(o.gsoSize, 1500 - ipHdr - thl, 'gso_size: the MSS with these options');
        assert.ok(f.length > 1500 && f.length <= 65535, `super-segment size ${f.length}`);
        const payload = f.length - ipHdr - thl;
        assert.ok(payload > o.gsoSize, 'more than one segment of payload');
        if (family === 4) {
          assert.equal((f[2]! << 8) | f[3]!, f.length, 'IPv4 Total Length of the super-packet');
          assert.equal(f[6]! & 0x40, 0x40, 'DF');
          assert.equal(onesSum(f, 0, 20), 0xffff, 'a valid IPv4 header checksum');
        } else {
          assert.equal((f[4]! << 8) | f[5]!, f.length - 40, 'IPv6 Payload Length of the super-packet');
        }
        // The checksum field carries the pseudo-header sum (not inverted) for the device.
        assert.equal((f[ipHdr + 16]! << 8) | f[ipHdr + 17]!, pseudo(f, f.length - ipHdr), 'partial checksum = pseudo-header sum');
      }
      assert.ok(maxLen > 60_000, `super-segments reach ~64 KiB (largest ${maxLen})`);
      // Once the connection runs, every segment leaves its checksum to the device (the SYN and
      // ACKs sent before the first output() call carry complete checksums).
      const data0 = p.la.sent.findIndex((s) => s.frame.length > ipHdr + (s.frame[ipHdr + 12]! >> 4) * 4);
      assert.ok(data0 > 0);
      for (const s of p.la.sent.slice(data0)) assert.ok(s.offload !== undefined, 'checksum offload for every segment once data flows');
      for (const s of p.la.sent) if (s.offload === undefined) assert.ok(tcpChecksumOk(s.frame), 'the others are complete');
      // What B saw: ordinary segments within the MTU with complete checksums.
      for (const f of p.la.wire) {
        assert.ok(f.length <= 1500);
        assert.ok(tcpChecksumOk(f), 'each cut segment has a complete, valid checksum');
      }
      assert.equal(p.b.counters.snapshot()['drop.tcp.bad_checksum'] ?? 0, 0);
      // B (no offloads) sent only plain, complete segments.
      for (const s of p.lb.sent) {
        assert.equal(s.offload, undefined);
        assert.ok(tcpChecksumOk(s.frame));
      }
    });

    test(`IPv${family}: super-packets received whole (RxFlags GSO + CSUM_VALID) are taken, larger than the MTU and the MSS`, () => {
      // B sends with TSO; the wire hands its super-segments to A whole, as the kernel does.
      const p = pair(new WireLink(1500, undefined, 'segment'), new WireLink(1500, TSO, 'whole'));
      const data = pattern(2_000_000, 10 + family);
      const got = transfer(p, p.b, p.a, family, data);
      assert.ok(equalBytes(got, data), 'A received exactly what B sent');
      const big = p.lb.wire.filter((f) => f.length > 1500);
      assert.ok(big.length > 0, 'A was handed packets larger than the MTU');
      const counters = p.a.counters.snapshot();
      assert.equal(counters['drop.tcp.bad_checksum'] ?? 0, 0);
      // Nothing dropped but duplicates of data already received (a tail loss probe's, RFC 8985 §7).
      const drops = Object.keys(counters).filter((k) => k.startsWith('drop.') && k !== 'drop.total' && k !== 'drop.tcp.old_duplicate');
      assert.deepEqual(drops, [], JSON.stringify(counters));

      // The same super-packet without the flag: its checksum is only the pseudo-header part.
      const sample = big[0]!;
      p.a.receive(p.a.interfaces[0]!, sample.slice(), 0);
      assert.equal(p.a.counters.snapshot()['drop.tcp.bad_checksum'], 1, 'unflagged, the partial checksum fails');
      // Completed by the reference, it passes the checksum (then it is an old duplicate).
      const ipHdr = family === 4 ? 20 : 40;
      const whole = kernelSegments(sample, { gsoType: GsoType.NONE, gsoSize: 0, l4Offset: ipHdr, l4HeaderLength: 0, csumOffset: 16 })[0]!;
      p.a.receive(p.a.interfaces[0]!, whole, 0);
      assert.equal(p.a.counters.snapshot()['drop.tcp.bad_checksum'], 1, 'a completed checksum verifies');
    });
  }

  test('losses among the cut segments of super-segments: SACK/RACK recovery, byte-exact, retransmissions of one MSS', () => {
    const la = new WireLink(1500, TSO, 'segment');
    la.dropEvery = 97;
    const p = pair(la, new WireLink(1500, undefined, 'segment'));
    const data = pattern(4_000_000, 5);
    assert.ok(equalBytes(transfer(p, p.a, p.b, 4, data), data), 'byte-exact despite the losses');
    assert.ok(la.dropped > 10, `segments were lost (${la.dropped})`);
    const retrans = p.a.counters.snapshot()['tcp.retransmits'] ?? 0;
    assert.ok(retrans >= la.dropped && retrans < 4 * la.dropped, `retransmissions ${retrans} for ${la.dropped} losses`);
    // Retransmissions are plain segments within one MSS (never super-segments).
    // A data segment starting below the highest sequence number sent so far is a
    // retransmission (the pieces of super-segments start anywhere, so compare ranges).
    let highest: number | undefined;
    let resent = 0;
    for (const s of la.sent) {
      const f = s.frame;
      const hl = 20 + (f[32]! >> 4) * 4;
      if (f.length <= hl) continue; // no payload
      const seq = new DataView(f.buffer, f.byteOffset).getUint32(20 + 4);
      const end = (seq + f.length - hl) >>> 0;
      if (highest !== undefined && ((seq - highest) | 0) < 0) {
        resent++;
        assert.ok(s.offload === undefined || s.offload.gsoType === GsoType.NONE, 'a resent segment is not a super-segment');
        assert.ok(f.length <= 1500);
      }
      if (highest === undefined || ((end - highest) | 0) > 0) highest = end;
    }
    assert.ok(resent > 0);
  });

  test('without offloads: segments at most one MSS, complete checksums (unchanged behaviour)', () => {
    const p = pair(new WireLink(1500, undefined, 'segment'), new WireLink(1500, undefined, 'segment'));
    const data = pattern(500_000, 7);
    assert.ok(equalBytes(transfer(p, p.a, p.b, 4, data), data));
    for (const s of [...p.la.sent, ...p.lb.sent]) {
      assert.equal(s.offload, undefined);
      assert.ok(s.frame.length <= 1500);
      assert.ok(tcpChecksumOk(s.frame));
    }
  });

  test('UDP and ICMP are unaffected by a link with offloads (complete checksums, no requests)', () => {
    const p = pair(new WireLink(1500, TSO, 'segment'), new WireLink(1500, undefined, 'segment'));
    const got: number[] = [];
    const sb = p.b.udp.open(4);
    sb.bind(undefined, 7000);
    sb.onMessage = (d) => got.push(d.length);
    const sa = p.a.udp.open(4);
    sa.sendTo(new Uint8Array(3000), '10.0.0.2', 7000);
    p.run(() => got.length > 0);
    assert.deepEqual(got, [3000]);
    for (const s of p.la.sent) assert.equal(s.offload, undefined);
  });
});

describe('software offload (src/ip/gso.ts) against the reference', () => {
  /** A TCP super-packet from scratch: IPv4 or IPv6, 32-byte TCP header, `n` payload bytes. */
  function superPacket(family: 4 | 6, n: number, flags: number): { pkt: Uint8Array; o: TxOffload } {
    const ip = family === 4 ? 20 : 40;
    const pkt = new Uint8Array(ip + 32 + n);
    const v = new DataView(pkt.buffer);
    if (family === 4) {
      pkt[0] = 0x45;
      v.setUint16(2, pkt.length);
      v.setUint16(4, 0xfffe); // the id wraps while cutting
      pkt[6] = 0x40;
      pkt[8] = 64;
      pkt[9] = 6;
      v.setUint32(12, 0x0a000001);
      v.setUint32(16, 0x0a000002);
      v.setUint16(10, ~onesSum(pkt, 0, 20) & 0xffff);
    } else {
      pkt[0] = 0x60;
      v.setUint16(4, pkt.length - 40);
      pkt[6] = 6;
      pkt[7] = 64;
      pkt.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
      pkt.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
    }
    v.setUint16(ip, 40000);
    v.setUint16(ip + 2, 80);
    v.setUint32(ip + 4, 0xffffff00); // the sequence number wraps too
    v.setUint32(ip + 8, 12345);
    pkt[ip + 12] = 8 << 4;
    pkt[ip + 13] = flags;
    v.setUint16(ip + 14, 1000);
    pkt.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], ip + 20);
    for (let i = 0; i < n; i++) pkt[ip + 32 + i] = (i * 31 + 7) & 0xff;
    v.setUint16(ip + 16, pseudo(pkt, pkt.length - ip));
    return { pkt, o: { gsoType: family === 4 ? GsoType.TCPV4 : GsoType.TCPV6, gsoSize: 1000, l4Offset: ip, l4HeaderLength: 32, csumOffset: 16 } };
  }

  for (const family of [4, 6] as const) {
    for (const n of [1000, 4500, 10_000]) {
      test(`IPv${family}, ${n} bytes of payload, FIN|PSH|CWR|ACK: the same segments as the reference`, () => {
        const { pkt, o } = superPacket(family, n, 0x80 | 0x10 | 0x08 | 0x01);
        const mine: Uint8Array[] = [];
        const count = segmentTcp(pkt, o, new Uint8Array(65536), (s) => mine.push(s.slice()));
        const ref = kernelSegments(pkt, o);
        assert.equal(count, ref.length);
        assert.equal(mine.length, Math.ceil(n / 1000));
        for (let i = 0; i < ref.length; i++) {
          assert.ok(equalBytes(mine[i]!, ref[i]!), `segment ${i}`);
          assert.ok(tcpChecksumOk(mine[i]!));
        }
        const ipHdr = family === 4 ? 20 : 40;
        assert.equal(mine[0]![ipHdr + 13]! & 0x80, 0x80, 'CWR on the first segment');
        assert.equal(mine.at(-1)![ipHdr + 13]! & 0x09, 0x09, 'FIN and PSH on the last');
        if (mine.length > 1) {
          assert.equal(mine[1]![ipHdr + 13], 0x10, 'only ACK in between');
          assert.equal(mine[0]![ipHdr + 13]! & 0x09, 0);
        }
      });
    }
  }

  test('checksum completion matches the reference (TCP), and UDP never sends zero', () => {
    const { pkt } = superPacket(4, 700, 0x18);
    const o: TxOffload = { gsoType: GsoType.NONE, gsoSize: 0, l4Offset: 20, l4HeaderLength: 32, csumOffset: 16 };
    const ref = kernelSegments(pkt, o)[0]!;
    const mine = pkt.slice();
    completeChecksum(mine, o);
    assert.ok(equalBytes(mine, ref));
    assert.ok(tcpChecksumOk(mine));
  });

  test('a request that does not describe a TCP super-segment is refused (nothing sent)', () => {
    const { pkt, o } = superPacket(4, 3000, 0x10);
    let sent = 0;
    assert.equal(segmentTcp(pkt, { ...o, gsoType: GsoType.TCPV6 }, new Uint8Array(65536), () => sent++), 0);
    assert.equal(segmentTcp(pkt, { ...o, gsoSize: 0 }, new Uint8Array(65536), () => sent++), 0);
    assert.equal(segmentTcp(pkt, { ...o, l4HeaderLength: 70000 }, new Uint8Array(65536), () => sent++), 0);
    assert.equal(sent, 0);
  });
});

describe('TunLink and the virtio_net_hdr (fake native queue)', () => {
  /** A NativeTunQueue that records writeBatch contents and lets the test deliver reads. */
  function fakeDevice(): { dev: NativeDevice; written: Uint8Array[]; read(frames: Uint8Array[]): void } {
    const written: Uint8Array[] = [];
    let tx: Uint8Array | undefined;
    let table: Uint32Array | undefined;
    let rx: { buf: Uint8Array; slot: number; lengths: Uint32Array; onBatch: (n: number) => void } | undefined;
    let perRegion = 0;
    let status: Uint32Array | undefined;
    const q: NativeTunQueue = {
      fd: -1,
      startReading(rxBuffer, slotSize, _count, lengths, onBatch) {
        rx = { buf: new Uint8Array(rxBuffer), slot: slotSize, lengths, onBatch };
      },
      pause() {},
      setQueueEnabled() {},
      resume() {},
      setupTx(buf, t) {
        tx = new Uint8Array(buf);
        table = t;
      },
      writeBatch(count) {
        for (let i = 0; i < count; i++) written.push(tx!.slice(table![2 * i]!, table![2 * i]! + table![2 * i + 1]!));
        return count;
      },
      // The writer thread, done at once on submit.
      startTxThread(_regions, entries, st) {
        perRegion = entries;
        status = st;
      },
      submit(region, count) {
        for (let i = 0; i < count; i++) {
          const e = 2 * (region * perRegion + i);
          written.push(tx!.slice(table![e]!, table![e]! + table![e + 1]!));
        }
        status![0]! += count;
      },
      acquire() {},
      drain() {},
      write(frame) {
        written.push(frame.slice());
        return true;
      },
      txCounters: () => [0, 0, 0],
      setOffload() {},
      setPersist() {},
      close() {},
    };
    const dev: NativeDevice = { name: 'fake0', ifindex: 9, mtu: 1500, mac: null, flags: 0, queues: [q] };
    return {
      dev,
      written,
      read(frames) {
        frames.forEach((f, i) => {
          rx!.buf.set(f, i * rx!.slot);
          rx!.lengths[i] = f.length;
        });
        rx!.onBatch(frames.length);
      },
    };
  }

  for (const [size, txThread] of [[10, false], [12, false], [10, true], [12, true]] as const) {
    test(`${size}-byte header${txThread ? ', writer thread' : ''}: written in front of each frame, parsed off received ones`, () => {
      const fake = fakeDevice();
      const link = new TunLink(fake.dev, { vnetHdr: true, vnetHdrSize: size, txThread }, 64, 0x07);
      assert.deepEqual(link.offloads, { txCsum: true, tso4: true, tso6: true, maxGsoBytes: 65535 });
      const frame = new Uint8Array(3000).fill(0xab);
      link.send(frame, { gsoType: GsoType.TCPV4, gsoSize: 1448, l4Offset: 20, l4HeaderLength: 32, csumOffset: 16 });
      link.send(frame.subarray(0, 100));
      link.send(frame.subarray(0, 60), { gsoType: GsoType.NONE, gsoSize: 0, l4Offset: 40, l4HeaderLength: 20, csumOffset: 16 });
      link.flushTx();
      assert.equal(fake.written.length, 3);
      const h = (w: Uint8Array): number[] => [...w.subarray(0, size)];
      const le = (v: number): number[] => [v & 0xff, v >> 8];
      const tail = size === 12 ? [0, 0] : [];
      // flags NEEDS_CSUM, gso_type, hdr_len, gso_size, csum_start, csum_offset (little-endian).
      assert.deepEqual(h(fake.written[0]!), [1, 1, ...le(52), ...le(1448), ...le(20), ...le(16), ...tail]);
      assert.equal(fake.written[0]!.length, size + 3000);
      assert.deepEqual(h(fake.written[1]!), new Array(size).fill(0), 'a plain frame: all zeros');
      assert.deepEqual(h(fake.written[2]!), [1, 0, ...le(60), 0, 0, ...le(40), ...le(16), ...tail]);
      assert.equal(link.stats.txGso, 1);
      assert.equal(link.stats.txPackets, 3);

      const got: Array<{ len: number; first: number; flags: number }> = [];
      link.attach({ receive: (f, flags = 0) => void got.push({ len: f.length, first: f[0]!, flags }), flush: () => undefined });
      const hdr = (flags: number, gso: number): Uint8Array => {
        const x = new Uint8Array(size);
        x[0] = flags;
        x[1] = gso;
        return x;
      };
      const pkt = new Uint8Array(4000).fill(0x45);
      const withHdr = (x: Uint8Array, p: Uint8Array): Uint8Array => {
        const out = new Uint8Array(x.length + p.length);
        out.set(x);
        out.set(p, x.length);
        return out;
      };
      fake.read([
        withHdr(hdr(1, GsoType.TCPV4), pkt),
        withHdr(hdr(2, 0), pkt.subarray(0, 100)),
        withHdr(hdr(0, 0), pkt.subarray(0, 80)),
        withHdr(hdr(1, GsoType.TCPV6 | GsoType.ECN), pkt),
        withHdr(hdr(1, GsoType.UDP_L4), pkt),
        new Uint8Array(size - 1),
      ]);
      assert.deepEqual(got, [
        { len: 4000, first: 0x45, flags: RxFlags.CSUM_VALID | RxFlags.GSO },
        { len: 100, first: 0x45, flags: RxFlags.CSUM_VALID },
        { len: 80, first: 0x45, flags: 0 },
        { len: 4000, first: 0x45, flags: RxFlags.CSUM_VALID | RxFlags.GSO },
      ]);
      assert.equal(link.stats.rxGso, 2);
      assert.equal(link.stats.rxDropped, 2, 'a UDP super-packet (boundaries would be lost) and a frame shorter than the header');
      void link.close();
    });
  }

  test('keepVnetHdr: frames carry the raw header both ways and no offloads are advertised', () => {
    const fake = fakeDevice();
    const link = new TunLink(fake.dev, { vnetHdr: true, keepVnetHdr: true }, 64, 0);
    assert.equal(link.offloads, undefined);
    const f = new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0x45, 0]);
    link.send(f);
    link.flushTx();
    assert.deepEqual([...fake.written[0]!], [...f]);
    const got: Uint8Array[] = [];
    link.attach({ receive: (x) => void got.push(x.slice()), flush: () => undefined });
    fake.read([f]);
    assert.deepEqual([...got[0]!], [...f]);
    void link.close();
  });

  test('without vnetHdr: no header, no offloads', () => {
    const fake = fakeDevice();
    const link = new TunLink(fake.dev, {}, 64, 0);
    assert.equal(link.offloads, undefined);
    link.send(new Uint8Array([0x45, 1, 2]));
    link.flushTx();
    assert.deepEqual([...fake.written[0]!], [0x45, 1, 2]);
    void link.close();
  });
});
