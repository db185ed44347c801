#!/usr/bin/env node
/**
 * The JavaScript cost of the UDP echo and ping paths without a device: a fake TUN link feeds
 * batches of prebuilt IPv4/IPv6 UDP datagrams (or ICMP echo requests) to a Stack with the same
 * dgram echo service as `netstack host`, and counts what it sends back. Prints packets/s of pure
 * JS work (no syscalls). Run with `node --cpu-prof` to profile.
 *
 *   node scripts/profile-udp-inproc.mjs [--seconds S] [--size BYTES] [--v6] [--ping] [--batch N]
 */
import { Stack } from '../dist/src/stack.js';
import { createSocket } from '../dist/src/api/dgram.js';
import { NodeDriver } from '../dist/src/node/driver.js';
import { nodeClock, cryptoRandom } from '../dist/src/node/runtime.js';
import { emitIpv4 } from '../dist/src/wire/ipv4.js';
import { emitIpv6 } from '../dist/src/wire/ipv6.js';
import { emitUdp } from '../dist/src/wire/udp.js';
import { emitIcmpv4, icmpv4Length } from '../dist/src/wire/icmpv4.js';
import { emitIcmpv6, icmpv6Length } from '../dist/src/wire/icmpv6.js';
import { pseudoHeaderSumV4, pseudoHeaderSumV6 } from '../dist/src/wire/checksum.js';
import { parseIpv4, parseIpv6 } from '../dist/src/wire/address.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const seconds = Number(arg('--seconds', '3'));
const size = Number(arg('--size', '64'));
const batchSize = Number(arg('--batch', '32'));
const v6 = process.argv.includes('--v6');
const ping = process.argv.includes('--ping');

class FakeTun {
  kind = 'ip';
  mtu = 1500;
  mac = undefined;
  sent = 0;
  tx = new Uint8Array(1 << 20);
  txUsed = 0;
  receiver;
  attach(r) {
    this.receiver = r;
  }
  send(frame) {
    // What TunLink does: copy into a transmit buffer.
    if (this.txUsed + frame.length > this.tx.length) this.txUsed = 0;
    this.tx.set(frame, this.txUsed);
    this.txUsed += frame.length;
    this.sent++;
  }
  close() {
    return Promise.resolve();
  }
}

const link = new FakeTun();
const stack = new Stack({ clock: nodeClock, random: cryptoRandom });
const driver = new NodeDriver(stack);
stack.addInterface(link, { name: 'tun0', addresses: ['10.0.0.2/24', 'fd00::2/64', 'fe80::2/64'] });
driver.start();
for (const type of ['udp4', 'udp6']) {
  const sock = createSocket(stack, type);
  sock.on('message', (msg, rinfo) => {
    sock.send(msg, rinfo.port, rinfo.address, (err) => {
      if (err) stack.counters.inc('cli.udp_echo.send_error');
    });
  });
  sock.bind(8000);
}

function build(i) {
  const payload = new Uint8Array(ping ? size : size);
  for (let k = 0; k < payload.length; k++) payload[k] = (k * 7 + i) & 0xff;
  if (!v6) {
    const src = parseIpv4('10.0.0.1');
    const dst = parseIpv4('10.0.0.2');
    let l4;
    if (ping) {
      const repr = { kind: 'echoRequest', ident: 77, seq: i, data: payload };
      l4 = new Uint8Array(icmpv4Length(repr));
      emitIcmpv4(repr, l4);
    } else {
      l4 = new Uint8Array(8 + size);
      l4.set(payload, 8);
      emitUdp({ srcPort: 40000 + (i % 4), dstPort: 8000 }, l4, pseudoHeaderSumV4(src, dst, 17, l4.length));
    }
    const pkt = new Uint8Array(20 + l4.length);
    emitIpv4({ src, dst, protocol: ping ? 1 : 17, ttl: 64, payloadLength: l4.length, dontFrag: true }, pkt);
    pkt.set(l4, 20);
    return pkt;
  }
  const src = parseIpv6('fd00::1');
  const dst = parseIpv6('fd00::2');
  let l4;
  if (ping) {
    const repr = { kind: 'echoRequest', ident: 77, seq: i, data: payload };
    l4 = new Uint8Array(icmpv6Length(repr));
    emitIcmpv6(repr, l4, pseudoHeaderSumV6(src, dst, 58, l4.length));
  } else {
    l4 = new Uint8Array(8 + size);
    l4.set(payload, 8);
    emitUdp({ srcPort: 40000 + (i % 4), dstPort: 8000 }, l4, pseudoHeaderSumV6(src, dst, 17, l4.length));
  }
  const pkt = new Uint8Array(40 + l4.length);
  emitIpv6({ src, dst, nextHeader: ping ? 58 : 17, hopLimit: 64, payloadLength: l4.length }, pkt);
  pkt.set(l4, 40);
  return pkt;
}

// One slot buffer like TunLink's: frames are views into it.
const slot = 2048;
const rx = new Uint8Array(slot * batchSize);
const frames = [];
for (let i = 0; i < batchSize; i++) {
  const p = build(i);
  rx.set(p, i * slot);
  frames.push(i);
}
const lengths = frames.map((i) => build(i).length);

function batch() {
  // Like TunLink.deliver: a view per frame, then flush.
  for (let i = 0; i < batchSize; i++) link.receiver.receive(new Uint8Array(rx.buffer, i * slot, lengths[i]));
  link.receiver.flush();
}

/** Runs batches for `ms` milliseconds, each batch group in its own macrotask as device wake-ups. */
function runFor(ms) {
  return new Promise((resolve) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let n = 0;
    const step = () => {
      for (let k = 0; k < 8; k++) {
        batch();
        n += batchSize;
      }
      if (performance.now() < t0 + ms) setImmediate(step);
      else {
        const cpu = process.cpuUsage(cpu0);
        resolve({ n, wall: performance.now() - t0, cpuNs: (cpu.user + cpu.system) * 1000 });
      }
    };
    step();
  });
}
// Warm-up (JIT), then trials: the minimum CPU time per packet is the least disturbed by other
// work on the machine.
await runFor(500);
const trials = [];
for (let t = 0; t < 5; t++) trials.push(await runFor((seconds * 1000) / 5));
const n = trials.reduce((a, t) => a + t.n, 0);
const perPkt = trials.map((t) => t.cpuNs / t.n).sort((a, b) => a - b);
const wallPer = trials.map((t) => (t.wall * 1e6) / t.n).sort((a, b) => a - b);
driver.stop();
stack.close();
process.stdout.write(
  JSON.stringify({
    mode: ping ? 'ping' : 'udp',
    v6,
    size,
    batch: batchSize,
    packets: n,
    cpu_ns_per_packet_min: Math.round(perPkt[0]),
    cpu_ns_per_packet_median: Math.round(perPkt[2]),
    wall_ns_per_packet_min: Math.round(wallPer[0]),
  }) + '\n',
);
if (link.sent < n * 0.99) process.stdout.write(`warning: only ${link.sent} of ${n} answered; drops: ${JSON.stringify(stack.counters.drops())}\n`);
