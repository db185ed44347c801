import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { MAC_ZERO, formatIpv4, formatMac, parseIpv4, parseMac } from '../../src/wire/address.js';
import { ARP_LEN, ArpDrop, ArpOp, ArpPacket, emitArp, parseArp } from '../../src/wire/arp.js';
import { ETHERNET_HEADER_LEN, parseEthernet, EtherType } from '../../src/wire/ethernet.js';

const fromHex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));

// Captured on a veth pair (tcpdump -xx), Ethernet header included.
const REQUEST = fromHex('ffffffffffff02000000000a0806000108000604000102000000000a0a0900010000000000000a090002');
const REPLY = fromHex('02000000000a02000000000b0806000108000604000202000000000b0a09000202000000000a0a090001');

test('parse a captured ARP request', () => {
  const eth = parseEthernet(REQUEST);
  assert.ok(typeof eth !== 'string' && eth.ethertype === EtherType.ARP);
  const r = parseArp(REQUEST.subarray(ETHERNET_HEADER_LEN));
  assert.ok(typeof r !== 'string');
  assert.equal(r.op, ArpOp.REQUEST);
  assert.equal(formatMac(r.senderMac), '02:00:00:00:00:0a');
  assert.equal(formatIpv4(r.senderIp), '10.9.0.1');
  assert.equal(formatMac(r.targetMac), '00:00:00:00:00:00');
  assert.equal(formatIpv4(r.targetIp), '10.9.0.2');
});

test('parse a captured ARP reply; padding ignored', () => {
  const padded = new Uint8Array(60);
  padded.set(REPLY);
  const r = parseArp(padded.subarray(ETHERNET_HEADER_LEN));
  assert.ok(typeof r !== 'string');
  assert.equal(r.op, ArpOp.REPLY);
  assert.equal(formatMac(r.senderMac), '02:00:00:00:00:0b');
  assert.equal(formatIpv4(r.senderIp), '10.9.0.2');
  assert.equal(formatMac(r.targetMac), '02:00:00:00:00:0a');
  assert.equal(formatIpv4(r.targetIp), '10.9.0.1');
  const p = new ArpPacket(REPLY.subarray(14));
  assert.deepEqual([p.htype, p.ptype, p.hlen, p.plen], [1, 0x0800, 6, 4]);
});

test('emit reproduces the captured bytes', () => {
  const buf = new Uint8Array(ARP_LEN);
  const n = emitArp(
    { op: ArpOp.REQUEST, senderMac: parseMac('02:00:00:00:00:0a')!, senderIp: parseIpv4('10.9.0.1')!, targetMac: MAC_ZERO,
      targetIp: parseIpv4('10.9.0.2')! },
    buf,
  );
  assert.equal(n, 28);
  assert.deepEqual(buf, REQUEST.slice(14));
  const b2 = new Uint8Array(ARP_LEN);
  const r = parseArp(REPLY.subarray(14));
  assert.ok(typeof r !== 'string');
  emitArp(r, b2);
  assert.deepEqual(b2, REPLY.slice(14));
});

test('setters turn a request into a reply', () => {
  const b = REQUEST.slice(14);
  const p = new ArpPacket(b);
  const me = parseMac('02:00:00:00:00:0b')!;
  p.op = ArpOp.REPLY;
  p.targetMac = p.senderMac.slice();
  p.targetIp = p.senderIp;
  p.senderMac = me;
  p.senderIp = parseIpv4('10.9.0.2')!;
  assert.deepEqual(b, REPLY.slice(14));
});

test('drop reasons', () => {
  const body = REQUEST.slice(14);
  assert.equal(parseArp(body.subarray(0, 27)), ArpDrop.truncated);
  assert.equal(parseArp(new Uint8Array(0)), 'arp.truncated');
  const mut = (i: number, v: number): Uint8Array => {
    const b = body.slice();
    b[i] = v;
    return b;
  };
  assert.equal(parseArp(mut(1, 6)), ArpDrop.badHardwareType); // IEEE 802
  assert.equal(parseArp(mut(0, 1)), ArpDrop.badHardwareType);
  assert.equal(parseArp(mut(2, 0x86)), ArpDrop.badProtocolType);
  assert.equal(parseArp(mut(3, 0xdd)), ArpDrop.badProtocolType);
  assert.equal(parseArp(mut(4, 8)), ArpDrop.badHardwareLength);
  assert.equal(parseArp(mut(5, 16)), ArpDrop.badProtocolLength);
  assert.equal(parseArp(mut(7, 3)), ArpDrop.badOperation); // RARP request
  assert.equal(parseArp(mut(7, 0)), ArpDrop.badOperation);
  assert.equal(parseArp(mut(6, 1)), ArpDrop.badOperation); // 0x0101
});

test('no throw on truncations and random bytes', () => {
  const r = new SeededRandom(20);
  const body = REQUEST.slice(14);
  for (let n = 0; n <= body.length; n++) ArpPacket.check(body.slice(0, n)) ?? parseArp(body.slice(0, n));
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(r.u32() % 40);
    r.fill(b);
    if (i % 2 && b.length >= 8) b.set(body.subarray(0, 6)); // valid types, random rest
    parseArp(b);
  }
});
