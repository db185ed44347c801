/**
 * One shard of `netstack host --shards N`, run in a worker thread (see src/node/shards.ts for
 * how flows reach it): it attaches one queue of the multi-queue TUN device the main thread
 * created, runs a full Stack on it with the host's addresses, and the same services as
 * `netstack host` (UDP echo, TCP echo/discard/chargen, HTTP), then serves counter requests and
 * a stop request from the main thread.
 */
import { workerData } from 'node:worker_threads';
import { openShardQueue, shardChannel, type ShardStats } from '../node/shards.js';
import { nodeClock, cryptoRandom } from '../node/runtime.js';
import { NodeDriver } from '../node/driver.js';
import { Stack } from '../stack.js';
import { createSocket, type Socket } from '../api/dgram.js';
import type { Link } from '../link/link.js';
import type { TunLink } from '../node/tun.js';
import type { ImpairSpec } from './args.js';
import { ImpairedLink } from './host.js';
import { startTcpServices, type TcpServices } from './services.js';
import { flatten } from './table.js';

/** What the main thread (src/cli/sharded-host.ts) gives each shard. */
export interface ShardWorkerData {
  index: number;
  count: number;
  /** The multi-queue TUN device (it exists and is configured). */
  dev: string;
  netns: string | undefined;
  /** The stack's MTU. */
  mtu: number;
  /** The stack's addresses, as CIDR text. */
  addresses: string[];
  udpEcho: number;
  tcpServices: boolean;
  httpPort: number;
  impair: ImpairSpec | undefined;
}

const data = workerData as ShardWorkerData;
const channel = shardChannel();

function log(msg: string): void {
  process.stderr.write(`netstack: shard ${data.index}: ${msg}\n`);
}

function numbers(values: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(values)) if (typeof v === 'number') out[k] = v;
  return out;
}

/** The UDP echo service of `netstack host` (as in host.ts), on both families. */
async function startUdpEcho(stack: Stack, port: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (const type of ['udp4', 'udp6'] as const) {
    const sock = createSocket(stack, type);
    sock.on('message', (msg, rinfo) => {
      sock.send(msg, rinfo.port, rinfo.address, (err: Error | null) => {
        if (err) stack.counters.inc('cli.udp_echo.send_error');
      });
    });
    sockets.push(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.on('error', (err: Error) => log(`udp echo (${type}): ${err.message}`));
  }
  return sockets;
}

async function main(): Promise<void> {
  let tun: TunLink | undefined;
  let stack: Stack | undefined;
  let driver: NodeDriver | undefined;
  let impaired: ImpairedLink | undefined;
  let link: Link | undefined;
  let sockets: Socket[] = [];
  let services: TcpServices | undefined;

  const stats = (): ShardStats => {
    const s: ShardStats = { stack: stack?.counters.snapshot() ?? {}, link: tun ? numbers(flatten(tun.stats)) : {} };
    if (impaired) s.extra = { impair: { ...impaired.stats } };
    return s;
  };
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const sock of sockets) await new Promise<void>((resolve) => sock.close(() => resolve()));
    await services?.close();
    driver?.stop();
    await (link ?? tun)?.close().catch(() => undefined);
    stack?.close();
  };

  try {
    tun = openShardQueue({ name: data.dev, netns: data.netns });
    // Each shard impairs its own flows, with its own seed.
    link = data.impair ? (impaired = new ImpairedLink(tun, { ...data.impair, seed: data.impair.seed + data.index })) : tun;
    stack = new Stack({ clock: nodeClock, random: cryptoRandom });
    driver = new NodeDriver(stack);
    tun.onError = (err) => channel.fatal(`reading ${data.dev} failed: ${err.message}`);
    stack.addInterface(link, { name: data.dev, addresses: data.addresses, mtu: data.mtu });
    driver.start();
    if (data.udpEcho !== 0) sockets = await startUdpEcho(stack, data.udpEcho);
    if (data.tcpServices) services = await startTcpServices(stack, { echo: 7, discard: 9, chargen: 19, http: data.httpPort, log });
  } catch (e) {
    await close();
    channel.failed(e);
    return;
  }
  channel.ready(services ? services.fields : ['tcp-services=off'], {
    stats,
    async stop() {
      await close();
      return stats();
    },
  });
}

void main();
