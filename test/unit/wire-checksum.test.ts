import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { parseIpv4 as addr4, parseIpv6 as addr6 } from '../../src/wire/address.js';
import { read16, read32, write16, write32 } from '../../src/wire/bytes.js';
import {
  checksum,
  finish,
  fold,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
  sumBytes,
  updateChecksum16,
  updateChecksum32,
} from '../../src/wire/checksum.js';

const fromHex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));

/** A byte-at-a-time reference: the ones' complement sum of big-endian words, folded. */
function refSum(b: Uint8Array, start = 0, end = b.length): number {
  let s = 0;
  for (let i = start; i < end; i++) {
    s += (i - start) % 2 === 0 ? b[i]! << 8 : b[i]!;
    s = (s & 0xffff) + (s >>> 16);
  }
  return s;
}
function refChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return ~refSum(b, start, end) & 0xffff;
}

test('RFC 1071 §3 example', () => {
  const b = fromHex('0001f203f4f5f6f7');
  assert.equal(fold(sumBytes(b)), 0xddf2);
  assert.equal(checksum(b), 0x220d);
  assert.equal(finish(sumBytes(b)), 0x220d);
  // byte order independence: swapped data gives the swapped sum (RFC 1071 §2 B)
  const sw = fromHex('0100 03f2 f5f4 f7f6'.replace(/ /g, ''));
  assert.equal(fold(sumBytes(sw)), 0xf2dd);
  // a buffer including its own checksum sums to 0xffff
  const withSum = new Uint8Array(10);
  withSum.set(b);
  write16(withSum, 8, 0x220d);
  assert.equal(checksum(withSum), 0);
});

test('odd lengths, offsets and large buffers match the reference', () => {
  const rnd = new SeededRandom(80);
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(1 + (rnd.u32() % 200));
    rnd.fill(b);
    const start = rnd.u32() % b.length;
    const end = start + (rnd.u32() % (b.length - start + 1));
    assert.equal(fold(sumBytes(b, start, end)), refSum(b, start, end), `${b.length} ${start} ${end}`);
    assert.equal(checksum(b, start, end), refChecksum(b, start, end));
  }
  assert.equal(checksum(new Uint8Array([0xab])), ~0xab00 & 0xffff);
  assert.equal(checksum(new Uint8Array(0)), 0xffff);
  const ff = new Uint8Array(65535).fill(0xff);
  assert.equal(fold(sumBytes(ff)), refSum(ff));
  assert.equal(checksum(ff), refChecksum(ff));
  const big = new Uint8Array(70000);
  rnd.fill(big);
  assert.equal(checksum(big), refChecksum(big));
});

test('chaining partial sums (even split points)', () => {
  const rnd = new SeededRandom(81);
  for (let i = 0; i < 500; i++) {
    const b = new Uint8Array(2 + (rnd.u32() % 300));
    rnd.fill(b);
    const mid = (rnd.u32() % b.length) & ~1;
    assert.equal(finish(sumBytes(b, mid, b.length, sumBytes(b, 0, mid))), checksum(b));
  }
});

test('real IPv4 header checksums', () => {
  // The classic example (Wikipedia, "IPv4 header checksum").
  const h = fromHex('450000730000400040110000c0a80001c0a800c7');
  assert.equal(checksum(h), 0xb861);
  write16(h, 10, 0xb861);
  assert.equal(checksum(h), 0);
  // Captured ping 10.9.0.1 > 10.9.0.2: header and ICMP checksums verify.
  const ping = fromHex(
    '450000547f9740004001a6fd0a0900010a090002080021d617de0001372b026b00000000bee1070000000000101112131415161718191a1b' +
      '1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
  );
  assert.equal(checksum(ping, 0, 20), 0);
  assert.equal(checksum(ping, 20), 0);
});

test('IPv6 pseudo-header: captured ICMPv6 messages verify', () => {
  const cases = [
    // Neighbor Solicitation fd00:9::1 > ff02::1:ff00:2
    '6000000000203afffd000009000000000000000000000001ff0200000000000000000001ff00000287007d7c00000000fd00000900000000' +
      '0000000000000002010102000000000a',
    // Neighbor Advertisement fd00:9::2 > fd00:9::1
    '6000000000203afffd000009000000000000000000000002fd00000900000000000000000000000188001c7660000000fd00000900000000' +
      '0000000000000002020102000000000b',
    // Echo request, 64 bytes
    '60064b3400403a40fd000009000000000000000000000001fd0000090000000000000000000000028000073217df0001372b026b00000000' +
      '66f3070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
    // NS from :: during DAD
    '6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff00000b8700473300000000fe80000000000000' +
      '000000fffe00000b0e0109199bd482e7',
  ];
  for (const c of cases) {
    const p = fromHex(c);
    const len = read16(p, 4);
    const ps = pseudoHeaderSumV6(p.subarray(8, 24), p.subarray(24, 40), 58, len);
    assert.equal(finish(sumBytes(p, 40, 40 + len, ps)), 0);
    // and a wrong length or protocol breaks it
    assert.notEqual(finish(sumBytes(p, 40, 40 + len, pseudoHeaderSumV6(p.subarray(8, 24), p.subarray(24, 40), 17, len))), 0);
  }
  // MLDv2 report with Hop-by-Hop: the ICMPv6 length excludes the 8-byte extension header
  const mld = fromHex(
    '600000000038000100000000000000000000000000000000ff0200000000000000000000000000163a000502000001008f006d6300000002' +
      '04000000ff0200000000000000000001ff00000b04000000ff0200000000000000000001ff000002',
  );
  const ps = pseudoHeaderSumV6(mld.subarray(8, 24), mld.subarray(24, 40), 58, 48);
  assert.equal(finish(sumBytes(mld, 48, 96, ps)), 0);
});

test('pseudo-header sums equal Linux CHECKSUM_PARTIAL seeds (captured UDP on veth)', () => {
  // With checksum offload, Linux leaves the folded pseudo-header sum in the UDP checksum field.
  assert.equal(fold(pseudoHeaderSumV4(addr4('10.9.0.1')!, addr4('10.9.0.2')!, 17, 23)), 0x143d);
  assert.equal(fold(pseudoHeaderSumV6(addr6('fd00:9::1')!, addr6('fd00:9::2')!, 17, 11)), 0xfa32);
  assert.equal(fold(pseudoHeaderSumV4(addr4('127.0.0.1')!, addr4('127.0.0.1')!, 17, 23)), 0xfe2a);
  assert.equal(fold(pseudoHeaderSumV6(addr6('::1')!, addr6('::1')!, 17, 11)), 0x001e);
});

test('pseudo-headers match a byte-built reference', () => {
  const rnd = new SeededRandom(82);
  for (let i = 0; i < 500; i++) {
    const src = rnd.u32();
    const dst = rnd.u32();
    const proto = rnd.u32() & 0xff;
    const len = rnd.u32() & 0xffff;
    const ph = new Uint8Array(12);
    write32(ph, 0, src);
    write32(ph, 4, dst);
    ph[9] = proto;
    write16(ph, 10, len);
    assert.equal(fold(pseudoHeaderSumV4(src, dst, proto, len)), refSum(ph));
    const s6 = new Uint8Array(16);
    const d6 = new Uint8Array(16);
    rnd.fill(s6);
    rnd.fill(d6);
    const len6 = rnd.u32() % 0x30000; // up to jumbo-ish lengths: 32-bit field
    const ph6 = new Uint8Array(40);
    ph6.set(s6, 0);
    ph6.set(d6, 16);
    write32(ph6, 32, len6);
    ph6[39] = proto;
    assert.equal(fold(pseudoHeaderSumV6(s6, d6, proto, len6)), refSum(ph6));
  }
});

test('RFC 1624 incremental update equals full recomputation', () => {
  const rnd = new SeededRandom(83);
  for (let i = 0; i < 5000; i++) {
    const h = new Uint8Array(20);
    rnd.fill(h);
    if (i % 10 === 0) h.fill(0, 0, 10); // more zeros
    write16(h, 10, 0);
    write16(h, 10, checksum(h));
    // a 16-bit field (not the checksum itself)
    let w = (rnd.u32() % 9) * 2;
    if (w >= 10) w += 2;
    const old = read16(h, w);
    const nw = i % 7 === 0 ? 0 : i % 11 === 0 ? 0xffff : rnd.u32() & 0xffff;
    write16(h, w, nw);
    const inc = updateChecksum16(read16(h, 10), old, nw);
    write16(h, 10, 0);
    assert.equal(inc, checksum(h), `16-bit word ${w}: ${old.toString(16)} -> ${nw.toString(16)}`);
    write16(h, 10, inc);
    assert.equal(checksum(h), 0);
    // a 32-bit field (an address)
    const a = rnd.u32() % 2 === 0 ? 12 : 16;
    const oldA = read32(h, a);
    const newA = rnd.u32();
    write32(h, a, newA);
    const inc32 = updateChecksum32(read16(h, 10), oldA, newA);
    write16(h, 10, 0);
    assert.equal(inc32, checksum(h));
    write16(h, 10, inc32);
  }
});

test('views at any byte offset (the 32-bit word path) match the reference', () => {
  const rnd = new SeededRandom(82);
  const backing = new ArrayBuffer(8192);
  const all = new Uint8Array(backing);
  for (let i = 0; i < 3000; i++) {
    rnd.fill(all);
    // Runs of 0xff and zeros exercise the carries and the ones' complement zero.
    if (i % 5 === 0) all.fill(0xff, 0, 4096);
    if (i % 7 === 0) all.fill(0, 0, 4096);
    const off = rnd.u32() % 64;
    const len = 65 + (rnd.u32() % 4000);
    const b = new Uint8Array(backing, off, len);
    const start = rnd.u32() % 16;
    const end = len - (rnd.u32() % 16);
    const acc = rnd.u32() % 0x40000;
    assert.equal(fold(sumBytes(b, start, end, acc)), fold(acc + refSum(b, start, end)), `${off} ${len} ${start} ${end}`);
    assert.equal(checksum(b, start, end), refChecksum(b, start, end));
  }
});
