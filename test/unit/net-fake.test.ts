/** src/api/net.ts over the in-memory fake core (test/unit/net-fake-tcp.ts). */
import { netSuite } from './net-suite.js';
import { fakeStack } from './net-fake-tcp.js';

netSuite(
  'net API over a fake TCP core',
  () => {
    const stack = fakeStack({ sendCap: 256 * 1024, recvCap: 256 * 1024, chunk: 32 * 1024 });
    return {
      server: stack,
      client: stack,
      server4: '10.0.0.2',
      server6: 'fd00::2',
      unreachable: '10.9.9.9', // the fake core answers EHOSTUNREACH for it
      client4: stack.tcp.local4,
      client6: stack.tcp.local6,
      close: () => undefined,
    };
  },
  { bigBytes: 20 * 1024 * 1024 },
);
