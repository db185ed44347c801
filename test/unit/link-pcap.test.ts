import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLink } from '../../src/link/memory.js';
import { PcapRecorder, LINKTYPE_RAW, LINKTYPE_ETHERNET, type PcapSink } from '../../src/link/pcap.js';
import { PcapFileSink } from '../../src/node/pcap-file.js';

class BytesSink implements PcapSink {
  chunks: Uint8Array[] = [];
  closed = 0;
  write(bytes: Uint8Array): void {
    this.chunks.push(bytes.slice()); // the recorder reuses its header buffer
  }
  close(): Promise<void> {
    this.closed++;
    return Promise.resolve();
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

interface Parsed {
  magic: number;
  major: number;
  minor: number;
  thiszone: number;
  snaplen: number;
  linktype: number;
  records: { sec: number; usec: number; incl: number; orig: number; data: number[] }[];
}

/** An independent reader of the classic pcap format, for checking what the recorder wrote. */
function parsePcap(b: Uint8Array): Parsed {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.ok(b.length >= 24, 'file header present');
  const p: Parsed = {
    magic: v.getUint32(0, true),
    major: v.getUint16(4, true),
    minor: v.getUint16(6, true),
    thiszone: v.getInt32(8, true),
    snaplen: v.getUint32(16, true),
    linktype: v.getUint32(20, true),
    records: [],
  };
  let o = 24;
  while (o < b.length) {
    assert.ok(o + 16 <= b.length, 'record header complete');
    const incl = v.getUint32(o + 8, true);
    const rec = {
      sec: v.getUint32(o, true),
      usec: v.getUint32(o + 4, true),
      incl,
      orig: v.getUint32(o + 12, true),
      data: [...b.subarray(o + 16, o + 16 + incl)],
    };
    assert.equal(rec.data.length, incl, 'record data complete');
    p.records.push(rec);
    o += 16 + incl;
  }
  return p;
}

describe('PcapRecorder', () => {
  test('file header: magic, version 2.4, snaplen 262144, LINKTYPE_RAW for ip links', () => {
    const [a] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const sink = new BytesSink();
    new PcapRecorder(a, sink, () => 0);
    const b = sink.bytes();
    assert.deepEqual([...b.subarray(0, 4)], [0xd4, 0xc3, 0xb2, 0xa1], 'little-endian microsecond magic');
    const p = parsePcap(b);
    assert.equal(p.magic, 0xa1b2c3d4);
    assert.equal(p.major, 2);
    assert.equal(p.minor, 4);
    assert.equal(p.thiszone, 0);
    assert.equal(p.snaplen, 262144);
    assert.equal(p.linktype, LINKTYPE_RAW);
    assert.equal(p.linktype, 101);
    assert.equal(p.records.length, 0);
  });

  test('LINKTYPE_ETHERNET for ethernet links', () => {
    const [a] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500 });
    const sink = new BytesSink();
    const rec = new PcapRecorder(a, sink, () => 0);
    assert.equal(parsePcap(sink.bytes()).linktype, LINKTYPE_ETHERNET);
    assert.equal(rec.kind, 'ethernet');
    assert.deepEqual(rec.mac, a.mac);
    assert.equal(rec.mtu, 1500);
  });

  test('records both directions with timestamps, and passes frames through', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const sink = new BytesSink();
    let now = 1_700_000_000_123.456; // ms
    const rec = new PcapRecorder(a, sink, () => now);
    const got: number[][] = [];
    let flushes = 0;
    rec.attach({ receive: (f) => got.push([...f]), flush: () => flushes++ });
    const peer: number[][] = [];
    b.attach({ receive: (f) => peer.push([...f]), flush: () => {} });

    rec.send(Uint8Array.of(0x45, 0, 0, 1)); // outgoing
    now += 1.5;
    b.send(Uint8Array.of(0x60, 0, 0, 2, 9)); // incoming
    MemoryLink.settle(a, b);
    assert.deepEqual(peer, [[0x45, 0, 0, 1]]);
    assert.deepEqual(got, [[0x60, 0, 0, 2, 9]]);
    assert.equal(flushes, 1);

    const p = parsePcap(sink.bytes());
    assert.equal(p.records.length, 2);
    assert.equal(rec.records, 2);
    assert.deepEqual(p.records[0], { sec: 1_700_000_000, usec: 123_456, incl: 4, orig: 4, data: [0x45, 0, 0, 1] });
    assert.deepEqual(p.records[1], { sec: 1_700_000_000, usec: 124_956, incl: 5, orig: 5, data: [0x60, 0, 0, 2, 9] });
  });

  test('snaplen cuts long frames but keeps the original length', () => {
    const [a] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const sink = new BytesSink();
    const rec = new PcapRecorder(a, sink, () => 0, { snaplen: 8 });
    rec.send(new Uint8Array(20).fill(7));
    const p = parsePcap(sink.bytes());
    assert.equal(p.snaplen, 8);
    assert.equal(p.records[0]!.incl, 8);
    assert.equal(p.records[0]!.orig, 20);
  });

  test('strip drops a leading header (e.g. virtio_net_hdr) from the records', () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const sink = new BytesSink();
    const rec = new PcapRecorder(a, sink, () => 0, { strip: 2 });
    rec.send(Uint8Array.of(0xee, 0xee, 0x45, 1));
    assert.deepEqual(parsePcap(sink.bytes()).records[0]!.data, [0x45, 1]);
    assert.equal(b.pending, 1, 'the link still gets the whole frame');
  });

  test('close closes the inner link and the sink once; nothing is recorded after', async () => {
    const [a, b] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const sink = new BytesSink();
    const rec = new PcapRecorder(a, sink, () => 0);
    await rec.close();
    await rec.close();
    assert.equal(sink.closed, 1);
    rec.send(Uint8Array.of(1));
    assert.equal(parsePcap(sink.bytes()).records.length, 0);
    assert.equal(b.pending, 0);
  });

  describe('PcapFileSink', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-pcap-'));
    after(() => rmSync(dir, { recursive: true, force: true }));

    test('writes a file that parses back, across buffer flushes', async () => {
      const path = join(dir, 'a.pcap');
      const [a, b] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500 });
      const sink = new PcapFileSink(path, 100); // tiny buffer: forces flushes and direct writes
      const rec = new PcapRecorder(a, sink, () => 5000.25);
      const frames = [new Uint8Array(60).fill(1), new Uint8Array(14).fill(2), new Uint8Array(500).fill(3)];
      for (const f of frames) rec.send(f);
      assert.equal(b.pending, 3);
      await rec.close();
      const p = parsePcap(new Uint8Array(readFileSync(path)));
      assert.equal(p.linktype, 1);
      assert.deepEqual(
        p.records.map((r) => [r.sec, r.usec, r.incl, r.data[0]]),
        [
          [5, 250, 60, 1],
          [5, 250, 14, 2],
          [5, 250, 500, 3],
        ],
      );
    });

    test('flushSync makes the file complete before close', () => {
      const path = join(dir, 'b.pcap');
      const sink = new PcapFileSink(path);
      sink.write(Uint8Array.of(1, 2, 3));
      assert.equal(readFileSync(path).length, 0, 'buffered');
      sink.flushSync();
      assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
      sink.closeSync();
      sink.write(Uint8Array.of(4)); // after close: ignored
      sink.closeSync();
      assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
    });
  });
});
