import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS, UsageError, parseCidr, parseHostArgs, macBytes, formatMac } from '../../src/cli/args.js';
import { formatCounters, flatten } from '../../src/cli/table.js';

describe('netstack host options', () => {
  test('defaults', () => {
    const c = parseHostArgs('host', []);
    assert.equal(c.dev, 'tun0');
    assert.equal(c.tap, false);
    assert.equal(c.ip.text, '10.0.0.2/24');
    assert.equal(c.hostIp.text, '10.0.0.1/24');
    assert.equal(c.ip6.text, 'fd00::2/64');
    assert.equal(c.hostIp6.text, 'fd00::1/64');
    assert.equal(c.linkLocal.text, 'fe80::2/64');
    assert.equal(c.mtu, 1500);
    assert.equal(c.configure, true);
    assert.equal(c.udpEcho, 8000);
    assert.equal(c.stats, 0);
    assert.equal(c.pcap, undefined);
    assert.equal(c.netns, undefined);
    assert.equal(c.mac, undefined);
    assert.equal(c.help, false);
  });

  test('every option', () => {
    const c = parseHostArgs('host', [
      '--dev', 'tapx', '--tap', '--ip', '192.168.7.2/24', '--host-ip', '192.168.7.1/24',
      '--ip6', 'fd01::2/64', '--host-ip6', 'fd01::1/64', '--mtu', '9000', '--no-configure',
      '--pcap', '/tmp/x.pcap', '--udp-echo', '7', '--stats', '2.5', '--netns', 'ns-1', '--mac', '02:AA:00:00:00:01',
    ]);
    assert.equal(c.dev, 'tapx');
    assert.equal(c.tap, true);
    assert.equal(c.ip.address, '192.168.7.2');
    assert.equal(c.ip.prefix, 24);
    assert.equal(c.hostIp.address, '192.168.7.1');
    assert.equal(c.ip6.address, 'fd01::2');
    assert.equal(c.hostIp6.prefix, 64);
    assert.equal(c.mtu, 9000);
    assert.equal(c.configure, false);
    assert.equal(c.pcap, '/tmp/x.pcap');
    assert.equal(c.udpEcho, 7);
    assert.equal(c.stats, 2.5);
    assert.equal(c.netns, 'ns-1');
    assert.equal(c.mac, '02:aa:00:00:00:01');
  });

  test('--tap defaults the device name and the MAC', () => {
    const c = parseHostArgs('host', ['--tap']);
    assert.equal(c.dev, 'tap0');
    assert.equal(c.mac, DEFAULTS.mac);
  });

  test('udp-echo takes --port', () => {
    assert.equal(parseHostArgs('udp-echo', ['--port', '9000']).udpEcho, 9000);
    assert.throws(() => parseHostArgs('host', ['--port', '9000']), UsageError);
    assert.throws(() => parseHostArgs('udp-echo', ['--port', '0']), UsageError);
  });

  test('--udp-echo 0 turns the echo off', () => {
    assert.equal(parseHostArgs('host', ['--udp-echo', '0']).udpEcho, 0);
  });

  const bad: Array<[string, string[], RegExp]> = [
    ['unknown option', ['--frobnicate'], /frobnicate/],
    ['positional', ['extra'], /extra|positional/i],
    ['missing value', ['--dev'], /--dev/],
    ['bad ipv4', ['--ip', '10.0.0.300/24'], /--ip/],
    ['ipv6 given as ipv4', ['--ip', 'fd00::2/64'], /--ip/],
    ['bad prefix', ['--ip', '10.0.0.2/33'], /prefix/],
    ['bad ipv6', ['--ip6', '10.0.0.2/24'], /--ip6/],
    ['scoped ipv6', ['--ip6', 'fe80::2%tun0/64'], /--ip6/],
    ['mtu too small', ['--mtu', '100'], /--mtu/],
    ['mtu too large', ['--mtu', '70000'], /--mtu/],
    ['mtu not a number', ['--mtu', '1500x'], /--mtu/],
    ['port too large', ['--udp-echo', '65536'], /--udp-echo/],
    ['negative stats', ['--stats', '-1'], /--stats/],
    ['zero stats', ['--stats', '0'], /--stats/],
    ['mac without tap', ['--mac', '02:00:00:00:00:09'], /--tap/],
    ['bad mac', ['--tap', '--mac', '02:00:00:00:00'], /--mac/],
    ['multicast mac', ['--tap', '--mac', '01:00:5e:00:00:01'], /multicast/],
    ['long device name', ['--dev', 'a-very-long-device-name'], /--dev/],
    ['device name with slash', ['--dev', 'a/b'], /--dev/],
    ['same v4 address', ['--ip', '10.0.0.1/24'], /different/],
    ['same v6 address', ['--ip6', 'fd00::1/64'], /different/],
    ['empty pcap', ['--pcap', ''], /--pcap/],
    ['bad netns', ['--netns', 'a b'], /--netns/],
  ];
  for (const [name, argv, re] of bad) {
    test(`rejects: ${name}`, () => {
      assert.throws(
        () => parseHostArgs('host', argv),
        (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n') && e.command === 'host',
      );
    });
  }
});

describe('parseCidr', () => {
  test('without a prefix means a host address', () => {
    assert.equal(parseCidr('10.1.2.3', 4, '--ip').prefix, 32);
    assert.equal(parseCidr('fd00::5', 6, '--ip6').prefix, 128);
  });
});

describe('mac helpers', () => {
  test('round trip', () => {
    assert.equal(formatMac(macBytes('02:ab:cd:00:01:ff')), '02:ab:cd:00:01:ff');
  });
});

describe('counter table', () => {
  test('aligns names and values', () => {
    const text = formatCounters('counters', [
      { title: 'stack', values: { 'ipv4.rx': 12, 'drop.total': 3 } },
      { title: 'link', values: { rxPackets: 123456, bytes: 10n } },
      { title: 'empty', values: {} },
    ]);
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], 'counters');
    assert.equal(lines[1], 'stack');
    const rows = lines.filter((l) => l.startsWith('  ') && !l.includes('(none)'));
    assert.equal(rows.length, 4);
    const ends = new Set(rows.map((l) => l.length));
    assert.equal(ends.size, 1, 'values right-aligned to one column');
    assert.match(text, /ipv4\.rx\s+12\n/);
    assert.match(text, /\(none\)/);
  });

  test('flatten nests with dots and keeps only scalars', () => {
    assert.deepEqual(flatten({ a: { b: 1, c: 'x' }, d: 2n, e: () => 0 }), { 'a.b': 1, 'a.c': 'x', d: 2n });
  });
});
