import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rawPeer, stackPair, pattern, ip4, udp4, p4, reassemble4 } from './ip-harness.js';

describe('IPv4 input', () => {
  test('drops: not for us, bad checksum, truncated, bad version, bad header length', () => {
    const t = rawPeer({ kind: 'ip' });
    t.injectIp(udp4({ dport: 1, dst: '10.0.0.9' }, pattern(4)));
    assert.equal(t.stack.counters.get('drop.ipv4.not_for_us'), 1);
    const p = udp4({ dport: 1 }, pattern(4));
    const bad = p.slice();
    bad[10]! ^= 1;
    t.injectIp(bad);
    assert.equal(t.stack.counters.get('drop.ipv4.bad_checksum'), 1);
    t.injectIp(p.subarray(0, 10));
    assert.equal(t.stack.counters.get('drop.ipv4.truncated'), 1);
    const hl = p.slice();
    hl[0] = 0x44;
    t.injectIp(hl);
    assert.equal(t.stack.counters.get('drop.ipv4.bad_header_length'), 1);
    t.injectIp(Uint8Array.of(0x10, 0, 0, 0));
    assert.equal(t.stack.counters.get('drop.link.bad_version'), 1);
    assert.equal(t.takeIp().length, 0);
  });

  test('accepts subnet broadcast, 255.255.255.255 and 224.0.0.1 for a wildcard socket', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 67);
    const got: string[] = [];
    s.onMessage = (_d, info) => got.push(info.address);
    for (const dst of ['10.0.0.255', '255.255.255.255', '224.0.0.1', '10.0.0.2']) t.injectIp(udp4({ dport: 67, dst }, pattern(4)));
    assert.equal(got.length, 4);
    t.injectIp(udp4({ dport: 67, dst: '224.0.0.9' }, pattern(4)));
    assert.equal(t.stack.counters.get('drop.ipv4.not_for_us'), 1);
  });

  test('UDP length / checksum errors use the parser reasons', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 7);
    const p = udp4({ dport: 7 }, pattern(4));
    const c = p.slice();
    c[27]! ^= 0xff;
    t.injectIp(c);
    assert.equal(t.stack.counters.get('drop.udp.bad_checksum'), 1);
    const z = p.slice(); // zero checksum: allowed on IPv4
    z[26] = 0;
    z[27] = 0;
    let n = 0;
    s.onMessage = () => n++;
    t.injectIp(z);
    assert.equal(n, 1);
    const l = ip4({ protocol: 17 }, Uint8Array.of(0, 1, 0, 7, 0, 50, 0, 0));
    t.injectIp(l);
    assert.equal(t.stack.counters.get('drop.udp.bad_length'), 1);
  });

  test('TTL 64 on output; TTL of the socket applies', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.sendTo(pattern(4), '10.0.0.1', 9);
    s.ttl = 5;
    s.sendTo(pattern(4), '10.0.0.1', 9);
    const out = t.takeIp().map(p4);
    assert.deepEqual(out.map((x) => x.ttl), [64, 5]);
    assert.equal(out[0]!.dontFrag, false);
  });

  test('incoming TTL 1 is accepted (hosts do not forward)', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 9);
    let n = 0;
    s.onMessage = () => n++;
    t.injectIp(udp4({ dport: 9, ttl: 1 }, pattern(4)));
    assert.equal(n, 1);
  });

  test('fragmentation on output to the MTU; DF → EMSGSIZE and counted', () => {
    const t = rawPeer({ kind: 'ip', mtu: 576 });
    const s = t.stack.udp.open(4);
    const data = pattern(3000);
    s.sendTo(data, '10.0.0.1', 9);
    const out = t.takeIp();
    assert.equal(out.length, 6);
    for (const f of out) assert.ok(f.length <= 576);
    const seg = reassemble4(out);
    assert.deepEqual(seg.subarray(8), data);
    s.dontFragment = true;
    assert.throws(() => s.sendTo(data, '10.0.0.1', 9), { code: 'EMSGSIZE' });
    assert.equal(t.stack.counters.get('drop.ipv4.frag_needed_df'), 1);
    assert.equal(t.takeIp().length, 0);
    s.sendTo(pattern(500), '10.0.0.1', 9);
    assert.equal(p4(t.takeIp()[0]!).dontFrag, true, 'DF set on what fits');
  });

  test('the receive path never throws: an exception is counted', () => {
    const { a, la } = stackPair({ kind: 'ip' });
    a.ipv4.input = () => {
      throw new Error('boom');
    };
    a.receive(a.interfaces[0]!, udp4({ dport: 1, dst: '10.0.0.1' }, pattern(4)));
    assert.equal(a.counters.get('drop.internal.exception'), 1);
    void la;
  });

  test('a throwing onMessage handler does not break the stack', () => {
    const t = rawPeer({ kind: 'ip' });
    const s = t.stack.udp.open(4);
    s.bind(undefined, 9);
    s.onMessage = () => {
      throw new Error('app bug');
    };
    t.injectIp(udp4({ dport: 9 }, pattern(4)));
    assert.equal(t.stack.counters.get('udp.handler_exception'), 1);
    assert.equal(t.stack.counters.get('drop.internal.exception'), 0);
  });

  test('fuzz: random frames never throw out of the stack', () => {
    const t = rawPeer({ kind: 'ethernet' });
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    for (let i = 0; i < 3000; i++) {
      const len = rnd() + (rnd() & 1 ? 20 : 0);
      const f = new Uint8Array(len);
      for (let j = 0; j < len; j++) f[j] = rnd();
      if (len > 14 && i % 3 === 0) {
        f.set([2, 0, 0, 0, 0, 0x0b], 0);
        f[12] = i % 2 ? 0x08 : 0x86;
        f[13] = i % 2 ? 0x00 : 0xdd;
        f[14] = i % 2 ? 0x45 : 0x60;
      }
      t.inject(f);
    }
    assert.equal(t.stack.counters.get('drop.internal.exception'), 0);
    const ipT = rawPeer({ kind: 'ip' });
    for (let i = 0; i < 3000; i++) {
      const len = rnd() + 1;
      const f = new Uint8Array(len);
      for (let j = 0; j < len; j++) f[j] = rnd();
      f[0] = (i % 2 ? 0x45 : 0x60) | (f[0]! & 0x0f & (i % 2 ? 0 : 0xf));
      ipT.inject(f);
    }
    assert.equal(ipT.stack.counters.get('drop.internal.exception'), 0);
  });
});
