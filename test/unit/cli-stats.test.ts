/**
 * The limits table of `netstack host --stats` (src/cli/limits.ts): the pure formatter, and the
 * rows read from a real Stack driven to known use (connections, half-open connections past the
 * SYN backlog, a fragment held for reassembly, a neighbour entry, a packet waiting for address
 * resolution). Also the exit summary of the TCP services and `--shutdown-grace` parsing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom, VirtualClock } from '../../src/core/clock.js';
import { MemoryLink } from '../../src/link/memory.js';
import { Stack } from '../../src/stack.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { TcpFlags, emitTcp, tcpHeaderLength } from '../../src/wire/tcp.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';
import { emitEthernet, EtherType, ETHERNET_HEADER_LEN } from '../../src/wire/ethernet.js';
import { parseIpv4 } from '../../src/wire/address.js';
import { formatLimits, processLine, socketsLine, stackLimitRows, type LimitRow } from '../../src/cli/limits.js';
import { serviceSummary } from '../../src/cli/services.js';
import { parseHostArgs, UsageError } from '../../src/cli/args.js';

describe('formatLimits', () => {
  const rows: LimitRow[] = [
    { name: 'tcp connections', use: 3, bound: 262144, counters: { 'drop.tcp.conn_limit': 0 }, note: 'ESTABLISHED 3' },
    { name: 'half-open', use: 128, bound: 256, counters: { 'tcp.syncookies_sent': 7, 'drop.tcp.syn_queue_full': 0 } },
    { name: 'icmp errors', use: undefined, bound: '100/s', counters: { 'drop.icmp.rate_limited': 2 } },
    { name: 'time-wait', use: 5, bound: undefined, counters: {} },
    { name: 'full', use: 16, bound: 16, counters: {} },
  ];
  const text = formatLimits(rows);
  const lines = text.trimEnd().split('\n');

  test('a title, a header and one line per row', () => {
    assert.equal(lines[0], 'limits');
    assert.match(lines[1]!, /^ {2}limit\s+use\s+bound\s+%\s+at the bound$/);
    assert.equal(lines.length, 2 + rows.length);
    assert.ok(text.endsWith('\n'));
  });

  test('columns are aligned: use and bound right-aligned', () => {
    const useEnd = lines[1]!.indexOf('use') + 3;
    const boundEnd = lines[1]!.indexOf('bound') + 5;
    for (const l of lines.slice(2)) {
      assert.notEqual(l[useEnd - 1], ' ', `use column: ${l}`);
      assert.equal(l[useEnd], ' ', `after use: ${l}`);
      assert.notEqual(l[boundEnd - 1], ' ', `bound column: ${l}`);
    }
  });

  test('values, percentages, counters and notes', () => {
    assert.match(lines[2]!, /^ {2}tcp connections\s+3\s+262144\s+<0\.1%\s+drop\.tcp\.conn_limit=0 \(ESTABLISHED 3\)$/);
    assert.match(lines[3]!, /half-open\s+128\s+256\s+50%\s+tcp\.syncookies_sent=7 drop\.tcp\.syn_queue_full=0$/);
    // No readable use: '-', and no percentage for a rate.
    assert.match(lines[4]!, /icmp errors\s+-\s+100\/s\s+drop\.icmp\.rate_limited=2$/);
    // No bound: '-' and no percentage; no trailing blanks.
    assert.match(lines[5]!, /time-wait\s+5\s+-$/);
    assert.match(lines[6]!, /full\s+16\s+16\s+100%$/);
  });

  test('the memory and sockets lines', () => {
    const m = processLine({ heapUsed: 10 * 1048576, heapTotal: 20 * 1048576, rss: 64 * 1048576, external: 1048576, fds: 17 });
    assert.equal(m, 'memory: heap 10.0 MiB used of 20.0 MiB, rss 64.0 MiB, external 1.0 MiB, fds 17\n');
    assert.doesNotMatch(processLine({ heapUsed: 1, heapTotal: 2, rss: 3, external: 0 }), /fds/);
  });
});

const A = parseIpv4('10.0.0.1')!;
const B = parseIpv4('10.0.0.2')!;

/** Two stacks on an Ethernet MemoryLink pair; B has small limits so they are reached quickly. */
function world() {
  const clock = new VirtualClock(0);
  const [la, lb] = MemoryLink.pair({ kind: 'ethernet', mtu: 1500, queueLimit: 1_000_000 });
  const a = new Stack({ clock, random: new SeededRandom(1) });
  const b = new Stack({ clock, random: new SeededRandom(2), tcp: { maxSynBacklog: 4, maxConnections: 100 }, limits: { reassemblyBytes: 100_000, neighborEntries: 8 } });
  a.addInterface(la, { addresses: ['10.0.0.1/24'] });
  b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
  const run = (ms: number): void => {
    for (let t = 0; t < ms; t++) {
      MemoryLink.settle(la, lb);
      clock.advance(1);
      a.poll();
      b.poll();
    }
    MemoryLink.settle(la, lb);
  };
  /** An IPv4 packet to B as an Ethernet frame from A's MAC (A's stack never sees it). */
  const injectIp = (pkt: Uint8Array): void => {
    const frame = new Uint8Array(ETHERNET_HEADER_LEN + pkt.length);
    emitEthernet({ dst: lb.mac!, src: la.mac!, ethertype: EtherType.IPV4 }, frame);
    frame.set(pkt, ETHERNET_HEADER_LEN);
    la.send(frame);
    MemoryLink.settle(la, lb);
  };
  /** A SYN to B:port from `src` (an address nobody answers for: the half-open entry stays). */
  const syn = (src: number, sport: number, port: number): void => {
    const repr = { srcPort: sport, dstPort: port, seq: 1000, ack: 0, flags: TcpFlags.SYN, window: 65535, urgent: 0, options: { mss: 1460 }, payload: new Uint8Array(0) };
    const hl = tcpHeaderLength(repr);
    const pkt = new Uint8Array(20 + hl);
    emitIpv4({ src, dst: B, protocol: 6, ttl: 64, payloadLength: hl }, pkt);
    emitTcp(repr, pkt.subarray(20), pseudoHeaderSumV4(src, B, 6, hl));
    injectIp(pkt);
  };
  return { clock, a, b, run, injectIp, syn };
}

function rowOf(rows: LimitRow[], prefix: string): LimitRow {
  const r = rows.find((x) => x.name.startsWith(prefix));
  assert.ok(r, `no row '${prefix}' in ${rows.map((x) => x.name).join(', ')}`);
  return r;
}

describe('stackLimitRows on a Stack', () => {
  test('an idle stack: zero use, the configured bounds, every counter listed', () => {
    const { b } = world();
    const rows = stackLimitRows(b);
    assert.deepEqual(
      { use: rowOf(rows, 'tcp connections').use, bound: rowOf(rows, 'tcp connections').bound },
      { use: 0, bound: 100 },
    );
    assert.equal(rowOf(rows, 'tcp half-open').bound, 4);
    assert.equal(rowOf(rows, 'ip reassembly bytes').bound, 100_000);
    assert.equal(rowOf(rows, 'neighbour entries').bound, 8);
    assert.equal(rowOf(rows, 'icmp errors').use, undefined);
    // The counters of each limit appear even when never counted (0).
    assert.equal(rowOf(rows, 'tcp half-open').counters['tcp.syncookies_sent'], 0);
    assert.equal(rowOf(rows, 'icmp errors').counters['drop.icmp.rate_limited'], 0);
    for (const r of rows) {
      if (typeof r.bound === 'number' && r.use !== undefined) assert.ok(r.use <= r.bound, `${r.name}: ${r.use} > ${r.bound}`);
    }
  });

  test('connections, half-open entries past the SYN backlog (cookies), listeners and sockets', () => {
    const w = world();
    const { a, b } = w;
    b.tcp.listen({ family: 4, port: 7 }, () => undefined);
    b.tcp.listen({ family: 4, port: 9 }, () => undefined);
    const conns = [0, 1, 2].map(() => a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 9 }));
    w.run(50);
    assert.ok(conns.every((c) => c.state === 'ESTABLISHED'));
    // Six SYNs from an address nobody answers for: four half-open entries, then two cookies.
    const stranger = parseIpv4('10.0.0.77')!;
    for (let i = 0; i < 6; i++) w.syn(stranger, 40000 + i, 7);
    const rows = stackLimitRows(b);
    const c = rowOf(rows, 'tcp connections');
    assert.equal(c.use, 3 + 4);
    assert.match(c.note!, /ESTABLISHED 3/);
    assert.match(c.note!, /SYN-RECEIVED 4/);
    const h = rowOf(rows, 'tcp half-open');
    assert.equal(h.use, 4);
    assert.equal(h.bound, 4);
    assert.equal(h.counters['tcp.syncookies_sent'], 2);
    assert.match(h.note!, /2 listeners, fullest 0\.0\.0\.0:7/);
    assert.match(formatLimits(rows), /tcp half-open \(per listener\)\s+4\s+4\s+100%\s+tcp\.syncookies_sent=2/);
    assert.equal(socketsLine(b), 'sockets: tcp 7 open (+0 TIME-WAIT), 2 tcp listeners, 0 udp\n');
  });

  test('buffered bytes: unread data, send buffer', () => {
    const w = world();
    const { a, b } = w;
    let server: import('../../src/transport/tcp/socket.js').TcpSocket | undefined;
    b.tcp.listen({ family: 4, port: 9 }, (s) => {
      server = s;
      s.setReading(false); // the application does not read: data waits in the receive queue
    });
    const c = a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 9 });
    w.run(20);
    assert.equal(c.write(new Uint8Array(5000)), 5000);
    w.run(200);
    assert.ok(server);
    const rb = rowOf(stackLimitRows(b), 'tcp receive queue');
    assert.equal(rb.use, 5000);
    assert.match(rb.note!, /^5000 B unread in all$/);
    // A's send buffer holds what B has not acknowledged: nothing here, everything was acked.
    assert.equal(rowOf(stackLimitRows(a), 'tcp send buffer').use, 0);
  });

  test('reassembly bytes: a first fragment is held, then dropped at the timeout', () => {
    const w = world();
    const payload = new Uint8Array(1000);
    const pkt = new Uint8Array(20 + payload.length);
    // UDP-protocol datagram, first fragment (MF set, offset 0).
    emitIpv4({ src: A, dst: B, protocol: 17, ttl: 64, payloadLength: payload.length, ident: 77, moreFrags: true, fragOffset: 0 }, pkt);
    pkt.set(payload, 20);
    w.injectIp(pkt);
    const r = rowOf(stackLimitRows(w.b), 'ip reassembly bytes');
    assert.ok(r.use! >= 1000 && r.use! <= 100_000, `reassembly use ${r.use}`);
    assert.match(r.note!, /^1 datagrams$/);
    w.run(31_000); // past the 30 s IPv4 reassembly timeout
    const after = rowOf(stackLimitRows(w.b), 'ip reassembly bytes');
    assert.equal(after.use, 0);
    assert.equal(after.counters['drop.ipv4.reasm_timeout'], 1);
  });

  test('neighbour entries and packets pending resolution (Ethernet)', () => {
    const w = world();
    const { a, b } = w;
    // Traffic A -> B: B learns A's MAC (an ARP entry).
    const s = a.udp.open(4);
    s.sendTo(new Uint8Array(10), '10.0.0.2', 5000);
    w.run(10);
    const n = rowOf(stackLimitRows(b), 'neighbour entries');
    assert.ok(n.use! >= 1 && n.use! <= 8, `entries ${n.use}`);
    // B sends to an address nobody answers for: the datagram waits for resolution.
    const t = b.udp.open(4);
    t.sendTo(new Uint8Array(100), '10.0.0.99', 5000);
    t.sendTo(new Uint8Array(200), '10.0.0.99', 5000);
    const rows = stackLimitRows(b);
    const p = rowOf(rows, 'pending resolution (per');
    assert.equal(p.use, 2);
    assert.equal(p.bound, 16);
    assert.match(p.note!, /^2 packets in all$/);
    const pb = rowOf(rows, 'pending resolution bytes');
    assert.equal(pb.use, 2 * 28 + 300); // two IPv4 + UDP headers and the payloads
    // Resolution fails after the retries: the queue is dropped and counted.
    w.run(5000);
    const later = rowOf(stackLimitRows(b), 'pending resolution (per');
    assert.equal(later.use, 0);
    assert.equal(later.counters['drop.arp.resolution_failed'], 2);
  });

  test('a TUN-like (ip) link has no neighbour caches: use is unknown', () => {
    const clock = new VirtualClock(0);
    const [l] = MemoryLink.pair({ kind: 'ip', mtu: 1500 });
    const s = new Stack({ clock, random: new SeededRandom(3) });
    s.addInterface(l, { addresses: ['10.0.0.2/24'] });
    const r = rowOf(stackLimitRows(s), 'neighbour entries');
    assert.equal(r.use, undefined);
    assert.match(r.note!, /no ARP\/NDP/);
  });
});

describe('serviceSummary', () => {
  test('one line per service, in the order given', () => {
    const z = { connections: 0, bytesIn: 0, bytesOut: 0, requests: 0 };
    assert.deepEqual(
      serviceSummary({
        echo: { ...z, connections: 1, bytesIn: 5 },
        discard: { ...z, connections: 2, bytesIn: 1048576 },
        chargen: { ...z, connections: 1, bytesOut: 7030 },
        http: { ...z, connections: 3, requests: 1, bytesIn: 80, bytesOut: 1000 },
      }),
      [
        'echo: 5 bytes from 1 connection',
        'discard: 1048576 bytes from 2 connections',
        'chargen: 7030 bytes to 1 connection',
        'http: 1 request on 3 connections, 80 bytes in, 1000 bytes out',
      ],
    );
  });
});

describe('--shutdown-grace', () => {
  test('default 2 s; fractions and 0 accepted', () => {
    assert.equal(parseHostArgs('host', []).shutdownGrace, 2);
    assert.equal(parseHostArgs('host', ['--shutdown-grace', '0.5']).shutdownGrace, 0.5);
    assert.equal(parseHostArgs('host', ['--shutdown-grace', '0']).shutdownGrace, 0);
    assert.equal(parseHostArgs('udp-echo', ['--shutdown-grace', '10']).shutdownGrace, 10);
  });
  for (const bad of ['-1', 'abc', '3601', '1e3', '']) {
    test(`rejects '${bad}'`, () => {
      assert.throws(() => parseHostArgs('host', ['--shutdown-grace', bad]), (e: unknown) => e instanceof UsageError && /--shutdown-grace/.test(e.message));
    });
  }
});
