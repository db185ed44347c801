/**
 * Property-based tests (fast-check) of the link-level and shared wire code: addresses
 * (text forms), Ethernet, ARP, and the Internet checksum with its incremental update (RFC 1624).
 * Each property runs FC_RUNS times (default 300); FC_SEED=n replays a failing seed (fast-check
 * prints it with the counterexample), e.g. `FC_SEED=42 FC_RUNS=100000 node --test dist/test/unit/prop-wire-link.test.js`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  formatIpv4,
  formatIpv6,
  formatMac,
  ipv4InPrefix,
  ipv4Mask,
  ipv4Network,
  ipv6InPrefix,
  ipv6Network,
  parseCidr,
  parseIpv4,
  parseIpv6,
  parseMac,
  solicitedNodeMulticast,
  isIpv6SolicitedNode,
  splitZone,
} from '../../src/wire/address.js';
import { EthernetPacket, emitEthernet, parseEthernet, ETHERNET_HEADER_LEN } from '../../src/wire/ethernet.js';
import { ArpPacket, ARP_LEN, emitArp, parseArp } from '../../src/wire/arp.js';
import { checksum, finish, fold, sumBytes, updateChecksum16, updateChecksum32 } from '../../src/wire/checksum.js';
import { read16, read32, write16, write32 } from '../../src/wire/bytes.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const opts = { numRuns: RUNS, ...(SEED !== undefined ? { seed: SEED } : {}) };
const prop = <T>(arb: fc.Arbitrary<T>, fn: (v: T) => void): void => fc.assert(fc.property(arb, fn), opts);

const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
/** Any byte string up to 2000 bytes: short ones often, long ones too (size 'max' uses the whole range). */
const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 2000, size: 'max' }));
const u32 = fc.integer({ min: 0, max: 0xffffffff });

/**
 * A proxy over `buf` that counts index reads at or past its length (getters must stay within
 * the bytes `check` accepted). Methods are bound to the real array, so `subarray` etc. work.
 */
export function guarded(buf: Uint8Array): { view: Uint8Array; oob: () => number } {
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

/** Calls every getter and zero-argument method of `obj`'s class (not setters). */
function readAll(obj: object): void {
  const proto = Object.getPrototypeOf(obj) as object;
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor') continue;
    const d = Object.getOwnPropertyDescriptor(proto, name)!;
    if (d.get) (obj as Record<string, unknown>)[name];
    else if (typeof d.value === 'function' && d.value.length === 0 && !/^(fill|set|decrement)/.test(name)) d.value.call(obj);
  }
}

// ---- addresses ----------------------------------------------------------------------------

test('IPv4 text: format then parse is the identity', () => {
  prop(u32, (a) => assert.equal(parseIpv4(formatIpv4(a)), a));
});

test('IPv6 text: format then parse is the identity (any 16 bytes)', () => {
  prop(bytes(16), (b) => {
    const s = formatIpv6(b);
    assert.deepEqual(parseIpv6(s), b, s);
    assert.equal(formatIpv6(parseIpv6(s)!), s, 'canonical form is stable');
  });
});

test('MAC text: format then parse is the identity', () => {
  prop(bytes(6), (b) => assert.deepEqual(parseMac(formatMac(b)), b));
});

test('address parsers never throw on any string', () => {
  prop(fc.string({ maxLength: 80 }), (s) => {
    parseIpv4(s);
    parseIpv6(s);
    parseMac(s);
    parseCidr(s);
    splitZone(s);
  });
});

test('CIDR: parse of a formatted prefix; network/mask/in-prefix agree', () => {
  prop(fc.tuple(u32, fc.integer({ min: 0, max: 32 })), ([a, p]) => {
    const c = parseCidr(`${formatIpv4(a)}/${p}`);
    assert.ok(c && c.family === 4 && c.addr === a && c.prefix === p);
    assert.ok(ipv4InPrefix(a, ipv4Network(a, p), p));
    assert.equal((ipv4Network(a, p) & ~ipv4Mask(p)) >>> 0, 0);
  });
  prop(fc.tuple(bytes(16), fc.integer({ min: 0, max: 128 })), ([a, p]) => {
    const c = parseCidr(`${formatIpv6(a)}/${p}`);
    assert.ok(c && c.family === 6 && c.prefix === p);
    assert.ok(ipv6InPrefix(a, ipv6Network(a, p), p));
  });
});

test('solicited-node multicast addresses are recognized', () => {
  prop(bytes(16), (a) => assert.ok(isIpv6SolicitedNode(solicitedNodeMulticast(a))));
});

// ---- Ethernet -----------------------------------------------------------------------------

const ethertype = fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8);

test('Ethernet: parse(emit(repr)) round trips', () => {
  prop(fc.record({ dst: bytes(6), src: bytes(6), ethertype, payload: fc.uint8Array({ maxLength: 100 }) }), (r) => {
    const buf = new Uint8Array(ETHERNET_HEADER_LEN + r.payload.length);
    assert.equal(emitEthernet(r, buf), ETHERNET_HEADER_LEN);
    buf.set(r.payload, ETHERNET_HEADER_LEN);
    const p = parseEthernet(buf);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual([p.dst, p.src, p.ethertype], [r.dst, r.src, r.ethertype]);
    assert.deepEqual(new EthernetPacket(buf).payload(), r.payload);
  });
});

test('Ethernet: no throw on any bytes; check() === null keeps getters in bounds', () => {
  prop(anyBytes, (b) => {
    const err = EthernetPacket.check(b);
    const p = parseEthernet(b);
    assert.equal(typeof p === 'string' ? p : null, err);
    if (err === null) {
      const g = guarded(b);
      readAll(new EthernetPacket(g.view));
      assert.equal(g.oob(), 0);
    }
  });
});

// ---- ARP ----------------------------------------------------------------------------------

test('ARP: parse(emit(repr)) round trips', () => {
  prop(fc.record({ op: fc.constantFrom(1, 2), senderMac: bytes(6), senderIp: u32, targetMac: bytes(6), targetIp: u32, pad: fc.integer({ min: 0, max: 18 }) }), (r) => {
    const buf = new Uint8Array(ARP_LEN + r.pad);
    assert.equal(emitArp(r, buf), ARP_LEN);
    const p = parseArp(buf);
    assert.ok(typeof p !== 'string', String(p));
    assert.deepEqual(
      [p.op, p.senderMac, p.senderIp, p.targetMac, p.targetIp],
      [r.op, r.senderMac, r.senderIp, r.targetMac, r.targetIp],
    );
  });
});

test('ARP: no throw on any bytes; check() === null keeps getters in bounds', () => {
  prop(anyBytes, (b) => {
    const err = ArpPacket.check(b);
    const p = parseArp(b);
    assert.equal(typeof p === 'string' ? p : null, err);
    if (err === null) {
      const g = guarded(b);
      readAll(new ArpPacket(g.view));
      assert.equal(g.oob(), 0);
    }
  });
});

// ---- checksum -----------------------------------------------------------------------------

/** Reference: one byte pair at a time, folded at the end. */
function refSum(b: Uint8Array, start: number, end: number, acc: number): number {
  let s = acc;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  return fold(s);
}

test('sumBytes matches a byte-pair reference for any range and accumulator', () => {
  prop(
    fc.uint8Array({ maxLength: 3000, size: 'max' }).chain((b) =>
      fc.tuple(fc.constant(b), fc.integer({ min: 0, max: b.length }), fc.integer({ min: 0, max: b.length }), fc.integer({ min: 0, max: 0x3ffff })),
    ),
    ([b, x, y, acc]) => {
      const [s, e] = x <= y ? [x, y] : [y, x];
      assert.equal(fold(sumBytes(b, s, e, acc)), refSum(b, s, e, acc));
    },
  );
});

test('a filled-in checksum verifies, and any single flipped bit breaks it', () => {
  prop(fc.tuple(fc.uint8Array({ minLength: 2, maxLength: 1500, size: 'max' }), fc.nat(), fc.integer({ min: 0, max: 7 })), ([raw, at, bit]) => {
    const b = raw.length % 2 === 0 ? raw.slice() : raw.slice(0, raw.length - 1);
    if (b.length < 2) return;
    write16(b, 0, 0);
    write16(b, 0, checksum(b));
    assert.equal(checksum(b), 0);
    b[at % b.length]! ^= 1 << bit;
    assert.notEqual(checksum(b), 0);
  });
});

test('RFC 1624 incremental update (16- and 32-bit fields) agrees with recomputation', () => {
  prop(
    fc.tuple(fc.uint8Array({ minLength: 24, maxLength: 64 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), u32),
    ([raw, at, w16, w32]) => {
      const b = raw.subarray(0, raw.length & ~3).slice();
      fc.pre(b.some((x, i) => i > 1 && x !== 0)); // all-zero data: the ±0 checksum ambiguity
      write16(b, 0, 0);
      write16(b, 0, checksum(b));
      // A 16-bit word somewhere after the checksum field.
      const o = 2 + 2 * (at % ((b.length - 2) / 2));
      const hc = updateChecksum16(read16(b, 0), read16(b, o), w16);
      write16(b, o, w16);
      write16(b, 0, hc);
      assert.equal(finish(sumBytes(b)), 0, 'verifies after a 16-bit update');
      // A 32-bit field at a multiple of 4 after the checksum word.
      const o4 = 4 + 4 * (at % ((b.length - 4) / 4));
      const hc2 = updateChecksum32(read16(b, 0), read32(b, o4), w32);
      write32(b, o4, w32);
      write16(b, 0, hc2);
      assert.equal(finish(sumBytes(b)), 0, 'verifies after a 32-bit update');
    },
  );
});
