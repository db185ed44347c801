import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { UDP_HEADER_LEN, UdpDrop, UdpPacket, emitUdp, parseUdp, type UdpRepr } from '../../src/wire/udp.js';
import { finish, pseudoHeaderSumV4, pseudoHeaderSumV6, sumBytes } from '../../src/wire/checksum.js';
import { read16, read32, write16 } from '../../src/wire/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';

function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// Captured from Linux over a veth pair (tx checksum offload off): `echo hello | nc -u 10.9.0.2 9999`.
const UDP_V4 = hex('4500002276cb40004011afeb0a0900010a09000282ea270f000efde768656c6c6f0a');
// `echo hello6 | nc -6 -u fd00::2 9999`.
const UDP_V6 = hex(
  '600bed52000f1140fd000000000000000000000000000001fd000000000000000000000000000002' + 'e540270f000fab7368656c6c6f360a',
);

function v4(pkt: Uint8Array): { pseudo: number; l4: Uint8Array; src: number; dst: number } {
  const ihl = (pkt[0]! & 15) * 4;
  const l4 = pkt.subarray(ihl, read16(pkt, 2));
  const src = read32(pkt, 12);
  const dst = read32(pkt, 16);
  return { pseudo: pseudoHeaderSumV4(src, dst, 17, l4.length), l4, src, dst };
}

function v6(pkt: Uint8Array): { pseudo: number; l4: Uint8Array } {
  const l4 = pkt.subarray(40, 40 + read16(pkt, 4));
  return { pseudo: pseudoHeaderSumV6(pkt.subarray(8, 24), pkt.subarray(24, 40), 17, l4.length), l4 };
}

const SRC6 = hex('20010db8000000000000000000000001');
const DST6 = hex('20010db8000000000000000000000002');

function build(payload: number[] | Uint8Array, v6: boolean): { buf: Uint8Array; pseudo: number } {
  const buf = new Uint8Array(UDP_HEADER_LEN + payload.length);
  buf.set(payload, UDP_HEADER_LEN);
  const pseudo = v6 ? pseudoHeaderSumV6(SRC6, DST6, 17, buf.length) : pseudoHeaderSumV4(0xc0000201, 0xc0000202, 17, buf.length);
  assert.equal(emitUdp({ srcPort: 5353, dstPort: 53 }, buf, pseudo), UDP_HEADER_LEN);
  return { buf, pseudo };
}

describe('udp: real captures', () => {
  test('IPv4 datagram', () => {
    const { l4, pseudo } = v4(UDP_V4);
    const r = parseUdp(l4, pseudo, false) as UdpRepr;
    assert.equal(typeof r, 'object');
    assert.equal(r.srcPort, 0x82ea);
    assert.equal(r.dstPort, 9999);
    assert.deepEqual([...r.payload], [...new TextEncoder().encode('hello\n')]);
    const out = new Uint8Array(l4.length);
    out.set(r.payload, 8);
    emitUdp(r, out, pseudo);
    assert.deepEqual(out, l4);
  });

  test('IPv6 datagram', () => {
    const { l4, pseudo } = v6(UDP_V6);
    const r = parseUdp(l4, pseudo, true) as UdpRepr;
    assert.equal(typeof r, 'object');
    assert.equal(r.dstPort, 9999);
    assert.deepEqual([...r.payload], [...new TextEncoder().encode('hello6\n')]);
    const out = new Uint8Array(l4.length);
    out.set(r.payload, 8);
    emitUdp(r, out, pseudo);
    assert.deepEqual(out, l4);
    // The same datagram with an IPv4 pseudo-header does not verify.
    assert.equal(parseUdp(l4, pseudoHeaderSumV4(1, 2, 17, l4.length), false), UdpDrop.badChecksum);
  });
});

describe('udp: round trips', () => {
  for (const isV6 of [false, true]) {
    test(`emit and parse over IPv${isV6 ? 6 : 4}, payload sizes 0..9 and large`, () => {
      for (const size of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1472, 65507]) {
        const payload = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff);
        const { buf, pseudo } = build(payload, isV6);
        assert.equal(new UdpPacket(buf).length, buf.length);
        assert.equal(finish(sumBytes(buf, 0, buf.length, pseudo)), 0);
        const r = parseUdp(buf, pseudo, isV6) as UdpRepr;
        assert.equal(typeof r, 'object');
        assert.deepEqual([r.srcPort, r.dstPort], [5353, 53]);
        assert.deepEqual(r.payload, payload);
      }
    });
  }

  test('UdpPacket setters', () => {
    const { buf } = build([1, 2], false);
    const p = new UdpPacket(buf);
    p.srcPort = 1;
    p.dstPort = 65535;
    assert.deepEqual([p.srcPort, p.dstPort], [1, 65535]);
  });
});

describe('udp: zero checksum rules', () => {
  test('a computed zero is sent as 0xffff, and verifies', () => {
    for (const isV6 of [false, true]) {
      // With payload word w and all else fixed, the checksum is finish(S + w): choose w so that it is 0.
      const first = build([0, 0], isV6);
      const c = new UdpPacket(first.buf).checksum;
      const { buf, pseudo } = build([c >>> 8, c & 0xff], isV6);
      assert.equal(new UdpPacket(buf).checksum, 0xffff);
      assert.equal(typeof parseUdp(buf, pseudo, isV6), 'object');
    }
  });

  test('checksum 0 means none over IPv4, is an error over IPv6', () => {
    const a = build([1, 2, 3], false);
    write16(a.buf, 6, 0);
    assert.equal(typeof parseUdp(a.buf, a.pseudo, false), 'object');
    // Even with a payload that would not verify.
    a.buf[8] ^= 0xff;
    assert.equal(typeof parseUdp(a.buf, a.pseudo, false), 'object');
    const b = build([1, 2, 3], true);
    write16(b.buf, 6, 0);
    assert.equal(parseUdp(b.buf, b.pseudo, true), UdpDrop.zeroChecksumV6);
  });
});

describe('udp: malformed input', () => {
  test('truncated header', () => {
    for (let n = 0; n < 8; n++) {
      assert.equal(UdpPacket.check(new Uint8Array(n)), UdpDrop.truncated);
      assert.equal(parseUdp(new Uint8Array(n), 0, false), UdpDrop.truncated);
    }
  });

  test('length field below 8 or past the buffer', () => {
    const { buf, pseudo } = build([1, 2, 3, 4], false);
    for (const len of [0, 7, 13, 0xffff]) {
      write16(buf, 4, len);
      assert.equal(parseUdp(buf, pseudo, false), UdpDrop.badLength, String(len));
    }
    assert.equal(UdpPacket.check(v4(UDP_V4).l4.subarray(0, 13)), UdpDrop.badLength);
  });

  test('trailing bytes past the length field are not payload', () => {
    const { buf, pseudo } = build([1, 2, 3], false);
    const padded = new Uint8Array(buf.length + 5);
    padded.set(buf);
    padded.fill(0xee, buf.length);
    const r = parseUdp(padded, pseudo, false) as UdpRepr;
    assert.deepEqual([...r.payload], [1, 2, 3]);
  });

  test('bad checksum', () => {
    for (const isV6 of [false, true]) {
      const { buf, pseudo } = build([1, 2, 3], isV6);
      buf[9] ^= 1;
      assert.equal(parseUdp(buf, pseudo, isV6), UdpDrop.badChecksum);
      buf[9] ^= 1;
      assert.equal(parseUdp(buf, pseudo + 1, isV6), UdpDrop.badChecksum);
    }
  });
});

describe('udp: no-throw sweep', () => {
  function check(b: Uint8Array, pseudo: number): void {
    for (const isV6 of [false, true]) {
      const r = parseUdp(b, pseudo, isV6);
      assert.ok(typeof r === 'string' || (typeof r === 'object' && r !== null));
    }
    if (UdpPacket.check(b) === null) {
      const p = new UdpPacket(b);
      void [p.srcPort, p.dstPort, p.length, p.checksum, p.payload(), p.verifyChecksum(pseudo)];
    }
  }

  test('every truncation of the captures', () => {
    for (const { l4, pseudo } of [v4(UDP_V4), v6(UDP_V6)]) {
      for (let n = 0; n <= l4.length; n++) check(l4.slice(0, n), pseudo);
    }
  });

  test('seeded random bytes and mutations', () => {
    const rng = new SeededRandom(768);
    const { l4, pseudo } = v4(UDP_V4);
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rng.u32() % 64);
      rng.fill(b);
      check(b, rng.u32() & 0xfffff);
      const m = l4.slice();
      m[rng.u32() % m.length] = rng.u32() & 0xff;
      check(m, pseudo);
    }
  });
});
