/**
 * A received frame is valid only until its batch's flush() returns (src/link/link.ts): TunLink
 * reads every batch into the same slots. IPv6 addresses reach TCP as views into the packet, so
 * a connection that kept them would later read whatever packet reused the slot — with IPv4 and
 * IPv6 flows mixed, its segments went to garbage addresses (drop.ipv6.no_route) and the
 * transfers stalled. Found running mixed parallel downloads against `netstack host`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../../src/stack.js';
import { VirtualClock, SeededRandom } from '../../src/core/clock.js';
import type { Link, LinkReceiver } from '../../src/link/link.js';
import { emitTcp, TcpFlags, TcpPacket } from '../../src/wire/tcp.js';
import { pseudoHeaderSumV6 } from '../../src/wire/checksum.js';
import { ip4, ip6, p6, v6 } from './ip-harness.js';

test('a passive IPv6 connection keeps its addresses when the link reuses its receive slot', () => {
  const clock = new VirtualClock(0);
  const stack = new Stack({ clock, random: new SeededRandom(3) });
  let rx: LinkReceiver | undefined;
  const sent: Uint8Array[] = [];
  const link: Link = {
    kind: 'ip',
    mtu: 1500,
    mac: undefined,
    attach: (r) => (rx = r),
    send: (f) => sent.push(f.slice()),
    close: async () => undefined,
  };
  stack.addInterface(link, { name: 'tun0', addresses: ['10.0.0.2/24', 'fd00::2/64'] });
  stack.tcp.listen({ family: 6, port: 80 }, () => undefined);

  const seg = new Uint8Array(20);
  emitTcp(
    { srcPort: 40000, dstPort: 80, seq: 1000, ack: 0, flags: TcpFlags.SYN, window: 65535, urgent: 0, options: {}, payload: new Uint8Array(0) },
    seg,
    pseudoHeaderSumV6(v6('fd00::1'), v6('fd00::2'), 6, seg.length),
  );
  const syn = ip6({ nh: 6 }, seg);
  const slot = new Uint8Array(2048);
  slot.set(syn);
  rx!.receive(slot.subarray(0, syn.length));
  rx!.flush();
  const synAck = sent.splice(0).map(p6);
  assert.equal(synAck.length, 1);
  assert.deepEqual([...synAck[0]!.dst], [...v6('fd00::1')]);

  // The next batch lands in the same slot: an IPv4 packet now, with other bytes where the
  // IPv6 addresses were.
  const other = ip4({ protocol: 17, src: '10.0.0.1' }, new Uint8Array(100).fill(0xa5));
  slot.fill(0);
  slot.set(other);
  rx!.receive(slot.subarray(0, other.length));
  rx!.flush();
  sent.length = 0;

  // The SYN-ACK's retransmission (RFC 6298 §2.1 initial RTO of 1 s) still goes to the peer.
  clock.advance(1100);
  stack.poll();
  const again = sent.map(p6);
  assert.equal(again.length, 1, `counters: ${JSON.stringify(stack.counters.snapshot())}`);
  assert.deepEqual([...again[0]!.dst], [...v6('fd00::1')]);
  assert.deepEqual([...again[0]!.src], [...v6('fd00::2')]);
  assert.ok((new TcpPacket(again[0]!.payload).flags & (TcpFlags.SYN | TcpFlags.ACK)) === (TcpFlags.SYN | TcpFlags.ACK));
  assert.equal(stack.counters.get('drop.ipv6.no_route'), 0);
});
