import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rawPeer, stackPair, pattern, ip6, udp6, udp6Seg, p6, v6 } from './ip-harness.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { formatIpv6 } from '../../src/wire/address.js';

function icmp6Of(pkt: Uint8Array) {
  const ip = p6(pkt);
  assert.equal(ip.nextHeader, 58);
  const m = parseIcmpv6(ip.payload, pseudoHeaderSumV6(ip.src, ip.dst, 58, ip.payload.length));
  if (typeof m === 'string') throw new Error(m);
  return { ip, m };
}

describe('IPv6 input', () => {
  test('unknown next header → Parameter Problem code 1 pointing at the Next Header byte', () => {
    const t = rawPeer({ kind: 'ip' });
    const pkt = ip6({ nh: 253 }, pattern(16));
    t.injectIp(pkt);
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const { ip, m } = icmp6Of(out[0]!);
    assert.equal(formatIpv6(ip.dst), 'fd00::1');
    assert.equal(formatIpv6(ip.src), 'fd00::2');
    assert.ok(m.kind === 'paramProblem');
    if (m.kind === 'paramProblem') {
      assert.equal(m.code, 1);
      assert.equal(m.pointer, 6);
      assert.deepEqual(m.invoking, pkt);
    }
    assert.equal(t.stack.counters.get('drop.ipv6.unknown_next_header'), 1);
  });

  test('unknown next header after a Destination Options header: pointer at that header', () => {
    const t = rawPeer({ kind: 'ip' });
    const body = new Uint8Array(8 + 8);
    body[0] = 253; // next header
    body[1] = 0; // 8 bytes
    body[2] = 1; // PadN
    body[3] = 4;
    t.injectIp(ip6({ nh: 60 }, body));
    const { m } = icmp6Of(t.takeIp()[0]!);
    assert.ok(m.kind === 'paramProblem' && m.code === 1 && m.pointer === 40);
  });

  test('Hop-by-Hop not first → Parameter Problem code 1', () => {
    const t = rawPeer({ kind: 'ip' });
    const body = new Uint8Array(16 + 8);
    body[0] = 0; // Dest opts → next is HBH (0)
    body[1] = 0;
    body[2] = 1;
    body[3] = 4;
    body[8] = 17; // HBH → UDP
    body[9] = 0;
    body[10] = 1;
    body[11] = 4;
    t.injectIp(ip6({ nh: 60 }, body));
    const out = t.takeIp();
    assert.equal(out.length, 1);
    const { m } = icmp6Of(out[0]!);
    assert.ok(m.kind === 'paramProblem' && m.code === 1 && m.pointer === 40);
    assert.equal(t.stack.counters.get('drop.ipv6.hbh_not_first'), 1);
  });

  test('Hop-by-Hop first with padding is fine; UDP behind it is delivered', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(6);
    s.bind('::', 5353);
    let n = 0;
    s.onMessage = () => n++;
    const seg = udp6Seg('fd00::1', 'fd00::2', 1, 5353, pattern(10));
    const body = new Uint8Array(8 + seg.length);
    body[0] = 17;
    body[2] = 1;
    body[3] = 4;
    body.set(seg, 8);
    t.injectIp(ip6({ nh: 0 }, body));
    assert.equal(n, 1);
  });

  test('unknown option with action 10 to multicast still gets code 2; action 11 does not', () => {
    const t = rawPeer({ kind: 'ip' });
    for (const [opt, expect] of [
      [0x80, 1],
      [0xc0, 0],
    ] as const) {
      const body = new Uint8Array(8 + 8);
      body[0] = 59;
      body[2] = opt;
      body[3] = 4;
      t.injectIp(ip6({ nh: 60, src: 'fe80::1', dst: 'ff02::1' }, body));
      const out = t.takeIp();
      assert.equal(out.length, expect, `option type ${opt}`);
      if (expect) {
        const { m } = icmp6Of(out[0]!);
        assert.ok(m.kind === 'paramProblem' && m.code === 2 && m.pointer === 42);
      }
    }
  });

  test('No Next Header (59) is dropped silently', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(ip6({ nh: 59 }, pattern(8)));
    assert.equal(t.takeIp().length, 0);
    assert.equal(t.stack.counters.get('drop.ipv6.no_next_header'), 1);
  });

  test('not for us / multicast group not joined / bad version / truncated', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp6({ dport: 1, dst: 'fd00::99' }, pattern(4)));
    t.injectIp(udp6({ dport: 1, dst: 'ff02::2' }, pattern(4)));
    assert.equal(t.stack.counters.get('drop.ipv6.not_for_us'), 2);
    const p = udp6({ dport: 1 }, pattern(4));
    t.injectIp(p.subarray(0, 30));
    assert.equal(t.stack.counters.get('drop.ipv6.truncated'), 1);
    const q = p.slice();
    q[5] = 200; // payload length beyond the buffer
    t.injectIp(q);
    assert.equal(t.stack.counters.get('drop.ipv6.bad_length'), 1);
    assert.equal(t.takeIp().length, 0);
  });

  test('UDP zero checksum over IPv6 is dropped', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(6);
    s.bind('::', 9);
    const p = udp6({ dport: 9 }, pattern(4));
    p[46] = 0;
    p[47] = 0;
    t.injectIp(p);
    assert.equal(t.stack.counters.get('drop.udp.zero_checksum_v6'), 1);
  });

  test('solicited-node and all-nodes destinations are accepted', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(6);
    s.bind('::', 9);
    let n = 0;
    s.onMessage = () => n++;
    t.injectIp(udp6({ dport: 9, src: 'fe80::1', dst: 'ff02::1' }, pattern(4)));
    t.injectIp(udp6({ dport: 9, src: 'fe80::1', dst: 'ff02::1:ff00:2' }, pattern(4)));
    assert.equal(n, 2);
  });

  test('hop limit: 64 on output; incoming hop limit 1 is accepted by a host', () => {
    const { a, b, settle } = stackPair({ kind: 'ip' });
    const sb = b.udp.open(6);
    sb.bind('::', 9);
    let n = 0;
    sb.onMessage = () => n++;
    const captured: number[] = [];
    const orig = b.ipv6.input.bind(b.ipv6);
    b.ipv6.input = (pkt, rx) => {
      captured.push(pkt[7]!);
      orig(pkt, rx);
    };
    const sa = a.udp.open(6);
    sa.sendTo(pattern(4), 'fd00::2', 9);
    sa.ttl = 1;
    sa.sendTo(pattern(4), 'fd00::2', 9);
    settle();
    assert.deepEqual(captured, [64, 1]);
    assert.equal(n, 2);
  });

  test('IPv6 DONTFRAG: oversize send fails with EMSGSIZE and is counted', () => {
    const { a } = stackPair({ kind: 'ip' });
    const s = a.udp.open(6);
    s.dontFragment = true;
    assert.throws(() => s.sendTo(pattern(2000), 'fd00::2', 9), { code: 'EMSGSIZE' });
    assert.equal(a.counters.get('drop.ipv6.frag_needed_df'), 1);
  });
  void v6;
});
