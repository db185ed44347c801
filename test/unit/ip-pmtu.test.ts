import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rawPeer, pattern, ip4, ip6, p4, p6, v6 } from './ip-harness.js';
import { emitIcmpv4 } from '../../src/wire/icmpv4.js';
import { emitIcmpv6 } from '../../src/wire/icmpv6.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { PmtuCache } from '../../src/ip/pmtu.js';
import { VirtualClock } from '../../src/core/clock.js';

function fragNeeded(invoking: Uint8Array, mtu: number): Uint8Array {
  const m = new Uint8Array(8 + invoking.length);
  emitIcmpv4({ kind: 'dstUnreachable', code: 4, nextHopMtu: mtu, invoking }, m);
  return ip4({ protocol: 1, src: '10.0.0.1', dst: '10.0.0.2' }, m);
}

function ptb(invoking: Uint8Array, mtu: number): Uint8Array {
  const m = new Uint8Array(8 + invoking.length);
  emitIcmpv6({ kind: 'packetTooBig', code: 0, mtu, invoking }, m, pseudoHeaderSumV6(v6('fd00::1'), v6('fd00::2'), 58, m.length));
  return ip6({ nh: 58 }, m);
}

describe('PmtuCache', () => {
  test('only decreases, floor, expiry, bounded', () => {
    const clock = new VirtualClock(0);
    const c = new PmtuCache<number>(() => clock.now(), 552, 600_000, 2);
    assert.equal(c.update(1, 1400, 1500), 1400);
    assert.equal(c.update(1, 1450, 1500), undefined, 'no increase');
    assert.equal(c.update(1, 100, 1500), 552, 'floor');
    assert.equal(c.get(1), 552);
    clock.advance(600_000);
    assert.equal(c.get(1), undefined, 'expired');
    c.update(1, 1000, 1500);
    c.update(2, 1000, 1500);
    c.update(3, 1000, 1500);
    assert.equal(c.size, 2);
    assert.equal(c.get(1), undefined, 'oldest evicted');
  });
});

describe('path MTU discovery', () => {
  test('IPv4: frag needed lowers the MTU used to fragment our datagrams', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.sendTo(pattern(100), '10.0.0.1', 9);
    const sent = t.takeIp()[0]!;
    t.injectIp(fragNeeded(sent.subarray(0, 28), 1000));
    assert.equal(t.stack.counters.get('ipv4.pmtu_update'), 1);
    assert.equal(t.stack.ipv4.pathMtu(t.iface, 0x0a000001), 1000);
    s.sendTo(pattern(3000), '10.0.0.1', 9);
    const out = t.takeIp();
    assert.equal(out.length, 4);
    for (const f of out) assert.ok(f.length <= 1000);
    s.dontFragment = true;
    assert.throws(() => s.sendTo(pattern(1200), '10.0.0.1', 9), { code: 'EMSGSIZE' });
    t.advance(600_000);
    s.sendTo(pattern(1200), '10.0.0.1', 9);
    assert.equal(p4(t.takeIp()[0]!).dontFrag, true, 'the path MTU expired');
  });

  test('IPv4: frag needed about a packet that is not ours is ignored', () => {
    const t = rawPeer({ kind: 'ip' });
    const fake = ip4({ protocol: 17, src: '10.0.0.77', dst: '10.0.0.1' }, pattern(8));
    t.injectIp(fragNeeded(fake, 600));
    assert.equal(t.stack.counters.get('drop.icmp.frag_needed_unmatched'), 1);
    assert.equal(t.stack.ipv4.pmtu.size, 0);
  });

  test('IPv4/IPv6: frag needed / packet too big quoting UDP from our address but a port with no socket is ignored (Linux __udp4_lib_err)', () => {
    const t = rawPeer({ kind: 'ip' });
    const s4 = t.stack.udp.open(4);
    s4.sendTo(pattern(100), '10.0.0.1', 9);
    const sent4 = t.takeIp()[0]!;
    s4.close();
    t.injectIp(fragNeeded(sent4.subarray(0, 28), 600));
    assert.equal(t.stack.counters.get('drop.icmp.frag_needed_unmatched'), 1);
    assert.equal(t.stack.ipv4.pmtu.size, 0);
    const s6 = t.stack.udp.open(6);
    s6.sendTo(pattern(100), 'fd00::1', 9);
    const sent6 = t.takeIp()[0]!;
    s6.close();
    t.injectIp(ptb(sent6, 1300));
    assert.equal(t.stack.counters.get('drop.icmp6.packet_too_big_unmatched'), 1);
    const again = t.stack.udp.open(6);
    again.sendTo(pattern(1400), 'fd00::1', 9);
    assert.equal(t.takeIp().length, 1, 'the path MTU was not lowered: one unfragmented datagram');
  });

  test('IPv6: Packet Too Big lowers the path MTU; below 1280 means 1280', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(6);
    s.sendTo(pattern(100), 'fd00::1', 9);
    const sent = t.takeIp()[0]!;
    t.injectIp(ptb(sent, 1300));
    s.sendTo(pattern(3000), 'fd00::1', 9);
    let out = t.takeIp();
    assert.equal(out.length, 3);
    for (const f of out) assert.ok(f.length <= 1300);
    t.injectIp(ptb(sent, 500));
    assert.equal(t.stack.ipv6.pathMtu(t.iface, v6('fd00::1')), 1280);
    s.sendTo(pattern(1250), 'fd00::1', 9);
    out = t.takeIp();
    assert.equal(out.length, 2);
    assert.equal(p6(out[0]!).nextHeader, 44);
  });
});
