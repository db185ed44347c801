import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rawPeer, stackPair, arpFrame, arpsIn, MAC_A, MAC_B, udp4, ip6, pattern, v6, p6 } from './ip-harness.js';
import { NeighborCache } from '../../src/ip/neighbors.js';
import { TimerQueue } from '../../src/core/timers.js';
import { Counters } from '../../src/core/counters.js';
import { VirtualClock } from '../../src/core/clock.js';
import { emitNdp } from '../../src/wire/ndp.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { parseEthernet } from '../../src/wire/ethernet.js';
import { formatIpv6 } from '../../src/wire/address.js';
import type { NdpRepr } from '../../src/wire/ndp.js';

function cacheFixture(limits = {}) {
  const clock = new VirtualClock(0);
  const timers = new TimerQueue();
  const counters = new Counters();
  const solicits: Array<[number, Uint8Array | undefined]> = [];
  const sent: Array<[Uint8Array, Uint8Array]> = [];
  const cache = new NeighborCache<number>(timers, () => clock.now(), counters, 'arp', String, {
    solicit: (k, mac) => solicits.push([k, mac]),
    transmit: (p, mac) => sent.push([p, mac]),
  }, limits);
  const advance = (ms: number) => {
    clock.advance(ms);
    timers.run(clock.now());
  };
  return { clock, timers, counters, cache, solicits, sent, advance };
}

describe('NeighborCache state machine', () => {
  test('queue while INCOMPLETE, flush in order on resolution', () => {
    const f = cacheFixture();
    f.cache.send(1, Uint8Array.of(1));
    f.cache.send(1, Uint8Array.of(2));
    assert.equal(f.solicits.length, 1);
    assert.equal(f.cache.state(1), 'incomplete');
    f.cache.update(1, MAC_A, { create: false, reachable: true, override: true });
    assert.equal(f.cache.state(1), 'reachable');
    assert.deepEqual(f.sent.map(([p]) => p[0]), [1, 2]);
    f.cache.send(1, Uint8Array.of(3));
    assert.equal(f.sent.length, 3);
  });

  test('retries then gives up: queued packets dropped and counted', () => {
    const f = cacheFixture();
    f.cache.send(1, Uint8Array.of(1));
    f.cache.send(1, Uint8Array.of(2));
    f.advance(1000);
    f.advance(1000);
    assert.equal(f.solicits.length, 3);
    f.advance(1000);
    assert.equal(f.solicits.length, 3, 'three solicitations in all');
    assert.equal(f.cache.state(1), undefined);
    assert.equal(f.counters.get('drop.arp.resolution_failed'), 2);
  });

  test('bounded queue drops the oldest', () => {
    const f = cacheFixture({ maxPending: 3 });
    for (let i = 0; i < 5; i++) f.cache.send(1, Uint8Array.of(i));
    assert.equal(f.counters.get('drop.arp.queue_full'), 2);
    f.cache.update(1, MAC_A, { create: false, reachable: true, override: true });
    assert.deepEqual(f.sent.map(([p]) => p[0]), [2, 3, 4]);
  });

  test('bounded entries: evicts a resolved entry; all INCOMPLETE → cache_full', () => {
    const f = cacheFixture({ maxEntries: 2 });
    f.cache.update(1, MAC_A, { create: true, reachable: true, override: true });
    f.cache.send(2, Uint8Array.of(0));
    f.cache.send(3, Uint8Array.of(0));
    assert.equal(f.cache.state(1), undefined, 'evicted');
    assert.equal(f.counters.get('arp.evicted'), 1);
    f.cache.send(4, Uint8Array.of(0));
    assert.equal(f.counters.get('drop.arp.cache_full'), 1);
    assert.equal(f.cache.size, 2);
  });

  test('REACHABLE → STALE → DELAY → PROBE (unicast) → deleted', () => {
    const f = cacheFixture({ reachableMs: 30_000, delayMs: 5000 });
    f.cache.update(1, MAC_A, { create: true, reachable: true, override: true });
    f.advance(30_000);
    assert.equal(f.cache.state(1), 'stale');
    f.cache.send(1, Uint8Array.of(9));
    assert.equal(f.sent.length, 1, 'a STALE entry is still used');
    assert.equal(f.cache.state(1), 'delay');
    f.advance(5000);
    assert.equal(f.cache.state(1), 'probe');
    assert.deepEqual(f.solicits[0]![1], MAC_A, 'unicast probe');
    f.advance(1000);
    f.advance(1000);
    f.advance(1000);
    assert.equal(f.cache.state(1), undefined);
  });

  test('PROBE answered → REACHABLE again', () => {
    const f = cacheFixture();
    f.cache.update(1, MAC_A, { create: true, reachable: false, override: true });
    f.cache.send(1, Uint8Array.of(9));
    f.advance(5000);
    assert.equal(f.cache.state(1), 'probe');
    f.cache.update(1, MAC_A, { create: false, reachable: true, override: true });
    assert.equal(f.cache.state(1), 'reachable');
  });

  test('O=0 with a different MAC does not override; REACHABLE goes STALE', () => {
    const f = cacheFixture();
    f.cache.update(1, MAC_A, { create: true, reachable: true, override: true });
    f.cache.update(1, MAC_B, { create: false, reachable: true, override: false });
    assert.equal(f.cache.state(1), 'stale');
    assert.deepEqual(f.cache.get(1)!.mac, MAC_A);
  });

  test('STALE entries are garbage-collected', () => {
    const f = cacheFixture({ staleGcMs: 60_000 });
    f.cache.update(1, MAC_A, { create: true, reachable: false, override: true });
    f.advance(60_000);
    assert.equal(f.cache.size, 0);
  });
});

describe('ARP', () => {
  test('gratuitous ARP on start', () => {
    const t = rawPeer({ kind: 'ethernet' });
    const arps = arpsIn(t.take());
    assert.equal(arps.length, 1);
    assert.equal(arps[0]!.senderIp, 0x0a000002);
    assert.equal(arps[0]!.targetIp, 0x0a000002);
    assert.deepEqual(arps[0]!.dstMac, Uint8Array.of(255, 255, 255, 255, 255, 255));
  });

  test('answers requests for our address, not for others', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(arpFrame({ op: 1, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }));
    const r = arpsIn(t.take());
    assert.equal(r.length, 1);
    assert.equal(r[0]!.op, 2);
    assert.deepEqual(r[0]!.senderMac, MAC_B);
    assert.equal(r[0]!.senderIp, 0x0a000002);
    assert.deepEqual(r[0]!.targetMac, MAC_A);
    assert.deepEqual(r[0]!.dstMac, MAC_A);
    // the requester is cached (STALE): sending to it needs no ARP
    assert.equal(t.iface.arp!.cache.state(0x0a000001), 'stale');
    t.inject(arpFrame({ op: 1, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.3' }));
    assert.equal(t.take().length, 0);
    assert.equal(t.stack.counters.get('drop.arp.not_for_us'), 1);
  });

  test('resolution with queueing, retries (3 × 1 s) and timeout', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const s = t.stack.udp.open(4);
    for (let i = 0; i < 3; i++) s.sendTo(pattern(10), '10.0.0.9', 5000);
    let arps = arpsIn(t.take());
    assert.equal(arps.length, 1, 'one request for three packets');
    assert.equal(arps[0]!.targetIp, 0x0a000009);
    t.advance(1000);
    t.advance(1000);
    assert.equal(arpsIn(t.take()).length, 2);
    t.advance(1000);
    assert.equal(t.take().length, 0);
    assert.equal(t.stack.counters.get('drop.arp.resolution_failed'), 3);
    assert.equal(t.iface.arp!.cache.state(0x0a000009), undefined);
  });

  test('resolution: queued packets are sent once the reply arrives', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const s = t.stack.udp.open(4);
    for (let i = 0; i < 3; i++) s.sendTo(Uint8Array.of(i), '10.0.0.1', 5000);
    assert.equal(arpsIn(t.take()).length, 1);
    t.inject(arpFrame({ op: 2, senderMac: MAC_A, senderIp: '10.0.0.1', targetMac: MAC_B, targetIp: '10.0.0.2' }));
    const out = t.take();
    assert.equal(out.length, 3);
    for (const f of out) assert.deepEqual(f.subarray(0, 6), MAC_A);
    assert.equal(t.iface.arp!.cache.state(0x0a000001), 'reachable');
  });

  test('neighbour queue limit counts drops', () => {
    const t = rawPeer({ kind: 'ethernet', limits: { neighborPending: 2 } });
    t.take();
    const s = t.stack.udp.open(4);
    for (let i = 0; i < 5; i++) s.sendTo(Uint8Array.of(i), '10.0.0.1', 5000);
    assert.equal(t.stack.counters.get('drop.arp.queue_full'), 3);
  });

  test('bad ARP packets are dropped with reasons; our MAC as sender ignored; conflicts counted', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const bad = arpFrame({ op: 1, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.2' });
    bad[14 + 2] = 0x99; // protocol type
    t.inject(bad);
    assert.equal(t.stack.counters.get('drop.arp.bad_protocol_type'), 1);
    t.inject(arpFrame({ op: 1, senderMac: Uint8Array.of(1, 0, 0, 0, 0, 1), senderIp: '10.0.0.1', targetIp: '10.0.0.2' }));
    assert.equal(t.stack.counters.get('drop.arp.bad_sender'), 1);
    t.inject(arpFrame({ op: 2, senderMac: MAC_A, senderIp: '10.0.0.2', targetIp: '10.0.0.5' }));
    assert.equal(t.stack.counters.get('drop.arp.address_conflict'), 1);
    const short = arpFrame({ op: 1, senderMac: MAC_A, senderIp: '10.0.0.1', targetIp: '10.0.0.2' }).subarray(0, 30);
    t.inject(short);
    assert.equal(t.stack.counters.get('drop.arp.truncated'), 1);
  });

  test('two stacks resolve each other and exchange UDP', () => {
    const { a, b, settle } = stackPair({ kind: 'ethernet' });
    const got: string[] = [];
    const sb = b.udp.open(4);
    sb.bind(undefined, 7);
    sb.onMessage = (d, info) => got.push(`${info.address}:${info.port}:${d.length}`);
    const sa = a.udp.open(4);
    sa.bind(undefined, 1234);
    sa.sendTo(pattern(5), '10.0.0.2', 7);
    settle();
    assert.deepEqual(got, ['10.0.0.1:1234:5']);
    assert.equal(a.counters.get('arp.tx.request'), 1);
    assert.equal(b.counters.get('arp.tx.reply'), 1);
  });

  test('Ethernet filter: frames to other unicast MACs dropped', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(udp4({ dport: 1 }, pattern(4)), Uint8Array.of(2, 0, 0, 0, 0, 0x77)));
    assert.equal(t.stack.counters.get('drop.ethernet.not_for_us'), 1);
    t.inject(t.frame(udp4({ dport: 1 }, pattern(4)), Uint8Array.of(1, 0, 0x5e, 0, 0, 9)));
    assert.equal(t.stack.counters.get('drop.ethernet.not_for_us'), 2, 'multicast MAC of a group we did not join');
    t.inject(t.frame(pattern(30), MAC_B, 0x88cc));
    assert.equal(t.stack.counters.get('drop.ethernet.unknown_ethertype'), 1);
    t.inject(Uint8Array.of(1, 2, 3));
    assert.equal(t.stack.counters.get('drop.ethernet.truncated'), 1);
  });
});

function nd(src: string, dst: string, repr: NdpRepr, hopLimit = 255): Uint8Array {
  const len = repr.kind === 'neighborSolicit' || repr.kind === 'neighborAdvert' ? 24 + (repr.options.sourceLinkAddr || repr.options.targetLinkAddr ? 8 : 0) : 0;
  const m = new Uint8Array(len);
  emitNdp(repr, m, pseudoHeaderSumV6(v6(src), v6(dst), 58, len));
  return ip6({ src, dst, nh: 58, hopLimit }, m);
}

function ndIn(frames: Uint8Array[]): Array<{ src: string; dst: string; dstMac: Uint8Array; m: ReturnType<typeof parseIcmpv6>; hopLimit: number }> {
  const r = [];
  for (const f of frames) {
    const e = parseEthernet(f);
    if (typeof e === 'string' || e.ethertype !== 0x86dd) continue;
    const ip = p6(f.subarray(14));
    if (ip.nextHeader !== 58) continue;
    const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
    r.push({ src: formatIpv6(ip.src), dst: formatIpv6(ip.dst), dstMac: f.subarray(0, 6), m, hopLimit: ip.hopLimit });
  }
  return r;
}

describe('NDP', () => {
  test('unsolicited NAs on start, hop limit 255, to ff02::1', () => {
    const t = rawPeer({ kind: 'ethernet' });
    const nas = ndIn(t.take());
    assert.equal(nas.length, 2);
    for (const n of nas) {
      assert.equal(n.dst, 'ff02::1');
      assert.equal(n.hopLimit, 255);
      assert.deepEqual(n.dstMac, Uint8Array.of(0x33, 0x33, 0, 0, 0, 1));
      assert.ok(typeof n.m !== 'string' && n.m.kind === 'neighborAdvert' && !n.m.solicited && n.m.override);
    }
  });

  test('answers NS for our address (solicited-node multicast) and caches the SLLA', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const dst = 'ff02::1:ff00:2';
    t.inject(t.frame(nd('fd00::1', dst, { kind: 'neighborSolicit', target: v6('fd00::2'), options: { sourceLinkAddr: MAC_A } }), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 2)));
    const r = ndIn(t.take());
    assert.equal(r.length, 1);
    assert.equal(r[0]!.dst, 'fd00::1');
    assert.deepEqual(r[0]!.dstMac, MAC_A);
    const m = r[0]!.m;
    assert.ok(typeof m !== 'string' && m.kind === 'neighborAdvert');
    if (typeof m !== 'string' && m.kind === 'neighborAdvert') {
      assert.ok(m.solicited && m.override);
      assert.equal(formatIpv6(m.target), 'fd00::2');
      assert.deepEqual(m.options.targetLinkAddr, MAC_B);
    }
    assert.equal(t.iface.ndp!.cache.state(v6('fd00::1')), 'delay', 'STALE, then used for the NA');
  });

  test('DAD: NS from :: is answered to ff02::1', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(nd('::', 'ff02::1:ff00:2', { kind: 'neighborSolicit', target: v6('fe80::2'), options: {} }), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 2)));
    const r = ndIn(t.take());
    assert.equal(r.length, 1);
    assert.equal(r[0]!.dst, 'ff02::1');
    assert.ok(typeof r[0]!.m !== 'string' && r[0]!.m.kind === 'neighborAdvert' && !r[0]!.m.solicited);
  });

  test('NDP with hop limit ≠ 255 is dropped', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(nd('fd00::1', 'ff02::1:ff00:2', { kind: 'neighborSolicit', target: v6('fd00::2'), options: { sourceLinkAddr: MAC_A } }, 64), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 2)));
    assert.equal(t.take().length, 0);
    assert.equal(t.stack.counters.get('drop.ndp.bad_hop_limit'), 1);
  });

  test('NS for someone else is dropped; frames to another solicited-node MAC are filtered', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(nd('fd00::1', 'fd00::2', { kind: 'neighborSolicit', target: v6('fd00::99'), options: { sourceLinkAddr: MAC_A } })));
    assert.equal(t.stack.counters.get('drop.ndp.not_for_us'), 1);
    t.inject(t.frame(nd('fd00::1', 'ff02::1:ff00:99', { kind: 'neighborSolicit', target: v6('fd00::99'), options: { sourceLinkAddr: MAC_A } }), Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 0x99)));
    assert.equal(t.stack.counters.get('drop.ethernet.not_for_us'), 1);
  });

  test('resolution: NS to the solicited-node group, queued packet sent on NA', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const s = t.stack.udp.open(6);
    s.sendTo(pattern(10), 'fd00::1', 5000);
    s.sendTo(pattern(11), 'fd00::1', 5000);
    const ns = ndIn(t.take());
    assert.equal(ns.length, 1);
    assert.equal(ns[0]!.dst, 'ff02::1:ff00:1');
    assert.deepEqual(ns[0]!.dstMac, Uint8Array.of(0x33, 0x33, 0xff, 0, 0, 1));
    assert.equal(ns[0]!.hopLimit, 255);
    assert.ok(typeof ns[0]!.m !== 'string' && ns[0]!.m.kind === 'neighborSolicit' && formatIpv6(ns[0]!.m.target) === 'fd00::1');
    t.inject(t.frame(nd('fd00::1', 'fd00::2', { kind: 'neighborAdvert', router: false, solicited: true, override: true, target: v6('fd00::1'), options: { targetLinkAddr: MAC_A } })));
    const out = t.takeIp();
    assert.equal(out.length, 2);
    assert.equal(t.iface.ndp!.cache.state(v6('fd00::1')), 'reachable');
  });

  test('resolution failure after 3 NS: dropped and counted', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const s = t.stack.udp.open(6);
    s.sendTo(pattern(10), 'fd00::9', 5000);
    t.advance(1000);
    t.advance(1000);
    t.advance(1000);
    assert.equal(ndIn(t.take()).length, 3);
    assert.equal(t.stack.counters.get('drop.ndp.resolution_failed'), 1);
  });

  test('an NA for our own address counts a conflict', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(nd('fe80::1', 'ff02::1', { kind: 'neighborAdvert', router: false, solicited: false, override: true, target: v6('fd00::2'), options: { targetLinkAddr: MAC_A } }), Uint8Array.of(0x33, 0x33, 0, 0, 0, 1)));
    assert.equal(t.stack.counters.get('drop.ndp.address_conflict'), 1);
  });

  test('two stacks: UDP over IPv6 with NDP, link-local with zone', () => {
    const { a, b, settle } = stackPair({ kind: 'ethernet' });
    const got: string[] = [];
    const sb = b.udp.open(6);
    sb.bind('::', 7);
    sb.onMessage = (d, info) => got.push(`${info.address}:${d.length}`);
    const sa = a.udp.open(6);
    sa.sendTo(pattern(5), 'fd00::2', 7);
    sa.sendTo(pattern(6), 'fe80::2%eth0', 7);
    settle();
    assert.deepEqual(got.sort(), ['fd00::1:5', 'fe80::1%eth0:6']);
    assert.equal(a.counters.get('drop.total'), 0, JSON.stringify(a.counters.drops()));
  });
});
