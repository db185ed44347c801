import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Stack, DEFAULT_LIMITS } from '../../src/stack.js';
import { VirtualClock, SeededRandom } from '../../src/core/clock.js';
import { MemoryLink } from '../../src/link/memory.js';
import { rawPeer, stackPair, udp4, udp6, ip4, ip6, pattern } from './ip-harness.js';
import * as api from '../../src/index.js';

function mk() {
  return new Stack({ clock: new VirtualClock(0), random: new SeededRandom(3) });
}

describe('Stack configuration', () => {
  test('addInterface validates addresses and gateways', () => {
    const s = mk();
    const [l] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    assert.throws(() => s.addInterface(l, { addresses: ['10.0.0.2'] }), TypeError);
    assert.throws(() => s.addInterface(l, { addresses: ['10.0.0.2/33'] }), TypeError);
    assert.throws(() => s.addInterface(l, { addresses: ['10.0.0.2/24'], gateway4: 'x' }), TypeError);
    assert.throws(() => s.addInterface(l, { addresses: ['fd00::2/64'], gateway6: 'x' }), TypeError);
  });

  test('interfaces: names, indexes, MTU, addresses, routes', () => {
    const s = mk();
    const [l1] = MemoryLink.pair({ kind: 'ip', mtu: 1400 });
    const [l2] = MemoryLink.pair({ kind: 'ethernet', mtu: 9000 });
    const i1 = s.addInterface(l1, { addresses: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'], gateway4: '10.0.0.1', gateway6: 'fe80::1' });
    const i2 = s.addInterface(l2, { name: 'tap0', addresses: ['192.168.1.2/24'], mtu: 1500 });
    assert.equal(i1.index, 1);
    assert.equal(i1.name, 'if1');
    assert.equal(i1.mtu, 1400);
    assert.equal(i2.mtu, 1500);
    assert.equal(s.getInterface('tap0'), i2);
    assert.equal(s.getInterface(1), i1);
    assert.equal(i1.addrs4[0]!.broadcast, 0x0a0000ff);
    assert.equal(i1.addrs6.length, 2);
    assert.equal(s.routes.v4.length, 3);
    assert.equal(s.routes.v6.length, 2, 'fd00::/64 and the default (link-local gets no route)');
    assert.ok(i2.arp && i2.ndp);
    assert.ok(!i1.arp && !i1.ndp);
  });

  test('limits: defaults documented and overridable', () => {
    assert.equal(DEFAULT_LIMITS.reassemblyTimeout4Ms, 30_000);
    assert.equal(DEFAULT_LIMITS.reassemblyTimeout6Ms, 60_000);
    assert.equal(DEFAULT_LIMITS.neighborPending, 16);
    assert.equal(DEFAULT_LIMITS.defaultTtl, 64);
    const s = new Stack({ clock: new VirtualClock(0), random: new SeededRandom(1), limits: { defaultTtl: 10 } });
    assert.equal(s.limits.defaultTtl, 10);
    assert.equal(s.limits.defaultHopLimit, 64);
  });

  test('registerProtocol hands TCP (6) to a handler for both families', () => {
    const t = rawPeer({ kind: 'ip' });
    const seen: string[] = [];
    t.stack.registerProtocol(4, 6, (_s, _d, payload) => seen.push('v4:' + payload.length));
    t.stack.registerProtocol(6, 6, (_s, _d, payload) => seen.push('v6:' + payload.length));
    t.injectIp(ip4({ protocol: 6 }, pattern(20)));
    t.injectIp(ip6({ nh: 6 }, pattern(24)));
    assert.deepEqual(seen, ['v4:20', 'v6:24']);
    assert.equal(t.takeIp().length, 0);
  });

  test('ICMP errors are demultiplexed to the quoted protocol', () => {
    const { a, b, settle } = stackPair({ kind: 'ip' });
    const errs: string[] = [];
    a.registerProtocol(4, 200, () => undefined, (type, code, inv) => errs.push(`v4 ${type}/${code} ${inv[9]}`));
    a.registerProtocol(6, 200, () => undefined, (type, code, inv) => errs.push(`v6 ${type}/${code} ${inv[6]}`));
    a.ipv4.output(0x0a000001, 0x0a000002, 200, pattern(8));
    a.ipv6.output(a.interfaces[0]!.addrs6[0]!.addr, b.interfaces[0]!.addrs6[0]!.addr, 200, pattern(8));
    settle();
    assert.deepEqual(errs, ['v4 3/2 200', 'v6 4/1 200']);
  });

  test('counters: rx/tx and every drop has a reason', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp4({ dport: 1 }, pattern(4)));
    t.injectIp(udp6({ dport: 1 }, pattern(4)));
    const c = t.stack.counters;
    assert.equal(c.get('ipv4.rx'), 1);
    assert.equal(c.get('ipv6.rx'), 1);
    assert.equal(c.get('udp.rx'), 2);
    assert.equal(c.get('ipv4.tx'), 1);
    assert.equal(c.get('ipv6.tx'), 1);
    const drops = c.drops();
    let sum = 0;
    for (const v of Object.values(drops)) sum += v;
    assert.equal(sum, c.get('drop.total'));
    assert.deepEqual(drops, { 'udp.no_socket': 2 });
  });

  test('close() is idempotent, closes links, and ignores later frames', async () => {
    const t = rawPeer({ kind: 'ip' });
    t.stack.close();
    t.stack.close();
    assert.ok(t.stack.isClosed);
    t.stack.receive(t.iface, udp4({ dport: 1 }, pattern(4)));
    assert.equal(t.stack.counters.get('ipv4.rx'), 0);
  });

  test('empty frame on TUN is counted', () => {
    const t = rawPeer({ kind: 'ip' });
    t.stack.receive(t.iface, new Uint8Array(0));
    assert.equal(t.stack.counters.get('drop.link.empty'), 1);
  });

  test('public exports', () => {
    for (const name of ['Stack', 'createSocket', 'VirtualClock', 'SeededRandom', 'MemoryLink', 'NodeDriver', 'Counters', 'TimerQueue', 'SocketError', 'openTun']) {
      assert.ok(name in api, name);
    }
  });
});

describe('loopback to our own addresses', () => {
  for (const [fam, addr] of [
    [4, '10.0.0.2'],
    [6, 'fd00::2'],
  ] as const) {
    test(`UDP IPv${fam} to ourselves is delivered on the next poll, never on the link`, () => {
      const t = rawPeer({ kind: 'ethernet' });
      t.take();
      const server = t.stack.udp.open(fam);
      server.bind(undefined, 9);
      const got: string[] = [];
      server.onMessage = (d, info) => got.push(`${info.address}:${d.length}`);
      const c = t.stack.udp.open(fam);
      c.sendTo(pattern(3000), addr, 9);
      assert.equal(got.length, 0, 'not re-entrant');
      t.stack.poll();
      assert.deepEqual(got, [`${addr}:3000`]);
      assert.equal(t.take().length, 0);
      assert.equal(t.stack.counters.get(`ipv${fam}.loopback`), 1);
    });
  }

  test('ping ourselves', () => {
    const t = rawPeer({ kind: 'ip' });
    let n = 0;
    t.stack.icmp4.onEchoReply = () => n++;
    t.stack.icmp6.onEchoReply = () => n++;
    t.stack.ping('10.0.0.2', pattern(100));
    t.stack.ping('fd00::2', pattern(100));
    t.stack.poll();
    t.stack.poll();
    assert.equal(n, 2);
    assert.equal(t.takeIp().length, 0);
  });
});
