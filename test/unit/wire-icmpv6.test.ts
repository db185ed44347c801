import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ICMPV6_ERROR_MAX_LEN,
  ICMPV6_HEADER_LEN,
  IPPROTO_ICMPV6,
  Icmpv6DstUnreachable,
  Icmpv6Drop,
  Icmpv6Packet,
  Icmpv6ParamProblem,
  Icmpv6Type,
  emitIcmpv6,
  emitIcmpv6Error,
  icmpv6ErrorLength,
  icmpv6Length,
  isIcmpv6Error,
  parseIcmpv6,
  type Icmpv6Repr,
} from '../../src/wire/icmpv6.js';
import { NdpDrop, ndpLength, type NdpRepr } from '../../src/wire/ndp.js';
import { finish, pseudoHeaderSumV6, sumBytes } from '../../src/wire/checksum.js';
import { read16 } from '../../src/wire/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';

function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function ip6(pkt: Uint8Array): { pseudo: number; l4: Uint8Array; src: Uint8Array; dst: Uint8Array } {
  const l4 = pkt.subarray(40, 40 + read16(pkt, 4));
  const src = pkt.subarray(8, 24);
  const dst = pkt.subarray(24, 40);
  return { pseudo: pseudoHeaderSumV6(src, dst, pkt[6]!, l4.length), l4, src, dst };
}

// Captured from Linux over a veth pair: `ping -6 -c1 fd00::2` and its reply.
const ECHO_REQ = hex(
  '6003c0e100403a40fd000000000000000000000000000001fd000000000000000000000000000002' +
    '8000e08b177300012e2b026b0000000094170a0000000000' +
    '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
const ECHO_REP = hex(
  '6002850d00403a40fd000000000000000000000000000002fd000000000000000000000000000001' +
    '8100df8b177300012e2b026b0000000094170a0000000000' +
    '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
// A UDP datagram to a closed port and Linux's port unreachable quoting it.
const UDP_TO_CLOSED = hex(
  '600bed52000f1140fd000000000000000000000000000001fd000000000000000000000000000002' + 'e540270f000fab7368656c6c6f360a',
);
const PORT_UNREACH = hex(
  '6001381d003f3a40fd000000000000000000000000000002fd000000000000000000000000000001' +
    '0104a5f000000000' +
    '600bed52000f1140fd000000000000000000000000000001fd000000000000000000000000000002e540270f000fab7368656c6c6f360a',
);
// A neighbor solicitation with a source link-layer address option.
const NS_SLLA = hex(
  '6000000000203afffd000000000000000000000000000001ff0200000000000000000001ff000002' +
    '870000e100000000fd0000000000000000000000000000020101bacc604363a7',
);

const SRC = hex('fe800000000000000000000000000001');
const DST = hex('fe800000000000000000000000000002');

function pseudoFor(len: number): number {
  return pseudoHeaderSumV6(SRC, DST, IPPROTO_ICMPV6, len);
}

function emitted(repr: Icmpv6Repr): { buf: Uint8Array; pseudo: number } {
  const len = icmpv6Length(repr);
  const buf = new Uint8Array(len);
  const pseudo = pseudoFor(len);
  assert.equal(emitIcmpv6(repr, buf, pseudo), ICMPV6_HEADER_LEN);
  assert.equal(finish(sumBytes(buf, 0, len, pseudo)), 0);
  return { buf, pseudo };
}

function roundTrip(repr: Icmpv6Repr): Icmpv6Repr | string {
  const { buf, pseudo } = emitted(repr);
  return parseIcmpv6(buf, pseudo);
}

const invoking48 = new Uint8Array(48).map((_, i) => i + 0x60);

describe('icmpv6: real captures', () => {
  test('echo request and reply from ping -6', () => {
    const { l4, pseudo } = ip6(ECHO_REQ);
    const req = parseIcmpv6(l4, pseudo) as Icmpv6Repr;
    assert.equal(typeof req, 'object');
    assert.equal(req.kind, 'echoRequest');
    if (req.kind !== 'echoRequest') return;
    assert.equal(req.ident, 0x1773);
    assert.equal(req.seq, 1);
    assert.equal(req.data.length, 56);
    const out = new Uint8Array(l4.length);
    emitIcmpv6(req, out, pseudo);
    assert.deepEqual(out, l4);
    // Reply in place: the pseudo-header sum does not depend on the address order.
    const rep = ip6(ECHO_REP);
    assert.equal(rep.pseudo, pseudo);
    const inPlace = l4.slice();
    const p = new Icmpv6Packet(inPlace);
    p.type = Icmpv6Type.EchoReply;
    p.fillChecksum(pseudo);
    assert.deepEqual(inPlace, rep.l4);
    assert.equal((parseIcmpv6(rep.l4, rep.pseudo) as Icmpv6Repr).kind, 'echoReply');
  });

  test('port unreachable quoting a UDP datagram', () => {
    const { l4, pseudo, src, dst } = ip6(PORT_UNREACH);
    const r = parseIcmpv6(l4, pseudo) as Icmpv6Repr;
    assert.equal(r.kind, 'dstUnreachable');
    if (r.kind !== 'dstUnreachable') return;
    assert.equal(r.code, Icmpv6DstUnreachable.PortUnreachable);
    assert.deepEqual(r.invoking, UDP_TO_CLOSED);
    // Built again by the error emitter from the offending packet.
    const len = icmpv6ErrorLength(UDP_TO_CLOSED.length);
    assert.equal(len, l4.length);
    const buf = new Uint8Array(len);
    const n = emitIcmpv6Error(
      { kind: 'dstUnreachable', code: 4, invoking: UDP_TO_CLOSED },
      buf,
      pseudoHeaderSumV6(src, dst, 58, len),
    );
    assert.equal(n, len);
    assert.deepEqual(buf, l4);
  });

  test('ND types are dispatched to ndp.ts', () => {
    const { l4, pseudo } = ip6(NS_SLLA);
    const r = parseIcmpv6(l4, pseudo) as Icmpv6Repr;
    assert.equal(r.kind, 'neighborSolicit');
    if (r.kind !== 'neighborSolicit') return;
    assert.deepEqual(r.target, hex('fd000000000000000000000000000002'));
    assert.deepEqual(r.options.sourceLinkAddr, hex('bacc604363a7'));
    // ND drop reasons come through parseIcmpv6.
    const bad = l4.slice();
    bad[1] = 1;
    new Icmpv6Packet(bad).fillChecksum(pseudo);
    assert.equal(parseIcmpv6(bad, pseudo), NdpDrop.badCode);
    // And ND kinds are emitted through emitIcmpv6.
    assert.equal(icmpv6Length(r), ndpLength(r as NdpRepr));
    const out = new Uint8Array(icmpv6Length(r));
    assert.equal(emitIcmpv6(r, out, pseudo), ICMPV6_HEADER_LEN);
    assert.deepEqual(out, l4);
  });
});

describe('icmpv6: round trips', () => {
  test('echo with any data size', () => {
    for (const size of [0, 1, 7, 1232, 65000]) {
      const repr: Icmpv6Repr = { kind: 'echoRequest', ident: 7, seq: 0xffff, data: new Uint8Array(size).fill(0xa5) };
      assert.deepEqual(roundTrip(repr), repr);
    }
  });

  test('errors: destination unreachable codes, packet too big, time exceeded, parameter problem', () => {
    for (let code = 0; code <= 7; code++) {
      const repr: Icmpv6Repr = { kind: 'dstUnreachable', code, invoking: invoking48 };
      assert.deepEqual(roundTrip(repr), repr);
    }
    const ptb: Icmpv6Repr = { kind: 'packetTooBig', code: 0, mtu: 1280, invoking: invoking48 };
    const { buf } = emitted(ptb);
    assert.deepEqual([...buf.subarray(0, 2)], [2, 0]);
    assert.deepEqual([...buf.subarray(4, 8)], [0, 0, 5, 0]);
    assert.deepEqual(roundTrip(ptb), ptb);
    assert.deepEqual(roundTrip({ ...ptb, mtu: 0xffffffff }), { ...ptb, mtu: 0xffffffff });
    for (const code of [0, 1]) {
      const te: Icmpv6Repr = { kind: 'timeExceeded', code, invoking: invoking48 };
      assert.deepEqual(roundTrip(te), te);
    }
    for (const code of Object.values(Icmpv6ParamProblem)) {
      const pp: Icmpv6Repr = { kind: 'paramProblem', code, pointer: 0x10006, invoking: invoking48 };
      assert.deepEqual(roundTrip(pp), pp);
    }
  });

  test('unknown error and informational types are kept raw', () => {
    for (const type of [0, 5, 100, 127, 130, 200, 255]) {
      const repr: Icmpv6Repr = { kind: 'other', type, code: 3, rest: 0x01020304, data: new Uint8Array(5).fill(type) };
      assert.deepEqual(roundTrip(repr), repr);
    }
  });
});

describe('icmpv6: error emitters', () => {
  const big = new Uint8Array(2000).map((_, i) => (i * 13) & 0xff);

  test('quote as much as fits in the 1280-byte minimum MTU by default', () => {
    assert.equal(ICMPV6_ERROR_MAX_LEN, 1240);
    const len = icmpv6ErrorLength(big.length);
    assert.equal(len, 1240);
    const buf = new Uint8Array(len);
    const pseudo = pseudoFor(len);
    assert.equal(emitIcmpv6Error({ kind: 'packetTooBig', code: 0, mtu: 1400, invoking: big }, buf, pseudo), 1240);
    const r = parseIcmpv6(buf, pseudo) as Icmpv6Repr;
    assert.equal(r.kind, 'packetTooBig');
    if (r.kind === 'packetTooBig') {
      assert.equal(r.mtu, 1400);
      assert.deepEqual(r.invoking, big.subarray(0, 1232));
    }
  });

  test('max length parameter, short buffer', () => {
    assert.equal(icmpv6ErrorLength(2000, 200), 200);
    assert.equal(icmpv6ErrorLength(50, 200), 58);
    assert.equal(icmpv6ErrorLength(0), 8);
    const buf = new Uint8Array(300);
    const pseudo = pseudoFor(200);
    assert.equal(emitIcmpv6Error({ kind: 'paramProblem', code: 1, pointer: 6, invoking: big }, buf, pseudo, 200), 200);
    assert.equal((parseIcmpv6(buf.subarray(0, 200), pseudo) as Icmpv6Repr).kind, 'paramProblem');
    const small = new Uint8Array(100);
    assert.equal(emitIcmpv6Error({ kind: 'timeExceeded', code: 0, invoking: big }, small, pseudoFor(100)), 100);
    assert.equal((parseIcmpv6(small, pseudoFor(100)) as Icmpv6Repr).kind, 'timeExceeded');
  });

  test('isIcmpv6Error', () => {
    for (let t = 0; t < 256; t++) assert.equal(isIcmpv6Error(t), t < 128);
  });
});

describe('icmpv6: malformed input', () => {
  test('truncated', () => {
    for (let n = 0; n < 8; n++) assert.equal(parseIcmpv6(new Uint8Array(n), pseudoFor(n)), Icmpv6Drop.truncated);
  });

  test('bad checksum, including a wrong pseudo-header', () => {
    const { l4, pseudo } = ip6(ECHO_REQ);
    assert.equal(parseIcmpv6(l4, pseudo + 1), Icmpv6Drop.badChecksum);
    assert.equal(parseIcmpv6(l4, 0), Icmpv6Drop.badChecksum);
    const b = l4.slice();
    b[30] ^= 4;
    assert.equal(parseIcmpv6(b, pseudo), Icmpv6Drop.badChecksum);
  });

  test('an error quoting fewer than 48 bytes', () => {
    const short = invoking48.subarray(0, 47);
    const reprs: Icmpv6Repr[] = [
      { kind: 'dstUnreachable', code: 0, invoking: short },
      { kind: 'packetTooBig', code: 0, mtu: 1280, invoking: short },
      { kind: 'timeExceeded', code: 0, invoking: short },
      { kind: 'paramProblem', code: 0, pointer: 0, invoking: short },
    ];
    for (const r of reprs) assert.equal(roundTrip(r), Icmpv6Drop.shortError, r.kind);
  });
});

describe('icmpv6: no-throw sweep', () => {
  function check(b: Uint8Array, pseudo: number): void {
    const r = parseIcmpv6(b, pseudo);
    assert.ok(typeof r === 'string' || (typeof r === 'object' && r !== null));
    if (Icmpv6Packet.check(b) === null) {
      const p = new Icmpv6Packet(b);
      void [p.type, p.code, p.ident, p.seq, p.mtu, p.pointer, p.rest, p.data()];
    }
  }
  function fixed(b: Uint8Array): number {
    const pseudo = pseudoFor(b.length);
    if (b.length >= 4) new Icmpv6Packet(b).fillChecksum(pseudo);
    return pseudo;
  }

  test('every truncation of the captures', () => {
    for (const pkt of [ECHO_REQ, PORT_UNREACH, NS_SLLA]) {
      const { l4, pseudo } = ip6(pkt);
      for (let n = 0; n <= l4.length; n++) {
        check(l4.slice(0, n), pseudo);
        const b = l4.slice(0, n);
        check(b, fixed(b));
      }
    }
  });

  test('seeded random bytes (all types, valid checksums) and mutations', () => {
    const rng = new SeededRandom(6);
    const ns = ip6(NS_SLLA).l4;
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rng.u32() % 120);
      rng.fill(b);
      check(b, rng.u32());
      if (b.length > 0) b[0] = [1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137, 200][rng.u32() % 12]!;
      if (b.length > 1) b[1] = rng.u32() % 3 === 0 ? rng.u32() & 0xff : 0;
      check(b, fixed(b));
      const m = ns.slice();
      m[rng.u32() % m.length] = rng.u32() & 0xff;
      check(m, fixed(m));
    }
  });
});
