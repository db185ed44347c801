/**
 * One-flow TCP throughput between two Stacks in this process over a MemoryLink pair: MTU 1500,
 * MTU 1500 with offloads (TSO super-segments delivered whole, like a veth pair with TSO and
 * GRO), and MTU 65535. No device, no root.
 *
 *   node dist/bench/mem-tput.js [--seconds N]
 *
 * Prints one JSON line per case (Gbit/s of payload delivered to the receiving application, and
 * the process CPU share meanwhile).
 */
import { MemoryLink } from '../src/link/memory.js';
import type { LinkOffloads } from '../src/link/link.js';
import { Stack } from '../src/stack.js';
import { NodeDriver } from '../src/node/driver.js';
import { nodeClock, cryptoRandom } from '../src/node/runtime.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TSO: LinkOffloads = Object.freeze({ txCsum: true, tso4: true, tso6: true, maxGsoBytes: 65535 });

async function run(mtu: number, offloads: LinkOffloads | undefined, seconds: number): Promise<{ gbps: number; cpu: number }> {
  // Delivered by a setImmediate loop, one batch per end per turn, like device wake-ups (auto
  // delivery chains microtasks between the two stacks and starves timers).
  const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu, queueLimit: 100_000, offloads });
  const a = new Stack({ clock: nodeClock, random: cryptoRandom, tcp: { sendBufferSize: 4 << 20, receiveBufferSize: 4 << 20 } });
  const b = new Stack({ clock: nodeClock, random: cryptoRandom, tcp: { sendBufferSize: 4 << 20, receiveBufferSize: 4 << 20 } });
  a.addInterface(la, { addresses: ['10.0.0.1/24'] });
  b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
  const da = new NodeDriver(a);
  const db = new NodeDriver(b);
  da.start();
  db.start();
  let received = 0;
  b.tcp.listen({ family: 4, port: 9 }, (s) => {
    s.onData = (d) => {
      received += d.length;
    };
  });
  const c = a.tcp.connect({ family: 4, remoteAddress: '10.0.0.2', remotePort: 9 });
  const chunk = new Uint8Array(256 * 1024).fill(0x5a);
  let running = true;
  const pump = (): void => {
    while (running && c.write(chunk) === chunk.length);
  };
  c.onConnect = pump;
  c.onDrain = pump;
  let wire = true;
  const loop = (): void => {
    la.deliver();
    lb.deliver();
    if (wire) setImmediate(loop);
  };
  setImmediate(loop);
  await sleep(500);
  const r0 = received;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await sleep(seconds * 1000);
  const ms = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const gbps = ((received - r0) * 8) / (ms / 1000) / 1e9;
  running = false;
  wire = false;
  c.abort();
  da.stop();
  db.stop();
  a.close();
  b.close();
  return { gbps, cpu: (cu.user + cu.system) / 1000 / ms };
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--seconds');
  const seconds = i < 0 ? 3 : Number(process.argv[i + 1]);
  for (const [label, mtu, off] of [
    ['mtu 1500', 1500, undefined],
    ['mtu 1500 + TSO/GRO', 1500, TSO],
    ['mtu 65535', 65535, undefined],
  ] as const) {
    const r = await run(mtu, off, seconds);
    console.log(JSON.stringify({ case: label, gbps: Number(r.gbps.toFixed(3)), cpu: Number(r.cpu.toFixed(2)) }));
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
