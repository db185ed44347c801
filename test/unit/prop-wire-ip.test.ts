/**
 * Property-based tests (fast-check) of the IP-level wire formats: IPv4 (with options), IPv6, the
 * IPv6 extension headers, their emitters and the chain walker. Round trips over generated
 * Reprs, no throw on any bytes (and on mutated valid packets, which get deeper), getters within
 * the checked bytes, checksums. FC_RUNS (default 300) and FC_SEED as in prop-wire-link.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Ipv4Packet,
  emitIpv4,
  ipv4HeaderLength,
  parseIpv4,
  parseIpv4Options,
  checkIpv4Options,
  type Ipv4Option,
} from '../../src/wire/ipv4.js';
import { Ipv6Packet, emitIpv6, parseIpv6 } from '../../src/wire/ipv6.js';
import {
  Ipv6FragmentPacket,
  Ipv6OptionsPacket,
  Ipv6RoutingPacket,
  emitIpv6Fragment,
  emitIpv6Options,
  emitIpv6Routing,
  ipv6OptionsHeaderLength,
  parseIpv6Fragment,
  parseIpv6Options,
  parseIpv6Routing,
  walkIpv6Chain,
  type Ipv6Option,
} from '../../src/wire/ipv6-ext.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const opts = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) };
const prop = <T>(arb: fc.Arbitrary<T>, fn: (v: T) => void): void => fc.assert(fc.property(arb, fn), opts);
const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2000, size: 'max' }));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

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

/**
 * A valid packet, then 0-4 random edits (byte sets, truncation, extension): byte strings that
 * get past the first checks, which purely random bytes rarely do.
 */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant('set' as const), at: fc.nat(), v: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 5, 15, 40, 44, 60, 43, 0) }),
    fc.record({ k: fc.constant('flip' as const), at: fc.nat(), v: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ k: fc.constant('cut' as const), at: fc.nat(), v: fc.constant(0) }),
    fc.record({ k: fc.constant('grow' as const), at: fc.integer({ min: 1, max: 64 }), v: fc.nat(255) }),
  );
  return fc.tuple(valid, fc.array(edit, { maxLength: 4 })).map(([b, edits]) => {
    let out = b.slice();
    for (const e of edits) {
      if (out.length === 0) break;
      if (e.k === 'set') out[e.at % out.length] = e.v;
      else if (e.k === 'flip') out[e.at % out.length]! ^= 1 << e.v;
      else if (e.k === 'cut') out = out.slice(0, e.at % out.length);
      else {
        const g = new Uint8Array(out.length + e.at).fill(e.v);
        g.set(out);
        out = g;
      }
    }
    return out;
  });
}

// ---- IPv4 ---------------------------------------------------------------------------------

/** TLV options (no EOL/NOP, which are padding), at most 40 bytes in all. */
const ipv4Options: fc.Arbitrary<Ipv4Option[]> = fc
  .array(fc.record({ type: fc.integer({ min: 2, max: 255 }), data: fc.uint8Array({ maxLength: 10 }) }), { maxLength: 5 })
  .map((os) => {
    const out: Ipv4Option[] = [];
    let n = 0;
    for (const o of os) {
      if (n + 2 + o.data.length > 40) break;
      n += 2 + o.data.length;
      out.push(o);
    }
    return out;
  });

const ipv4Repr = fc
  .record({
    src: u32,
    dst: u32,
    protocol: fc.nat(255),
    ttl: fc.nat(255),
    dscp: fc.nat(63),
    ecn: fc.nat(3),
    ident: fc.nat(0xffff),
    dontFrag: fc.boolean(),
    moreFrags: fc.boolean(),
    fragUnits: fc.nat(0x1fff),
    payloadLength: fc.nat(300),
    options: ipv4Options,
    pad: fc.nat(20),
  })
  .map((r) => ({ ...r, fragOffset: Math.min(r.fragUnits * 8, (65535 - 300 - 60) & ~7) }));

type V4 = typeof ipv4Repr extends fc.Arbitrary<infer T> ? T : never;
function emitV4(r: V4): Uint8Array {
  const hl = ipv4HeaderLength(r);
  const buf = new Uint8Array(hl + r.payloadLength + r.pad);
  for (let i = hl; i < buf.length; i++) buf[i] = (i * 7) & 0xff;
  assert.equal(emitIpv4(r, buf), hl);
  return buf;
}
const validV4 = ipv4Repr.map((r) => emitV4(r));

test('IPv4: parse(emit(repr)) round trips, options included', () => {
  prop(ipv4Repr, (r) => {
    const buf = emitV4(r);
    const p = parseIpv4(buf);
    assert.ok(typeof p !== 'string', String(p));
    for (const k of ['src', 'dst', 'protocol', 'ttl', 'dscp', 'ecn', 'ident', 'dontFrag', 'moreFrags', 'fragOffset', 'payloadLength'] as const) {
      assert.equal(p[k], r[k], k);
    }
    assert.deepEqual(p.options.map((o) => [o.type, [...o.data]]), r.options.map((o) => [o.type, [...o.data]]));
    assert.equal(p.headerLength, ipv4HeaderLength(r));
    assert.equal(p.payload.length, r.payloadLength, 'trailing padding is not payload');
  });
});

test('IPv4: the emitted header checksum verifies; one flipped header bit fails', () => {
  prop(fc.tuple(ipv4Repr, fc.nat(), fc.integer({ min: 0, max: 7 })), ([r, at, bit]) => {
    const buf = emitV4(r);
    const p = new Ipv4Packet(buf);
    assert.ok(p.verifyChecksum());
    const i = at % p.headerLength;
    buf[i]! ^= 1 << bit;
    // Either the header no longer checks (version, IHL, length, options) or the checksum fails.
    const q = parseIpv4(buf);
    assert.equal(typeof q, 'string');
  });
});

test('IPv4: decrementTtl keeps the checksum valid (RFC 1624)', () => {
  prop(ipv4Repr, (r) => {
    const buf = emitV4(r);
    const p = new Ipv4Packet(buf);
    p.decrementTtl();
    assert.equal(p.ttl, (r.ttl - 1) & 0xff);
    assert.ok(p.verifyChecksum());
  });
});

test('IPv4: no throw on any bytes; check() === null keeps getters in bounds', () => {
  prop(fc.oneof(anyBytes, mutated(validV4)), (b) => {
    const err = Ipv4Packet.check(b);
    const p = parseIpv4(b, false);
    assert.equal(typeof p === 'string' ? p : null, err);
    parseIpv4(b, true);
    checkIpv4Options(b);
    parseIpv4Options(b);
    if (err === null) {
      const g = guarded(b);
      const pk = new Ipv4Packet(g.view);
      readAll(pk);
      pk.verifyChecksum();
      assert.equal(typeof pk.optionList(), 'object', 'options are well formed after check');
      assert.equal(g.oob(), 0);
      assert.equal(pk.payload().length, pk.totalLength - pk.headerLength);
    }
  });
});

// ---- IPv6 ---------------------------------------------------------------------------------

const ipv6Repr = fc.record({
  src: bytes(16),
  dst: bytes(16),
  nextHeader: fc.nat(255),
  hopLimit: fc.nat(255),
  trafficClass: fc.nat(255),
  flowLabel: fc.nat(0xfffff),
  payloadLength: fc.nat(300),
  pad: fc.nat(20),
});

test('IPv6: parse(emit(repr)) round trips', () => {
  prop(ipv6Repr, (r) => {
    const buf = new Uint8Array(40 + r.payloadLength + r.pad);
    assert.equal(emitIpv6(r, buf), 40);
    const p = parseIpv6(buf);
    assert.ok(typeof p !== 'string', String(p));
    for (const k of ['nextHeader', 'hopLimit', 'trafficClass', 'flowLabel', 'payloadLength'] as const) assert.equal(p[k], r[k], k);
    assert.deepEqual([p.src, p.dst], [r.src, r.dst]);
    assert.equal(p.payload.length, r.payloadLength);
  });
});

// ---- IPv6 extension headers ---------------------------------------------------------------

/** Options whose action is "skip" (type 0b00xxxxxx), never Pad1/PadN/Router Alert. */
const skipOption: fc.Arbitrary<Ipv6Option> = fc.record({
  type: fc.integer({ min: 2, max: 63 }).filter((t) => t !== 5),
  data: fc.uint8Array({ maxLength: 12 }),
});
const anyOption: fc.Arbitrary<Ipv6Option> = fc.record({
  type: fc.integer({ min: 2, max: 255 }),
  data: fc.uint8Array({ maxLength: 40 }),
});

test('IPv6 options header: parse(emit(repr)) round trips', () => {
  prop(fc.record({ nextHeader: fc.nat(255), options: fc.array(anyOption, { maxLength: 6 }) }), (r) => {
    const len = ipv6OptionsHeaderLength(r);
    const buf = new Uint8Array(len);
    assert.equal(emitIpv6Options(r, buf), len);
    assert.equal(len % 8, 0);
    const p = parseIpv6Options(buf);
    assert.ok(typeof p !== 'string', String(p));
    assert.equal(p.nextHeader, r.nextHeader);
    assert.deepEqual(p.options.map((o) => [o.type, [...o.data]]), r.options.map((o) => [o.type, [...o.data]]));
  });
});

test('IPv6 routing and fragment headers: parse(emit(repr)) round trips', () => {
  prop(fc.record({ nextHeader: fc.nat(255), routingType: fc.nat(255), segmentsLeft: fc.nat(255), data: fc.uint8Array({ maxLength: 60 }) }), (r) => {
    const buf = new Uint8Array(2048);
    const len = emitIpv6Routing(r, buf);
    assert.equal(len % 8, 0);
    const p = parseIpv6Routing(buf.subarray(0, len));
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual([p.nextHeader, p.routingType, p.segmentsLeft], [r.nextHeader, r.routingType, r.segmentsLeft]);
    assert.deepEqual(p.data.subarray(0, r.data.length), r.data);
    assert.ok(p.data.subarray(r.data.length).every((x) => x === 0), 'zero padding');
  });
  prop(fc.record({ nextHeader: fc.nat(255), fragUnits: fc.nat(0x1fff), more: fc.boolean(), ident: u32 }), (r) => {
    const buf = new Uint8Array(8);
    const repr = { nextHeader: r.nextHeader, fragOffset: r.fragUnits * 8, more: r.more, ident: r.ident };
    assert.equal(emitIpv6Fragment(repr, buf), 8);
    assert.deepEqual(parseIpv6Fragment(buf), repr);
    assert.equal(new Ipv6FragmentPacket(buf).isAtomic, repr.fragOffset === 0 && !repr.more);
  });
});

type Ext = { kind: 'hbh' | 'dst'; options: Ipv6Option[] } | { kind: 'rt'; routingType: number; data: Uint8Array } | { kind: 'frag'; ident: number };
const ext: fc.Arbitrary<Ext> = fc.oneof(
  fc.record({ kind: fc.constant('dst' as const), options: fc.array(skipOption, { maxLength: 3 }) }),
  fc.record({ kind: fc.constant('rt' as const), routingType: fc.nat(255), data: fc.uint8Array({ maxLength: 20 }) }),
  fc.record({ kind: fc.constant('frag' as const), ident: u32 }),
);
const chain = fc.record({
  hbh: fc.option(fc.array(skipOption, { maxLength: 3 }), { nil: undefined }),
  exts: fc.array(ext, { maxLength: 5 }),
  upper: fc.constantFrom(6, 17, 58, 59, 50, 253),
  upperLen: fc.integer({ min: 20, max: 100 }),
  dst: bytes(16),
});

/** Builds an IPv6 packet with the chain (atomic fragments, routing with Segments Left 0). */
function buildChain(c: typeof chain extends fc.Arbitrary<infer T> ? T : never): { pkt: Uint8Array; offset: number; headers: number } {
  const list: Ext[] = [...(c.hbh ? [{ kind: 'hbh' as const, options: c.hbh }] : []), ...c.exts];
  const parts: Uint8Array[] = [];
  const code = (e: Ext): number => (e.kind === 'hbh' ? 0 : e.kind === 'dst' ? 60 : e.kind === 'rt' ? 43 : 44);
  list.forEach((e, i) => {
    const nh = i + 1 < list.length ? code(list[i + 1]!) : c.upper;
    const b = new Uint8Array(2048);
    let n: number;
    if (e.kind === 'hbh' || e.kind === 'dst') n = emitIpv6Options({ nextHeader: nh, options: e.options }, b);
    else if (e.kind === 'rt') n = emitIpv6Routing({ nextHeader: nh, routingType: e.routingType, segmentsLeft: 0, data: e.data }, b);
    else if (e.kind === 'frag') n = emitIpv6Fragment({ nextHeader: nh, fragOffset: 0, more: false, ident: e.ident }, b);
    else n = 0;
    parts.push(b.slice(0, n));
  });
  const extLen = parts.reduce((s, p) => s + p.length, 0);
  const pkt = new Uint8Array(40 + extLen + c.upperLen);
  emitIpv6({ src: new Uint8Array(16).fill(0xfd, 0, 1), dst: c.dst, nextHeader: list.length > 0 ? code(list[0]!) : c.upper, hopLimit: 64, payloadLength: extLen + c.upperLen }, pkt);
  let o = 40;
  for (const p of parts) {
    pkt.set(p, o);
    o += p.length;
  }
  return { pkt, offset: o, headers: list.length };
}

test('IPv6 chain walker: walks any valid chain to the upper layer', () => {
  prop(chain, (c) => {
    const { pkt, offset, headers } = buildChain(c);
    const w = walkIpv6Chain(pkt);
    assert.equal(w.drop, null, JSON.stringify(w));
    if (w.drop !== null) return;
    assert.equal(w.protocol, c.upper);
    assert.equal(w.offset, offset);
    assert.equal(w.end, pkt.length);
    assert.equal(w.headers, headers);
    assert.equal(w.hopByHop, c.hbh !== undefined);
    assert.equal(pkt[w.nextHeaderOffset], c.upper);
  });
});

test('IPv6 + extension headers: no throw on any bytes; results stay within the packet', () => {
  const validChains = chain.map((c) => buildChain(c).pkt);
  prop(fc.oneof(anyBytes, mutated(validChains)), (b) => {
    const err = Ipv6Packet.check(b);
    assert.equal(((p) => (typeof p === 'string' ? p : null))(parseIpv6(b)), err);
    const w = walkIpv6Chain(b);
    if (err !== null) assert.equal(w.drop, err);
    if (w.drop === null) {
      assert.ok(w.offset <= w.end && w.end <= b.length, JSON.stringify(w));
      assert.ok(w.nextHeaderOffset < w.offset);
    } else if (w.icmp) {
      assert.ok(w.icmp.pointer < Math.max(b.length, 1), 'pointer inside the packet');
    }
    if (err === null) {
      const g = guarded(b);
      readAll(new Ipv6Packet(g.view));
      walkIpv6Chain(g.view);
      assert.equal(g.oob(), 0);
    }
    // Each extension-header view on the bytes after the fixed header.
    const rest = b.subarray(Math.min(40, b.length));
    for (const [Cls, parse] of [
      [Ipv6OptionsPacket, parseIpv6Options],
      [Ipv6RoutingPacket, parseIpv6Routing],
      [Ipv6FragmentPacket, parseIpv6Fragment],
    ] as const) {
      const e = Cls.check(rest);
      (parse as (b: Uint8Array) => unknown)(rest);
      if (e === null) {
        const g = guarded(rest);
        const v = new Cls(g.view);
        readAll(v);
        if (v instanceof Ipv6OptionsPacket) v.optionList();
        assert.equal(g.oob(), 0, Cls.name);
      }
    }
  });
});
