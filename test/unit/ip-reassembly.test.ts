import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rawPeer, pattern, frag4, frag6, udp4Seg, udp6Seg, p4, p6, echo6Msg, ip6, echo4Msg } from './ip-harness.js';
import { Reassembler, ReassemblyBudget } from '../../src/ip/reassembly.js';
import { planFragments, fragmentIpv4, fragmentIpv6 } from '../../src/ip/fragment.js';
import { TimerQueue } from '../../src/core/timers.js';
import { Counters } from '../../src/core/counters.js';
import { VirtualClock } from '../../src/core/clock.js';
import { parseIcmpv4 } from '../../src/wire/icmpv4.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { emitIpv6Fragment } from '../../src/wire/ipv6-ext.js';

function fixture(max = 1 << 20, timeout = 30_000) {
  const clock = new VirtualClock(0);
  const timers = new TimerQueue();
  const counters = new Counters();
  const timeouts: Uint8Array[] = [];
  const budget = new ReassemblyBudget(max);
  const r = new Reassembler(timers, () => clock.now(), counters, 'ipv4', timeout, budget, (p) => timeouts.push(p));
  const advance = (ms: number) => {
    clock.advance(ms);
    timers.run(clock.now());
  };
  return { clock, timers, counters, r, timeouts, budget, advance };
}

const HDR = Uint8Array.of(0x45);

describe('Reassembler', () => {
  test('in order and out of order', () => {
    const f = fixture();
    const data = pattern(3000);
    assert.equal(f.r.add({ key: 'k', offset: 1000, more: true, data: data.subarray(1000, 2000) }), null);
    assert.equal(f.r.add({ key: 'k', offset: 2000, more: false, data: data.subarray(2000) }), null);
    const done = f.r.add({ key: 'k', offset: 0, more: true, data: data.subarray(0, 1000), header: HDR, packet: HDR });
    assert.ok(done && typeof done !== 'string');
    if (done && typeof done !== 'string') {
      assert.deepEqual(done.payload, data);
      assert.deepEqual(done.header, HDR);
    }
    assert.equal(f.budget.used, 0);
    assert.equal(f.r.size, 0);
    assert.equal(f.timers.size, 0);
  });

  test('overlap discards the whole datagram, later fragments too (RFC 5722)', () => {
    const f = fixture();
    const data = pattern(3000);
    f.r.add({ key: 'k', offset: 0, more: true, data: data.subarray(0, 1000), header: HDR });
    assert.equal(f.r.add({ key: 'k', offset: 992, more: true, data: data.subarray(992, 2000) }), 'ipv4.reasm_overlap');
    assert.equal(f.r.add({ key: 'k', offset: 1000, more: true, data: data.subarray(1000, 2000) }), 'ipv4.reasm_overlap');
    assert.equal(f.r.add({ key: 'k', offset: 2000, more: false, data: data.subarray(2000) }), 'ipv4.reasm_overlap');
    assert.equal(f.counters.get('drop.ipv4.reasm_overlap'), 3);
    assert.equal(f.budget.used, 0);
    f.advance(30_000);
    assert.equal(f.r.size, 0, 'the tombstone expires');
    assert.equal(f.timeouts.length, 0, 'no time exceeded for a discarded datagram');
  });

  test('exact duplicates only drop the duplicate', () => {
    const f = fixture();
    const data = pattern(16);
    f.r.add({ key: 'k', offset: 0, more: true, data: data.subarray(0, 8), header: HDR });
    assert.equal(f.r.add({ key: 'k', offset: 0, more: true, data: data.subarray(0, 8), header: HDR }), 'ipv4.reasm_duplicate');
    const done = f.r.add({ key: 'k', offset: 8, more: false, data: data.subarray(8) });
    assert.ok(done && typeof done !== 'string');
  });

  test('inconsistent last fragments discard the datagram', () => {
    const f = fixture();
    f.r.add({ key: 'k', offset: 0, more: false, data: pattern(16), header: HDR });
    // Any fragment must now be a duplicate or overlap... a new, different last fragment:
    assert.equal(f.r.add({ key: 'j', offset: 16, more: false, data: pattern(8) }), null);
    assert.equal(f.r.add({ key: 'j', offset: 32, more: false, data: pattern(8) }), 'ipv4.reasm_inconsistent');
    assert.equal(f.r.add({ key: 'i', offset: 16, more: false, data: pattern(8) }), null);
    assert.equal(f.r.add({ key: 'i', offset: 24, more: true, data: pattern(8) }), 'ipv4.reasm_inconsistent');
  });

  test('timeout: counted, callback with the first fragment only if it arrived', () => {
    const f = fixture();
    f.r.add({ key: 'a', offset: 0, more: true, data: pattern(8), header: HDR, packet: Uint8Array.of(1, 2, 3) });
    f.r.add({ key: 'b', offset: 8, more: true, data: pattern(8) });
    f.advance(29_999);
    assert.equal(f.counters.get('drop.ipv4.reasm_timeout'), 0);
    f.advance(1);
    assert.equal(f.counters.get('drop.ipv4.reasm_timeout'), 2);
    assert.deepEqual(f.timeouts, [Uint8Array.of(1, 2, 3)]);
    assert.equal(f.budget.used, 0);
  });

  test('memory bound: oldest datagrams evicted; oversize fragment dropped', () => {
    const f = fixture(2000);
    f.r.add({ key: 'a', offset: 0, more: true, data: pattern(800), header: HDR });
    f.r.add({ key: 'b', offset: 0, more: true, data: pattern(800), header: HDR });
    assert.equal(f.budget.used, 1600);
    f.r.add({ key: 'c', offset: 0, more: true, data: pattern(800), header: HDR });
    assert.equal(f.counters.get('drop.ipv4.reasm_evicted'), 1);
    assert.equal(f.budget.used, 1600);
    assert.equal(f.r.add({ key: 'd', offset: 0, more: true, data: pattern(2001) }), 'ipv4.reasm_memory');
  });
});

describe('fragmentation plans', () => {
  test('multiples of 8, last may be short', () => {
    assert.deepEqual(planFragments(20, 12), [
      { offset: 0, length: 8, more: true },
      { offset: 8, length: 8, more: true },
      { offset: 16, length: 4, more: false },
    ]);
    assert.deepEqual(planFragments(10, 7), []);
  });

  test('fragmentIpv4 / fragmentIpv6 round trip', () => {
    const payload = pattern(5000);
    const whole4 = frag4({ protocol: 17, ident: 5 }, payload, [[0, 5000, false]])[0]!;
    const f4 = fragmentIpv4(whole4, 1500);
    assert.equal(f4.length, 4);
    for (const f of f4) assert.ok(f.length <= 1500);
    let total = 0;
    for (const f of f4) {
      const ip = p4(f);
      assert.equal(ip.ident, 5);
      assert.equal(ip.fragOffset, total);
      total += ip.payload.length;
    }
    assert.equal(total, 5000);
    const whole6 = ip6({ nh: 17 }, payload);
    const f6 = fragmentIpv6(whole6, 1280, 0xdeadbeef);
    for (const f of f6) assert.ok(f.length <= 1280);
    assert.equal(p6(f6[0]!).nextHeader, 44);
  });
});

describe('reassembly in the stack', () => {
  test('IPv4 UDP in 3 fragments, out of order, delivered once', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 7000);
    const got: Uint8Array[] = [];
    s.onMessage = (d) => got.push(d);
    const data = pattern(2500);
    const seg = udp4Seg('10.0.0.1', '10.0.0.2', 1, 7000, data);
    const fr = frag4({ protocol: 17, ident: 9 }, seg, [
      [0, 1000, true],
      [1000, 1000, true],
      [2000, seg.length - 2000, false],
    ]);
    t.injectIp(fr[2]!, fr[0]!, fr[1]!);
    assert.equal(got.length, 1);
    assert.deepEqual(got[0], data);
  });

  test('IPv4 timeout → Time Exceeded code 1 when fragment 0 arrived, after 30 s', () => {
    const t = rawPeer({ kind: 'ip' });
    const seg = udp4Seg('10.0.0.1', '10.0.0.2', 1, 7000, pattern(100));
    const fr = frag4({ protocol: 17, ident: 9 }, seg, [[0, 56, true]]);
    t.injectIp(fr[0]!);
    t.advance(29_999);
    assert.equal(t.takeIp().length, 0);
    t.advance(1);
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const m = parseIcmpv4(p4(out[0]!).payload);
    assert.ok(typeof m !== 'string' && m.kind === 'timeExceeded' && m.code === 1);
    assert.equal(t.stack.counters.get('drop.ipv4.reasm_timeout'), 1);
  });

  test('IPv4 timeout without fragment 0 → no ICMP', () => {
    const t = rawPeer({ kind: 'ip' });
    const seg = udp4Seg('10.0.0.1', '10.0.0.2', 1, 7000, pattern(100));
    t.injectIp(frag4({ protocol: 17, ident: 9 }, seg, [[56, 52, false]])[0]!);
    t.advance(30_000);
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('drop.ipv4.reasm_timeout'), 1);
  });

  test('IPv4 overlapping fragments drop the datagram', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 7000);
    let n = 0;
    s.onMessage = () => n++;
    const seg = udp4Seg('10.0.0.1', '10.0.0.2', 1, 7000, pattern(100));
    const fr = frag4({ protocol: 17, ident: 3 }, seg, [
      [0, 64, true],
      [56, 52, false],
      [64, 44, false],
    ]);
    t.injectIp(...fr);
    assert.equal(n, 0);
    assert.equal(t.stack.counters.get('drop.ipv4.reasm_overlap'), 2);
  });

  test('IPv4 fragment beyond 65535 is dropped by the parser', () => {
    const t = rawPeer({ kind: 'ip' });
    const fr = frag4({ protocol: 17, ident: 4 }, pattern(70000), [[65528, 100, false]]);
    t.injectIp(fr[0]!);
    assert.equal(t.stack.counters.get('drop.ipv4.bad_fragment'), 1);
  });

  test('IPv6 echo in fragments, out of order', () => {
    const t = rawPeer({ kind: 'ip' });
    const msg = echo6Msg('fd00::1', 'fd00::2', pattern(3000));
    const fr = frag6({ nh: 58, ident: 0x11 }, msg, [
      [0, 1232, true],
      [1232, 1232, true],
      [2464, msg.length - 2464, false],
    ]);
    t.injectIp(fr[1]!, fr[2]!, fr[0]!);
    const out = t.takeIp();
    assert.ok(out.length >= 3, 'the reply is fragmented too');
    assert.equal(t.stack.counters.get('ipv6.reasm_ok'), 1);
  });

  test('IPv6 overlap discards the datagram (RFC 5722)', () => {
    const t = rawPeer({ kind: 'ip' });
    const msg = echo6Msg('fd00::1', 'fd00::2', pattern(200));
    const fr = frag6({ nh: 58, ident: 0x12 }, msg, [
      [0, 104, true],
      [96, 112, false],
      [104, 104, false],
    ]);
    t.injectIp(...fr);
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('drop.ipv6.reasm_overlap'), 2);
  });

  test('IPv6 timeout after 60 s → Time Exceeded code 1', () => {
    const t = rawPeer({ kind: 'ip' });
    const msg = echo6Msg('fd00::1', 'fd00::2', pattern(200));
    t.injectIp(frag6({ nh: 58, ident: 0x13 }, msg, [[0, 104, true]])[0]!);
    t.advance(59_999);
    assert.equal(t.takeIp().length, 0);
    t.advance(1);
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const ip = p6(out[0]!);
    const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
    assert.ok(typeof m !== 'string' && m.kind === 'timeExceeded' && m.code === 1);
  });

  test('IPv6 fragment with M=1 and a length not a multiple of 8 → Parameter Problem code 0, pointer 4', () => {
    const t = rawPeer({ kind: 'ip' });
    const body = new Uint8Array(8 + 13);
    emitIpv6Fragment({ nextHeader: 17, fragOffset: 0, more: true, ident: 1 }, body);
    t.injectIp(ip6({ nh: 44 }, body));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const ip = p6(out[0]!);
    const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
    assert.ok(typeof m !== 'string' && m.kind === 'paramProblem' && m.code === 0 && m.pointer === 4);
    assert.equal(t.stack.counters.get('drop.ipv6.bad_fragment_length'), 1);
  });

  test('IPv6 memory bound shared with IPv4: the oldest datagram of either family is evicted', () => {
    const t = rawPeer({ kind: 'ip', limits: { reassemblyBytes: 3000 } });
    const seg = udp6Seg('fd00::1', 'fd00::2', 1, 2, pattern(4000));
    for (let id = 1; id <= 3; id++) t.injectIp(frag6({ nh: 17, ident: id }, seg, [[1232, 1232, true]])[0]!);
    assert.equal(t.stack.counters.get('drop.ipv6.reasm_evicted'), 1);
    // A v4 fragment evicts the oldest v6 datagram: a flood of one family cannot starve the other.
    t.injectIp(...frag4({ protocol: 1, ident: 1 }, echo4Msg(pattern(3000)), [[1480, 1480, true]]));
    assert.equal(t.stack.counters.get('drop.ipv4.reasm_memory'), 0);
    assert.equal(t.stack.counters.get('drop.ipv6.reasm_evicted'), 2, 'v4 evicted the oldest v6 datagram');
    assert.equal(t.stack.counters.get('drop.ipv4.reasm_evicted'), 0);
    assert.equal(t.stack.reassembly.used, 1232 + 1480);
    assert.equal(t.stack.reassembly.peak, 1232 + 1480, 'the high-water mark, within the bound');
  });
});
