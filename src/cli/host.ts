/**
 * `netstack host` and `netstack udp-echo`: create (or attach to) a TUN/TAP device, configure the
 * kernel side, run a Stack on it with a UDP echo service, and report counters.
 *
 * Output contract (tests and scripts rely on it):
 * - stdout: exactly one line starting with `ready` once the host answers, e.g.
 *   `ready dev=tun0 mode=tun ip=10.0.0.2 ip6=fd00::2 link-local=fe80::2 udp-echo=8000 mtu=1500`,
 *   and after a clean stop one line `stopped`.
 * - stderr: counter tables (SIGUSR1, --stats) and diagnostics.
 */
import { openTun, configureDevice, deleteDevice, linkInfo, type TunLink } from '../node/tun.js';
import { nodeClock, cryptoRandom } from '../node/runtime.js';
import { NodeDriver } from '../node/driver.js';
import { PcapRecorder } from '../link/pcap.js';
import { PcapFileSink } from '../node/pcap-file.js';
import { Stack } from '../stack.js';
import { createSocket, type Socket } from '../api/dgram.js';
import type { Link } from '../link/link.js';
import { type HostConfig, macBytes } from './args.js';
import { flatten, formatCounters, type TableSection } from './table.js';

/** How long a clean shutdown may take before we give up and exit anyway. */
const SHUTDOWN_LIMIT_MS = 5000;

function say(msg: string): void {
  process.stderr.write(`netstack: ${msg}\n`);
}

/** Runs the host until SIGINT/SIGTERM (exit status 0) or a fatal link error (status 1). */
export async function runHost(cfg: HostConfig): Promise<number> {
  const started = Date.now();

  // Did the device exist before? Then it is not ours to delete on exit.
  const existed = linkInfo(cfg.dev, cfg.netns) !== null;
  if (!cfg.configure && !existed) {
    throw new Error(
      `no device '${cfg.dev}'${cfg.netns ? ` in network namespace ${cfg.netns}` : ''} to attach to (--no-configure); ` +
        `create one first, e.g. sudo ip tuntap add dev ${cfg.dev} mode ${cfg.tap ? 'tap' : 'tun'} user $USER`,
    );
  }
  const tun: TunLink = openTun({
    name: cfg.dev,
    tap: cfg.tap,
    // With --no-configure the kernel side is left alone, MTU included.
    mtu: cfg.configure ? cfg.mtu : undefined,
    netns: cfg.netns,
    attach: !cfg.configure,
    mac: cfg.mac === undefined ? undefined : macBytes(cfg.mac),
  });
  const devName = tun.name;
  const deleteOnExit = cfg.configure && !existed;

  let link: Link = tun;
  try {
    if (cfg.pcap !== undefined) {
      let sink: PcapFileSink;
      try {
        sink = new PcapFileSink(cfg.pcap);
      } catch (e) {
        throw new Error(`--pcap: cannot write ${cfg.pcap}: ${(e as Error).message}`);
      }
      link = new PcapRecorder(tun, sink);
    }
    if (cfg.configure) {
      configureDevice(devName, {
        up: true,
        mtu: cfg.mtu,
        addresses: [cfg.hostIp.text, cfg.hostIp6.text],
        netns: cfg.netns,
      });
    }
  } catch (e) {
    await tun.close().catch(() => undefined);
    if (deleteOnExit) safeDelete(devName, cfg.netns);
    throw e;
  }
  const mtu = cfg.configure || cfg.mtuGiven ? cfg.mtu : tun.mtu;

  const stack = new Stack({ clock: nodeClock, random: cryptoRandom });
  const driver = new NodeDriver(stack);
  const sockets: Socket[] = [];

  // The host stops on a signal or when the device goes away under it.
  let stopWith: (reason: { signal?: NodeJS.Signals; error?: Error }) => void = () => undefined;
  const stopped = new Promise<{ signal?: NodeJS.Signals; error?: Error }>((resolve) => (stopWith = resolve));
  const onSigint = (): void => stopWith({ signal: 'SIGINT' });
  const onSigterm = (): void => stopWith({ signal: 'SIGTERM' });
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  tun.onError = (err) => stopWith({ error: new Error(`reading ${devName} failed: ${err.message}`) });

  try {
    stack.addInterface(link, {
      name: devName,
      addresses: [cfg.ip.text, cfg.ip6.text, cfg.linkLocal.text],
      mtu,
    });
    driver.start();

    if (cfg.udpEcho !== 0) {
      for (const type of ['udp4', 'udp6'] as const) {
        const sock = createSocket(stack, type);
        sock.on('message', (msg, rinfo) => {
          sock.send(msg, rinfo.port, rinfo.address, (err: Error | null) => {
            if (err) stack.counters.inc('cli.udp_echo.send_error');
          });
        });
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(cfg.udpEcho, () => {
            sock.off('error', reject);
            resolve();
          });
        });
        sock.on('error', (err: Error) => say(`udp echo (${type}): ${err.message}`));
        sockets.push(sock);
      }
    }
  } catch (e) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    driver.stop();
    await link.close().catch(() => undefined);
    stack.close();
    if (deleteOnExit) safeDelete(devName, cfg.netns);
    throw e;
  }

  const printStats = (): void => {
    const sections: TableSection[] = [
      { title: 'stack', values: stack.counters.snapshot() },
      { title: `link ${devName}`, values: flatten(tun.stats) },
    ];
    if (link instanceof PcapRecorder) sections.push({ title: 'pcap', values: { records: link.records } });
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(formatCounters(`netstack counters, dev ${devName}, up ${secs} s`, sections));
  };
  const statsTimer = cfg.stats > 0 ? setInterval(printStats, cfg.stats * 1000) : undefined;
  process.on('SIGUSR1', printStats);

  const fields = [
    `dev=${devName}`,
    `mode=${cfg.tap ? 'tap' : 'tun'}`,
    `ip=${cfg.ip.address}`,
    `ip6=${cfg.ip6.address}`,
    `link-local=${cfg.linkLocal.address}`,
    `udp-echo=${cfg.udpEcho === 0 ? 'off' : cfg.udpEcho}`,
    `mtu=${mtu}`,
    `pid=${process.pid}`,
  ];
  if (cfg.tap) fields.push(`mac=${cfg.mac}`);
  if (cfg.netns) fields.push(`netns=${cfg.netns}`);
  if (cfg.pcap) fields.push(`pcap=${cfg.pcap}`);
  process.stdout.write(`ready ${fields.join(' ')}\n`);

  const reason = await stopped;

  // Shutting down. A second signal, or a shutdown that hangs, forces the exit.
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
  for (const s of sockets) await new Promise<void>((resolve) => s.close(() => resolve()));
  driver.stop();
  // The pcap recorder flushes and closes its file, then closes the device's link.
  await link.close();
  stack.close();
  if (deleteOnExit) safeDelete(devName, cfg.netns);

  clearTimeout(limit);
  process.off('SIGINT', force);
  process.off('SIGTERM', force);
  if (reason.error) throw reason.error;
  process.stdout.write('stopped\n');
  return 0;
}

/** Deletes a device we created; a non-persistent one is already gone once its fd closed. */
function safeDelete(name: string, netns: string | undefined): void {
  try {
    if (linkInfo(name, netns) !== null) deleteDevice(name, netns);
  } catch (e) {
    say(`could not delete ${name}: ${(e as Error).message}`);
  }
}
