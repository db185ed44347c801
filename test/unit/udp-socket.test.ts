import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { stackPair, rawPeer, pattern, udp4, udp6, p4 } from './ip-harness.js';
import { EPHEMERAL_MIN, EPHEMERAL_MAX, SocketError } from '../../src/transport/udp.js';
import { UdpPacket } from '../../src/wire/udp.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import type { LinkKind } from '../../src/link/link.js';

for (const kind of ['ip', 'ethernet'] as LinkKind[]) {
  describe(`UDP echo between stacks (${kind})`, () => {
    for (const [fam, dst] of [
      [4, '10.0.0.2'],
      [6, 'fd00::2'],
      [6, 'fe80::2%eth0'],
    ] as const) {
      for (const size of [0, 1, 1000, 9000, fam === 4 ? 65507 : 65527]) {
        test(`IPv${fam} ${dst} ${size} bytes`, () => {
          const { a, b, settle } = stackPair({ kind });
          const server = b.udp.open(fam);
          server.bind(undefined, 7);
          server.onMessage = (d, info) => server.sendTo(d, info.address, info.port);
          const client = a.udp.open(fam);
          const got: Uint8Array[] = [];
          client.onMessage = (d, info) => {
            assert.equal(info.port, 7);
            assert.equal(info.family, fam);
            assert.equal(info.size, size);
            got.push(d);
          };
          const data = pattern(size, size);
          client.sendTo(data, dst, 7);
          settle();
          assert.equal(got.length, 1);
          assert.deepEqual(got[0], data);
          const lp = client.address()!.port;
          assert.ok(lp >= EPHEMERAL_MIN && lp <= EPHEMERAL_MAX);
          assert.equal(a.counters.get('drop.total'), 0, JSON.stringify(a.counters.drops()));
          assert.equal(b.counters.get('drop.total'), 0, JSON.stringify(b.counters.drops()));
        });
      }
    }
  });
}

describe('UDP socket table', () => {
  test('EADDRINUSE: same port, wildcard vs specific, and reuseAddr', () => {
    const { a } = stackPair({ kind: 'ip' });
    const s1 = a.udp.open(4);
    s1.bind(undefined, 5000);
    assert.throws(() => a.udp.open(4).bind(undefined, 5000), { code: 'EADDRINUSE' });
    assert.throws(() => a.udp.open(4).bind('10.0.0.1', 5000), { code: 'EADDRINUSE' });
    const s2 = a.udp.open(4);
    s2.bind('10.0.0.1', 5001);
    assert.throws(() => a.udp.open(4).bind(undefined, 5001), { code: 'EADDRINUSE' });
    // v6 is separate
    a.udp.open(6).bind('::', 5000);
    // reuseAddr
    const r1 = a.udp.open(4, { reuseAddr: true });
    r1.bind(undefined, 6000);
    const r2 = a.udp.open(4, { reuseAddr: true });
    r2.bind(undefined, 6000);
    assert.throws(() => a.udp.open(4).bind(undefined, 6000), { code: 'EADDRINUSE' });
    // close frees the port
    s1.close();
    a.udp.open(4).bind(undefined, 5000);
  });

  test('bind errors: not a local address, bad address, double bind, closed', () => {
    const { a } = stackPair({ kind: 'ip' });
    assert.throws(() => a.udp.open(4).bind('10.0.0.9', 1), { code: 'EADDRNOTAVAIL' });
    assert.throws(() => a.udp.open(4).bind('nope', 1), { code: 'EINVAL' });
    assert.throws(() => a.udp.open(6).bind('fd00::9', 1), { code: 'EADDRNOTAVAIL' });
    assert.throws(() => a.udp.open(6).bind('fe80::1%nope', 1), { code: 'EINVAL' });
    const s = a.udp.open(4);
    s.bind();
    assert.throws(() => s.bind(), { code: 'EINVAL' });
    s.close();
    assert.throws(() => s.bind(), { code: 'EBADF' });
    assert.throws(() => s.sendTo(pattern(1), '10.0.0.2', 1), { code: 'EBADF' });
    assert.throws(() => a.udp.open(5 as 4), SocketError);
  });

  test('ephemeral ports: random (RFC 6056), distinct, in range; exhaustion → EADDRINUSE', () => {
    const { a } = stackPair({ kind: 'ip' });
    const ports = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const s = a.udp.open(4);
      s.bind();
      const p = s.address()!.port;
      assert.ok(p >= 49152 && p <= 65535);
      ports.add(p);
    }
    assert.equal(ports.size, 200);
    const sorted = [...ports].sort((x, y) => x - y);
    assert.ok(sorted[199]! - sorted[0]! > 5000, 'spread over the range');
    for (let i = 0; i < 16384 - 200; i++) a.udp.open(4).bind();
    assert.throws(() => a.udp.open(4).bind(), { code: 'EADDRINUSE' });
    a.udp.open(6).bind(); // the IPv6 table is separate
  });

  test('EMSGSIZE over 65507 / 65527; bad port EINVAL', () => {
    const { a } = stackPair({ kind: 'ip' });
    assert.throws(() => a.udp.open(4).sendTo(new Uint8Array(65508), '10.0.0.2', 9), { code: 'EMSGSIZE' });
    assert.throws(() => a.udp.open(6).sendTo(new Uint8Array(65528), 'fd00::2', 9), { code: 'EMSGSIZE' });
    assert.throws(() => a.udp.open(4).sendTo(new Uint8Array(1), '10.0.0.2', 0), { code: 'EINVAL' });
    assert.throws(() => a.udp.open(4).sendTo(new Uint8Array(1), 'fd00::2', 9), { code: 'EINVAL' });
    assert.throws(() => a.udp.open(6).sendTo(new Uint8Array(1), '10.0.0.2', 9), { code: 'EINVAL' });
  });

  test('families are separate: a v6 wildcard socket does not get IPv4', () => {
    const t = rawPeer({ kind: 'ip' });
    const s6 = t.stack.udp.open(6);
    s6.bind('::', 53);
    let n = 0;
    s6.onMessage = () => n++;
    t.injectIp(udp4({ dport: 53 }, pattern(4)));
    assert.equal(n, 0);
    assert.equal(t.stack.counters.get('drop.udp.no_socket'), 1);
    t.injectIp(udp6({ dport: 53 }, pattern(4)));
    assert.equal(n, 1);
  });

  test('exact bind wins over wildcard; other addresses of ours go to the wildcard', () => {
    const t = rawPeer({ kind: 'ip', addresses: ['10.0.0.2/24', '10.0.1.2/24'] });
    const w = t.stack.udp.open(4);
    w.bind(undefined, 53);
    const e = t.stack.udp.open(4, { reuseAddr: true });
    assert.throws(() => e.bind('10.0.0.2', 53), { code: 'EADDRINUSE' });
    w.close();
    const e2 = t.stack.udp.open(4);
    e2.bind('10.0.0.2', 53);
    const got: string[] = [];
    e2.onMessage = () => got.push('exact');
    t.injectIp(udp4({ dport: 53 }, pattern(4)));
    t.injectIp(udp4({ dport: 53, dst: '10.0.1.2' }, pattern(4)));
    assert.deepEqual(got, ['exact']);
    assert.equal(t.stack.counters.get('drop.udp.no_socket'), 1);
  });

  test('checksum computed on send (verifies with the pseudo-header)', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 1111);
    s.sendTo(pattern(33), '10.0.0.1', 2222);
    const ip = p4(t.takeIp()[0]!);
    const u = new UdpPacket(ip.payload);
    assert.equal(u.srcPort, 1111);
    assert.equal(u.dstPort, 2222);
    assert.notEqual(u.checksum, 0);
    assert.ok(u.verifyChecksum(pseudoHeaderSumV4(ip.src, ip.dst, 17, ip.payload.length)));
  });

  test('broadcast needs the broadcast flag (EACCES)', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    const s = t.stack.udp.open(4);
    assert.throws(() => s.sendTo(pattern(4), '255.255.255.255', 67), { code: 'EACCES' });
    s.broadcast = true;
    s.sendTo(pattern(4), '255.255.255.255', 67);
    s.sendTo(pattern(4), '10.0.0.255', 67);
    const frames = t.take();
    assert.equal(frames.length, 2);
    for (const f of frames) assert.deepEqual(f.subarray(0, 6), Uint8Array.of(255, 255, 255, 255, 255, 255));
  });

  test('broadcast datagrams reach every matching socket (reuseAddr)', () => {
    const t = rawPeer({ kind: 'ip' });
    const a = t.stack.udp.open(4, { reuseAddr: true });
    const b = t.stack.udp.open(4, { reuseAddr: true });
    a.bind(undefined, 68);
    b.bind(undefined, 68);
    let n = 0;
    a.onMessage = () => n++;
    b.onMessage = () => n++;
    t.injectIp(udp4({ dport: 68, dst: '255.255.255.255' }, pattern(4)));
    assert.equal(n, 2);
    t.injectIp(udp4({ dport: 68 }, pattern(4)));
    assert.equal(n, 3, 'unicast to one');
  });

  test('a socket with no handler counts udp.no_handler; socketCount', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 9);
    assert.equal(t.stack.udp.socketCount, 1);
    s.onMessage = undefined;
    t.injectIp(udp4({ dport: 9 }, pattern(4)));
    assert.equal(t.stack.counters.get('drop.udp.no_handler'), 1);
    s.close();
    s.close();
    assert.equal(t.stack.udp.socketCount, 0);
  });

  test('connect: filters peers, send() defaults to the peer, ICMP port unreachable → ECONNREFUSED', () => {
    const { a, b, settle } = stackPair({ kind: 'ip' });
    const srv = b.udp.open(4);
    srv.bind(undefined, 7);
    srv.onMessage = (d, info) => srv.sendTo(d, info.address, info.port);
    const other = b.udp.open(4);
    other.bind(undefined, 8);
    const c = a.udp.open(4);
    c.connect('10.0.0.2', 7);
    assert.ok(c.bound && c.connected);
    assert.deepEqual(c.remote(), { address: '10.0.0.2', family: 4, port: 7 });
    const got: number[] = [];
    c.onMessage = (_d, info) => got.push(info.port);
    c.send(Uint8Array.of(1));
    other.sendTo(Uint8Array.of(2), '10.0.0.1', c.address()!.port);
    settle();
    assert.deepEqual(got, [7], 'datagrams from others are not delivered to a connected socket');
    assert.equal(a.counters.get('drop.udp.no_socket'), 1);
    const errs: string[] = [];
    c.onError = (code) => errs.push(code);
    c.disconnect();
    assert.throws(() => c.send(Uint8Array.of(1)), { code: 'ENOTCONN' });
    c.connect('10.0.0.2', 9); // closed port on b
    c.send(Uint8Array.of(3));
    settle();
    assert.deepEqual(errs, ['ECONNREFUSED']);
    const c6 = a.udp.open(6);
    const errs6: string[] = [];
    c6.onError = (code) => errs6.push(code);
    c6.connect('fd00::2', 9);
    c6.send(Uint8Array.of(3));
    settle();
    assert.deepEqual(errs6, ['ECONNREFUSED']);
    assert.throws(() => a.udp.open(4).connect('8.8.8.8', 1), { code: 'ENETUNREACH' });
    assert.throws(() => a.udp.open(4).connect('10.0.0.2', 0), { code: 'EINVAL' });
  });

  test('a connected socket wins over a wildcard one on the same port (reuseAddr)', () => {
    const t = rawPeer({ kind: 'ip' });
    const w = t.stack.udp.open(4, { reuseAddr: true });
    const c = t.stack.udp.open(4, { reuseAddr: true });
    c.bind(undefined, 53);
    c.connect('10.0.0.1', 40000);
    w.bind(undefined, 53);
    const got: string[] = [];
    w.onMessage = () => got.push('wild');
    c.onMessage = () => got.push('conn');
    t.injectIp(udp4({ dport: 53, sport: 40000 }, pattern(4)));
    t.injectIp(udp4({ dport: 53, sport: 40001 }, pattern(4)));
    assert.deepEqual(got, ['conn', 'wild']);
  });
});
