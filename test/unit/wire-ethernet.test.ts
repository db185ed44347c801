import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../../src/core/clock.js';
import { formatMac, parseMac } from '../../src/wire/address.js';
import {
  ETHERNET_HEADER_LEN,
  EtherType,
  EthernetDrop,
  EthernetPacket,
  emitEthernet,
  parseEthernet,
} from '../../src/wire/ethernet.js';

const fromHex = (s: string): Uint8Array => new Uint8Array(s.match(/../g)!.map((x) => parseInt(x, 16)));

// Captured on a veth pair (tcpdump -xx): ARP request who-has 10.9.0.2 tell 10.9.0.1.
const ARP_FRAME = fromHex('ffffffffffff02000000000a0806000108000604000102000000000a0a0900010000000000000a090002');
// ICMPv6 echo request fd00:9::1 > fd00:9::2.
const V6_FRAME = fromHex(
  '02000000000b02000000000a86dd60064b3400403a40fd000009000000000000000000000001fd000009000000000000000000000002' +
    '8000073217df0001372b026b0000000066f3070000000000101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);

test('parse a captured broadcast ARP frame', () => {
  const r = parseEthernet(ARP_FRAME);
  assert.ok(typeof r !== 'string');
  assert.equal(formatMac(r.dst), 'ff:ff:ff:ff:ff:ff');
  assert.equal(formatMac(r.src), '02:00:00:00:00:0a');
  assert.equal(r.ethertype, EtherType.ARP);
  const p = new EthernetPacket(ARP_FRAME);
  assert.equal(p.payload().length, 28);
  assert.equal(p.payload()[0], 0);
  // zero-copy views
  assert.equal(r.src.buffer, ARP_FRAME.buffer);
});

test('parse a captured IPv6 frame', () => {
  const r = parseEthernet(V6_FRAME);
  assert.ok(typeof r !== 'string');
  assert.equal(formatMac(r.dst), '02:00:00:00:00:0b');
  assert.equal(r.ethertype, EtherType.IPV6);
  assert.equal(new EthernetPacket(V6_FRAME).payload().length, V6_FRAME.length - 14);
});

test('emit / parse round trip and setters', () => {
  const buf = new Uint8Array(20);
  const repr = { dst: parseMac('33:33:00:00:00:01')!, src: parseMac('02:00:00:00:00:02')!, ethertype: EtherType.IPV4 };
  assert.equal(emitEthernet(repr, buf), ETHERNET_HEADER_LEN);
  const back = parseEthernet(buf);
  assert.ok(typeof back !== 'string');
  assert.deepEqual(
    { dst: formatMac(back.dst), src: formatMac(back.src), ethertype: back.ethertype },
    { dst: '33:33:00:00:00:01', src: '02:00:00:00:00:02', ethertype: 0x0800 },
  );
  const p = new EthernetPacket(buf);
  p.dst = parseMac('02:00:00:00:00:03')!;
  p.src = parseMac('02:00:00:00:00:04')!;
  p.ethertype = EtherType.IPV6;
  assert.equal(formatMac(p.dst), '02:00:00:00:00:03');
  assert.equal(formatMac(p.src), '02:00:00:00:00:04');
  assert.equal(p.ethertype, 0x86dd);
  assert.equal(p.payload().length, 6);
});

test('drop reasons', () => {
  assert.equal(parseEthernet(new Uint8Array(0)), EthernetDrop.truncated);
  assert.equal(parseEthernet(ARP_FRAME.subarray(0, 13)), EthernetDrop.truncated);
  assert.equal(parseEthernet(ARP_FRAME.subarray(0, 14)) !== null, true);
  const vlan = ARP_FRAME.slice();
  vlan[12] = 0x81;
  vlan[13] = 0x00;
  assert.equal(parseEthernet(vlan), EthernetDrop.vlanUnsupported);
  vlan[12] = 0x88;
  vlan[13] = 0xa8;
  assert.equal(EthernetPacket.check(vlan), 'ethernet.vlan_unsupported');
  const llc = ARP_FRAME.slice();
  llc[12] = 0x05;
  llc[13] = 0xdc; // 1500: a length field
  assert.equal(parseEthernet(llc), EthernetDrop.notEthernetII);
  llc[13] = 0xff; // 0x05ff still a length
  assert.equal(parseEthernet(llc), EthernetDrop.notEthernetII);
  llc[12] = 0x06;
  llc[13] = 0x00; // 0x0600 is the first EtherType
  assert.equal(EthernetPacket.check(llc), null);
});

test('no throw on truncations and random bytes', () => {
  const r = new SeededRandom(10);
  const all = (b: Uint8Array): void => {
    const x = parseEthernet(b);
    if (typeof x !== 'string') new EthernetPacket(b).payload();
  };
  for (const f of [ARP_FRAME, V6_FRAME]) for (let n = 0; n <= f.length; n++) all(f.slice(0, n));
  for (let i = 0; i < 3000; i++) {
    const b = new Uint8Array(r.u32() % 64);
    r.fill(b);
    all(b);
  }
});
