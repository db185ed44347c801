/**
 * src/api/net.ts over the real TCP: two Stacks (client A 10.0.0.1 / fd00::1, server B
 * 10.0.0.2 / fd00::2) on a MemoryLink pair with automatic delivery, each run by a NodeDriver on
 * the real clock (the suite uses short real-time timeouts).
 */
import { netSuite, type NetEnv } from './net-suite.js';
import type { NetStack } from '../../src/api/net.js';
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/link/memory.js';
import { NodeDriver } from '../../src/node/driver.js';
import { nodeClock, cryptoRandom } from '../../src/node/runtime.js';

function makeEnv(): NetEnv {
  const [la, lb] = MemoryLink.pair({ kind: 'ip', mtu: 1500, auto: true, queueLimit: 100_000 });
  const a = new Stack({ clock: nodeClock, random: cryptoRandom });
  const b = new Stack({ clock: nodeClock, random: cryptoRandom });
  a.addInterface(la, { name: 'mem0', addresses: ['10.0.0.1/24', 'fd00::1/64'] });
  b.addInterface(lb, { name: 'mem0', addresses: ['10.0.0.2/24', 'fd00::2/64'] });
  const da = new NodeDriver(a);
  const db = new NodeDriver(b);
  da.start();
  db.start();
  // A Stack is a NetStack as it is (compile-time check of the structural contract).
  const client: NetStack = a;
  const server: NetStack = b;
  return {
    client,
    server,
    client4: '10.0.0.1',
    client6: 'fd00::1',
    server4: '10.0.0.2',
    server6: 'fd00::2',
    unreachable: '192.168.5.5', // no route (no gateway configured)
    close() {
      a.close();
      b.close();
      da.stop();
      db.stop();
    },
  };
}

netSuite('net API over two real stacks on a MemoryLink', makeEnv, { bigBytes: 20 * 1024 * 1024 });
