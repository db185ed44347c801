import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TcpDrop,
  TcpFlags,
  TcpOptionsScratch,
  TcpPacket,
  TCP_HEADER_LEN,
  emitTcp,
  forEachTcpOption,
  parseTcp,
  readTcpOptions,
  tcpHeaderLength,
  type TcpRepr,
} from '../../src/wire/tcp.js';
import { finish, pseudoHeaderSumV4, pseudoHeaderSumV6, sumBytes } from '../../src/wire/checksum.js';
import { read16, read32, write16 } from '../../src/wire/bytes.js';
import { SeededRandom } from '../../src/core/clock.js';

function hex(s: string): Uint8Array {
  const c = s.replace(/\s+/g, '');
  const out = new Uint8Array(c.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(c.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function ip4(pkt: Uint8Array): { pseudo: number; l4: Uint8Array } {
  const ihl = (pkt[0]! & 15) * 4;
  const l4 = pkt.subarray(ihl, read16(pkt, 2));
  return { pseudo: pseudoHeaderSumV4(read32(pkt, 12), read32(pkt, 16), pkt[9]!, l4.length), l4 };
}

function ip6(pkt: Uint8Array): { pseudo: number; l4: Uint8Array } {
  const l4 = pkt.subarray(40, 40 + read16(pkt, 4));
  return { pseudo: pseudoHeaderSumV6(pkt.subarray(8, 24), pkt.subarray(24, 40), pkt[6]!, l4.length), l4 };
}

// Captured from Linux 6.x over a veth pair (tx checksum offload off): 10.9.0.1:55604 -> 10.9.0.2:5555.
const SYN_V4 = hex(
  '4500003c8fc54000400696e20a0900010a090002' +
    'd93415b3dc8c9c6b00000000a002faf0e2370000020405b40402080a441eaac1000000000103030a',
);
const SYNACK_V4 = hex(
  '4500003c00004000400626a80a0900020a090001' +
    '15b3d934c933b1d5dc8c9c6ca012fe88e0330000020405b40402080a08e47a6d441eaac10103030a',
);
// PSH|ACK with "hi\n", NOP NOP TS.
const DATA_V4 = hex(
  '450000378fc74000400696e50a0900010a090002' + 'd93415b3dc8c9c6cc933b1d68018003f9ad700000101080a441eaac208e47a6d68690a',
);
// fd00::1 -> fd00::2 SYN, MSS 1440.
const SYN_V6 = hex(
  '600d76c300280640fd000000000000000000000000000001fd000000000000000000000000000002' +
    'd8a215b447c30af600000000a002fd2095240000020405a00402080a5a922025000000000103030a',
);

const PSEUDO = pseudoHeaderSumV4(0x0a000001, 0x0a000002, 6, 0);

/** A segment with the given option bytes (padded with zeros to 4) and payload, checksum filled in. */
function seg(opts: number[], payload: number[] = [], flags = TcpFlags.ACK): { buf: Uint8Array; pseudo: number } {
  const olen = Math.ceil(opts.length / 4) * 4;
  const buf = new Uint8Array(TCP_HEADER_LEN + olen + payload.length);
  write16(buf, 0, 1234);
  write16(buf, 2, 80);
  buf[12] = ((TCP_HEADER_LEN + olen) / 4) << 4;
  buf[13] = flags;
  write16(buf, 14, 1000);
  buf.set(opts, TCP_HEADER_LEN);
  buf.set(payload, TCP_HEADER_LEN + olen);
  const pseudo = pseudoHeaderSumV4(0x0a000001, 0x0a000002, 6, buf.length);
  new TcpPacket(buf).fillChecksum(pseudo);
  return { buf, pseudo };
}

function parsed(opts: number[], payload: number[] = []): TcpRepr {
  const { buf, pseudo } = seg(opts, payload);
  const r = parseTcp(buf, pseudo);
  assert.equal(typeof r, 'object', `expected a repr, got ${String(r)}`);
  return r as TcpRepr;
}

function reemit(repr: TcpRepr, len: number, pseudo: number): Uint8Array {
  const out = new Uint8Array(len);
  const h = emitTcp(repr, out, pseudo);
  assert.equal(h, tcpHeaderLength(repr));
  return out;
}

describe('tcp: real captures', () => {
  test('Linux SYN over IPv4 (MSS, SACK-Permitted, Timestamps, Window Scale)', () => {
    const { pseudo, l4 } = ip4(SYN_V4);
    assert.equal(TcpPacket.check(l4), null);
    const r = parseTcp(l4, pseudo) as TcpRepr;
    assert.equal(typeof r, 'object');
    assert.equal(r.srcPort, 55604);
    assert.equal(r.dstPort, 5555);
    assert.equal(r.seq, 0xdc8c9c6b);
    assert.equal(r.ack, 0);
    assert.equal(r.flags, TcpFlags.SYN);
    assert.equal(r.window, 64240);
    assert.equal(r.urgent, 0);
    assert.deepEqual(r.options, { mss: 1460, sackPermitted: true, tsVal: 0x441eaac1, tsEcr: 0, wscale: 10 });
    assert.equal(r.payload.length, 0);
    const p = new TcpPacket(l4);
    assert.equal(p.headerLength, 40);
    assert.equal(p.syn, true);
    assert.equal(p.ackFlag, false);
    assert.deepEqual([...p.options()], [...l4.subarray(20, 40)]);
    // Our emitter uses the Linux layout: byte-identical.
    assert.deepEqual(reemit(r, l4.length, pseudo), l4);
  });

  test('Linux SYN-ACK over IPv4', () => {
    const { pseudo, l4 } = ip4(SYNACK_V4);
    const r = parseTcp(l4, pseudo) as TcpRepr;
    assert.equal(r.flags, TcpFlags.SYN | TcpFlags.ACK);
    assert.equal(r.seq, 0xc933b1d5);
    assert.equal(r.ack, 0xdc8c9c6c);
    assert.deepEqual(r.options, { mss: 1460, sackPermitted: true, tsVal: 0x08e47a6d, tsEcr: 0x441eaac1, wscale: 10 });
    assert.deepEqual(reemit(r, l4.length, pseudo), l4);
  });

  test('Linux data segment (PSH|ACK, NOP NOP TS) with payload', () => {
    const { pseudo, l4 } = ip4(DATA_V4);
    const r = parseTcp(l4, pseudo) as TcpRepr;
    assert.equal(r.flags, TcpFlags.PSH | TcpFlags.ACK);
    assert.equal(r.window, 63);
    assert.deepEqual(r.options, { tsVal: 0x441eaac2, tsEcr: 0x08e47a6d });
    assert.deepEqual([...r.payload], [0x68, 0x69, 0x0a]);
    assert.equal(tcpHeaderLength(r), 32);
    // Re-emit into a fresh buffer: the payload is copied from the repr.
    assert.deepEqual(reemit(r, l4.length, pseudo), l4);
  });

  test('Linux SYN over IPv6 (pseudo-header v6)', () => {
    const { pseudo, l4 } = ip6(SYN_V6);
    const r = parseTcp(l4, pseudo) as TcpRepr;
    assert.equal(typeof r, 'object');
    assert.deepEqual(r.options, { mss: 1440, sackPermitted: true, tsVal: 0x5a922025, tsEcr: 0, wscale: 10 });
    assert.deepEqual(reemit(r, l4.length, pseudo), l4);
    // The same bytes with an IPv4 pseudo-header do not verify.
    assert.equal(parseTcp(l4, pseudoHeaderSumV4(1, 2, 6, l4.length)), TcpDrop.badChecksum);
  });
});

describe('tcp: emit and parse round trips', () => {
  const base: TcpRepr = {
    srcPort: 40000,
    dstPort: 443,
    seq: 0xffffffff,
    ack: 0x80000000,
    flags: TcpFlags.ACK,
    window: 65535,
    urgent: 0,
    options: {},
    payload: new Uint8Array(0),
  };

  function roundTrip(repr: TcpRepr, payloadLen = repr.payload.length): TcpRepr {
    const hlen = tcpHeaderLength(repr);
    assert.equal(hlen % 4, 0);
    assert.ok(hlen <= 60);
    const buf = new Uint8Array(hlen + payloadLen);
    const pseudo = pseudoHeaderSumV4(0xc0a80001, 0xc0a80002, 6, buf.length);
    assert.equal(emitTcp(repr, buf, pseudo), hlen);
    assert.equal(finish(sumBytes(buf, 0, buf.length, pseudo)), 0);
    const r = parseTcp(buf, pseudo);
    assert.equal(typeof r, 'object', String(r));
    return r as TcpRepr;
  }

  test('no options, 20-byte header, u32 sequence numbers', () => {
    const r = roundTrip(base);
    assert.equal(tcpHeaderLength(base), 20);
    assert.equal(r.seq, 0xffffffff);
    assert.equal(r.ack, 0x80000000);
    assert.deepEqual(r.options, {});
  });

  test('negative or oversized sequence numbers are written mod 2^32', () => {
    const r = roundTrip({ ...base, seq: -1, ack: 0x1_0000_0005 });
    assert.equal(r.seq, 0xffffffff);
    assert.equal(r.ack, 5);
  });

  test('all nine flags, urgent pointer', () => {
    const all = TcpFlags.FIN | TcpFlags.SYN | TcpFlags.RST | TcpFlags.PSH | TcpFlags.ACK | TcpFlags.URG | TcpFlags.ECE | TcpFlags.CWR | TcpFlags.NS;
    assert.equal(all, 0x1ff);
    const r = roundTrip({ ...base, flags: all, urgent: 0xbeef });
    assert.equal(r.flags, all);
    assert.equal(r.urgent, 0xbeef);
    for (const f of Object.values(TcpFlags)) assert.equal(roundTrip({ ...base, flags: f }).flags, f);
  });

  test('each option alone', () => {
    assert.deepEqual(roundTrip({ ...base, options: { mss: 536 } }).options, { mss: 536 });
    assert.deepEqual(roundTrip({ ...base, options: { wscale: 14 } }).options, { wscale: 14 });
    assert.deepEqual(roundTrip({ ...base, options: { sackPermitted: true } }).options, { sackPermitted: true });
    assert.deepEqual(roundTrip({ ...base, options: { tsVal: 0xffffffff, tsEcr: 1 } }).options, { tsVal: 0xffffffff, tsEcr: 1 });
    assert.equal(tcpHeaderLength({ options: { mss: 1 } }), 24);
    assert.equal(tcpHeaderLength({ options: { sackPermitted: true } }), 24);
    assert.equal(tcpHeaderLength({ options: { tsVal: 1, tsEcr: 2 } }), 32);
    assert.equal(tcpHeaderLength({ options: { mss: 1, sackPermitted: true, tsVal: 1, tsEcr: 0, wscale: 7 } }), 40);
  });

  test('SACK blocks 1..4 without timestamps; 3 max with timestamps', () => {
    const blocks: Array<[number, number]> = [
      [1, 2],
      [0xfffffff0, 0x10],
      [100, 200],
      [300, 400],
    ];
    for (let n = 1; n <= 4; n++) {
      const repr = { ...base, options: { sack: blocks.slice(0, n) } };
      assert.equal(tcpHeaderLength(repr), 20 + 4 + 8 * n);
      assert.deepEqual(roundTrip(repr).options, { sack: blocks.slice(0, n) });
    }
    const withTs = { ...base, options: { sack: blocks, tsVal: 7, tsEcr: 8 } };
    assert.equal(tcpHeaderLength(withTs), 60);
    assert.deepEqual(roundTrip(withTs).options, { sack: blocks.slice(0, 3), tsVal: 7, tsEcr: 8 });
    const five = { ...base, options: { sack: [...blocks, [5, 6] as [number, number]] } };
    assert.deepEqual(roundTrip(five).options.sack, blocks);
    assert.equal(tcpHeaderLength({ options: { sack: [] } }), 20);
  });

  test('payload copied from the repr, or left in place', () => {
    const payload = new Uint8Array([1, 2, 3, 4, 5]);
    const r = roundTrip({ ...base, options: { tsVal: 1, tsEcr: 2 }, payload });
    assert.deepEqual([...r.payload], [1, 2, 3, 4, 5]);
    // In place: the view is at the header length already.
    const buf = new Uint8Array(20 + 3);
    buf.set([9, 8, 7], 20);
    const pseudo = pseudoHeaderSumV6(new Uint8Array(16), new Uint8Array(16).fill(1), 6, buf.length);
    emitTcp({ ...base, payload: buf.subarray(20) }, buf, pseudo);
    const back = parseTcp(buf, pseudo) as TcpRepr;
    assert.deepEqual([...back.payload], [9, 8, 7]);
  });

  test('TcpPacket setters and fillChecksum', () => {
    const { buf, pseudo } = seg([], [1, 2, 3]);
    const p = new TcpPacket(buf);
    p.srcPort = 1;
    p.dstPort = 2;
    p.seq = 0xdeadbeef;
    p.ack = 0xcafef00d;
    p.window = 77;
    p.flags = TcpFlags.NS | TcpFlags.FIN;
    assert.equal(parseTcp(buf, pseudo), TcpDrop.badChecksum);
    p.fillChecksum(pseudo);
    const r = parseTcp(buf, pseudo) as TcpRepr;
    assert.deepEqual(
      [r.srcPort, r.dstPort, r.seq, r.ack, r.window, r.flags],
      [1, 2, 0xdeadbeef, 0xcafef00d, 77, TcpFlags.NS | TcpFlags.FIN],
    );
    assert.equal(p.headerLength, 20);
    assert.equal(p.fin && !p.syn && !p.rst && !p.psh && !p.urg, true);
  });
});

describe('tcp: malformed input', () => {
  test('truncated header', () => {
    assert.equal(TcpPacket.check(new Uint8Array(19)), TcpDrop.truncated);
    assert.equal(parseTcp(new Uint8Array(0), PSEUDO), TcpDrop.truncated);
  });

  test('data offset below 5 or past the buffer', () => {
    const { buf, pseudo } = seg([]);
    for (const doff of [0, 1, 4]) {
      buf[12] = doff << 4;
      assert.equal(parseTcp(buf, pseudo), TcpDrop.badDataOffset);
    }
    buf[12] = 6 << 4;
    assert.equal(TcpPacket.check(buf), TcpDrop.badDataOffset);
    const { buf: b2 } = seg([1, 1, 1, 1]);
    assert.equal(TcpPacket.check(b2), null);
    assert.equal(TcpPacket.check(b2.subarray(0, 23)), TcpDrop.badDataOffset);
  });

  test('bad checksum', () => {
    const { buf, pseudo } = seg([], [0x41]);
    buf[20] ^= 1;
    assert.equal(parseTcp(buf, pseudo), TcpDrop.badChecksum);
    buf[20] ^= 1;
    assert.equal(typeof parseTcp(buf, pseudo), 'object');
    assert.equal(parseTcp(buf, pseudo + 1), TcpDrop.badChecksum);
  });

  test('option framing errors drop the segment: tcp.bad_option', () => {
    const bad: number[][] = [
      [1, 1, 1, 2], // MSS kind with no length byte before the end
      [2, 0, 0, 0], // length 0
      [2, 1, 0, 0], // length 1
      [8, 10, 0, 0], // runs past the header
      [1, 1, 0x1e, 5], // unknown kind running past the header
      [2, 4, 5, 0xb4, 3, 3, 7, 0x1e], // good options, then a kind with no length byte
    ];
    for (const opts of bad) {
      const { buf, pseudo } = seg(opts);
      assert.equal(parseTcp(buf, pseudo), TcpDrop.badOption, JSON.stringify(opts));
      let called = 0;
      assert.equal(forEachTcpOption(buf, () => called++), TcpDrop.badOption);
      assert.equal(called, 0);
    }
  });

  test('known options with a wrong length are ignored (Linux)', () => {
    const cases: Array<[number[], object]> = [
      [[2, 3, 5, 1], {}], // MSS len 3
      [[2, 6, 5, 0xb4, 0, 0, 1, 1], {}], // MSS len 6
      [[3, 4, 7, 0], {}], // window scale len 4
      [[3, 2, 1, 1], {}], // window scale len 2
      [[4, 3, 0, 1], {}], // SACK-permitted len 3
      [[8, 8, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1], {}], // timestamps len 8
      [[5, 2, 1, 1], {}], // SACK with no block
      [[5, 9, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1], {}], // SACK len 9: not 2 + 8n
    ];
    for (const [opts, want] of cases) assert.deepEqual(parsed(opts).options, want, JSON.stringify(opts));
    // A wrong-length option does not hide the others.
    assert.deepEqual(parsed([3, 4, 7, 0, 2, 4, 1, 0]).options, { mss: 256 });
  });

  test('unknown options are skipped; EOL ends the list; NOPs anywhere', () => {
    assert.deepEqual(parsed([0x1e, 6, 1, 2, 3, 4, 2, 4, 2, 0]).options, { mss: 512 });
    assert.deepEqual(parsed([0xfd, 2, 1, 1, 3, 3, 9, 1]).options, { wscale: 9 });
    // After EOL anything goes, even a zero length.
    assert.deepEqual(parsed([2, 4, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0]).options, { mss: 256 });
    assert.deepEqual(parsed([0, 2, 4, 1]).options, {});
    assert.deepEqual(parsed([1, 1, 1, 1, 1, 1, 1, 1]).options, {});
  });

  test('values as on the wire: MSS 0, window scale 15; repeated options: the last wins', () => {
    assert.deepEqual(parsed([2, 4, 0, 0]).options, { mss: 0 });
    assert.deepEqual(parsed([3, 3, 15, 1]).options, { wscale: 15 });
    assert.deepEqual(parsed([2, 4, 1, 0, 2, 4, 2, 0]).options, { mss: 512 });
  });

  test('options on any segment: the engine decides what counts on a SYN', () => {
    const { buf, pseudo } = seg([2, 4, 5, 0xb4], [], TcpFlags.ACK);
    assert.deepEqual((parseTcp(buf, pseudo) as TcpRepr).options, { mss: 1460 });
  });
});

describe('tcp: low-level option access', () => {
  test('forEachTcpOption reports each option with its offset and length', () => {
    const { l4 } = ip4(SYN_V4);
    const seen: Array<[number, number, number]> = [];
    assert.equal(
      forEachTcpOption(l4, (k, o, l) => seen.push([k, o, l])),
      null,
    );
    assert.deepEqual(seen, [
      [2, 20, 4],
      [4, 24, 2],
      [8, 26, 10],
      [3, 37, 3],
    ]);
  });

  test('readTcpOptions reuses one scratch object and resets it', () => {
    const s = new TcpOptionsScratch();
    const { l4 } = ip4(SYN_V4);
    assert.equal(readTcpOptions(l4, s), null);
    assert.deepEqual([s.mss, s.wscale, s.sackPermitted, s.hasTimestamps, s.tsVal, s.tsEcr, s.sackCount], [1460, 10, true, true, 0x441eaac1, 0, 0]);
    const { buf } = seg([1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]);
    assert.equal(readTcpOptions(buf, s), null);
    assert.deepEqual([s.mss, s.wscale, s.sackPermitted, s.hasTimestamps, s.sackCount], [-1, -1, false, false, 2]);
    assert.deepEqual([...s.sackBlocks.subarray(0, 4)], [1, 2, 3, 4]);
    assert.deepEqual(s.toOptions(), { sack: [[1, 2], [3, 4]] });
    const { buf: bad } = seg([2, 0, 0, 0]);
    assert.equal(readTcpOptions(bad, s), TcpDrop.badOption);
  });
});

describe('tcp: no-throw sweep', () => {
  function check(buf: Uint8Array, pseudo: number): void {
    const r = parseTcp(buf, pseudo);
    assert.ok(typeof r === 'string' || (typeof r === 'object' && r !== null));
    if (TcpPacket.check(buf) === null) {
      readTcpOptions(buf, new TcpOptionsScratch());
      forEachTcpOption(buf, () => {});
      const p = new TcpPacket(buf);
      void [p.srcPort, p.dstPort, p.seq, p.ack, p.flags, p.window, p.urgent, p.options(), p.payload()];
    }
  }

  test('every truncation of the real captures', () => {
    for (const pkt of [SYN_V4, SYNACK_V4, DATA_V4]) {
      const { l4, pseudo } = ip4(pkt);
      for (let n = 0; n <= l4.length; n++) {
        const b = l4.slice(0, n);
        check(b, pseudo);
        // With the checksum made valid for the truncated length, so the option parser runs.
        if (n >= 20) {
          const ps = pseudoHeaderSumV4(0x0a090001, 0x0a090002, 6, n);
          new TcpPacket(b).fillChecksum(ps);
          check(b, ps);
        }
      }
    }
  });

  test('seeded random bytes and random options with valid checksums', () => {
    const rng = new SeededRandom(0x7c9);
    for (let k = 0; k < 3000; k++) {
      const b = new Uint8Array(rng.u32() % 80);
      rng.fill(b);
      check(b, rng.u32() & 0xffff);
      if (b.length >= 20) {
        // A plausible data offset and a valid checksum, so options are parsed.
        b[12] = (5 + (rng.u32() % Math.min(11, (b.length >> 2) - 4))) << 4;
        const ps = PSEUDO + b.length;
        new TcpPacket(b).fillChecksum(ps);
        check(b, ps);
      }
    }
  });

  test('seeded mutations of a real SYN', () => {
    const rng = new SeededRandom(42);
    const { l4 } = ip4(SYN_V4);
    let parsedOk = 0;
    for (let k = 0; k < 3000; k++) {
      const b = l4.slice();
      const flips = 1 + (rng.u32() % 4);
      for (let f = 0; f < flips; f++) b[12 + (rng.u32() % (b.length - 12))] = rng.u32() & 0xff;
      const ps = PSEUDO + b.length;
      new TcpPacket(b).fillChecksum(ps);
      check(b, ps);
      if (typeof parseTcp(b, ps) === 'object') parsedOk++;
    }
    assert.ok(parsedOk > 0);
  });
});
