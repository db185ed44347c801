import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ICMPV4_ERROR_MAX_LEN,
  ICMPV4_HEADER_LEN,
  Icmpv4DstUnreachable,
  Icmpv4Drop,
  Icmpv4Packet,
  Icmpv4ParamProblem,
  Icmpv4TimeExceeded,
  Icmpv4Type,
  emitIcmpv4,
  emitIcmpv4Error,
  icmpv4ErrorLength,
  icmpv4Length,
  isIcmpv4Error,
  parseIcmpv4,
  type Icmpv4Repr,
} from '../../src/wire/icmpv4.js';
import { checksum } from '../../src/wire/checksum.js';
import { read16 } from '../../src/wire/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';

function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function l4(pkt: Uint8Array): Uint8Array {
  return pkt.subarray((pkt[0]! & 15) * 4, read16(pkt, 2));
}

// Captured from Linux over a veth pair: `ping -c1 10.9.0.2` and its reply.
const ECHO_REQ = hex(
  '45000054e35840004001433c0a0900010a090002' +
    '0800231e177200012e2b026b00000000c4050a0000000000' +
    '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
const ECHO_REP = hex(
  '45000054b48b00004001b2090a0900020a090001' +
    '00002b1e177200012e2b026b00000000c4050a0000000000' +
    '101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
// A UDP datagram to a closed port, and the port unreachable Linux sent back quoting it.
const UDP_TO_CLOSED = hex('4500002276cb40004011afeb0a0900010a09000282ea270f000efde768656c6c6f0a');
const PORT_UNREACH = hex(
  '45c0003ebf4100004001a6a90a0900020a090001' +
    '03031131000000004500002276cb40004011afeb0a0900010a09000282ea270f000efde768656c6c6f0a',
);

function ok(buf: Uint8Array): Icmpv4Repr {
  const r = parseIcmpv4(buf);
  assert.equal(typeof r, 'object', `expected a repr, got ${String(r)}`);
  return r as Icmpv4Repr;
}

function emitted(repr: Icmpv4Repr): Uint8Array {
  const buf = new Uint8Array(icmpv4Length(repr));
  assert.equal(emitIcmpv4(repr, buf), ICMPV4_HEADER_LEN);
  assert.equal(checksum(buf), 0);
  return buf;
}

const invoking28 = new Uint8Array(28).map((_, i) => i + 0x40);

describe('icmpv4: real captures', () => {
  test('echo request and reply from ping', () => {
    const req = ok(l4(ECHO_REQ));
    assert.equal(req.kind, 'echoRequest');
    if (req.kind !== 'echoRequest') return;
    assert.equal(req.ident, 0x1772);
    assert.equal(req.seq, 1);
    assert.equal(req.data.length, 56);
    assert.deepEqual(emitted(req), l4(ECHO_REQ));
    const rep = ok(l4(ECHO_REP));
    assert.equal(rep.kind, 'echoReply');
    // Turning the request into the reply in place gives Linux's reply bytes.
    const inPlace = l4(ECHO_REQ).slice();
    const p = new Icmpv4Packet(inPlace);
    p.type = Icmpv4Type.EchoReply;
    p.fillChecksum();
    assert.deepEqual(inPlace, l4(ECHO_REP));
    assert.equal(p.ident, 0x1772);
    assert.equal(p.seq, 1);
  });

  test('port unreachable quoting a UDP datagram', () => {
    const r = ok(l4(PORT_UNREACH));
    assert.equal(r.kind, 'dstUnreachable');
    if (r.kind !== 'dstUnreachable') return;
    assert.equal(r.code, Icmpv4DstUnreachable.PortUnreachable);
    assert.equal(r.nextHopMtu, 0);
    assert.deepEqual(r.invoking, UDP_TO_CLOSED);
    assert.deepEqual(emitted(r), l4(PORT_UNREACH));
    // The error emitter, given the offending datagram, builds the same message.
    const buf = new Uint8Array(icmpv4ErrorLength(UDP_TO_CLOSED.length));
    const n = emitIcmpv4Error({ kind: 'dstUnreachable', code: 3, nextHopMtu: 0, invoking: UDP_TO_CLOSED }, buf);
    assert.equal(n, 8 + 34);
    assert.deepEqual(buf, l4(PORT_UNREACH));
  });
});

describe('icmpv4: round trips', () => {
  test('echo with data of any size', () => {
    for (const size of [0, 1, 3, 56, 1000, 65507]) {
      const data = new Uint8Array(size).map((_, i) => (i * 7) & 0xff);
      const repr: Icmpv4Repr = { kind: 'echoReply', ident: 0xffff, seq: size & 0xffff, data };
      const back = ok(emitted(repr));
      assert.deepEqual(back, repr);
    }
  });

  test('data already in place is not copied, and still checksummed', () => {
    const buf = new Uint8Array(8 + 5);
    buf.set([1, 2, 3, 4, 5], 8);
    emitIcmpv4({ kind: 'echoRequest', ident: 1, seq: 2, data: buf.subarray(8) }, buf);
    const r = ok(buf);
    assert.equal(r.kind, 'echoRequest');
    if (r.kind === 'echoRequest') assert.deepEqual([...r.data], [1, 2, 3, 4, 5]);
  });

  test('destination unreachable, every code; next-hop MTU only with code 4', () => {
    for (let code = 0; code <= 15; code++) {
      const r = ok(emitted({ kind: 'dstUnreachable', code, nextHopMtu: 1400, invoking: invoking28 }));
      assert.equal(r.kind, 'dstUnreachable');
      if (r.kind !== 'dstUnreachable') continue;
      assert.equal(r.code, code);
      assert.equal(r.nextHopMtu, code === Icmpv4DstUnreachable.FragNeeded ? 1400 : 0);
      assert.deepEqual(r.invoking, invoking28);
    }
    const fragNeeded = emitted({ kind: 'dstUnreachable', code: 4, nextHopMtu: 1492, invoking: invoking28 });
    assert.deepEqual([...fragNeeded.subarray(4, 8)], [0, 0, 0x05, 0xd4]);
    assert.equal(new Icmpv4Packet(fragNeeded).nextHopMtu, 1492);
  });

  test('time exceeded and parameter problem', () => {
    for (const code of [Icmpv4TimeExceeded.TtlExceeded, Icmpv4TimeExceeded.FragReassembly]) {
      assert.deepEqual(ok(emitted({ kind: 'timeExceeded', code, invoking: invoking28 })), {
        kind: 'timeExceeded',
        code,
        invoking: invoking28,
      });
    }
    const pp: Icmpv4Repr = { kind: 'paramProblem', code: Icmpv4ParamProblem.Pointer, pointer: 9, invoking: invoking28 };
    const buf = emitted(pp);
    assert.deepEqual([...buf.subarray(4, 8)], [9, 0, 0, 0]);
    assert.deepEqual(ok(buf), pp);
  });

  test('other types are kept raw (timestamp, redirect, unknown)', () => {
    const reprs: Icmpv4Repr[] = [
      { kind: 'other', type: Icmpv4Type.Timestamp, code: 0, rest: 0x00010002, data: new Uint8Array(12) },
      { kind: 'other', type: Icmpv4Type.Redirect, code: 1, rest: 0x0a000001, data: invoking28 },
      { kind: 'other', type: 250, code: 7, rest: 0xffffffff, data: new Uint8Array(0) },
    ];
    for (const r of reprs) assert.deepEqual(ok(emitted(r)), r);
  });
});

describe('icmpv4: error emitters', () => {
  const big = new Uint8Array(1500).map((_, i) => i & 0xff);

  test('quote as much as fits in 576 bytes by default', () => {
    assert.equal(ICMPV4_ERROR_MAX_LEN, 556);
    assert.equal(icmpv4ErrorLength(big.length), 556);
    const buf = new Uint8Array(icmpv4ErrorLength(big.length));
    assert.equal(emitIcmpv4Error({ kind: 'timeExceeded', code: 0, invoking: big }, buf), 556);
    const r = ok(buf);
    assert.equal(r.kind, 'timeExceeded');
    if (r.kind === 'timeExceeded') assert.deepEqual(r.invoking, big.subarray(0, 548));
  });

  test('a max length parameter, a short buffer, a short packet', () => {
    assert.equal(icmpv4ErrorLength(1500, 100), 100);
    assert.equal(icmpv4ErrorLength(30, 100), 38);
    assert.equal(icmpv4ErrorLength(0, 100), 8);
    assert.equal(icmpv4ErrorLength(1500, 4), 8);
    const buf = new Uint8Array(200);
    assert.equal(emitIcmpv4Error({ kind: 'paramProblem', code: 0, pointer: 1, invoking: big }, buf, 100), 100);
    assert.equal(typeof parseIcmpv4(buf.subarray(0, 100)), 'object');
    const small = new Uint8Array(64);
    assert.equal(emitIcmpv4Error({ kind: 'dstUnreachable', code: 4, nextHopMtu: 576, invoking: big }, small), 64);
    const r = ok(small);
    assert.equal(r.kind === 'dstUnreachable' && r.nextHopMtu, 576);
  });

  test('isIcmpv4Error', () => {
    const errors = [];
    for (let t = 0; t < 256; t++) if (isIcmpv4Error(t)) errors.push(t);
    assert.deepEqual(errors, [3, 4, 5, 11, 12]);
  });
});

describe('icmpv4: malformed input', () => {
  test('truncated', () => {
    for (let n = 0; n < 8; n++) assert.equal(parseIcmpv4(l4(ECHO_REQ).subarray(0, n)), Icmpv4Drop.truncated);
    assert.equal(Icmpv4Packet.check(new Uint8Array(8)), null);
  });

  test('bad checksum', () => {
    const b = l4(ECHO_REQ).slice();
    b[20] ^= 0x80;
    assert.equal(parseIcmpv4(b), Icmpv4Drop.badChecksum);
    const cut = l4(ECHO_REQ).slice(0, 40);
    assert.equal(parseIcmpv4(cut), Icmpv4Drop.badChecksum);
  });

  test('an error quoting fewer than 28 bytes', () => {
    for (const kind of ['dstUnreachable', 'timeExceeded', 'paramProblem'] as const) {
      const repr = { kind, code: 0, nextHopMtu: 0, pointer: 0, invoking: invoking28.subarray(0, 27) };
      assert.equal(parseIcmpv4(emitted(repr)), Icmpv4Drop.shortError, kind);
      assert.equal(typeof parseIcmpv4(emitted({ ...repr, invoking: invoking28 })), 'object');
    }
    // Types kept raw have no minimum.
    assert.equal(typeof parseIcmpv4(emitted({ kind: 'other', type: 5, code: 0, rest: 0, data: new Uint8Array(0) })), 'object');
  });
});

describe('icmpv4: no-throw sweep', () => {
  function check(b: Uint8Array): void {
    const r = parseIcmpv4(b);
    assert.ok(typeof r === 'string' || (typeof r === 'object' && r !== null));
    if (Icmpv4Packet.check(b) === null) {
      const p = new Icmpv4Packet(b);
      void [p.type, p.code, p.ident, p.seq, p.nextHopMtu, p.pointer, p.rest, p.data()];
    }
  }
  function fixed(b: Uint8Array): Uint8Array {
    if (b.length >= 4) new Icmpv4Packet(b).fillChecksum();
    return b;
  }

  test('every truncation of the captures, raw and with a valid checksum', () => {
    for (const pkt of [ECHO_REQ, ECHO_REP, PORT_UNREACH]) {
      const m = l4(pkt);
      for (let n = 0; n <= m.length; n++) {
        check(m.slice(0, n));
        check(fixed(m.slice(0, n)));
      }
    }
  });

  test('seeded random bytes and mutations', () => {
    const rng = new SeededRandom(1);
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rng.u32() % 100);
      rng.fill(b);
      check(b);
      if (b.length > 0) b[0] = [0, 3, 4, 5, 8, 11, 12, 13][rng.u32() % 8]!;
      check(fixed(b));
      const m = l4(PORT_UNREACH).slice();
      m[rng.u32() % m.length] = rng.u32() & 0xff;
      check(fixed(m));
    }
  });
});
