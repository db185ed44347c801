/**
 * `netstack host --shards N`: the host of `netstack host` as N stack shards, one per worker
 * thread, each owning one queue of a multi-queue TUN device; the kernel spreads flows over the
 * queues by their hash (src/node/shards.ts explains how, and what that does not cover).
 *
 * The main thread creates and configures the device (or attaches with --no-configure), keeps
 * it alive with a disabled queue of its own, starts the shards, and prints the one `ready`
 * line once every shard serves (the same fields as `netstack host`, plus `shards=N`). On
 * SIGUSR1 and every --stats seconds it prints the counters summed over the shards and a short
 * section per shard. SIGINT/SIGTERM stop the shards (services, stacks, queues closed), then the
 * device is deleted if this command created it.
 */
import { configureDevice, deleteDevice, linkInfo } from '../node/tun.js';
import { openDeviceAnchor, ShardPool, sumCounters, type DeviceAnchor, type ShardStats } from '../node/shards.js';
import type { HostConfig } from './args.js';
import type { ShardWorkerData } from './shard-worker.js';
import { formatCounters, type TableSection } from './table.js';

/** How long a clean shutdown may take before we give up and exit anyway. */
const SHUTDOWN_LIMIT_MS = 8000;

/** Counters shown per shard (besides its link's packet and byte counts): where the work went. */
const PER_SHARD_KEYS = ['tcp.passive_opens', 'tcp.established', 'tcp.rx', 'tcp.tx', 'udp.rx', 'icmp.rx', 'icmp6.rx', 'drop.total'];
const PER_SHARD_LINK_KEYS = ['rxPackets', 'rxBytes', 'rxBatches', 'txPackets', 'txBytes', 'txDrops'];

function say(msg: string): void {
  process.stderr.write(`netstack: ${msg}\n`);
}

/** The counter tables: sums over the shards, then one short section per shard. */
export function formatShardStats(devName: string, upSeconds: number, all: Array<ShardStats | undefined>): string {
  const present = all.filter((s): s is ShardStats => s !== undefined);
  const missing = all.length - present.length;
  const sections: TableSection[] = [
    { title: `stack (sum of ${present.length} shards)`, values: sumCounters(present.map((s) => s.stack)) },
    { title: `link ${devName} (sum of ${present.length} queues)`, values: sumCounters(present.map((s) => s.link)) },
  ];
  const extraTitles = new Set(present.flatMap((s) => Object.keys(s.extra ?? {})));
  for (const t of extraTitles) sections.push({ title: `${t} (sum)`, values: sumCounters(present.map((s) => s.extra?.[t])) });
  all.forEach((s, i) => {
    if (s === undefined) {
      sections.push({ title: `shard ${i}`, values: { answered: 'no' } });
      return;
    }
    const values: Record<string, number> = {};
    for (const k of PER_SHARD_LINK_KEYS) values[`link.${k}`] = s.link[k] ?? 0;
    for (const k of PER_SHARD_KEYS) values[k] = s.stack[k] ?? 0;
    sections.push({ title: `shard ${i}`, values });
  });
  const note = missing > 0 ? `, ${missing} not answering` : '';
  return formatCounters(`netstack counters, dev ${devName}, ${all.length} shards${note}, up ${upSeconds.toFixed(1)} s`, sections);
}

/** Runs the sharded host until SIGINT/SIGTERM (exit status 0) or a shard's fatal error (status 1). */
export async function runShardedHost(cfg: HostConfig): Promise<number> {
  const started = Date.now();
  const existed = linkInfo(cfg.dev, cfg.netns) !== null;
  if (!cfg.configure && !existed) {
    throw new Error(
      `no device '${cfg.dev}'${cfg.netns ? ` in network namespace ${cfg.netns}` : ''} to attach to (--no-configure); ` +
        `create a multi-queue one first, e.g. sudo ip tuntap add dev ${cfg.dev} mode tun multi_queue user $USER`,
    );
  }
  const deleteOnExit = cfg.configure && !existed;
  let anchor: DeviceAnchor | undefined;
  let devName = cfg.dev;
  const cleanUpDevice = (): void => {
    anchor?.close();
    anchor = undefined;
    if (deleteOnExit) safeDelete(devName, cfg.netns);
  };

  let pool: ShardPool;
  let mtu: number;
  try {
    if (cfg.configure) {
      anchor = openDeviceAnchor({ name: cfg.dev, mtu: cfg.mtu, netns: cfg.netns });
      devName = anchor.name;
      configureDevice(devName, { up: true, mtu: cfg.mtu, addresses: [cfg.hostIp.text, cfg.hostIp6.text], netns: cfg.netns });
      // From here on only the shards' queues count for the kernel's steering.
      anchor.disable();
    }
    mtu = cfg.configure || cfg.mtuGiven ? cfg.mtu : (linkInfo(devName, cfg.netns)?.mtu ?? cfg.mtu);
    const data = (index: number): ShardWorkerData => ({
      index,
      count: cfg.shards,
      dev: devName,
      netns: cfg.netns,
      mtu,
      addresses: [cfg.ip.text, cfg.ip6.text, cfg.linkLocal.text],
      udpEcho: cfg.udpEcho,
      tcpServices: cfg.tcpServices,
      httpPort: cfg.httpPort,
      impair: cfg.impair,
    });
    pool = await ShardPool.start({ count: cfg.shards, module: new URL('./shard-worker.js', import.meta.url), data });
  } catch (e) {
    cleanUpDevice();
    throw e;
  }

  let stopWith: (reason: { signal?: NodeJS.Signals; error?: Error }) => void = () => undefined;
  const stopped = new Promise<{ signal?: NodeJS.Signals; error?: Error }>((resolve) => (stopWith = resolve));
  const onSigint = (): void => stopWith({ signal: 'SIGINT' });
  const onSigterm = (): void => stopWith({ signal: 'SIGTERM' });
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  pool.onFatal = (index, message) => stopWith({ error: new Error(`shard ${index}: ${message}`) });

  const upSeconds = (): number => (Date.now() - started) / 1000;
  let printing = false;
  const printStats = (): void => {
    if (printing) return; // one table at a time: the previous request is still out
    printing = true;
    void pool.stats().then((all) => {
      printing = false;
      process.stderr.write(formatShardStats(devName, upSeconds(), all));
    });
  };
  const statsTimer = cfg.stats > 0 ? setInterval(printStats, cfg.stats * 1000) : undefined;
  process.on('SIGUSR1', printStats);

  const fields = [
    `dev=${devName}`,
    'mode=tun',
    `ip=${cfg.ip.address}`,
    `ip6=${cfg.ip6.address}`,
    `link-local=${cfg.linkLocal.address}`,
    `udp-echo=${cfg.udpEcho === 0 ? 'off' : cfg.udpEcho}`,
    ...pool.fields(0),
    `mtu=${mtu}`,
    `shards=${cfg.shards}`,
    `pid=${process.pid}`,
  ];
  if (cfg.netns) fields.push(`netns=${cfg.netns}`);
  process.stdout.write(`ready ${fields.join(' ')}\n`);

  const reason = await stopped;

  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  const force = (): void => {
    say('second signal, exiting now');
    process.exit(1);
  };
  process.once('SIGINT', force);
  process.once('SIGTERM', force);
  const limit = setTimeout(() => {
    say(`shutdown took over ${SHUTDOWN_LIMIT_MS} ms, exiting`);
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS);
  limit.unref();

  if (reason.error) say(`${reason.error.message}; stopping`);
  if (statsTimer) clearInterval(statsTimer);
  process.off('SIGUSR1', printStats);
  await pool.stop();
  cleanUpDevice();

  clearTimeout(limit);
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  if (reason.error) throw reason.error;
  process.stdout.write('stopped\n');
  return 0;
}

/** Deletes a device we created; a non-persistent one is already gone once its last fd closed. */
function safeDelete(name: string, netns: string | undefined): void {
  try {
    if (linkInfo(name, netns) !== null) deleteDevice(name, netns);
  } catch (e) {
    say(`could not delete ${name}: ${(e as Error).message}`);
  }
}
