/**
 * Shared fixtures for the IP/UDP/stack unit tests: two Stacks on a MemoryLink pair, or one
 * Stack facing a "raw peer" (the test) that injects hand-crafted packets and captures output.
 * Deterministic: VirtualClock + SeededRandom; time moves only through `advance()`.
 */
import { VirtualClock, SeededRandom } from '../../src/core/clock.js';
import { MemoryLink } from '../../src/link/memory.js';
import type { LinkKind } from '../../src/link/link.js';
import { Stack, type StackLimits } from '../../src/stack.js';
import { emitIpv4, parseIpv4 as parseIpv4Pkt, type Ipv4Parsed } from '../../src/wire/ipv4.js';
import { emitIpv6, parseIpv6 as parseIpv6Pkt, type Ipv6Parsed } from '../../src/wire/ipv6.js';
import { emitUdp } from '../../src/wire/udp.js';
import { emitEthernet, parseEthernet } from '../../src/wire/ethernet.js';
import { emitArp, parseArp, type ArpRepr } from '../../src/wire/arp.js';
import { emitIcmpv4 } from '../../src/wire/icmpv4.js';
import { emitIcmpv6 } from '../../src/wire/icmpv6.js';
import { emitIpv6Fragment } from '../../src/wire/ipv6-ext.js';
import { pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { parseIpv4, parseIpv6, formatIpv6 } from '../../src/wire/address.js';

export const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0x0a);
export const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0x0b);

export function v4(s: string): number {
  const a = parseIpv4(s);
  if (a === null) throw new Error('bad v4 ' + s);
  return a;
}

export function v6(s: string): Uint8Array {
  const a = parseIpv6(s);
  if (a === null) throw new Error('bad v6 ' + s);
  return a;
}

export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >> 8)) & 0xff;
  return b;
}

export interface PairOptions {
  kind: LinkKind;
  mtu?: number;
  limits?: Partial<StackLimits>;
}

/** Two stacks A (10.0.0.1, fd00::1, fe80::1) and B (.2) on one link. */
export function stackPair(o: PairOptions) {
  const clock = new VirtualClock(0);
  const [la, lb] = MemoryLink.pair({ kind: o.kind, mtu: o.mtu ?? 1500, macA: MAC_A, macB: MAC_B, queueLimit: 100_000 });
  const limits = o.limits ?? {};
  const a = new Stack({ clock, random: new SeededRandom(1), limits });
  const b = new Stack({ clock, random: new SeededRandom(2), limits });
  a.addInterface(la, { name: 'eth0', addresses: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'] });
  b.addInterface(lb, { name: 'eth0', addresses: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'] });
  const settle = (): number => MemoryLink.settle(la, lb);
  const advance = (ms: number): void => {
    clock.advance(ms);
    a.poll();
    b.poll();
    settle();
  };
  settle();
  return { clock, la, lb, a, b, settle, advance };
}

/**
 * One stack (10.0.0.2/24, fd00::2/64, fe80::2/64, gateways 10.0.0.254 / fd00::fe) facing a raw
 * peer: `inject(frame)` delivers a frame to the stack; `take()` returns what the stack sent.
 */
export function rawPeer(o: PairOptions & { addresses?: string[]; gateway4?: string; gateway6?: string }) {
  const clock = new VirtualClock(0);
  const [peer, link] = MemoryLink.pair({ kind: o.kind, mtu: o.mtu ?? 1500, macA: MAC_A, macB: MAC_B, queueLimit: 100_000 });
  const stack = new Stack({ clock, random: new SeededRandom(7), limits: o.limits ?? {} });
  const out: Uint8Array[] = [];
  peer.attach({ receive: (f) => out.push(f.slice()), flush: () => undefined });
  const cfg: { name: string; addresses: string[]; gateway4?: string; gateway6?: string } = {
    name: 'eth0',
    addresses: o.addresses ?? ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
  };
  if (o.gateway4) cfg.gateway4 = o.gateway4;
  if (o.gateway6) cfg.gateway6 = o.gateway6;
  const iface = stack.addInterface(link, cfg);
  const eth = o.kind === 'ethernet';
  const take = (): Uint8Array[] => {
    peer.deliver();
    return out.splice(0, out.length);
  };
  /** Wraps an IP packet in Ethernet (to the stack's MAC unless `dst` is given) on TAP. */
  const frame = (ip: Uint8Array, dstMac: Uint8Array = MAC_B, ethertype?: number): Uint8Array => {
    if (!eth) return ip;
    const f = new Uint8Array(14 + ip.length);
    emitEthernet({ dst: dstMac, src: MAC_A, ethertype: ethertype ?? (ip[0]! >>> 4 === 6 ? 0x86dd : 0x0800) }, f);
    f.set(ip, 14);
    return f;
  };
  const inject = (...frames: Uint8Array[]): void => {
    for (const f of frames) peer.send(f);
    link.deliver();
  };
  const injectIp = (...ips: Uint8Array[]): void => inject(...ips.map((p) => frame(p)));
  /** IP packets the stack sent (Ethernet stripped; ARP/other ethertypes skipped). */
  const takeIp = (): Uint8Array[] => {
    const r: Uint8Array[] = [];
    for (const f of take()) {
      if (!eth) r.push(f);
      else {
        const e = parseEthernet(f);
        if (typeof e !== 'string' && (e.ethertype === 0x0800 || e.ethertype === 0x86dd)) r.push(f.subarray(14));
      }
    }
    return r;
  };
  const advance = (ms: number): void => {
    clock.advance(ms);
    stack.poll();
  };
  return { clock, peer, link, stack, iface, out, take, takeIp, frame, inject, injectIp, advance };
}

// ---- packet builders ------------------------------------------------------------------------

export interface V4Opts {
  src?: string;
  dst?: string;
  protocol: number;
  ttl?: number;
  ident?: number;
  df?: boolean;
  mf?: boolean;
  offset?: number;
}

export function ip4(o: V4Opts, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  emitIpv4(
    {
      src: v4(o.src ?? '10.0.0.1'),
      dst: v4(o.dst ?? '10.0.0.2'),
      protocol: o.protocol,
      ttl: o.ttl ?? 64,
      ident: o.ident ?? 1,
      dontFrag: o.df ?? false,
      moreFrags: o.mf ?? false,
      fragOffset: o.offset ?? 0,
      payloadLength: payload.length,
    },
    p,
  );
  p.set(payload, 20);
  return p;
}

export function udp4Seg(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b.set(data, 8);
  emitUdp({ srcPort: sport, dstPort: dport }, b, pseudoHeaderSumV4(v4(src), v4(dst), 17, b.length));
  return b;
}

export function udp4(o: { src?: string; dst?: string; sport?: number; dport: number; ttl?: number }, data: Uint8Array): Uint8Array {
  const src = o.src ?? '10.0.0.1';
  const dst = o.dst ?? '10.0.0.2';
  const p: V4Opts = { src, dst, protocol: 17 };
  if (o.ttl !== undefined) p.ttl = o.ttl;
  return ip4(p, udp4Seg(src, dst, o.sport ?? 40000, o.dport, data));
}

export function echo4Msg(data: Uint8Array, ident = 0x1234, seq = 1, reply = false): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  emitIcmpv4({ kind: reply ? 'echoReply' : 'echoRequest', ident, seq, data }, m);
  return m;
}

export interface V6Opts {
  src?: string;
  dst?: string;
  nh: number;
  hopLimit?: number;
}

export function ip6(o: V6Opts, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + payload.length);
  emitIpv6({ src: v6(o.src ?? 'fd00::1'), dst: v6(o.dst ?? 'fd00::2'), nextHeader: o.nh, hopLimit: o.hopLimit ?? 64, payloadLength: payload.length }, p);
  p.set(payload, 40);
  return p;
}

export function udp6Seg(src: string, dst: string, sport: number, dport: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  b.set(data, 8);
  emitUdp({ srcPort: sport, dstPort: dport }, b, pseudoHeaderSumV6(v6(src), v6(dst), 17, b.length));
  return b;
}

export function udp6(o: { src?: string; dst?: string; sport?: number; dport: number }, data: Uint8Array): Uint8Array {
  const src = o.src ?? 'fd00::1';
  const dst = o.dst ?? 'fd00::2';
  return ip6({ src, dst, nh: 17 }, udp6Seg(src, dst, o.sport ?? 40000, o.dport, data));
}

export function echo6Msg(src: string, dst: string, data: Uint8Array, ident = 0x1234, seq = 1): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  emitIcmpv6({ kind: 'echoRequest', ident, seq, data }, m, pseudoHeaderSumV6(v6(src), v6(dst), 58, m.length));
  return m;
}

/** IPv6 fragments of an upper-layer payload `upper` (protocol `nh`), each ≤ `chunk` data bytes. */
export function frag6(o: { src?: string; dst?: string; nh: number; ident: number }, upper: Uint8Array, pieces: Array<[number, number, boolean]>): Uint8Array[] {
  return pieces.map(([off, len, more]) => {
    const body = new Uint8Array(8 + len);
    emitIpv6Fragment({ nextHeader: o.nh, fragOffset: off, more, ident: o.ident }, body);
    body.set(upper.subarray(off, off + len), 8);
    const p: V6Opts = { nh: 44 };
    if (o.src) p.src = o.src;
    if (o.dst) p.dst = o.dst;
    return ip6(p, body);
  });
}

/** IPv4 fragments of `upper`: [offset, length, more]. */
export function frag4(o: { src?: string; dst?: string; protocol: number; ident: number }, upper: Uint8Array, pieces: Array<[number, number, boolean]>): Uint8Array[] {
  return pieces.map(([off, len, more]) => {
    const p: V4Opts = { protocol: o.protocol, ident: o.ident, mf: more, offset: off };
    if (o.src) p.src = o.src;
    if (o.dst) p.dst = o.dst;
    return ip4(p, upper.subarray(off, off + len));
  });
}

export function p4(pkt: Uint8Array): Ipv4Parsed {
  const r = parseIpv4Pkt(pkt);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

export function p6(pkt: Uint8Array): Ipv6Parsed {
  const r = parseIpv6Pkt(pkt);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

/** Reassembles IPv4 fragments captured from the stack (test-side), returns the payload. */
export function reassemble4(pkts: Uint8Array[]): Uint8Array {
  const parts = pkts.map(p4).sort((x, y) => x.fragOffset - y.fragOffset);
  const last = parts[parts.length - 1]!;
  const out = new Uint8Array(last.fragOffset + last.payload.length);
  let expect = 0;
  for (const f of parts) {
    if (f.fragOffset !== expect) throw new Error(`gap at ${expect}`);
    out.set(f.payload, f.fragOffset);
    expect += f.payload.length;
  }
  if (last.moreFrags) throw new Error('last fragment has MF');
  return out;
}

/** An Ethernet frame carrying an ARP packet. */
export function arpFrame(o: { op: 1 | 2; senderMac: Uint8Array; senderIp: string; targetMac?: Uint8Array; targetIp: string; dstMac?: Uint8Array }): Uint8Array {
  const f = new Uint8Array(14 + 28);
  emitEthernet({ dst: o.dstMac ?? (o.op === 1 ? Uint8Array.of(255, 255, 255, 255, 255, 255) : MAC_B), src: o.senderMac, ethertype: 0x0806 }, f);
  emitArp({ op: o.op, senderMac: o.senderMac, senderIp: v4(o.senderIp), targetMac: o.targetMac ?? new Uint8Array(6), targetIp: v4(o.targetIp) }, f.subarray(14));
  return f;
}

/** Parses the ARP packets among captured Ethernet frames. */
export function arpsIn(frames: Uint8Array[]): Array<ArpRepr & { dstMac: Uint8Array }> {
  const r: Array<ArpRepr & { dstMac: Uint8Array }> = [];
  for (const f of frames) {
    if (f[12] !== 0x08 || f[13] !== 0x06) continue;
    const a = parseArp(f.subarray(14));
    if (typeof a !== 'string') r.push({ ...a, dstMac: f.subarray(0, 6) });
  }
  return r;
}

/** Destinations of the IPv6 packets (text) among captured Ethernet frames. */
export function ndIn0(frames: Uint8Array[]): string[] {
  const r: string[] = [];
  for (const f of frames) {
    if (f[12] !== 0x86 || f[13] !== 0xdd) continue;
    r.push(formatIpv6(p6(f.subarray(14)).dst));
  }
  return r;
}
