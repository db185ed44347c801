/**
 * Resource limits of the IP layer (src/ip/limits.ts, docs/HARDENING.md), each driven past its
 * bound by frames injected into a simulated stack's link: the excess is dropped (or the oldest
 * evicted) and counted, the structure never grows past the bound, and the stack keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimWorld } from '../../src/sim/world.js';
import type { StackLimits } from '../../src/stack.js';
import type { LinkKind, LinkReceiver } from '../../src/link/link.js';
import { emitEthernet } from '../../src/wire/ethernet.js';
import { emitArp } from '../../src/wire/arp.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';
import { emitUdp } from '../../src/wire/udp.js';
import { emitNdp, ndpLength } from '../../src/wire/ndp.js';
import { pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { parseIpv4 as addr4, parseIpv6 as addr6 } from '../../src/wire/address.js';

const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0x0b);

function setup(kind: LinkKind, limits: Partial<StackLimits>) {
  const w = new SimWorld({ seed: 5, trace: false });
  const a = w.addStack('a');
  const b = w.addStack('b', { limits });
  const { linkB } = w.connect(a, b, {
    kind,
    mtu: 1500,
    macA: Uint8Array.of(2, 0, 0, 0, 0, 0x0a),
    macB: MAC_B,
    addressesA: ['10.0.0.1/24', 'fd00::1/64', 'fe80::1/64'],
    addressesB: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'],
  });
  w.run({ maxTimeMs: 5 });
  const rx: LinkReceiver = linkB.rx.receiver!;
  const inject = (frames: Uint8Array[]): void => {
    for (const f of frames) rx.receive(f);
    rx.flush();
  };
  /** A ping from A to B (and the reply) still works. */
  const pingWorks = (size = 100, v6 = false): boolean => {
    let got = 0;
    const h = (): void => void got++;
    a.icmp4.onEchoReply = h;
    a.icmp6.onEchoReply = h;
    a.ping(v6 ? 'fd00::2' : '10.0.0.2', new Uint8Array(size).fill(7), 99, 1);
    w.run({ until: () => got > 0, maxTimeMs: 5000 });
    return got > 0;
  };
  return { w, a, b, inject, pingWorks };
}

function eth(payload: Uint8Array, type: number, src: Uint8Array, dst = MAC_B): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  emitEthernet({ dst, src, ethertype: type }, f);
  f.set(payload, 14);
  return f;
}

function udp4(src: number, dst: number, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const pkt = new Uint8Array(20 + 8 + payload.length);
  emitIpv4({ src, dst, protocol: 17, ttl: 64, payloadLength: 8 + payload.length }, pkt);
  pkt.set(payload, 28);
  emitUdp({ srcPort: sport, dstPort: dport }, pkt.subarray(20), pseudoHeaderSumV4(src, dst, 17, 8 + payload.length));
  return pkt;
}

const A4 = addr4('10.0.0.1')!;
const B4 = addr4('10.0.0.2')!;

test('reassembly memory (reassemblyBytes): bounded, excess counted, reassembly still works', () => {
  const max = 16 * 1024;
  const { b, inject, pingWorks } = setup('ip', { reassemblyBytes: max });
  const budget = (b.ipv4.reassembler as unknown as { budget: { used: number; max: number } }).budget;
  const data = new Uint8Array(1000);
  for (let id = 0; id < 200; id++) {
    // First fragments (MF set) of 200 datagrams that never complete.
    const pkt = new Uint8Array(20 + data.length);
    emitIpv4({ src: A4, dst: B4, protocol: 17, ttl: 64, payloadLength: data.length, ident: id, moreFrags: true }, pkt);
    inject([pkt]);
    assert.ok(budget.used <= max, `budget ${budget.used} > ${max}`);
  }
  const c = b.counters;
  const over = c.get('drop.ipv4.reasm_memory') + c.get('drop.ipv4.reasm_evicted');
  assert.ok(over >= 200 - Math.floor(max / 1000), `counted: ${JSON.stringify(b.counters.drops())}`);
  assert.ok(b.ipv4.reassembler.size <= Math.ceil(max / 1000));
  assert.ok(pingWorks(3000), 'a fragmented ping still gets its reply');
});

test('ARP cache entries (neighborEntries): bounded, the oldest evicted, ARP still answered', () => {
  const max = 8;
  const { b, inject, pingWorks } = setup('ethernet', { neighborEntries: max });
  const arp = b.interfaces[0]!.arp!;
  let replies = 0;
  for (let i = 0; i < 100; i++) {
    const mac = Uint8Array.of(2, 1, 0, 0, i >> 8, i & 0xff);
    const p = new Uint8Array(28);
    emitArp({ op: 1, senderMac: mac, senderIp: A4 + 10 + i, targetMac: new Uint8Array(6), targetIp: B4 }, p);
    const before = b.counters.get('arp.tx.reply');
    inject([eth(p, 0x0806, mac)]);
    replies += b.counters.get('arp.tx.reply') - before;
    assert.ok(arp.cache.size <= max, `cache ${arp.cache.size} > ${max}`);
  }
  assert.equal(replies, 100, 'every request answered');
  assert.ok(b.counters.get('arp.evicted') + b.counters.get('drop.arp.cache_full') >= 100 - max, JSON.stringify(b.counters.snapshot()));
  assert.ok(pingWorks());
});

test('NDP cache entries (neighborEntries): bounded, NS still answered', () => {
  const max = 8;
  const { b, inject, pingWorks } = setup('ethernet', { neighborEntries: max });
  const ndp = b.interfaces[0]!.ndp!;
  const target = addr6('fd00::2')!;
  for (let i = 0; i < 60; i++) {
    const src = addr6(`fd00::1:${(i + 16).toString(16)}`)!;
    const mac = Uint8Array.of(2, 2, 0, 0, 0, i);
    const r = { kind: 'neighborSolicit' as const, target, options: { sourceLinkAddr: mac } };
    const len = ndpLength(r);
    const pkt = new Uint8Array(40 + len);
    emitIpv6({ src, dst: target, nextHeader: 58, hopLimit: 255, payloadLength: len }, pkt);
    emitNdp(r, pkt.subarray(40), pseudoHeaderSumV6(src, target, 58, len));
    inject([eth(pkt, 0x86dd, mac)]);
    assert.ok(ndp.cache.size <= max, `cache ${ndp.cache.size} > ${max}`);
  }
  assert.equal(b.counters.get('ndp.tx.neighbor_advert') >= 60, true);
  assert.ok(b.counters.get('ndp.evicted') + b.counters.get('drop.ndp.cache_full') >= 60 - max, JSON.stringify(b.counters.snapshot()));
  assert.ok(pingWorks(100, true));
});

test('packets queued for address resolution (neighborPending): bounded per neighbour, counted', () => {
  const pending = 4;
  const { w, b, pingWorks } = setup('ethernet', { neighborPending: pending });
  const sock = b.udp.open(4);
  // 10.0.0.99 never answers ARP.
  for (let i = 0; i < 20; i++) sock.sendTo(new Uint8Array(50), '10.0.0.99', 9);
  const e = b.interfaces[0]!.arp!.cache.get(addr4('10.0.0.99')!)!;
  assert.ok(e.pending.length <= pending, `queued ${e.pending.length}`);
  assert.equal(b.counters.get('drop.arp.queue_full'), 20 - pending);
  // Resolution fails after the retries: the rest is dropped and counted too.
  w.after(10_000, () => {});
  w.run({ maxTimeMs: 10_000 });
  assert.equal(b.counters.get('drop.arp.resolution_failed'), pending);
  assert.ok(pingWorks());
});

test('ICMP error rate (icmpErrorRate / icmpErrorBurst): the excess is dropped and counted', () => {
  const { w, b, inject, pingWorks } = setup('ip', { icmpErrorRate: 10, icmpErrorBurst: 5 });
  // 100 datagrams to a closed port at one instant: 5 port unreachables, 95 rate limited.
  for (let i = 0; i < 100; i++) inject([udp4(A4, B4, 4000, 9999, new Uint8Array(10))]);
  assert.equal(b.counters.get('drop.udp.no_socket'), 100);
  assert.equal(b.counters.get('drop.icmp.rate_limited'), 95);
  w.after(1000, () => {});
  w.run({ maxTimeMs: 1000 }); // the bucket refills at 10/s, up to the burst of 5
  const limitedBefore = b.counters.get('drop.icmp.rate_limited');
  for (let i = 0; i < 20; i++) inject([udp4(A4, B4, 4000, 9999, new Uint8Array(10))]);
  const sent = 20 - (b.counters.get('drop.icmp.rate_limited') - limitedBefore);
  assert.equal(sent, 5, 'a full burst again after 1 s, no more');
  assert.ok(pingWorks(), 'echo replies are not rate limited');
});
