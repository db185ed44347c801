import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { stackPair, rawPeer, pattern, ip4, echo4Msg, udp4, p4, p6, v6, echo6Msg, ip6, udp6, frag4, reassemble4, arpsIn, arpFrame, MAC_A, MAC_B } from './ip-harness.js';
import { formatIpv6 } from '../../src/wire/address.js';
import { parseIcmpv4 } from '../../src/wire/icmpv4.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import type { LinkKind } from '../../src/link/link.js';

for (const kind of ['ip', 'ethernet'] as LinkKind[]) {
  describe(`ping between two stacks (${kind})`, () => {
    for (const size of [56, 4000, 60000]) {
      test(`IPv4 echo ${size} bytes, reply byte-exact`, () => {
        const { a, b, settle } = stackPair({ kind });
        const data = pattern(size, size);
        const got: Uint8Array[] = [];
        a.icmp4.onEchoReply = (r) => {
          assert.equal(r.ident, 7);
          assert.equal(r.seq, 3);
          got.push(r.data);
        };
        assert.equal(a.ping('10.0.0.2', data, 7, 3), null);
        settle();
        assert.equal(got.length, 1);
        assert.deepEqual(got[0], data);
        assert.equal(b.counters.get('icmp.rx.echo_request'), 1);
        assert.equal(b.counters.get('icmp.tx.echo_reply'), 1);
        if (size > 1480) {
          assert.ok(a.counters.get('ipv4.frag_tx') > 1);
          assert.ok(b.counters.get('ipv4.frag_tx') > 1, 'the reply is fragmented');
          assert.equal(b.counters.get('ipv4.reasm_ok'), 1);
          assert.equal(a.counters.get('ipv4.reasm_ok'), 1);
        }
        assert.equal(a.counters.get('drop.total'), 0, JSON.stringify(a.counters.drops()));
        assert.equal(b.counters.get('drop.total'), 0, JSON.stringify(b.counters.drops()));
      });

      test(`IPv6 echo ${size} bytes, reply byte-exact`, () => {
        const { a, b, settle } = stackPair({ kind });
        const data = pattern(size, size + 1);
        const got: Uint8Array[] = [];
        a.icmp6.onEchoReply = (r) => {
          assert.equal(formatIpv6(r.src), 'fd00::2');
          got.push(r.data);
        };
        assert.equal(a.ping('fd00::2', data, 9, 4), null);
        settle();
        assert.equal(got.length, 1);
        assert.deepEqual(got[0], data);
        if (size > 1452) {
          assert.ok(b.counters.get('ipv6.frag_tx') > 1);
          assert.equal(a.counters.get('ipv6.reasm_ok'), 1);
        }
        assert.equal(a.counters.get('drop.total'), 0, JSON.stringify(a.counters.drops()));
        assert.equal(b.counters.get('drop.total'), 0, JSON.stringify(b.counters.drops()));
      });
    }

    test('IPv6 link-local ping with a zone', () => {
      const { a, settle } = stackPair({ kind });
      let n = 0;
      a.icmp6.onEchoReply = (r) => {
        assert.equal(formatIpv6(r.src), 'fe80::2');
        n++;
      };
      assert.equal(a.ping('fe80::2%eth0', pattern(10)), null);
      settle();
      assert.equal(n, 1);
    });
  });
}

describe('echo replies (raw peer)', () => {
  test('IPv4 reply: addresses swapped, TTL 64, same ident/seq/data', () => {
    const t = rawPeer({ kind: 'ip' });
    const data = pattern(56);
    t.injectIp(ip4({ protocol: 1, ttl: 3 }, echo4Msg(data, 0xabcd, 42)));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const ip = p4(out[0]!);
    assert.equal(ip.ttl, 64);
    assert.equal(ip.src, 0x0a000002);
    assert.equal(ip.dst, 0x0a000001);
    const m = parseIcmpv4(ip.payload);
    assert.ok(typeof m !== 'string' && m.kind === 'echoReply');
    if (typeof m !== 'string' && m.kind === 'echoReply') {
      assert.equal(m.ident, 0xabcd);
      assert.equal(m.seq, 42);
      assert.deepEqual(m.data, data);
    }
  });

  test('IPv4 60000-byte request in fragments → fragmented reply, byte-exact', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take(); // gratuitous ARP and unsolicited NAs
    const data = pattern(60000, 3);
    const msg = echo4Msg(data, 1, 2);
    const pieces: Array<[number, number, boolean]> = [];
    for (let off = 0; off < msg.length; off += 1480) pieces.push([off, Math.min(1480, msg.length - off), off + 1480 < msg.length]);
    t.injectIp(...frag4({ protocol: 1, ident: 77 }, msg, pieces));
    // The stack must ARP for 10.0.0.1 first.
    const arp = arpsIn(t.take());
    assert.equal(arp.length, 1);
    assert.equal(arp[0]!.targetIp, 0x0a000001);
    const reply = arpFrame({ op: 2, senderMac: MAC_A, senderIp: '10.0.0.1', targetMac: MAC_B, targetIp: '10.0.0.2' });
    t.inject(reply);
    const out = t.takeIp();
    assert.ok(out.length > 40);
    const all = reassemble4(out);
    const m = parseIcmpv4(all);
    assert.ok(typeof m !== 'string' && m.kind === 'echoReply');
    if (typeof m !== 'string' && m.kind === 'echoReply') assert.deepEqual(m.data, data);
  });

  test('IPv6 reply: hop limit 64, ident/seq/data preserved', () => {
    const t = rawPeer({ kind: 'ip' });
    const data = pattern(100);
    t.injectIp(ip6({ nh: 58, hopLimit: 1 }, echo6Msg('fd00::1', 'fd00::2', data, 5, 6)));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const ip = p6(out[0]!);
    assert.equal(ip.hopLimit, 64);
    assert.equal(formatIpv6(ip.dst), 'fd00::1');
    const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
    assert.ok(typeof m !== 'string' && m.kind === 'echoReply');
  });

  test('IPv4 echo to broadcast is ignored (counted)', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(ip4({ protocol: 1, dst: '10.0.0.255' }, echo4Msg(pattern(8))));
    t.injectIp(ip4({ protocol: 1, dst: '255.255.255.255' }, echo4Msg(pattern(8))));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('drop.icmp.echo_broadcast_ignored'), 2);
  });

  test('IPv6 echo to ff02::1 is answered from a unicast address', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(ip6({ nh: 58, src: 'fe80::1', dst: 'ff02::1' }, echo6Msg('fe80::1', 'ff02::1', pattern(8))));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    assert.equal(formatIpv6(p6(out[0]!).src), 'fe80::2');
  });

  test('bad ICMP checksum is dropped with the parser reason', () => {
    const t = rawPeer({ kind: 'ip' });
    const m = echo4Msg(pattern(8));
    m[2]! ^= 0xff;
    t.injectIp(ip4({ protocol: 1 }, m));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('drop.icmpv4.bad_checksum'), 1);
  });
});

describe('port unreachable', () => {
  test('IPv4: closed port → ICMP port unreachable quoting the datagram', () => {
    const t = rawPeer({ kind: 'ip' });
    const dgram = udp4({ dport: 9999 }, pattern(30));
    t.injectIp(dgram);
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const ip = p4(out[0]!);
    assert.equal(ip.protocol, 1);
    const m = parseIcmpv4(ip.payload);
    assert.ok(typeof m !== 'string' && m.kind === 'dstUnreachable');
    if (typeof m !== 'string' && m.kind === 'dstUnreachable') {
      assert.equal(m.code, 3);
      assert.deepEqual(m.invoking, dgram);
    }
    assert.equal(t.stack.counters.get('drop.udp.no_socket'), 1);
  });

  test('IPv4: the quoted packet is truncated so the error is ≤ 576 bytes', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp4({ dport: 9999 }, pattern(1400)));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, 576);
  });

  test('IPv6: closed port → dest unreachable code 4, ≤ 1280 bytes', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp6({ dport: 9999 }, pattern(1400)));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.length, 1280);
    const ip = p6(out[0]!);
    const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
    assert.ok(typeof m !== 'string' && m.kind === 'dstUnreachable' && m.code === 4);
  });

  test('rate limit: token bucket burst then refill', () => {
    const t = rawPeer({ kind: 'ip', limits: { icmpErrorRate: 10, icmpErrorBurst: 5 } });
    for (let i = 0; i < 20; i++) t.injectIp(udp4({ dport: 9999 }, pattern(4)));
    assert.equal(t.takeIp().length, 5);
    assert.equal(t.stack.counters.get('drop.icmp.rate_limited'), 15);
    assert.equal(t.stack.counters.get('drop.udp.no_socket'), 20);
    t.advance(200); // 2 tokens
    for (let i = 0; i < 5; i++) t.injectIp(udp4({ dport: 9999 }, pattern(4)));
    assert.equal(t.takeIp().length, 2);
    for (let i = 0; i < 3; i++) t.injectIp(udp6({ dport: 9999 }, pattern(4)));
    assert.equal(t.takeIp().length, 0, 'shared bucket for ICMPv6');
    assert.equal(t.stack.counters.get('drop.icmp6.rate_limited'), 3);
  });

  test('rate 0 disables errors', () => {
    const t = rawPeer({ kind: 'ip', limits: { icmpErrorRate: 0, icmpErrorBurst: 0 } });
    t.injectIp(udp4({ dport: 9999 }, pattern(4)));
    assert.equal(t.takeIp().length, 0);
  });

  test('no error for broadcast / multicast destinations', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp4({ dport: 9999, dst: '10.0.0.255' }, pattern(4)));
    t.injectIp(udp4({ dport: 9999, dst: '255.255.255.255' }, pattern(4)));
    t.injectIp(udp4({ dport: 9999, dst: '224.0.0.1' }, pattern(4)));
    t.injectIp(udp6({ dport: 9999, src: 'fe80::1', dst: 'ff02::1' }, pattern(4)));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('icmp.error_suppressed.broadcast'), 3);
    assert.equal(t.stack.counters.get('icmp6.error_suppressed.multicast'), 1);
    assert.equal(t.stack.counters.get('drop.udp.no_socket'), 4);
  });

  test('no error for link-layer broadcast frames', () => {
    const t = rawPeer({ kind: 'ethernet' });
    t.take();
    t.inject(t.frame(udp4({ dport: 9999 }, pattern(4)), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)));
    assert.equal(t.take().length, 0);
    assert.equal(t.stack.counters.get('icmp.error_suppressed.broadcast'), 1);
  });

  test('no error about an ICMP error (unknown protocol inside an ICMP error is not answered)', () => {
    const t = rawPeer({ kind: 'ip' });
    // An ICMP dest-unreachable message to us: answered with nothing, whatever it says.
    const inner = udp4({ dport: 1 }, pattern(8));
    const err = new Uint8Array(8 + inner.length);
    err[0] = 3;
    err[1] = 3;
    err.set(inner, 8);
    const { checksum } = { checksum: 0 };
    void checksum;
    const buf = ip4({ protocol: 1 }, err);
    // fix ICMP checksum
    const icmp = buf.subarray(20);
    let s = 0;
    for (let i = 0; i < icmp.length; i += 2) s += (icmp[i]! << 8) | (icmp[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const c = ~s & 0xffff;
    icmp[2] = c >> 8;
    icmp[3] = c & 0xff;
    t.injectIp(buf);
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('icmp.rx.dest_unreachable'), 1);
  });

  test('no error from a bad source (0.0.0.0, loopback) and bad sources are dropped', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp4({ dport: 9999, src: '0.0.0.0' }, pattern(4)));
    t.injectIp(udp4({ dport: 9999, src: '127.0.0.1' }, pattern(4)));
    t.injectIp(udp4({ dport: 9999, src: '224.0.0.5' }, pattern(4)));
    t.injectIp(udp4({ dport: 9999, src: '10.0.0.255' }, pattern(4)));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('icmp.error_suppressed.bad_src'), 2);
    assert.equal(t.stack.counters.get('drop.ipv4.bad_src'), 2);
  });

  test('no error from an unspecified IPv6 source; multicast source dropped', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp6({ dport: 9999, src: '::' }, pattern(4)));
    t.injectIp(udp6({ dport: 9999, src: 'ff02::1' }, pattern(4)));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('icmp6.error_suppressed.bad_src'), 1);
    assert.equal(t.stack.counters.get('drop.ipv6.bad_src'), 1);
  });

  test('IPv4 unknown protocol → protocol unreachable', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(ip4({ protocol: 200 }, pattern(20)));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const m = parseIcmpv4(p4(out[0]!).payload);
    assert.ok(typeof m !== 'string' && m.kind === 'dstUnreachable' && m.code === 2);
    assert.equal(t.stack.counters.get('drop.ipv4.unknown_protocol'), 1);
  });

  test('received errors are counted and reported', () => {
    const { a, b, settle } = stackPair({ kind: 'ip' });
    const errs: number[] = [];
    a.icmp4.onError = (e) => errs.push(e.type * 100 + e.code);
    const s = a.udp.open(4);
    s.sendTo(pattern(4), '10.0.0.2', 7777);
    settle();
    assert.deepEqual(errs, [303]);
    assert.equal(b.counters.get('icmp.tx.dest_unreachable'), 1);
    const errs6: number[] = [];
    a.icmp6.onError = (e) => errs6.push(e.type * 100 + e.code);
    const s6 = a.udp.open(6);
    s6.sendTo(pattern(4), 'fd00::2', 7777);
    settle();
    assert.deepEqual(errs6, [104]);
    void v6;
  });
});
