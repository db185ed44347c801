/**
 * Property-based tests (fast-check) of the upper wire formats: ICMPv4, ICMPv6, NDP, UDP and TCP
 * (with options). Round trips over generated Reprs, emitted messages verify and one flipped bit
 * fails verification, no throw on any bytes (and on mutated valid messages), getters within
 * the checked bytes. FC_RUNS (default 300) and FC_SEED as in prop-wire-link.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { pseudoHeaderSumV4, pseudoHeaderSumV6, finish, sumBytes } from '../../src/wire/checksum.js';
import {
  Icmpv4Packet,
  emitIcmpv4,
  emitIcmpv4Error,
  icmpv4ErrorLength,
  icmpv4Length,
  parseIcmpv4,
  type Icmpv4Repr,
} from '../../src/wire/icmpv4.js';
import {
  Icmpv6Packet,
  emitIcmpv6,
  emitIcmpv6Error,
  icmpv6ErrorLength,
  icmpv6Length,
  parseIcmpv6,
  type Icmpv6Repr,
} from '../../src/wire/icmpv6.js';
import { NdpPacket, emitNdp, ndpCheckIpHeader, ndpLength, parseNdp, forEachNdpOption, type NdpRepr } from '../../src/wire/ndp.js';
import { UdpPacket, emitUdp, parseUdp } from '../../src/wire/udp.js';
import { TcpOptionsScratch, TcpPacket, emitTcp, forEachTcpOption, parseTcp, readTcpOptions, tcpHeaderLength, type TcpOptions } from '../../src/wire/tcp.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const opts = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) };
const prop = <T>(arb: fc.Arbitrary<T>, fn: (v: T) => void): void => fc.assert(fc.property(arb, fn), opts);
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2000, size: 'max' }));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.nat(0xffff);
const data = fc.uint8Array({ maxLength: 200 });

function guarded(buf: Uint8Array): { view: Uint8Array; oob: () => number } {
  let oob = 0;
  const view = new Proxy(buf, {
    get(t, k) {
      if (typeof k === 'string' && k.length > 0 && k.charCodeAt(0) >= 48 && k.charCodeAt(0) <= 57) {
        if (Number(k) >= t.length) oob++;
        return t[Number(k)];
      }
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { view, oob: () => oob };
}
function readAll(obj: object): void {
  const proto = Object.getPrototypeOf(obj) as object;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    if (d.get) (obj as Record<string, unknown>)[name];
    else if (typeof d.value === 'function' && d.value.length === 0 && !/^(fill|set|decrement)/.test(name)) d.value.call(obj);
  }
}
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.record({ k: fc.nat(3), at: fc.nat(), v: fc.constantFrom(0, 1, 2, 3, 4, 5, 8, 0x7f, 0x80, 0xff, 0xf0) });
  return fc.tuple(valid, fc.array(edit, { maxLength: 4 })).map(([b, edits]) => {
    let out = b.slice();
    for (const e of edits) {
      if (out.length === 0) break;
      if (e.k === 0) out[e.at % out.length] = e.v;
      else if (e.k === 1) out[e.at % out.length]! ^= 1 << (e.v & 7);
      else if (e.k === 2) out = out.slice(0, e.at % out.length);
      else {
        const g = new Uint8Array(out.length + 1 + (e.at % 40)).fill(e.v);
        g.set(out);
        out = g;
      }
    }
    return out;
  });
}
const flipOne = (buf: Uint8Array, at: number, bit: number): void => {
  buf[at % buf.length]! ^= 1 << bit;
};
const v6src = bytes(16);
const v6dst = bytes(16);

// ---- ICMPv4 -------------------------------------------------------------------------------

const icmpv4Repr: fc.Arbitrary<Icmpv4Repr> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), ident: u16, seq: u16, data }),
  fc.record({ kind: fc.constant('dstUnreachable' as const), code: fc.nat(15), nextHopMtu: u16, invoking: fc.uint8Array({ minLength: 28, maxLength: 200 }) }).map((r) => ({
    ...r,
    nextHopMtu: r.code === 4 ? r.nextHopMtu : 0,
  })),
  fc.record({ kind: fc.constant('timeExceeded' as const), code: fc.nat(1), invoking: fc.uint8Array({ minLength: 28, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('paramProblem' as const), code: fc.nat(2), pointer: fc.nat(255), invoking: fc.uint8Array({ minLength: 28, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('other' as const), type: fc.nat(255).filter((t) => ![0, 3, 8, 11, 12].includes(t)), code: fc.nat(255), rest: u32, data }),
);
const emitV4 = (r: Icmpv4Repr): Uint8Array => {
  const buf = new Uint8Array(icmpv4Length(r));
  emitIcmpv4(r, buf);
  return buf;
};

test('ICMPv4: parse(emit(repr)) round trips; the checksum verifies; one flipped bit fails', () => {
  prop(fc.tuple(icmpv4Repr, fc.nat(), fc.nat(7)), ([r, at, bit]) => {
    const buf = emitV4(r);
    const p = parseIcmpv4(buf);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual(JSON.parse(JSON.stringify(p, (_, v) => (v instanceof Uint8Array ? [...v] : v))), JSON.parse(JSON.stringify(r, (_, v) => (v instanceof Uint8Array ? [...v] : v))));
    assert.ok(new Icmpv4Packet(buf).verifyChecksum());
    flipOne(buf, at, bit);
    assert.ok(!new Icmpv4Packet(buf).verifyChecksum());
  });
});

test('ICMPv4 errors: quote as much as fits, never more than the cap', () => {
  prop(fc.tuple(fc.uint8Array({ maxLength: 1500, size: 'max' }), fc.integer({ min: 8, max: 1500 })), ([inv, max]) => {
    const len = icmpv4ErrorLength(inv.length, max);
    const buf = new Uint8Array(len);
    assert.equal(emitIcmpv4Error({ kind: 'timeExceeded', code: 0, invoking: inv }, buf, max), len);
    assert.ok(len <= Math.max(8, max));
    assert.ok(new Icmpv4Packet(buf).verifyChecksum());
    assert.deepEqual(buf.subarray(8), inv.subarray(0, len - 8));
  });
});

test('ICMPv4: no throw on any bytes; getters in bounds', () => {
  prop(fc.oneof(anyBytes, mutated(icmpv4Repr.map(emitV4))), (b) => {
    const err = Icmpv4Packet.check(b);
    parseIcmpv4(b);
    if (err === null) {
      const g = guarded(b);
      readAll(new Icmpv4Packet(g.view));
      new Icmpv4Packet(g.view).verifyChecksum();
      assert.equal(g.oob(), 0);
    }
  });
});

// ---- ICMPv6 (non-ND) ----------------------------------------------------------------------

const icmpv6Repr: fc.Arbitrary<Icmpv6Repr> = fc.oneof(
  fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), ident: u16, seq: u16, data }),
  fc.record({ kind: fc.constant('dstUnreachable' as const), code: fc.nat(7), invoking: fc.uint8Array({ minLength: 48, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('packetTooBig' as const), code: fc.constant(0), mtu: u32, invoking: fc.uint8Array({ minLength: 48, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('timeExceeded' as const), code: fc.nat(1), invoking: fc.uint8Array({ minLength: 48, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('paramProblem' as const), code: fc.nat(3), pointer: u32, invoking: fc.uint8Array({ minLength: 48, maxLength: 200 }) }),
  fc.record({ kind: fc.constant('other' as const), type: fc.nat(255).filter((t) => ![1, 2, 3, 4, 128, 129].includes(t) && !(t >= 133 && t <= 137)), code: fc.nat(255), rest: u32, data }),
);
const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_, v) => (v instanceof Uint8Array ? [...v] : v)));

test('ICMPv6: parse(emit(repr)) round trips; the checksum verifies; one flipped bit fails', () => {
  prop(fc.tuple(icmpv6Repr, v6src, v6dst, fc.nat(), fc.nat(7)), ([r, src, dst, at, bit]) => {
    const len = icmpv6Length(r);
    const ps = pseudoHeaderSumV6(src, dst, 58, len);
    const buf = new Uint8Array(len);
    emitIcmpv6(r, buf, ps);
    const p = parseIcmpv6(buf, ps);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual(plain(p), plain(r));
    flipOne(buf, at, bit);
    assert.ok(!new Icmpv6Packet(buf).verifyChecksum(ps));
  });
});

test('ICMPv6 errors: quote as much as fits', () => {
  prop(fc.tuple(fc.uint8Array({ maxLength: 2000, size: 'max' }), fc.integer({ min: 8, max: 1500 }), v6src, v6dst), ([inv, max, src, dst]) => {
    const len = icmpv6ErrorLength(inv.length, max);
    const ps = pseudoHeaderSumV6(src, dst, 58, len);
    const buf = new Uint8Array(len);
    assert.equal(emitIcmpv6Error({ kind: 'dstUnreachable', code: 4, invoking: inv }, buf, ps, max), len);
    assert.ok(new Icmpv6Packet(buf).verifyChecksum(ps));
  });
});

// ---- NDP ----------------------------------------------------------------------------------

const mac = bytes(6);
const unicastTarget = bytes(16).filter((a) => a[0] !== 0xff);
const prefix = fc.record({ prefixLength: fc.nat(128), onLink: fc.boolean(), autonomous: fc.boolean(), validLifetime: u32, preferredLifetime: u32, prefix: bytes(16) });
const common = { mtu: fc.option(u32, { nil: undefined }), prefixes: fc.option(fc.array(prefix, { minLength: 1, maxLength: 3 }), { nil: undefined }) };
const ndpRepr: fc.Arbitrary<NdpRepr> = fc.oneof(
  fc.record({ kind: fc.constant('routerSolicit' as const), options: fc.record({ sourceLinkAddr: fc.option(mac, { nil: undefined }), ...common }) }),
  fc.record({
    kind: fc.constant('routerAdvert' as const),
    curHopLimit: fc.nat(255),
    managed: fc.boolean(),
    other: fc.boolean(),
    routerLifetime: u16,
    reachableTime: u32,
    retransTimer: u32,
    options: fc.record({ sourceLinkAddr: fc.option(mac, { nil: undefined }), ...common }),
  }),
  fc.record({ kind: fc.constant('neighborSolicit' as const), target: unicastTarget, options: fc.record({ sourceLinkAddr: fc.option(mac, { nil: undefined }) }) }),
  fc.record({
    kind: fc.constant('neighborAdvert' as const),
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    target: unicastTarget,
    options: fc.record({ targetLinkAddr: fc.option(mac, { nil: undefined }) }),
  }),
  fc.record({
    kind: fc.constant('redirect' as const),
    target: bytes(14).map((t) => new Uint8Array([0xfe, 0x80, ...t])),
    destination: unicastTarget,
    options: fc.record({
      targetLinkAddr: fc.option(mac, { nil: undefined }),
      redirectedHeader: fc.option(fc.integer({ min: 1, max: 20 }).chain((n) => bytes(8 * n)), { nil: undefined }),
    }),
  }),
);
/** Without the keys whose value is undefined (the parser leaves absent options out). */
const defined = (x: unknown): unknown => JSON.parse(JSON.stringify(plain(x)));

test('NDP: parse(emit(repr)) round trips; the checksum verifies; one flipped bit fails', () => {
  prop(fc.tuple(ndpRepr, v6src, v6dst, fc.nat(), fc.nat(7)), ([r, src, dst, at, bit]) => {
    const len = ndpLength(r);
    const ps = pseudoHeaderSumV6(src, dst, 58, len);
    const buf = new Uint8Array(len);
    assert.equal(emitNdp(r, buf, ps), len);
    const p = parseNdp(buf, ps);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual(defined(p), defined(r));
    const q = parseIcmpv6(buf, ps);
    assert.deepEqual(defined(q), defined(r), 'parseIcmpv6 hands ND messages to the ND parser');
    ndpCheckIpHeader(p, src, dst, 255);
    flipOne(buf, at, bit);
    assert.ok(!new NdpPacket(buf).verifyChecksum(ps));
  });
});

test('ICMPv6 / NDP: no throw on any bytes; getters in bounds', () => {
  const valid = fc.oneof(
    ndpRepr.map((r) => {
      const b = new Uint8Array(ndpLength(r));
      emitNdp(r, b, 0);
      return b;
    }),
    icmpv6Repr.map((r) => {
      const b = new Uint8Array(icmpv6Length(r));
      emitIcmpv6(r, b, 0);
      return b;
    }),
  );
  prop(fc.oneof(anyBytes, mutated(valid)), (b) => {
    // Pseudo-sum that makes the checksum verify, so the message parsers run on the bytes.
    const ps = b.length >= 4 ? (finish(sumBytes(b)) & 0xffff) : 0;
    const r = parseIcmpv6(b, ps);
    parseNdp(b, ps);
    if (typeof r !== 'string' && 'kind' in r && ['routerSolicit', 'routerAdvert', 'neighborSolicit', 'neighborAdvert', 'redirect'].includes(r.kind)) {
      ndpCheckIpHeader(r as NdpRepr, new Uint8Array(16), new Uint8Array(16).fill(0xff), 255);
    }
    if (Icmpv6Packet.check(b) === null) {
      const g = guarded(b);
      readAll(new Icmpv6Packet(g.view));
      assert.equal(g.oob(), 0);
    }
    if (NdpPacket.check(b) === null) {
      const g = guarded(b);
      const p = new NdpPacket(g.view);
      // The type-specific getters are documented for their type only (an RS has no Reachable Time).
      const forType: Record<number, string[]> = {
        133: [],
        134: ['curHopLimit', 'raFlags', 'routerLifetime', 'reachableTime', 'retransTimer'],
        135: ['target'],
        136: ['naFlags', 'target'],
        137: ['target', 'destination'],
      };
      for (const k of ['type', 'code', 'checksum', 'optionsOffset', 'options', ...forType[b[0]!]!]) {
        const v = (p as unknown as Record<string, unknown>)[k];
        if (typeof v === 'function') (v as () => unknown).call(p);
      }
      forEachNdpOption(g.view, p.optionsOffset(), b.length, () => {});
      assert.equal(g.oob(), 0);
    }
  });
});

// ---- UDP ----------------------------------------------------------------------------------

test('UDP: parse(emit(repr)) round trips over IPv4 and IPv6; one flipped bit fails', () => {
  prop(fc.tuple(u16, u16, data, u32, u32, v6src, v6dst, fc.boolean(), fc.nat(), fc.nat(7)), ([sp, dp, payload, s4, d4, s6, d6, v6, at, bit]) => {
    const buf = new Uint8Array(8 + payload.length);
    buf.set(payload, 8);
    const ps = v6 ? pseudoHeaderSumV6(s6, d6, 17, buf.length) : pseudoHeaderSumV4(s4, d4, 17, buf.length);
    assert.equal(emitUdp({ srcPort: sp, dstPort: dp }, buf, ps), 8);
    assert.notEqual(new UdpPacket(buf).checksum, 0, 'a computed zero is sent as 0xffff');
    const p = parseUdp(buf, ps, v6);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual([p.srcPort, p.dstPort, [...p.payload]], [sp, dp, [...payload]]);
    flipOne(buf, at, bit);
    assert.equal(typeof parseUdp(buf, ps, v6), 'string');
  });
});

test('UDP: no throw on any bytes; getters in bounds', () => {
  prop(anyBytes, (b) => {
    const err = UdpPacket.check(b);
    parseUdp(b, 0, false);
    parseUdp(b, 0, true);
    if (err === null) {
      const g = guarded(b);
      const p = new UdpPacket(g.view);
      readAll(p);
      p.verifyChecksum(0);
      assert.equal(g.oob(), 0);
      assert.equal(p.payload().length, p.length - 8);
    }
  });
});

// ---- TCP ----------------------------------------------------------------------------------

const tcpOptions: fc.Arbitrary<TcpOptions> = fc
  .record({
    mss: fc.option(u16, { nil: undefined }),
    wscale: fc.option(fc.nat(255), { nil: undefined }),
    sackPermitted: fc.option(fc.constant(true), { nil: undefined }),
    sack: fc.option(fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 }), { nil: undefined }),
    ts: fc.option(fc.tuple(u32, u32), { nil: undefined }),
  })
  .map(({ ts, ...o }) => ({ ...o, ...(ts ? { tsVal: ts[0], tsEcr: ts[1] } : {}) }));
const tcpRepr = fc.record({
  srcPort: u16,
  dstPort: u16,
  seq: u32,
  ack: u32,
  flags: fc.nat(0x1ff),
  window: u16,
  urgent: u16,
  options: tcpOptions,
  payload: data,
});
type TR = typeof tcpRepr extends fc.Arbitrary<infer T> ? T : never;
const emitT = (r: TR, ps: number): Uint8Array => {
  const hl = tcpHeaderLength(r);
  const buf = new Uint8Array(hl + r.payload.length);
  assert.equal(emitTcp(r, buf, ps), hl);
  return buf;
};

test('TCP: parse(emit(repr)) round trips, options included; one flipped bit fails', () => {
  prop(fc.tuple(tcpRepr, u32, u32, fc.nat(), fc.nat(7)), ([r, s, d, at, bit]) => {
    const hl = tcpHeaderLength(r);
    const ps = pseudoHeaderSumV4(s, d, 6, hl + r.payload.length);
    const buf = emitT(r, ps);
    assert.ok(hl <= 60 && hl % 4 === 0);
    const p = parseTcp(buf, ps);
    assert.ok(typeof p !== 'string', String(p));
    for (const k of ['srcPort', 'dstPort', 'seq', 'ack', 'flags', 'window', 'urgent'] as const) assert.equal(p[k], r[k], k);
    assert.deepEqual([...p.payload], [...r.payload]);
    const o = r.options;
    assert.equal(p.options.mss, o.mss);
    assert.equal(p.options.wscale, o.wscale);
    assert.equal(p.options.sackPermitted, o.sackPermitted);
    assert.equal(p.options.tsVal, o.tsVal);
    assert.equal(p.options.tsEcr, o.tsEcr);
    // SACK blocks that fit in the 40 bytes of options are emitted, in order.
    const nSack = o.sack ? (hl - 20 - (o.mss !== undefined ? 4 : 0) - (o.tsVal !== undefined ? 12 : o.sackPermitted ? 4 : 0) - (o.wscale !== undefined ? 4 : 0) - 4) / 8 : 0;
    assert.deepEqual(p.options.sack ?? [], (o.sack ?? []).slice(0, Math.max(0, nSack)));
    flipOne(buf, at, bit);
    assert.ok(!new TcpPacket(buf).verifyChecksum(ps));
  });
});

test('TCP: no throw on any bytes; check() === null keeps getters and option walks in bounds', () => {
  prop(fc.oneof(anyBytes, mutated(tcpRepr.map((r) => emitT(r, 0)))), (b) => {
    const err = TcpPacket.check(b);
    parseTcp(b, 0);
    if (err === null) {
      const g = guarded(b);
      const p = new TcpPacket(g.view);
      readAll(p);
      p.verifyChecksum(0);
      const scratch = new TcpOptionsScratch();
      readTcpOptions(g.view, scratch);
      scratch.toOptions();
      forEachTcpOption(g.view, (_k, off, len) => assert.ok(off + len <= p.headerLength));
      assert.equal(g.oob(), 0);
      assert.equal(p.payload().length, b.length - p.headerLength);
    }
  });
});
