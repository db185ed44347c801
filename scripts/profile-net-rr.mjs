#!/usr/bin/env node
/**
 * Request/response over the net.Socket adapter (src/api/net.ts) between two stacks in one
 * process over an in-memory link: a client writes a small request, the server answers, the
 * client waits for the whole answer, N times on one connection (like HTTP keep-alive without
 * the HTTP parser). Prints round trips per second and CPU time per round trip. Run with
 * `node --cpu-prof` to profile.
 *
 *   node scripts/profile-net-rr.mjs [--count N] [--req BYTES] [--resp BYTES]
 */
import { Stack } from '../dist/src/stack.js';
import { MemoryLink } from '../dist/src/link/memory.js';
import { NodeDriver } from '../dist/src/node/driver.js';
import { nodeClock, cryptoRandom } from '../dist/src/node/runtime.js';
import { createServer, createConnection } from '../dist/src/api/net.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const count = arg('--count', 20000);
const reqSize = arg('--req', 100);
const respSize = arg('--resp', 1000);

const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu: 1500, auto: true, queueLimit: 100000 });
const a = new Stack({ clock: nodeClock, random: cryptoRandom });
const b = new Stack({ clock: nodeClock, random: cryptoRandom });
a.addInterface(la, { addresses: ['10.0.0.1/24'] });
b.addInterface(lb, { addresses: ['10.0.0.2/24'] });
const da = new NodeDriver(a);
const db = new NodeDriver(b);
da.start();
db.start();

const resp = Buffer.alloc(respSize, 0x61);
const server = createServer(b, (s) => {
  let got = 0;
  s.on('data', (d) => {
    got += d.length;
    while (got >= reqSize) {
      got -= reqSize;
      s.write(resp);
    }
  });
});
await new Promise((resolve) => server.listen(8080, resolve));
const sock = createConnection(a, 8080, '10.0.0.2');
await new Promise((resolve) => sock.once('connect', resolve));
sock.setNoDelay(true);
const req = Buffer.alloc(reqSize, 0x62);
let done = 0;
let have = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((resolve) => {
  sock.on('data', (d) => {
    have += d.length;
    while (have >= respSize) {
      have -= respSize;
      done++;
      if (done === count) return resolve();
      sock.write(req);
    }
  });
  sock.write(req);
});
const el = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  JSON.stringify({ count, req: reqSize, resp: respSize, perSecond: Math.round((count * 1000) / el), cpuUsPerRoundTrip: Number(((cpu.user + cpu.system) / count).toFixed(2)) }) + '\n',
);
sock.destroy();
server.close();
da.stop();
db.stop();
a.close();
b.close();
