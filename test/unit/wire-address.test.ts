import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import {
  IPV4_BROADCAST,
  IPV6_ALL_NODES,
  IPV6_LOOPBACK,
  IPV6_UNSPECIFIED,
  formatIpv4,
  formatIpv6,
  formatMac,
  ipv4InPrefix,
  ipv4Mask,
  ipv4MulticastMac,
  ipv4Network,
  ipv4SubnetBroadcast,
  ipv6Equal,
  ipv6InPrefix,
  ipv6MulticastMac,
  ipv6MulticastScope,
  ipv6Network,
  isIpv4Broadcast,
  isIpv4LinkLocal,
  isIpv4Loopback,
  isIpv4Multicast,
  isIpv4Unspecified,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6SolicitedNode,
  isIpv6Unspecified,
  isMacBroadcast,
  isMacMulticast,
  macEqual,
  parseCidr,
  parseIpv4,
  parseIpv6,
  parseMac,
  solicitedNodeMulticast,
  splitZone,
} from '../../src/wire/address.js';

const v6 = (s: string): Uint8Array => {
  const a = parseIpv6(s);
  assert.ok(a, s);
  return a;
};
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

test('parseIpv4 / formatIpv4', () => {
  assert.equal(parseIpv4('0.0.0.0'), 0);
  assert.equal(parseIpv4('255.255.255.255'), 0xffffffff);
  assert.equal(parseIpv4('10.0.0.2'), 0x0a000002);
  assert.equal(parseIpv4('192.168.1.254'), 0xc0a801fe);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.04', '01.2.3.4', '1..2.3', '1.2.3.4.', '.1.2.3',
    ' 1.2.3.4', '1.2.3.4 ', '1.2.3.a', '1.2.3.-1', '1234.1.1.1', '0x1.2.3.4', '1.2.3.4/24']) {
    assert.equal(parseIpv4(bad), null, bad);
  }
  assert.equal(formatIpv4(0xc0a801fe), '192.168.1.254');
  assert.equal(formatIpv4(0), '0.0.0.0');
  assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
  const r = new SeededRandom(1);
  for (let i = 0; i < 1000; i++) {
    const a = r.u32();
    assert.equal(parseIpv4(formatIpv4(a)), a);
  }
});

test('ipv4 masks and prefixes', () => {
  assert.equal(ipv4Mask(0), 0);
  assert.equal(ipv4Mask(1), 0x80000000);
  assert.equal(ipv4Mask(24), 0xffffff00);
  assert.equal(ipv4Mask(32), 0xffffffff);
  assert.equal(ipv4Network(0x0a000102, 24), 0x0a000100);
  assert.equal(ipv4SubnetBroadcast(0x0a000102, 24), 0x0a0001ff);
  assert.ok(ipv4InPrefix(0x0a0001fe, 0x0a000102, 24));
  assert.ok(!ipv4InPrefix(0x0a0002fe, 0x0a000102, 24));
  assert.ok(ipv4InPrefix(0xdeadbeef, 0, 0));
  assert.ok(ipv4InPrefix(0x0a000102, 0x0a000102, 32));
  assert.ok(!ipv4InPrefix(0x0a000103, 0x0a000102, 32));
  assert.ok(ipv4InPrefix(0x7fffffff, 0x00000000, 1));
  assert.ok(!ipv4InPrefix(0x80000000, 0x00000000, 1));
});

test('ipv4 classification', () => {
  assert.ok(isIpv4Broadcast(IPV4_BROADCAST));
  assert.ok(!isIpv4Broadcast(0x0a0000ff));
  assert.ok(isIpv4Multicast(parseIpv4('224.0.0.1')!));
  assert.ok(isIpv4Multicast(parseIpv4('239.255.255.255')!));
  assert.ok(!isIpv4Multicast(parseIpv4('240.0.0.1')!));
  assert.ok(!isIpv4Multicast(parseIpv4('223.255.255.255')!));
  assert.ok(isIpv4Loopback(parseIpv4('127.1.2.3')!));
  assert.ok(!isIpv4Loopback(parseIpv4('128.0.0.1')!));
  assert.ok(isIpv4Unspecified(0));
  assert.ok(!isIpv4Unspecified(1));
  assert.ok(isIpv4LinkLocal(parseIpv4('169.254.3.4')!));
  assert.ok(!isIpv4LinkLocal(parseIpv4('169.253.3.4')!));
});

test('parseIpv6: RFC 4291 §2.2 forms', () => {
  assert.equal(hex(v6('2001:db8:0:0:8:800:200c:417a')), '20010db80000000000080800200c417a');
  assert.equal(hex(v6('2001:DB8::8:800:200C:417A')), '20010db80000000000080800200c417a');
  assert.equal(hex(v6('ff01::101')), 'ff010000000000000000000000000101');
  assert.equal(hex(v6('::1')), '00000000000000000000000000000001');
  assert.equal(hex(v6('::')), '00000000000000000000000000000000');
  assert.equal(hex(v6('1::')), '00010000000000000000000000000000');
  assert.equal(hex(v6('1:2:3:4:5:6:7::')), '00010002000300040005000600070000');
  assert.equal(hex(v6('::2:3:4:5:6:7:8')), '00000002000300040005000600070008');
  assert.equal(hex(v6('0:0:0:0:0:0:13.1.68.3')), '0000000000000000000000000d014403');
  assert.equal(hex(v6('::13.1.68.3')), '0000000000000000000000000d014403');
  assert.equal(hex(v6('::ffff:129.144.52.38')), '00000000000000000000ffff81903426');
  assert.equal(hex(v6('64:ff9b::192.0.2.1')), '0064ff9b0000000000000000c0000201');
  assert.equal(hex(v6('1:2:3:4:5:6:1.2.3.4')), '00010002000300040005000601020304');
  assert.equal(hex(v6('fe80::1')), 'fe800000000000000000000000000001');
  for (const bad of [
    '', ':', ':::', '1', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8', ':1::', '1:', '1::2:', ':1:2:3:4:5:6:7:8', 'g::1', '::1.2.3', '::1.2.3.4.5', '::256.1.1.1',
    '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.4:5', '1.2.3.4', 'fe80::1%eth0', '::ffff:01.2.3.4', ' ::1', '::1 ',
    '1:2:3:4:5:6:7:8:', '0000000000000000000000000000000000000000000001',
  ]) {
    assert.equal(parseIpv6(bad), null, bad);
  }
  const out = new Uint8Array(16);
  assert.equal(parseIpv6('::1', out), out);
});

test('splitZone', () => {
  assert.deepEqual(splitZone('fe80::1%tun0'), { addr: 'fe80::1', zone: 'tun0' });
  assert.deepEqual(splitZone('fe80::1'), { addr: 'fe80::1', zone: null });
});

test('formatIpv6: RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // leftmost on a tie
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // longest run wins
    ['2001:DB8::AAAA', '2001:db8::aaaa'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['0:0:0:0:0:0:0:2', '::2'],
    ['fe80::ff:fe00:b', 'fe80::ff:fe00:b'],
    ['ff02::1:ff00:2', 'ff02::1:ff00:2'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['0:1:0:1:0:1:0:1', '0:1:0:1:0:1:0:1'],
  ];
  for (const [input, want] of cases) assert.equal(formatIpv6(v6(input)), want, input);
  const r = new SeededRandom(2);
  const b = new Uint8Array(16);
  for (let i = 0; i < 2000; i++) {
    r.fill(b);
    // make zero runs likely
    for (let g = 0; g < 8; g++) if (r.u32() % 2) b[g * 2] = b[g * 2 + 1] = 0;
    const s = formatIpv6(b);
    assert.equal(s, s.toLowerCase());
    assert.ok(ipv6Equal(v6(s), b), s);
  }
});

test('ipv6 prefixes and classification', () => {
  const a = v6('fd00::2');
  assert.ok(ipv6InPrefix(a, v6('fd00::'), 64));
  assert.ok(!ipv6InPrefix(v6('fd00:0:0:1::2'), v6('fd00::'), 64));
  assert.ok(ipv6InPrefix(v6('fe80::1'), v6('fe80::'), 10));
  assert.ok(ipv6InPrefix(v6('febf::1'), v6('fe80::'), 10));
  assert.ok(!ipv6InPrefix(v6('fec0::1'), v6('fe80::'), 10));
  assert.ok(ipv6InPrefix(v6('1::'), v6('2::'), 0));
  assert.ok(ipv6InPrefix(a, a, 128));
  assert.ok(!ipv6InPrefix(v6('fd00::3'), a, 128));
  assert.ok(ipv6InPrefix(v6('fd00::3'), a, 127));
  assert.ok(!ipv6InPrefix(v6('fd00::4'), a, 126));
  assert.ok(ipv6InPrefix(v6('fd00::3'), a, 126));
  assert.equal(formatIpv6(ipv6Network(v6('2001:db8:ffff:ffff::1'), 36)), '2001:db8:f000::');
  assert.ok(isIpv6Multicast(IPV6_ALL_NODES));
  assert.equal(ipv6MulticastScope(IPV6_ALL_NODES), 2);
  assert.ok(!isIpv6Multicast(a));
  assert.ok(isIpv6LinkLocal(v6('fe80::1')));
  assert.ok(isIpv6LinkLocal(v6('febf::1')));
  assert.ok(!isIpv6LinkLocal(v6('fec0::1')));
  assert.ok(isIpv6Unspecified(IPV6_UNSPECIFIED));
  assert.ok(!isIpv6Unspecified(IPV6_LOOPBACK));
  assert.ok(isIpv6Loopback(IPV6_LOOPBACK));
  assert.ok(!isIpv6Loopback(v6('::2')));
  assert.ok(!isIpv6Loopback(v6('1::1')));
  assert.ok(ipv6Equal(a, v6('fd00:0::2')));
  assert.ok(!ipv6Equal(a, v6('fd00::1')));
});

test('solicited-node and multicast MACs', () => {
  const sn = solicitedNodeMulticast(v6('fd00:9::2'));
  assert.equal(formatIpv6(sn), 'ff02::1:ff00:2');
  assert.equal(formatIpv6(solicitedNodeMulticast(v6('fe80::2aa:ff:fe28:9c5a'))), 'ff02::1:ff28:9c5a');
  assert.ok(isIpv6SolicitedNode(sn));
  assert.ok(!isIpv6SolicitedNode(IPV6_ALL_NODES));
  // aliasing: out === input
  const x = v6('2001:db8::abcd:ef12');
  solicitedNodeMulticast(x, x);
  assert.equal(formatIpv6(x), 'ff02::1:ffcd:ef12');
  assert.equal(formatMac(ipv6MulticastMac(sn)), '33:33:ff:00:00:02');
  assert.equal(formatMac(ipv6MulticastMac(IPV6_ALL_NODES)), '33:33:00:00:00:01');
  assert.equal(formatMac(ipv4MulticastMac(parseIpv4('224.0.0.251')!)), '01:00:5e:00:00:fb');
  assert.equal(formatMac(ipv4MulticastMac(parseIpv4('239.255.255.250')!)), '01:00:5e:7f:ff:fa');
});

test('parseCidr', () => {
  assert.deepEqual(parseCidr('10.0.0.2/24'), { family: 4, addr: 0x0a000002, prefix: 24 });
  assert.deepEqual(parseCidr('0.0.0.0/0'), { family: 4, addr: 0, prefix: 0 });
  const c = parseCidr('fd00::2/64');
  assert.ok(c && c.family === 6);
  assert.equal(formatIpv6(c.addr), 'fd00::2');
  assert.equal(c.prefix, 64);
  assert.equal(parseCidr('::/128')?.prefix, 128);
  for (const bad of ['10.0.0.2', '10.0.0.2/', '10.0.0.2/33', '10.0.0.2/024', '10.0.0.2/a', '10.0.0/24', 'fd00::2/129',
    'fd00::2/', 'x/1', '/24', '10.0.0.2/24/1', 'fe80::1%eth0/64', '10.0.0.2/1000']) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

test('MAC parse/format', () => {
  const m = parseMac('02:00:00:00:00:02');
  assert.ok(m);
  assert.equal(formatMac(m), '02:00:00:00:00:02');
  assert.equal(formatMac(parseMac('AA-bb-CC-dd-EE-ff')!), 'aa:bb:cc:dd:ee:ff');
  for (const bad of ['', '02:00:00:00:00', '02:00:00:00:00:02:03', '02:00:00:00:00:0g', '02:00-00:00:00:02',
    '2:00:00:00:00:002', '02.00.00.00.00.02']) {
    assert.equal(parseMac(bad), null, bad);
  }
  assert.ok(isMacBroadcast(parseMac('ff:ff:ff:ff:ff:ff')!));
  assert.ok(!isMacBroadcast(m));
  assert.ok(isMacMulticast(parseMac('33:33:00:00:00:01')!));
  assert.ok(!isMacMulticast(m));
  assert.ok(macEqual(m, parseMac('02:00:00:00:00:02')!));
  assert.ok(!macEqual(m, parseMac('02:00:00:00:00:03')!));
});

test('address parsers never throw on random strings', () => {
  const r = new SeededRandom(3);
  const alphabet = '0123456789abcdefABCDEFg:.%/- x';
  for (let i = 0; i < 5000; i++) {
    const n = r.u32() % 48;
    let s = '';
    for (let j = 0; j < n; j++) s += alphabet[r.u32() % alphabet.length];
    const a = parseIpv6(s);
    if (a) assert.ok(ipv6Equal(v6(formatIpv6(a)), a), s);
    const b = parseIpv4(s);
    if (b !== null) assert.equal(formatIpv4(b), s);
    parseCidr(s);
    parseMac(s);
    splitZone(s);
  }
});
