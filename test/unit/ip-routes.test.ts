import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../../src/ip/routes.js';
import { NetInterface } from '../../src/ip/interface.js';
import { MemoryLink } from '../../src/link/memory.js';
import { rawPeer, pattern, p4, p6, v4, v6, arpsIn, ndIn0 } from './ip-harness.js';
import { formatIpv6 } from '../../src/wire/address.js';

function iface(i: number): NetInterface {
  const [l] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
  return new NetInterface(i, 'if' + i, l, 1500);
}

describe('RouteTable', () => {
  test('IPv4 longest prefix match and default gateway', () => {
    const rt = new RouteTable();
    const i1 = iface(1);
    const i2 = iface(2);
    rt.add4(i1, v4('10.0.0.0'), 8);
    rt.add4(i2, v4('10.1.0.0'), 16);
    rt.add4(i1, v4('10.1.2.0'), 24);
    rt.add4(i2, 0, 0, v4('192.168.0.1'));
    assert.equal(rt.lookup4(v4('10.1.2.3'))!.iface, i1);
    assert.equal(rt.lookup4(v4('10.1.3.3'))!.iface, i2);
    assert.equal(rt.lookup4(v4('10.9.9.9'))!.iface, i1);
    assert.equal(rt.lookup4(v4('10.9.9.9'))!.nextHop, v4('10.9.9.9'));
    const d = rt.lookup4(v4('8.8.8.8'))!;
    assert.equal(d.iface, i2);
    assert.equal(d.nextHop, v4('192.168.0.1'));
    rt.removeInterface(i2);
    assert.equal(rt.lookup4(v4('8.8.8.8')), undefined);
  });

  test('equal prefixes: lower metric wins', () => {
    const rt = new RouteTable();
    const i1 = iface(1);
    const i2 = iface(2);
    rt.add4(i1, v4('10.0.0.0'), 24, undefined, 10);
    rt.add4(i2, v4('10.0.0.0'), 24, undefined, 5);
    assert.equal(rt.lookup4(v4('10.0.0.1'))!.iface, i2);
  });

  test('IPv6 longest match, default, and link-local scope', () => {
    const rt = new RouteTable();
    const i1 = iface(1);
    const i2 = iface(2);
    i2.addIpv6(v6('fe80::2'), 64);
    rt.add6(i1, v6('fd00::'), 16);
    rt.add6(i2, v6('fd00:1::'), 32);
    rt.add6(i1, new Uint8Array(16), 0, v6('fd00::fe'));
    assert.equal(rt.lookup6(v6('fd00:1::5'))!.iface, i2);
    assert.equal(rt.lookup6(v6('fd00:2::5'))!.iface, i1);
    const d = rt.lookup6(v6('2001:db8::1'))!;
    assert.equal(formatIpv6(d.nextHop), 'fd00::fe');
    assert.equal(rt.lookup6(v6('fe80::9'), i1)!.iface, i1, 'zone given');
    assert.equal(rt.lookup6(v6('fe80::9'), undefined, [i1, i2])!.iface, i2, 'first interface with a link-local address');
    assert.equal(rt.lookup6(v6('fe80::9')), undefined);
  });
});

describe('routing in the stack', () => {
  test('no route → ENETUNREACH, counted', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    assert.throws(() => s.sendTo(pattern(4), '8.8.8.8', 53), { code: 'ENETUNREACH' });
    assert.equal(t.stack.counters.get('drop.ipv4.no_route'), 1);
    const s6 = t.stack.udp.open(6);
    assert.throws(() => s6.sendTo(pattern(4), '2001:db8::1', 53), { code: 'ENETUNREACH' });
    assert.equal(t.stack.counters.get('drop.ipv6.no_route'), 1);
  });

  test('default gateway: off-link IPv4 goes to the gateway MAC (ARP for the gateway)', () => {
    const t = rawPeer({ kind: 'ethernet', gateway4: '10.0.0.254', gateway6: 'fe80::fe' });
    t.take();
    const s = t.stack.udp.open(4);
    s.sendTo(pattern(4), '8.8.8.8', 53);
    const arps = arpsIn(t.take());
    assert.equal(arps.length, 1);
    assert.equal(arps[0]!.targetIp, v4('10.0.0.254'));
    const s6 = t.stack.udp.open(6);
    s6.sendTo(pattern(4), '2001:db8::1', 53);
    const ns = ndIn0(t.take());
    assert.equal(ns.length, 1);
    assert.equal(ns[0], 'ff02::1:ff00:fe');
  });

  test('TUN default gateway: packets leave with the right source', () => {
    const t = rawPeer({ kind: 'ip', gateway4: '10.0.0.254', gateway6: 'fd00::fe' });
    const s = t.stack.udp.open(4);
    s.sendTo(pattern(4), '8.8.8.8', 53);
    const ip = p4(t.takeIp()[0]!);
    assert.equal(ip.src, v4('10.0.0.2'));
    assert.equal(ip.dst, v4('8.8.8.8'));
    const s6 = t.stack.udp.open(6);
    s6.sendTo(pattern(4), '2001:db8::1', 53);
    assert.equal(formatIpv6(p6(t.takeIp()[0]!).src), 'fd00::2', 'a global source for a global destination');
    s6.sendTo(pattern(4), 'fe80::1', 53);
    assert.equal(formatIpv6(p6(t.takeIp()[0]!).src), 'fe80::2', 'link-local for link-local');
  });

  test('multiple addresses: source follows the destination subnet', () => {
    const t = rawPeer({ kind: 'ip', addresses: ['10.0.0.2/24', '192.168.5.2/24', 'fd00::2/64', 'fd01::2/64', 'fe80::2/64'] });
    const s = t.stack.udp.open(4);
    s.sendTo(pattern(4), '192.168.5.1', 53);
    s.sendTo(pattern(4), '10.0.0.1', 53);
    const out = t.takeIp().map(p4);
    assert.equal(out[0]!.src, v4('192.168.5.2'));
    assert.equal(out[1]!.src, v4('10.0.0.2'));
    const s6 = t.stack.udp.open(6);
    s6.sendTo(pattern(4), 'fd01::1', 53);
    assert.equal(formatIpv6(p6(t.takeIp()[0]!).src), 'fd01::2');
  });
});
