import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { formatIpv6, parseIpv6 as parseAddr } from '../../src/wire/address.js';
import { IPV6_HEADER_LEN, IpProtocol, Ipv6Drop, Ipv6Packet, emitIpv6, parseIpv6, type Ipv6EmitRepr } from '../../src/wire/ipv6.js';
import {
  IPV6_MAX_EXT_HEADERS,
  Ipv6ExtDrop,
  Ipv6FragmentPacket,
  Ipv6OptionType,
  Ipv6OptionsPacket,
  Ipv6ParamProblemCode,
  Ipv6RoutingPacket,
  type Ipv6ChainOk,
  type Ipv6ChainResult,
  emitIpv6Fragment,
  emitIpv6Options,
  emitIpv6Routing,
  ipv6OptionAction,
  ipv6OptionsHeaderLength,
  isIpv6ExtensionHeader,
  parseIpv6Fragment,
  parseIpv6Options,
  parseIpv6Routing,
  walkIpv6Chain,
} from '../../src/wire/ipv6-ext.js';

const fromHex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));
const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// Captured on a veth pair (tcpdump -xx, Ethernet header removed).
// Neighbor Solicitation fd00:9::1 > ff02::1:ff00:2, who has fd00:9::2.
const NS = fromHex(
  '6000000000203afffd000009000000000000000000000001ff0200000000000000000001ff00000287007d7c00000000fd00000900000000' +
    '0000000000000002010102000000000a',
);
// Echo request fd00:9::1 > fd00:9::2 (flow label 0x64b34).
const ECHO = fromHex(
  '60064b3400403a40fd000009000000000000000000000001fd0000090000000000000000000000028000073217df0001372b026b00000000' +
    '66f3070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
// MLDv2 report :: > ff02::16 (sent during DAD) with Hop-by-Hop Router Alert (MLD).
const MLD_HBH = fromHex(
  '600000000038000100000000000000000000000000000000ff0200000000000000000000000000163a000502000001008f006d6300000002' +
    '04000000ff0200000000000000000001ff00000b04000000ff0200000000000000000001ff000002',
);
// First IPv6 fragment (0|1232) of ping -6 -s 1400 over MTU 1280: header + fragment header +
// the first 1232 bytes of the ICMPv6 echo request; the echo data is the 0x10, 0x11, ... pattern.
const V6_FRAG1 = ((): Uint8Array => {
  const head = fromHex(
    '60064b3404d82c40fd000009000000000000000000000001fd0000090000000000000000000000023a0000019b8b314a8000cf541f930001' +
      '802b026b00000000a292010000000000',
  );
  const b = new Uint8Array(40 + 1240);
  b.set(head);
  for (let i = head.length, v = 0x10; i < b.length; i++, v++) b[i] = v & 0xff;
  return b;
})();
// Second IPv6 fragment (1232|176).
const V6_FRAG2 = fromHex(
  '60064b3400b82c40fd000009000000000000000000000001fd0000090000000000000000000000023a0004d09b8b314ac8c9cacbcccdcecf' +
    'd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff0001020304050607' +
    '08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' +
    '404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f7071727374757677',
);

const A = parseAddr('fd00::1')!;
const B = parseAddr('fd00::2')!;
const MC = parseAddr('ff02::1')!;

/** A packet: fixed header, the given extension headers (each starting with its Next Header byte), then `upper`. */
function build(firstNh: number, exts: Uint8Array[], upper: Uint8Array, dst = B): Uint8Array {
  let n = 0;
  for (const e of exts) n += e.length;
  const b = new Uint8Array(40 + n + upper.length);
  emitIpv6({ src: A, dst, nextHeader: firstNh, hopLimit: 64, payloadLength: n + upper.length }, b);
  let o = 40;
  for (const e of exts) {
    b.set(e, o);
    o += e.length;
  }
  b.set(upper, o);
  return b;
}
/** An options header (HBH or DestOpts) with raw option bytes, padded with PadN/Pad1 to 8. */
function opts(nh: number, raw: number[]): Uint8Array {
  const len = (2 + raw.length + 7) & ~7;
  const b = new Uint8Array(len);
  b[0] = nh;
  b[1] = len / 8 - 1;
  b.set(raw, 2);
  const pad = len - 2 - raw.length;
  if (pad === 1) b[len - 1] = 0;
  else if (pad >= 2) {
    b[2 + raw.length] = 1;
    b[3 + raw.length] = pad - 2;
  }
  return b;
}
function frag(nh: number, offset: number, more: boolean, ident = 0x01020304): Uint8Array {
  const b = new Uint8Array(8);
  emitIpv6Fragment({ nextHeader: nh, fragOffset: offset, more, ident }, b);
  return b;
}
function routing(nh: number, type: number, segmentsLeft: number, dataLen = 4): Uint8Array {
  const b = new Uint8Array(4 + dataLen);
  emitIpv6Routing({ nextHeader: nh, routingType: type, segmentsLeft, data: new Uint8Array(dataLen) }, b);
  return b;
}
const UDP8 = new Uint8Array(8);

function ok(r: Ipv6ChainResult): Ipv6ChainOk {
  if (r.drop !== null) assert.fail(`${r.drop} ${JSON.stringify(r.icmp)}`);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Fixed header

test('parse a captured Neighbor Solicitation', () => {
  const r = parseIpv6(NS);
  assert.ok(typeof r !== 'string');
  assert.equal(formatIpv6(r.src), 'fd00:9::1');
  assert.equal(formatIpv6(r.dst), 'ff02::1:ff00:2');
  assert.equal(r.nextHeader, IpProtocol.ICMPV6);
  assert.equal(r.hopLimit, 255);
  assert.equal(r.payloadLength, 32);
  assert.equal(r.trafficClass, 0);
  assert.equal(r.flowLabel, 0);
  assert.equal(r.payload.length, 32);
  assert.equal(r.payload[0], 135);
  assert.equal(r.src.buffer, NS.buffer); // zero-copy
  const p = new Ipv6Packet(NS);
  assert.equal(p.version, 6);
  assert.equal(p.dscp, 0);
  assert.equal(p.ecn, 0);
});

test('parse a captured echo request with a flow label; emit reproduces it', () => {
  const r = parseIpv6(ECHO);
  assert.ok(typeof r !== 'string');
  assert.equal(r.flowLabel, 0x64b34);
  assert.equal(r.hopLimit, 64);
  assert.equal(r.payloadLength, 64);
  const buf = ECHO.slice();
  buf.fill(0, 0, 40);
  assert.equal(emitIpv6(r, buf), IPV6_HEADER_LEN);
  assert.deepEqual(buf, ECHO);
});

test('link padding after Payload Length is ignored', () => {
  const b = new Uint8Array(NS.length + 6).fill(0xaa);
  b.set(NS);
  const r = parseIpv6(b);
  assert.ok(typeof r !== 'string');
  assert.equal(r.payload.length, 32);
  assert.equal(ok(walkIpv6Chain(b)).end, 72);
});

test('emit/parse round trips and setters', () => {
  const rnd = new SeededRandom(60);
  for (let i = 0; i < 500; i++) {
    const src = new Uint8Array(16);
    const dst = new Uint8Array(16);
    rnd.fill(src);
    rnd.fill(dst);
    const repr: Required<Ipv6EmitRepr> = {
      src,
      dst,
      nextHeader: rnd.u32() & 0xff,
      hopLimit: rnd.u32() & 0xff,
      trafficClass: rnd.u32() & 0xff,
      flowLabel: rnd.u32() & 0xfffff,
      payloadLength: rnd.u32() % 64,
    };
    const b = new Uint8Array(40 + repr.payloadLength);
    emitIpv6(repr, b);
    const back = parseIpv6(b);
    assert.ok(typeof back !== 'string');
    const { payload, ...rest } = back;
    assert.equal(payload.length, repr.payloadLength);
    assert.deepEqual({ ...rest, src: rest.src.slice(), dst: rest.dst.slice() }, repr);
  }
  const b = ECHO.slice();
  const p = new Ipv6Packet(b);
  p.trafficClass = 0xb8;
  p.flowLabel = 0xfffff;
  assert.equal(p.trafficClass, 0xb8);
  assert.equal(p.dscp, 46);
  assert.equal(p.flowLabel, 0xfffff);
  p.flowLabel = 0x12345;
  assert.equal(p.trafficClass, 0xb8);
  assert.equal(p.version, 6);
  p.hopLimit = 1;
  p.nextHeader = 17;
  p.payloadLength = 8;
  p.src = B;
  p.dst = A;
  const r = parseIpv6(b);
  assert.ok(typeof r !== 'string');
  assert.deepEqual([r.hopLimit, r.nextHeader, r.payloadLength, formatIpv6(r.src), formatIpv6(r.dst), r.flowLabel],
    [1, 17, 8, 'fd00::2', 'fd00::1', 0x12345]);
});

test('fixed header drop reasons', () => {
  assert.equal(parseIpv6(new Uint8Array(0)), Ipv6Drop.truncated);
  assert.equal(parseIpv6(NS.subarray(0, 39)), Ipv6Drop.truncated);
  const v = NS.slice();
  v[0] = 0x45;
  assert.equal(parseIpv6(v), Ipv6Drop.badVersion);
  assert.equal(parseIpv6(NS.subarray(0, 71)), Ipv6Drop.badLength);
  assert.ok(typeof parseIpv6(NS.subarray(0, 72)) !== 'string');
  assert.equal(walkIpv6Chain(NS.subarray(0, 71)).drop, Ipv6Drop.badLength);
  assert.equal(walkIpv6Chain(v).drop, 'ipv6.bad_version');
});

// ---------------------------------------------------------------------------------------------
// Extension headers: captured packets

test('walk: no extension headers', () => {
  const r = ok(walkIpv6Chain(NS));
  assert.deepEqual(
    [r.protocol, r.offset, r.end, r.nextHeaderOffset, r.headers, r.fragment, r.routing, r.routerAlert, r.hopByHop],
    [58, 40, 72, 6, 0, null, null, null, false],
  );
});

test('walk: captured MLDv2 report with Hop-by-Hop Router Alert', () => {
  const r = ok(walkIpv6Chain(MLD_HBH));
  assert.equal(r.hopByHop, true);
  assert.equal(r.routerAlert, 0);
  assert.equal(r.protocol, IpProtocol.ICMPV6);
  assert.equal(r.offset, 48);
  assert.equal(r.nextHeaderOffset, 40);
  assert.equal(MLD_HBH[r.offset], 143); // MLDv2 report
  const o = parseIpv6Options(MLD_HBH.subarray(40));
  assert.ok(typeof o !== 'string');
  assert.equal(o.nextHeader, 58);
  assert.deepEqual(o.options.map((x) => [x.type, hex(x.data)]), [[Ipv6OptionType.ROUTER_ALERT, '0000']]);
  // the emitter produces the same header
  const b = new Uint8Array(8);
  assert.equal(emitIpv6Options({ nextHeader: 58, options: [{ type: 5, data: new Uint8Array(2) }] }, b), 8);
  assert.equal(hex(b), hex(MLD_HBH.subarray(40, 48)));
  assert.equal(hex(b), '3a00050200000100');
});

test('walk: captured fragments', () => {
  const r1 = ok(walkIpv6Chain(V6_FRAG1));
  assert.deepEqual(r1.fragment, {
    nextHeader: 58, fragOffset: 0, more: true, ident: 0x9b8b314a, headerOffset: 40, prevNextHeaderOffset: 6,
  });
  assert.deepEqual([r1.protocol, r1.offset, r1.end, r1.nextHeaderOffset], [58, 48, 1280, 40]);
  const r2 = ok(walkIpv6Chain(V6_FRAG2));
  assert.equal(r2.fragment?.fragOffset, 1232);
  assert.equal(r2.fragment?.more, false);
  assert.equal(r2.end - r2.offset, 176);
  const f = new Ipv6FragmentPacket(V6_FRAG2.subarray(40));
  assert.deepEqual([f.nextHeader, f.reserved, f.fragOffset, f.reservedBits, f.more, f.ident, f.isAtomic],
    [58, 0, 1232, 0, false, 0x9b8b314a, false]);
  assert.deepEqual(parseIpv6Fragment(V6_FRAG1.subarray(40)), { nextHeader: 58, fragOffset: 0, more: true, ident: 0x9b8b314a });
});

// ---------------------------------------------------------------------------------------------
// Extension headers: constructed chains

test('walk: atomic fragment is walked through', () => {
  const p = build(IpProtocol.IPV6_FRAG, [frag(17, 0, false)], UDP8);
  const r = ok(walkIpv6Chain(p));
  assert.deepEqual([r.protocol, r.offset, r.nextHeaderOffset], [17, 48, 40]);
  assert.equal(r.fragment?.more, false);
  assert.equal(r.fragment?.fragOffset, 0);
  // atomic fragment then destination options
  const q = build(IpProtocol.IPV6_FRAG, [frag(60, 0, false), opts(17, [])], UDP8);
  const s = ok(walkIpv6Chain(q));
  assert.deepEqual([s.protocol, s.offset, s.headers], [17, 56, 2]);
});

test('walk: DestOpts, Routing (segments left 0), DestOpts, UDP', () => {
  const p = build(IpProtocol.IPV6_OPTS, [opts(43, []), routing(60, 2, 0, 20), opts(17, [0x1e, 2, 0, 0])], UDP8);
  const r = ok(walkIpv6Chain(p));
  assert.equal(r.protocol, 17);
  assert.equal(r.headers, 3);
  assert.equal(r.offset, 40 + 8 + 24 + 8);
  assert.deepEqual(r.routing, { routingType: 2, segmentsLeft: 0, headerOffset: 48 });
  assert.equal(r.hopByHop, false);
  assert.equal(r.routerAlert, null); // router alert in DestOpts is not a router alert
  const rr = parseIpv6Routing(p.subarray(48));
  assert.ok(typeof rr !== 'string');
  assert.deepEqual([rr.nextHeader, rr.routingType, rr.segmentsLeft, rr.data.length], [60, 2, 0, 20]);
  const rp = new Ipv6RoutingPacket(p.subarray(48));
  assert.equal(rp.headerLength, 24);
  rp.segmentsLeft = 3;
  rp.nextHeader = 59;
  assert.deepEqual([rp.segmentsLeft, rp.nextHeader], [3, 59]);
});

test('walk: options with every action', () => {
  const at = (type: number, dst = B): Ipv6ChainResult =>
    walkIpv6Chain(build(IpProtocol.HOPOPT, [opts(17, [1, 0, 0, type, 1, 0])], UDP8, dst));
  // skip (00): PadN before it: option type byte sits at 40 + 2 + 2 + 1 = 45
  assert.equal(at(0x1e).drop, null);
  assert.equal(at(0x3f, MC).drop, null);
  // discard silently (01)
  assert.deepEqual(at(0x40), { drop: Ipv6ExtDrop.unknownOption, icmp: null });
  // discard + ICMP code 2, even to multicast (10)
  assert.deepEqual(at(0x80), { drop: Ipv6ExtDrop.unknownOption, icmp: { code: 2, pointer: 45, allowMulticast: true } });
  assert.deepEqual(at(0x80, MC), { drop: Ipv6ExtDrop.unknownOption, icmp: { code: 2, pointer: 45, allowMulticast: true } });
  // discard + ICMP code 2 unless multicast (11)
  assert.deepEqual(at(0xc2), { drop: Ipv6ExtDrop.unknownOption, icmp: { code: 2, pointer: 45, allowMulticast: false } });
  assert.deepEqual(at(0xc2, MC), { drop: Ipv6ExtDrop.unknownOption, icmp: null });
  assert.equal(ipv6OptionAction(0xc2), 3);
  // same in Destination Options, after a Hop-by-Hop header
  const p = build(IpProtocol.HOPOPT, [opts(60, []), opts(17, [0x80, 0])], UDP8);
  assert.deepEqual(walkIpv6Chain(p), { drop: Ipv6ExtDrop.unknownOption, icmp: { code: 2, pointer: 50, allowMulticast: true } });
  // Pad1 runs and an empty PadN
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_OPTS, [opts(17, [0, 0, 0, 0, 0, 0])], UDP8)).drop, null);
});

test('drop: malformed options', () => {
  const bad = (raw: number[], nh: number = IpProtocol.HOPOPT): Ipv6ChainResult => {
    const h = opts(17, []);
    const b = new Uint8Array(h.length);
    b[0] = 17;
    b[1] = h[1]!;
    b.set(raw, 2);
    return walkIpv6Chain(build(nh, [b], UDP8));
  };
  assert.deepEqual(bad([1, 5]), { drop: Ipv6ExtDrop.badOption, icmp: null }); // PadN past the end
  assert.deepEqual(bad([0, 0, 0, 0, 0, 0x1e]), { drop: Ipv6ExtDrop.badOption, icmp: null }); // no length byte
  assert.deepEqual(bad([5, 1, 0, 1, 0, 0]), { drop: Ipv6ExtDrop.badOption, icmp: null }); // router alert length 1
  assert.equal(bad([5, 1, 0, 1, 0, 0], IpProtocol.IPV6_OPTS).drop, null); // type 5 in DestOpts: skip
  assert.equal(Ipv6OptionsPacket.check(fromHex('1100010500000000')), Ipv6ExtDrop.badOption);
  assert.equal(parseIpv6Options(fromHex('1100010500000000')), Ipv6ExtDrop.badOption);
  assert.equal(Ipv6OptionsPacket.check(fromHex('11')), Ipv6ExtDrop.truncated);
  assert.equal(Ipv6OptionsPacket.check(fromHex('110100000000000000')), Ipv6ExtDrop.truncated);
});

test('drop: Hop-by-Hop not first', () => {
  const p = build(IpProtocol.IPV6_OPTS, [opts(0, []), opts(17, [])], UDP8);
  assert.deepEqual(walkIpv6Chain(p), {
    drop: Ipv6ExtDrop.hbhNotFirst,
    icmp: { code: Ipv6ParamProblemCode.UNRECOGNIZED_NEXT_HEADER, pointer: 40, allowMulticast: false },
  });
  const q = build(IpProtocol.HOPOPT, [opts(0, []), opts(17, [])], UDP8);
  assert.deepEqual(walkIpv6Chain(q).drop, Ipv6ExtDrop.hbhNotFirst);
});

test('drop: routing header with segments left', () => {
  for (const type of [0, 2, 3, 4, 253]) {
    const p = build(IpProtocol.HOPOPT, [opts(43, []), routing(17, type, 1)], UDP8);
    assert.deepEqual(walkIpv6Chain(p), {
      drop: Ipv6ExtDrop.unknownRoutingType,
      icmp: { code: Ipv6ParamProblemCode.ERRONEOUS_HEADER, pointer: 50, allowMulticast: false },
    });
  }
});

test('drop: fragment length and offset (RFC 8200 §4.5)', () => {
  // M set, 12 bytes of data
  const p = build(IpProtocol.IPV6_FRAG, [frag(17, 0, true)], new Uint8Array(12));
  assert.deepEqual(walkIpv6Chain(p), { drop: Ipv6ExtDrop.badFragmentLength, icmp: { code: 0, pointer: 4, allowMulticast: false } });
  // M clear: any length is fine
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(17, 8, false)], new Uint8Array(12))).drop, null);
  // reassembled payload over 65535: 8 (DestOpts) + 65520 + 16 > 65535
  const q = build(IpProtocol.IPV6_OPTS, [opts(44, []), frag(17, 65520, true)], new Uint8Array(16));
  assert.deepEqual(walkIpv6Chain(q), { drop: Ipv6ExtDrop.badFragmentOffset, icmp: { code: 0, pointer: 50, allowMulticast: false } });
  // exactly 65535 - 7 fits
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(17, 65512, false)], new Uint8Array(16))).drop, null);
  // reserved fields are ignored
  const r = build(IpProtocol.IPV6_FRAG, [frag(17, 8, true)], new Uint8Array(16));
  r[41] = 0xff;
  r[43] |= 0x06;
  const w = ok(walkIpv6Chain(r));
  assert.equal(w.fragment?.fragOffset, 8);
  assert.equal(new Ipv6FragmentPacket(r.subarray(40)).reservedBits, 3);
});

test('drop: first fragment without the whole header chain (RFC 7112)', () => {
  const INC = {
    drop: Ipv6ExtDrop.firstFragmentIncomplete,
    icmp: { code: Ipv6ParamProblemCode.FIRST_FRAGMENT_INCOMPLETE_CHAIN, pointer: 0, allowMulticast: false },
  };
  // the DestOpts header fits but the UDP header after it does not
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(60, 0, true)], opts(17, []))), INC);
  // the DestOpts header itself is cut (claims 16 bytes, 8 present)
  const h = opts(17, []);
  h[1] = 1;
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(60, 0, true)], h)), INC);
  // TCP needs 20 bytes: 16 is not enough
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(6, 0, true)], new Uint8Array(16))), INC);
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(58, 0, true)], new Uint8Array(0))), INC);
  // complete: DestOpts + routing + UDP header inside the first fragment
  const full = new Uint8Array(32);
  full.set(opts(43, []), 0);
  full.set(routing(17, 0, 0), 8);
  const r = ok(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(60, 0, true)], full)));
  assert.deepEqual([r.protocol, r.offset, r.fragment?.more], [60, 48, true]);
  // a nested fragment header and an unknown protocol
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(44, 0, true)], frag(59, 0, false))).drop, null);
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(44, 0, true)], new Uint8Array(0))).drop, Ipv6ExtDrop.firstFragmentIncomplete);
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(253, 0, true)], new Uint8Array(0))).drop, null);
  // non-first fragments are not checked
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [frag(6, 8, true)], new Uint8Array(8))).drop, null);
});

test('drop: truncated extension headers', () => {
  const T = { drop: Ipv6ExtDrop.truncated, icmp: null };
  // options header claims 16 bytes, 8 present
  const h = opts(17, []);
  h[1] = 1;
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.HOPOPT, [h], new Uint8Array(0))), T);
  // payload ends right after the fixed header / after one byte
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_OPTS, [], new Uint8Array(0))), T);
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_OPTS, [], new Uint8Array(1))), T);
  // routing: 3 bytes, then 8 claimed with 6 present
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_ROUTE, [], new Uint8Array(3))), T);
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_ROUTE, [], new Uint8Array(6))), T);
  // fragment: 7 bytes
  assert.deepEqual(walkIpv6Chain(build(IpProtocol.IPV6_FRAG, [], new Uint8Array(7))), T);
  // bytes present in the buffer but beyond Payload Length do not count
  const p = build(IpProtocol.IPV6_OPTS, [opts(17, [])], UDP8);
  new Ipv6Packet(p).payloadLength = 4;
  assert.deepEqual(walkIpv6Chain(p), T);
  assert.equal(Ipv6RoutingPacket.check(new Uint8Array(3)), Ipv6ExtDrop.truncated);
  assert.equal(Ipv6RoutingPacket.check(fromHex('11010000000000000000')), Ipv6ExtDrop.truncated);
  assert.equal(parseIpv6Routing(new Uint8Array(7)), Ipv6ExtDrop.truncated);
  assert.equal(Ipv6FragmentPacket.check(new Uint8Array(7)), Ipv6ExtDrop.truncated);
  assert.equal(parseIpv6Fragment(new Uint8Array(7)), Ipv6ExtDrop.truncated);
  assert.equal(parseIpv6Options(new Uint8Array(1)), Ipv6ExtDrop.truncated);
});

test('drop: too many extension headers', () => {
  const many = (n: number): Uint8Array => {
    const exts: Uint8Array[] = [];
    for (let i = 0; i < n; i++) exts.push(opts(i === n - 1 ? 17 : 60, []));
    return build(IpProtocol.IPV6_OPTS, exts, UDP8);
  };
  assert.equal(ok(walkIpv6Chain(many(IPV6_MAX_EXT_HEADERS))).headers, IPV6_MAX_EXT_HEADERS);
  assert.deepEqual(walkIpv6Chain(many(IPV6_MAX_EXT_HEADERS + 1)), { drop: Ipv6ExtDrop.tooManyHeaders, icmp: null });
  // also counted for routing and fragment headers
  const exts: Uint8Array[] = [];
  for (let i = 0; i < 9; i++) exts.push(routing(44, 0, 0), frag(i === 8 ? 17 : 43, 0, false));
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_ROUTE, exts, UDP8)).drop, Ipv6ExtDrop.tooManyHeaders);
  const exts2: Uint8Array[] = [];
  for (let i = 0; i < 8; i++) exts2.push(routing(44, 0, 0), frag(43, 0, false));
  exts2.push(routing(17, 0, 0));
  assert.equal(walkIpv6Chain(build(IpProtocol.IPV6_ROUTE, exts2, UDP8)).drop, Ipv6ExtDrop.tooManyHeaders);
});

test('walk: unknown and terminal Next Header values end the walk', () => {
  for (const nh of [253, 59, 50, 51, 135, 6]) {
    const r = ok(walkIpv6Chain(build(IpProtocol.IPV6_OPTS, [opts(nh, [])], UDP8)));
    assert.deepEqual([r.protocol, r.offset, r.nextHeaderOffset], [nh, 48, 40]);
  }
  assert.ok(isIpv6ExtensionHeader(0) && isIpv6ExtensionHeader(43) && isIpv6ExtensionHeader(44) && isIpv6ExtensionHeader(60));
  assert.ok(!isIpv6ExtensionHeader(58) && !isIpv6ExtensionHeader(59));
});

test('options header emit/parse round trips', () => {
  const rnd = new SeededRandom(61);
  for (let i = 0; i < 300; i++) {
    const options = [];
    for (let k = rnd.u32() % 5; k > 0; k--) {
      const data = new Uint8Array(rnd.u32() % 20);
      rnd.fill(data);
      options.push({ type: 2 + (rnd.u32() % 254), data });
    }
    const repr = { nextHeader: rnd.u32() & 0xff, options };
    const len = ipv6OptionsHeaderLength(repr);
    assert.equal(len % 8, 0);
    const b = new Uint8Array(len);
    assert.equal(emitIpv6Options(repr, b), len);
    const back = parseIpv6Options(b);
    assert.ok(typeof back !== 'string');
    assert.deepEqual({ ...back, options: back.options.map((o) => ({ type: o.type, data: o.data.slice() })) }, repr);
    assert.equal(new Ipv6OptionsPacket(b).headerLength, len);
  }
  // Pad1 given explicitly, and a 7-byte remainder padded with Pad1
  const b = new Uint8Array(8);
  emitIpv6Options({ nextHeader: 6, options: [{ type: 0, data: new Uint8Array(0) }, { type: 0x1e, data: new Uint8Array(3) }] }, b);
  assert.equal(hex(b), '0600001e03000000');
  emitIpv6Options({ nextHeader: 6, options: [{ type: 0x1e, data: new Uint8Array(4) }] }, b);
  assert.equal(hex(b), '06001e0400000000');
  assert.throws(() => ipv6OptionsHeaderLength({ options: [{ type: 0x1e, data: new Uint8Array(256) }] }), RangeError);
  const big = Array.from({ length: 9 }, () => ({ type: 0x1e, data: new Uint8Array(255) }));
  assert.throws(() => ipv6OptionsHeaderLength({ options: big }), RangeError);
  const p = new Ipv6OptionsPacket(b);
  p.nextHeader = 17;
  assert.equal(p.nextHeader, 17);
  assert.equal(p.options().length, 6);
});

test('fragment header emit/parse round trips and setters', () => {
  const rnd = new SeededRandom(62);
  const b = new Uint8Array(8);
  for (let i = 0; i < 300; i++) {
    const repr = { nextHeader: rnd.u32() & 0xff, fragOffset: (rnd.u32() & 0x1fff) * 8, more: rnd.u32() % 2 === 0, ident: rnd.u32() };
    assert.equal(emitIpv6Fragment(repr, b), 8);
    assert.deepEqual(parseIpv6Fragment(b), repr);
  }
  const f = new Ipv6FragmentPacket(b);
  f.nextHeader = 58;
  f.fragOffset = 1232;
  f.more = true;
  f.ident = 0xdeadbeef;
  assert.deepEqual(parseIpv6Fragment(b), { nextHeader: 58, fragOffset: 1232, more: true, ident: 0xdeadbeef });
  f.more = false;
  f.fragOffset = 0;
  assert.ok(f.isAtomic);
  assert.throws(() => emitIpv6Routing({ nextHeader: 0, routingType: 0, segmentsLeft: 0, data: new Uint8Array(2045) }, new Uint8Array(4096)), RangeError);
});

test('no throw on truncations, mutations and random bytes', () => {
  const rnd = new SeededRandom(63);
  const all = (b: Uint8Array): void => {
    const r = parseIpv6(b);
    const w = walkIpv6Chain(b);
    if (typeof r === 'string') assert.equal(w.drop, r);
    if (w.drop === null) {
      assert.ok(w.offset <= w.end && w.end <= b.length);
      assert.ok(w.nextHeaderOffset < w.offset);
    }
    if (b.length >= 40) {
      const rest = b.subarray(40);
      for (const f of [parseIpv6Options, parseIpv6Routing, parseIpv6Fragment]) f(rest);
    }
  };
  const chain = build(IpProtocol.HOPOPT, [opts(60, [5, 2, 0, 0]), opts(43, [0x1e, 1, 0]), routing(44, 0, 0), frag(17, 0, false)], UDP8);
  const samples = [NS, ECHO, MLD_HBH, V6_FRAG1, V6_FRAG2, chain];
  for (const f of samples) {
    for (let n = 0; n <= Math.min(f.length, 300); n++) {
      const t = f.slice(0, n);
      all(t);
      // and with Payload Length fixed up to the truncation, to reach the extension-header bounds
      if (n >= 40) {
        new Ipv6Packet(t).payloadLength = n - 40;
        all(t);
      }
    }
  }
  for (let i = 0; i < 4000; i++) {
    const b = new Uint8Array(40 + (rnd.u32() % 120));
    rnd.fill(b);
    b[0] = 0x60;
    b[4] = 0;
    b[5] = b.length - 40;
    const ext = [0, 43, 44, 60];
    b[6] = ext[rnd.u32() % 4]!;
    // bias the chain towards extension headers and small lengths
    for (let o = 40; o + 1 < b.length; o += 8) {
      if (rnd.u32() % 2) b[o] = ext[rnd.u32() % 4]!;
      if (rnd.u32() % 2) b[o + 1] = rnd.u32() % 3;
    }
    all(b);
  }
  for (let i = 0; i < 4000; i++) {
    const b = chain.slice();
    for (let k = 1 + (rnd.u32() % 4); k > 0; k--) b[rnd.u32() % b.length] = rnd.u32() & 0xff;
    all(b);
  }
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(rnd.u32() % 100);
    rnd.fill(b);
    all(b);
  }
});
