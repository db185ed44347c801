#!/usr/bin/env node
/**
 * TCP throughput between two stacks in one process over an in-memory link (MemoryLink.pair),
 * real clock: the CPU cost of the TCP send and receive paths without any device. Prints Gbit/s.
 * Run with `node --cpu-prof` to profile.
 *
 *   node scripts/profile-tcp-mem.mjs [--mib N] [--mtu 1500] [--seconds LIMIT] [--v6]
 */
import { Stack } from '../dist/src/stack.js';
import { MemoryLink } from '../dist/src/link/memory.js';
import { nodeClock, cryptoRandom } from '../dist/src/node/runtime.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const total = Number(arg('--mib', '1024')) * 1024 * 1024;
const mtu = Number(arg('--mtu', '1500'));
const limitS = Number(arg('--seconds', '60'));
const v6 = process.argv.includes('--v6');

const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu, queueLimit: 1_000_000 });
const a = new Stack({ clock: nodeClock, random: cryptoRandom });
const b = new Stack({ clock: nodeClock, random: cryptoRandom });
a.addInterface(la, { addresses: ['10.0.0.1/24', 'fd00::1/64'] });
b.addInterface(lb, { addresses: ['10.0.0.2/24', 'fd00::2/64'] });

let received = 0;
let check = 0;
b.tcp.listen({ family: v6 ? 6 : 4, port: 5001 }, (s) => {
  s.onData = (d) => {
    received += d.length;
    check = (check + d[0] + d[d.length - 1]) | 0;
  };
});
const chunk = new Uint8Array(64 * 1024);
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 31) & 0xff;
const c = a.tcp.connect({ family: v6 ? 6 : 4, remoteAddress: v6 ? 'fd00::2' : '10.0.0.2', remotePort: 5001 });
let written = 0;
const fill = () => {
  while (written < total) {
    const k = c.write(written + chunk.length <= total ? chunk : chunk.subarray(0, total - written));
    written += k;
    if (k === 0) return;
  }
};
c.onConnect = fill;
c.onDrain = fill;

const cpu0 = process.cpuUsage();
const start = performance.now();
const deadline = start + limitS * 1000;
let rounds = 0;
let frames = 0;
while (received < total) {
  const n = la.deliver() + lb.deliver();
  frames += n;
  a.poll();
  b.poll();
  rounds++;
  if ((rounds & 255) === 0 && performance.now() > deadline) break;
  if (n === 0) {
    // Nothing in flight: wait for a timer (should not happen in a clean run).
    const d = Math.min(a.nextDeadline() ?? Infinity, b.nextDeadline() ?? Infinity);
    if (d === Infinity) break;
    while (nodeClock.now() < d) {}
  }
}
const el = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuS = (cpu.user + cpu.system) / 1e6;
const info = c.info();
process.stdout.write(
  JSON.stringify({
    mtu,
    v6,
    mib: Math.round(received / 1048576),
    seconds: Number(el.toFixed(3)),
    gbps: Number(((received * 8) / el / 1e9).toFixed(3)),
    /** Throughput per CPU-second (less disturbed by other work on the machine than wall time). */
    gbpsPerCpu: Number(((received * 8) / cpuS / 1e9).toFixed(3)),
    frames,
    rounds,
    framesPerRound: Number((frames / rounds).toFixed(1)),
    retransmits: info.retransmits ?? info.totalRetrans,
    complete: received >= total,
    senderCounters: Object.fromEntries(Object.entries(a.counters.snapshot()).filter(([k]) => /rto|tlp|rack|fast_retr|retrans|dsack|undo|drop/.test(k))),
  }) + '\n',
);
a.close();
b.close();
