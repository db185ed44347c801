import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NDP_HOP_LIMIT,
  NDP_INFINITE_LIFETIME,
  NdpDrop,
  NdpPacket,
  NdpType,
  emitNdp,
  forEachNdpOption,
  isNdpType,
  ndpCheckIpHeader,
  ndpLength,
  ndpOptionsOffset,
  parseNdp,
  parseNdpUnchecked,
  type NdpRepr,
} from '../../src/wire/ndp.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { finish, pseudoHeaderSumV6, sumBytes } from '../../src/wire/checksum.js';
import { read16 } from '../../src/wire/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';

function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

interface Ip6 {
  pseudo: number;
  l4: Uint8Array;
  src: Uint8Array;
  dst: Uint8Array;
  hopLimit: number;
}

function ip6(pkt: Uint8Array): Ip6 {
  const l4 = pkt.subarray(40, 40 + read16(pkt, 4));
  const src = pkt.subarray(8, 24);
  const dst = pkt.subarray(24, 40);
  return { pseudo: pseudoHeaderSumV6(src, dst, pkt[6]!, l4.length), l4, src, dst, hopLimit: pkt[7]! };
}

// Captured from Linux over a veth pair.
// Router solicitation from fe80::b8cc:60ff:fe43:63a7 to ff02::2 with SLLA.
const RS = hex(
  '6000000000103afffe80000000000000b8cc60fffe4363a7ff020000000000000000000000000002' + '850081bf000000000101bacc604363a7',
);
// DAD neighbor solicitation from :: with a Nonce option (type 14, RFC 7527): unknown, skipped.
const NS_DAD = hex(
  '6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff050800' +
    '87005e7300000000fe8000000000000048d68efffe0508000e01bfe147cf2219',
);
// Address resolution: fd00::1 asks for fd00::2, SLLA ba:cc:60:43:63:a7.
const NS_SLLA = hex(
  '6000000000203afffd000000000000000000000000000001ff0200000000000000000001ff000002' +
    '870000e100000000fd0000000000000000000000000000020101bacc604363a7',
);
// The answer: S|O, TLLA 4a:d6:8e:05:08:00.
const NA_TLLA = hex(
  '6000000000203afffd000000000000000000000000000002fd000000000000000000000000000001' +
    '88003dc060000000fd00000000000000000000000000000202014ad68e050800',
);
// Unicast reachability confirmation: S only, no options.
const NA_BARE = hex(
  '6000000000183afffd000000000000000000000000000001fe80000000000000c43982fffea97107' +
    '8800883d40000000fd000000000000000000000000000001',
);

const LL1 = hex('fe800000000000000000000000000001');
const LL2 = hex('fe800000000000000000000000000002');
const GUA = hex('20010db8000000000000000000000005');
const UNSPEC = new Uint8Array(16);
const ALL_NODES = hex('ff020000000000000000000000000001');
const MAC = hex('020000000001');

function parsedCapture(pkt: Uint8Array): { r: NdpRepr; ip: Ip6 } {
  const ip = ip6(pkt);
  assert.equal(ip.hopLimit, NDP_HOP_LIMIT);
  const r = parseNdp(ip.l4, ip.pseudo);
  assert.equal(typeof r, 'object', `expected a repr, got ${String(r)}`);
  assert.deepEqual(parseIcmpv6(ip.l4, ip.pseudo), r);
  return { r: r as NdpRepr, ip };
}

function reemit(r: NdpRepr, pseudo: number): Uint8Array {
  const out = new Uint8Array(ndpLength(r));
  assert.equal(emitNdp(r, out, pseudo), out.length);
  return out;
}

function emitted(r: NdpRepr): { buf: Uint8Array; pseudo: number } {
  const len = ndpLength(r);
  const pseudo = pseudoHeaderSumV6(LL1, ALL_NODES, 58, len);
  const buf = new Uint8Array(len);
  assert.equal(emitNdp(r, buf, pseudo), len);
  assert.equal(finish(sumBytes(buf, 0, len, pseudo)), 0);
  return { buf, pseudo };
}

function roundTrip(r: NdpRepr): NdpRepr | string {
  const { buf, pseudo } = emitted(r);
  return parseNdp(buf, pseudo);
}

/** A message of `type` with a zero body and the given option bytes (no checksum: parseNdpUnchecked). */
function raw(type: number, opts: number[] = [], body?: (b: Uint8Array) => void): Uint8Array {
  const off = ndpOptionsOffset(type) || 8;
  const b = new Uint8Array(off + opts.length);
  b[0] = type;
  b.set(opts, off);
  if (type === NdpType.NeighborSolicit || type === NdpType.NeighborAdvert || type === NdpType.Redirect) b.set(LL2, 8);
  if (type === NdpType.Redirect) b.set(GUA, 24);
  body?.(b);
  return b;
}

describe('ndp: real captures', () => {
  test('router solicitation with SLLA', () => {
    const { r, ip } = parsedCapture(RS);
    assert.deepEqual(r, { kind: 'routerSolicit', options: { sourceLinkAddr: hex('bacc604363a7') } });
    assert.equal(ndpCheckIpHeader(r, ip.src, ip.dst, ip.hopLimit), null);
    assert.deepEqual(reemit(r, ip.pseudo), ip.l4);
  });

  test('DAD neighbor solicitation from :: (unknown Nonce option skipped)', () => {
    const { r, ip } = parsedCapture(NS_DAD);
    assert.deepEqual(r, { kind: 'neighborSolicit', target: hex('fe8000000000000048d68efffe050800'), options: {} });
    assert.equal(ndpCheckIpHeader(r, ip.src, ip.dst, ip.hopLimit), null);
    const seen: number[][] = [];
    assert.equal(forEachNdpOption(ip.l4, 24, ip.l4.length, (t, o, l) => seen.push([t, o, l])), null);
    assert.deepEqual(seen, [[14, 24, 8]]);
  });

  test('neighbor solicitation with SLLA and the advertisement answering it', () => {
    const ns = parsedCapture(NS_SLLA);
    assert.deepEqual(ns.r, {
      kind: 'neighborSolicit',
      target: hex('fd000000000000000000000000000002'),
      options: { sourceLinkAddr: hex('bacc604363a7') },
    });
    assert.equal(ndpCheckIpHeader(ns.r, ns.ip.src, ns.ip.dst, 255), null);
    assert.deepEqual(reemit(ns.r, ns.ip.pseudo), ns.ip.l4);
    const na = parsedCapture(NA_TLLA);
    assert.deepEqual(na.r, {
      kind: 'neighborAdvert',
      router: false,
      solicited: true,
      override: true,
      target: hex('fd000000000000000000000000000002'),
      options: { targetLinkAddr: hex('4ad68e050800') },
    });
    assert.equal(ndpCheckIpHeader(na.r, na.ip.src, na.ip.dst, 255), null);
    assert.deepEqual(reemit(na.r, na.ip.pseudo), na.ip.l4);
  });

  test('neighbor advertisement without options', () => {
    const { r, ip } = parsedCapture(NA_BARE);
    assert.equal(r.kind, 'neighborAdvert');
    if (r.kind !== 'neighborAdvert') return;
    assert.deepEqual([r.router, r.solicited, r.override], [false, true, false]);
    assert.deepEqual(r.options, {});
    assert.deepEqual(reemit(r, ip.pseudo), ip.l4);
  });
});

describe('ndp: round trips', () => {
  test('router advertisement with SLLA, MTU and prefixes', () => {
    const ra: NdpRepr = {
      kind: 'routerAdvert',
      curHopLimit: 64,
      managed: true,
      other: false,
      routerLifetime: 1800,
      reachableTime: 30000,
      retransTimer: 1000,
      options: {
        sourceLinkAddr: MAC,
        mtu: 1500,
        prefixes: [
          {
            prefixLength: 64,
            onLink: true,
            autonomous: true,
            validLifetime: 2592000,
            preferredLifetime: 604800,
            prefix: hex('20010db8000100000000000000000000'),
          },
          {
            prefixLength: 48,
            onLink: false,
            autonomous: false,
            validLifetime: NDP_INFINITE_LIFETIME,
            preferredLifetime: NDP_INFINITE_LIFETIME,
            prefix: hex('fd000000000000000000000000000000'),
          },
        ],
      },
    };
    assert.equal(ndpLength(ra), 16 + 8 + 8 + 64);
    const { buf } = emitted(ra);
    assert.deepEqual([...buf.subarray(4, 8)], [64, 0x80, 0x07, 0x08]);
    // SLLA, then MTU (type 5, len 1, reserved, 1500), then the prefix option layout.
    assert.deepEqual([...buf.subarray(16, 24)], [1, 1, 2, 0, 0, 0, 0, 1]);
    assert.deepEqual([...buf.subarray(24, 32)], [5, 1, 0, 0, 0, 0, 0x05, 0xdc]);
    assert.deepEqual([...buf.subarray(32, 36)], [3, 4, 64, 0xc0]);
    assert.deepEqual(roundTrip(ra), ra);
    const flags = { ...ra, managed: false, other: true, options: {} };
    assert.deepEqual(roundTrip(flags), flags);
  });

  test('router solicitation without options; NS and NA with link-layer options', () => {
    const rs: NdpRepr = { kind: 'routerSolicit', options: {} };
    assert.equal(ndpLength(rs), 8);
    assert.deepEqual(roundTrip(rs), rs);
    const ns: NdpRepr = { kind: 'neighborSolicit', target: GUA, options: { sourceLinkAddr: MAC } };
    assert.deepEqual(roundTrip(ns), ns);
    for (let f = 0; f < 8; f++) {
      const na: NdpRepr = {
        kind: 'neighborAdvert',
        router: (f & 4) !== 0,
        solicited: (f & 2) !== 0,
        override: (f & 1) !== 0,
        target: GUA,
        options: { targetLinkAddr: MAC },
      };
      assert.deepEqual(roundTrip(na), na);
    }
  });

  test('redirect with TLLA and a redirected header', () => {
    const quoted = new Uint8Array(13).fill(0x77);
    const red: NdpRepr = {
      kind: 'redirect',
      target: LL2,
      destination: GUA,
      options: { targetLinkAddr: MAC, redirectedHeader: quoted },
    };
    assert.equal(ndpLength(red), 40 + 8 + 8 + 16);
    const back = roundTrip(red) as NdpRepr;
    assert.equal(back.kind, 'redirect');
    if (back.kind !== 'redirect') return;
    assert.deepEqual(back.target, LL2);
    assert.deepEqual(back.destination, GUA);
    assert.deepEqual(back.options.targetLinkAddr, MAC);
    // Padded to 8 bytes with zeros.
    assert.deepEqual(back.options.redirectedHeader, new Uint8Array([...quoted, 0, 0, 0]));
    // Target equal to the destination (on-link destination) is valid too.
    const onLink: NdpRepr = { kind: 'redirect', target: GUA, destination: GUA, options: {} };
    assert.deepEqual(roundTrip(onLink), onLink);
  });
});

describe('ndp: options', () => {
  test('SLLA only counts in RS/RA/NS, TLLA only in NA/Redirect (RFC 4861 §4.6.1)', () => {
    const lla = (t: number): number[] => [t, 1, 2, 0, 0, 0, 0, 9];
    const na = parseNdpUnchecked(raw(NdpType.NeighborAdvert, [...lla(1), ...lla(2)])) as NdpRepr;
    assert.deepEqual(na.options, { targetLinkAddr: hex('020000000009') });
    const ns = parseNdpUnchecked(raw(NdpType.NeighborSolicit, [...lla(2), ...lla(1)])) as NdpRepr;
    assert.deepEqual(ns.options, { sourceLinkAddr: hex('020000000009') });
    // An ignored option is not checked either: a 16-byte TLLA in an NS is fine.
    const ns2 = parseNdpUnchecked(raw(NdpType.NeighborSolicit, [2, 2, ...new Array(14).fill(0)])) as NdpRepr;
    assert.deepEqual(ns2.options, {});
  });

  test('repeated SLLA and MTU: the first counts; prefixes accumulate', () => {
    const opts = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 5, 1, 0, 0, 0, 0, 5, 0, 5, 1, 0, 0, 0, 0, 6, 0];
    const ra = parseNdpUnchecked(raw(NdpType.RouterAdvert, opts)) as NdpRepr;
    assert.deepEqual(ra.options, { sourceLinkAddr: hex('010101010101'), mtu: 1280 });
  });

  test('prefix and MTU options with a wrong length are ignored; unknown options skipped', () => {
    const badPrefix = [3, 3, ...new Array(22).fill(0)];
    const badMtu = [5, 2, ...new Array(14).fill(0)];
    const unknown = [200, 1, 0, 0, 0, 0, 0, 0];
    const goodPrefix = [3, 4, 64, 0x40, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, ...new Array(16).fill(0xfd)];
    const ra = parseNdpUnchecked(raw(NdpType.RouterAdvert, [...badPrefix, ...badMtu, ...unknown, ...goodPrefix])) as NdpRepr;
    assert.deepEqual(ra.options, {
      prefixes: [
        {
          prefixLength: 64,
          onLink: false,
          autonomous: true,
          validLifetime: 1,
          preferredLifetime: 1,
          prefix: new Uint8Array(16).fill(0xfd),
        },
      ],
    });
  });
});

describe('ndp: malformed input', () => {
  test('not an ND type', () => {
    assert.equal(NdpPacket.check(raw(128)), NdpDrop.notNdp);
    assert.equal(parseNdpUnchecked(raw(132)), NdpDrop.notNdp);
    assert.equal(parseNdpUnchecked(raw(138)), NdpDrop.notNdp);
    for (let t = 0; t < 256; t++) assert.equal(isNdpType(t), t >= 133 && t <= 137);
  });

  test('shorter than the minimum for each type', () => {
    const mins: Array<[number, number]> = [
      [133, 8],
      [134, 16],
      [135, 24],
      [136, 24],
      [137, 40],
    ];
    for (const [type, min] of mins) {
      const b = raw(type);
      assert.equal(b.length, min);
      assert.equal(typeof parseNdpUnchecked(b), 'object', String(type));
      assert.equal(parseNdpUnchecked(b.subarray(0, min - 1)), NdpDrop.truncated, String(type));
    }
    assert.equal(parseNdpUnchecked(new Uint8Array(3)), NdpDrop.truncated);
    assert.equal(parseNdp(new Uint8Array(2), 0), NdpDrop.truncated);
  });

  test('ICMP code not 0', () => {
    for (const type of [133, 134, 135, 136, 137]) {
      assert.equal(parseNdpUnchecked(raw(type, [], (b) => (b[1] = 1))), NdpDrop.badCode);
    }
  });

  test('zero-length option', () => {
    assert.equal(parseNdpUnchecked(raw(135, [1, 0, 0, 0, 0, 0, 0, 0])), NdpDrop.zeroLengthOption);
    // Also after a good option, and for an unknown type.
    assert.equal(parseNdpUnchecked(raw(134, [1, 1, 2, 0, 0, 0, 0, 1, 99, 0])), NdpDrop.zeroLengthOption);
    let called = 0;
    const b = raw(133, [1, 1, 2, 0, 0, 0, 0, 1, 99, 0]);
    assert.equal(forEachNdpOption(b, 8, b.length, () => called++), NdpDrop.zeroLengthOption);
    assert.equal(called, 0);
  });

  test('option past the end of the message', () => {
    assert.equal(parseNdpUnchecked(raw(133, [1])), NdpDrop.truncatedOption);
    assert.equal(parseNdpUnchecked(raw(133, [1, 2, 0, 0, 0, 0, 0, 0])), NdpDrop.truncatedOption);
    assert.equal(parseNdpUnchecked(raw(136, [2, 1, 0, 0, 0, 0, 0])), NdpDrop.truncatedOption);
  });

  test('link-layer address option that is not Ethernet-sized (Linux drops)', () => {
    assert.equal(parseNdpUnchecked(raw(135, [1, 2, ...new Array(14).fill(0)])), NdpDrop.badLinkAddrOption);
    assert.equal(parseNdpUnchecked(raw(136, [2, 2, ...new Array(14).fill(0)])), NdpDrop.badLinkAddrOption);
  });

  test('multicast target in NS and NA', () => {
    for (const type of [135, 136]) {
      assert.equal(parseNdpUnchecked(raw(type, [], (b) => b.set(ALL_NODES, 8))), NdpDrop.multicastTarget);
    }
  });

  test('redirect: multicast destination, target neither link-local nor the destination', () => {
    assert.equal(parseNdpUnchecked(raw(137, [], (b) => b.set(ALL_NODES, 24))), NdpDrop.multicastDestination);
    assert.equal(parseNdpUnchecked(raw(137, [], (b) => b.set(hex('20010db8000000000000000000000009'), 8))), NdpDrop.badRedirectTarget);
  });

  test('bad checksum', () => {
    const ip = ip6(NS_SLLA);
    assert.equal(parseNdp(ip.l4, ip.pseudo + 1), NdpDrop.badChecksum);
    assert.equal(parseIcmpv6(ip.l4, ip.pseudo + 1), NdpDrop.badChecksum);
  });
});

describe('ndp: IP header checks (ndpCheckIpHeader)', () => {
  const rs: NdpRepr = { kind: 'routerSolicit', options: { sourceLinkAddr: MAC } };
  const ns: NdpRepr = { kind: 'neighborSolicit', target: GUA, options: { sourceLinkAddr: MAC } };
  const na: NdpRepr = { kind: 'neighborAdvert', router: false, solicited: true, override: false, target: GUA, options: {} };
  const ra: NdpRepr = {
    kind: 'routerAdvert',
    curHopLimit: 0,
    managed: false,
    other: false,
    routerLifetime: 0,
    reachableTime: 0,
    retransTimer: 0,
    options: {},
  };
  const red: NdpRepr = { kind: 'redirect', target: LL2, destination: GUA, options: {} };
  const solicited = hex('ff0200000000000000000001ff000005');

  test('hop limit must be 255', () => {
    for (const r of [rs, ns, na, ra, red]) {
      assert.equal(ndpCheckIpHeader(r, LL1, ALL_NODES, 254), NdpDrop.badHopLimit);
      assert.equal(ndpCheckIpHeader(r, LL1, ALL_NODES, 64), NdpDrop.badHopLimit);
    }
  });

  test('RS and NS from the unspecified address carry no SLLA', () => {
    assert.equal(ndpCheckIpHeader(rs, UNSPEC, ALL_NODES, 255), NdpDrop.unspecifiedWithSlla);
    assert.equal(ndpCheckIpHeader({ ...rs, options: {} }, UNSPEC, ALL_NODES, 255), null);
    assert.equal(ndpCheckIpHeader(rs, LL1, ALL_NODES, 255), null);
    assert.equal(ndpCheckIpHeader(ns, UNSPEC, solicited, 255), NdpDrop.unspecifiedWithSlla);
  });

  test('NS from the unspecified address goes to a solicited-node address', () => {
    const bare = { ...ns, options: {} };
    assert.equal(ndpCheckIpHeader(bare, UNSPEC, solicited, 255), null);
    assert.equal(ndpCheckIpHeader(bare, UNSPEC, ALL_NODES, 255), NdpDrop.badDst);
    assert.equal(ndpCheckIpHeader(bare, UNSPEC, GUA, 255), NdpDrop.badDst);
    assert.equal(ndpCheckIpHeader(ns, LL1, GUA, 255), null);
  });

  test('RA and redirect come from a link-local source', () => {
    assert.equal(ndpCheckIpHeader(ra, GUA, ALL_NODES, 255), NdpDrop.srcNotLinkLocal);
    assert.equal(ndpCheckIpHeader(red, GUA, LL2, 255), NdpDrop.srcNotLinkLocal);
    assert.equal(ndpCheckIpHeader(ra, LL1, ALL_NODES, 255), null);
    assert.equal(ndpCheckIpHeader(red, LL1, LL2, 255), null);
  });

  test('a solicited NA is not sent to a multicast address', () => {
    assert.equal(ndpCheckIpHeader(na, LL1, ALL_NODES, 255), NdpDrop.solicitedToMulticast);
    assert.equal(ndpCheckIpHeader({ ...na, solicited: false }, LL1, ALL_NODES, 255), null);
    assert.equal(ndpCheckIpHeader(na, LL1, LL2, 255), null);
  });
});

describe('ndp: no-throw sweep', () => {
  function check(b: Uint8Array): void {
    const r = parseNdpUnchecked(b);
    assert.ok(typeof r === 'string' || (typeof r === 'object' && r !== null));
    if (typeof r === 'object') {
      const ipErr = ndpCheckIpHeader(r, UNSPEC, ALL_NODES, 255);
      assert.ok(ipErr === null || typeof ipErr === 'string');
      // What parses re-emits and parses to the same thing.
      const out = new Uint8Array(ndpLength(r));
      emitNdp(r, out, 0);
      assert.equal(typeof parseNdp(out, 0), 'object');
    }
    parseNdp(b, 0);
    if (b.length >= 4) {
      const p = new NdpPacket(b);
      void [p.type, p.code, p.curHopLimit, p.raFlags, p.routerLifetime, p.reachableTime, p.retransTimer, p.naFlags];
      void [p.target(), p.destination(), p.options(), p.optionsOffset()];
    }
  }

  test('every truncation of the captures', () => {
    for (const pkt of [RS, NS_DAD, NS_SLLA, NA_TLLA, NA_BARE]) {
      const { l4 } = ip6(pkt);
      for (let n = 0; n <= l4.length; n++) check(l4.slice(0, n));
    }
  });

  test('seeded random bodies and options, and mutations', () => {
    const rng = new SeededRandom(4861);
    const ns = ip6(NS_SLLA).l4;
    let parsedOk = 0;
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rng.u32() % 120);
      rng.fill(b);
      check(b);
      if (b.length > 1) {
        b[0] = 133 + (rng.u32() % 5);
        b[1] = 0;
        // Mostly small option lengths, so that options get parsed.
        for (let i = ndpOptionsOffset(b[0]) + 1; i < b.length; i += 8) if (rng.u32() % 4 !== 0) b[i] = rng.u32() % 3;
        check(b);
        if (typeof parseNdpUnchecked(b) === 'object') parsedOk++;
      }
      const m = ns.slice();
      m[rng.u32() % m.length] = rng.u32() & 0xff;
      check(m);
    }
    assert.ok(parsedOk > 0);
  });
});
