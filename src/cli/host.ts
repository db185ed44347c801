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
import { Stack, type StackOptions } from '../stack.js';
import { createSocket, type Socket } from '../api/dgram.js';
import type { Link, LinkKind, LinkReceiver } from '../link/link.js';
import { type DeviceOptions, type HostConfig, type ImpairSpec, macBytes } from './args.js';
import { startTcpServices, type TcpServices } from './services.js';
import { flatten, formatCounters, type TableSection } from './table.js';
import { formatLimits, processLine, socketsLine, stackLimitRows } from './limits.js';
import { readdirSync } from 'node:fs';

/**
 * How long a clean shutdown may take beyond the grace period (closing the link, flushing the
 * pcap, deleting the device) before we give up and exit anyway.
 */
const SHUTDOWN_LIMIT_MS = 5000;
/** How often the grace period checks whether every connection has closed. */
const SHUTDOWN_POLL_MS = 10;

export function say(msg: string): void {
  process.stderr.write(`netstack: ${msg}\n`);
}

/** A device with a running stack on it: what `setUpDevice` returns. */
export interface Device {
  readonly tun: TunLink;
  /** The link the stack uses: the device, or a pcap recorder over it. */
  readonly link: Link;
  readonly stack: Stack;
  readonly driver: NodeDriver;
  readonly devName: string;
  /** The stack's MTU on the device. */
  readonly mtu: number;
  /** Called once if reading the device fails (for example it was deleted). */
  onError: (err: Error) => void;
  /** The counter tables (stack, link, pcap), the limits table, sockets and memory, as printed on SIGUSR1 and --stats. */
  formatStats(): string;
  /** Stops the driver, closes the link (flushing the pcap) and the stack, deletes a device we created. */
  close(): Promise<void>;
}

/**
 * Creates (or, with --no-configure, attaches to) the device, configures the kernel side, and
 * runs a Stack on it with the device's addresses and a NodeDriver. Shared by every command that
 * uses a device (host, udp-echo, download, upload). On failure nothing is left behind.
 */
export async function setUpDevice(cfg: DeviceOptions, stackOptions: Partial<StackOptions> = {}): Promise<Device> {
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
    // --offload: super-packets and partial checksums both ways (reset when the link closes).
    ...(cfg.offload ? { vnetHdr: true, offloads: { csum: true, tso4: true, tso6: true, tsoEcn: true } } : {}),
  });
  const devName = tun.name;
  const deleteOnExit = cfg.configure && !existed;

  let link: Link = tun;
  let impaired: ImpairedLink | undefined;
  try {
    // Impairment sits between the device and the pcap recorder: the capture shows what the
    // stack sent and what it actually received.
    if (cfg.impair !== undefined) link = impaired = new ImpairedLink(link, cfg.impair);
    if (cfg.pcap !== undefined) {
      let sink: PcapFileSink;
      try {
        sink = new PcapFileSink(cfg.pcap);
      } catch (e) {
        throw new Error(`--pcap: cannot write ${cfg.pcap}: ${(e as Error).message}`);
      }
      link = new PcapRecorder(link, sink);
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

  const stack = new Stack({ clock: nodeClock, random: cryptoRandom, ...stackOptions });
  const driver = new NodeDriver(stack);
  let closed = false;
  const device: Device = {
    tun,
    link,
    stack,
    driver,
    devName,
    mtu,
    onError: () => undefined,
    formatStats() {
      const sections: TableSection[] = [
        { title: 'stack', values: stack.counters.snapshot() },
        // Gauges: fragment reassembly memory now, its high-water mark, and the bound.
        { title: 'reassembly', values: { bytes: stack.reassembly.used, peak: stack.reassembly.peak, limit: stack.reassembly.max } },
        { title: `link ${devName}`, values: flatten(tun.stats) },
      ];
      if (link instanceof PcapRecorder) sections.push({ title: 'pcap', values: { records: link.records } });
      if (impaired) sections.push({ title: 'impair', values: { ...impaired.stats } });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const m = process.memoryUsage();
      return (
        formatCounters(`netstack counters, dev ${devName}, up ${secs} s`, sections) +
        formatLimits(stackLimitRows(stack)) +
        socketsLine(stack) +
        processLine({ heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss, external: m.external, fds: openFds() })
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      driver.stop();
      // The pcap recorder flushes and closes its file, then closes the device's link.
      await link.close().catch(() => undefined);
      stack.close();
      if (deleteOnExit) safeDelete(devName, cfg.netns);
    },
  };
  tun.onError = (err) => device.onError(err);
  try {
    stack.addInterface(link, {
      name: devName,
      addresses: [cfg.ip.text, cfg.ip6.text, cfg.linkLocal.text],
      mtu,
    });
    driver.start();
  } catch (e) {
    await device.close();
    throw e;
  }
  return device;
}

/** Runs the host until SIGINT/SIGTERM (exit status 0) or a fatal link error (status 1). */
export async function runHost(cfg: HostConfig): Promise<number> {
  if (cfg.shards > 0) return (await import('./sharded-host.js')).runShardedHost(cfg);
  const device = await setUpDevice(cfg);
  const { stack, devName, mtu } = device;
  const sockets: Socket[] = [];
  let services: TcpServices | undefined;

  // The host stops on a signal or when the device goes away under it.
  let stopWith: (reason: { signal?: NodeJS.Signals; error?: Error }) => void = () => undefined;
  const stopped = new Promise<{ signal?: NodeJS.Signals; error?: Error }>((resolve) => (stopWith = resolve));
  const onSigint = (): void => stopWith({ signal: 'SIGINT' });
  const onSigterm = (): void => stopWith({ signal: 'SIGTERM' });
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigterm);
  device.onError = (err) => stopWith({ error: new Error(`reading ${devName} failed: ${err.message}`) });

  try {
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
    if (cfg.tcpServices) {
      services = await startTcpServices(stack, { echo: 7, discard: 9, chargen: 19, http: cfg.httpPort, log: say });
    }
  } catch (e) {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    for (const s of sockets) s.close();
    await services?.close();
    await device.close();
    throw e;
  }

  const printStats = (): void => {
    process.stderr.write(device.formatStats());
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
    ...(cfg.command === 'host' ? (services ? services.fields : ['tcp-services=off']) : []),
    `mtu=${mtu}`,
    `pid=${process.pid}`,
  ];
  if (cfg.tap) fields.push(`mac=${cfg.mac}`);
  if (cfg.netns) fields.push(`netns=${cfg.netns}`);
  if (cfg.pcap) fields.push(`pcap=${cfg.pcap}`);
  if (cfg.offload) fields.push('offload=on');
  process.stdout.write(`ready ${fields.join(' ')}\n`);

  const reason = await stopped;
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  if (statsTimer) clearInterval(statsTimer);
  if (reason.error) say(`${reason.error.message}; stopping`);

  // Shutting down. A second signal cuts the grace period short (every connection left is reset
  // at once); a third, or a shutdown that hangs, exits at once.
  const graceMs = reason.error ? 0 : Math.round(cfg.shutdownGrace * 1000);
  let endGrace: () => void = () => undefined;
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals === 1) {
      say('second signal: resetting the connections left now');
      endGrace();
    } else {
      say('third signal, exiting now');
      process.exit(1);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const limit = setTimeout(() => {
    say(`shutdown took over ${graceMs + SHUTDOWN_LIMIT_MS} ms, exiting`);
    process.exit(1);
  }, graceMs + SHUTDOWN_LIMIT_MS);
  limit.unref();

  const { open, reset, seconds } = await drainConnections(stack, services, graceMs, (end) => (endGrace = end));
  for (const s of sockets) await new Promise<void>((resolve) => s.close(() => resolve()));
  if (open > 0) {
    say(
      reset === 0
        ? `shutdown: ${open} connection${open === 1 ? '' : 's'} closed in ${seconds.toFixed(2)} s`
        : `shutdown: ${open - reset} of ${open} connection${open === 1 ? '' : 's'} closed, ${reset} reset after ${seconds.toFixed(2)} s`,
    );
  }
  for (const line of services?.summary() ?? []) say(line);
  // SIGUSR1 printed the tables during the grace too (and without a listener Node would take it
  // as the signal to start its inspector).
  process.off('SIGUSR1', printStats);
  await device.close();

  clearTimeout(limit);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (reason.error) throw reason.error;
  process.stdout.write('stopped\n');
  return 0;
}

/** Connections that still need closing: every one but TIME-WAIT (whose close is done). */
function liveConnections(stack: Stack): number {
  const u = stack.tcp.usage();
  return u.connections - (u.byState['TIME-WAIT'] ?? 0);
}

/**
 * The TCP part of a clean stop: listeners closed (new SYNs get a RST), a FIN on every
 * connection (services.shutdown()), then up to `graceMs` for the peers to close their side;
 * whatever is left then (or when `onEnd`'s function is called: a second signal) is reset.
 * The stack keeps running meanwhile (ACKs, retransmissions, the peers' FINs). Returns how many
 * connections were open at the start, how many were reset, and how long it took.
 */
async function drainConnections(
  stack: Stack,
  services: TcpServices | undefined,
  graceMs: number,
  onEnd: (end: () => void) => void,
): Promise<{ open: number; reset: number; seconds: number }> {
  const t0 = Date.now();
  const open = liveConnections(stack);
  services?.shutdown();
  if (graceMs > 0 && liveConnections(stack) > 0) {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearInterval(poll);
        clearTimeout(timer);
        resolve();
      };
      const poll = setInterval(() => {
        if (liveConnections(stack) === 0) done();
      }, SHUTDOWN_POLL_MS);
      const timer = setTimeout(done, graceMs);
      onEnd(done);
    });
  }
  const left = liveConnections(stack);
  // Reset through the API sockets first (they see it as a normal destroy), then whatever the
  // API already let go of (e.g. FIN-WAIT-2 after an HTTP close) in the core; TIME-WAIT is just
  // forgotten. Data TCP acknowledged has been handed to the services already: the core delivers
  // in-order data at the end of the batch that carried it, and the services keep reading.
  services?.reset();
  stack.tcp.close();
  // Let the stack deliver the resulting events (onClose) before the link goes away.
  await new Promise((r) => setTimeout(r, SHUTDOWN_POLL_MS));
  return { open, reset: left, seconds: (Date.now() - t0) / 1000 };
}

/** Open file descriptors of this process (Linux /proc), or undefined. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/** Deletes a device we created; a non-persistent one is already gone once its fd closed. */
function safeDelete(name: string, netns: string | undefined): void {
  try {
    if (linkInfo(name, netns) !== null) deleteDevice(name, netns);
  } catch (e) {
    say(`could not delete ${name}: ${(e as Error).message}`);
  }
}

/**
 * A link wrapper that emulates a bad path in both directions (--impair; a stand-in for
 * `tc netem` where the kernel has no netem qdisc). Each frame, independently: lost with
 * probability `loss`; otherwise delivered twice with probability `duplicate`; held `delayMs`,
 * and the `reorder` share held an extra uniform [0.5, 2·delayMs] ms, so later frames overtake
 * it — the simulator's reordering model (src/sim/network.ts, extraDelayMs as src/sim/tcp-case.ts
 * sets it), so the two exercise the same path.
 *
 * Not netem's "reorder" (the share skips the delay and goes through at once): over a TUN device
 * there is no propagation delay besides the emulated one, so frames that skip it in both
 * directions measure the bare host round trip (10–100 µs). That becomes RACK's min_RTT, while
 * the reordering extent is the whole delay, 50–500 times larger; RFC 8985 §6.2 step 4 bounds
 * the reordering window by reo_wnd_mult·min_RTT/4 (Linux: at most 255 steps,
 * tcp_rack_update_reo_wnd()), so any RACK sender, Linux's included, marks most overtaken
 * segments lost. No physical path delivers some frames 500 times faster than its minimum delay.
 *
 * Held frames are copies, delivered in order of their due time by one timer per direction
 * (received ones as a batch followed by a flush). Random choices come from a seeded generator
 * (xorshift32).
 */
export class ImpairedLink implements Link {
  readonly stats = { rxLost: 0, rxDuplicated: 0, rxReordered: 0, rxDelayed: 0, txLost: 0, txDuplicated: 0, txReordered: 0, txDelayed: 0 };
  private state: number;
  private receiver: LinkReceiver | undefined;
  // `flags`: the link's RxFlags of a received frame (offloads), kept while it is held. Sent
  // frames carry no offload requests: this link advertises no transmit offloads.
  private readonly rxQueue: Array<{ due: number; frame: Uint8Array; flags: number }> = [];
  private readonly txQueue: Array<{ due: number; frame: Uint8Array; flags: number }> = [];
  private rxTimer: NodeJS.Timeout | undefined;
  private txTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly inner: Link,
    private readonly spec: ImpairSpec,
  ) {
    this.state = (spec.seed >>> 0) || 1;
  }

  get kind(): LinkKind {
    return this.inner.kind;
  }
  get mtu(): number {
    return this.inner.mtu;
  }
  get mac(): Uint8Array | undefined {
    return this.inner.mac;
  }

  /** Uniform in [0, 1). */
  private next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 0x100000000;
  }

  private chance(p: number): boolean {
    if (p <= 0) return false;
    return this.next() < p;
  }

  /**
   * What happens to one frame: how many copies (0..2), whether it goes through at once (no
   * delay configured), and how long it is held: `delayMs`, plus for the reordered share an
   * extra uniform [0.5, 2·delayMs] ms (reordering needs a delay).
   */
  private decide(dir: 'rx' | 'tx'): { copies: number; now: boolean; holdMs: number } {
    const s = this.spec;
    if (this.chance(s.loss)) {
      this.stats[`${dir}Lost`]++;
      return { copies: 0, now: true, holdMs: 0 };
    }
    const copies = this.chance(s.duplicate) ? 2 : 1;
    if (copies === 2) this.stats[`${dir}Duplicated`]++;
    if (s.delayMs <= 0) return { copies, now: true, holdMs: 0 };
    this.stats[`${dir}Delayed`]++;
    if (this.chance(s.reorder)) {
      this.stats[`${dir}Reordered`]++;
      const hi = Math.max(1, 2 * s.delayMs);
      return { copies, now: false, holdMs: s.delayMs + 0.5 + this.next() * (hi - 0.5) };
    }
    return { copies, now: false, holdMs: s.delayMs };
  }

  attach(receiver: LinkReceiver): void {
    this.receiver = receiver;
    this.inner.attach({
      receive: (frame, flags = 0) => {
        const d = this.decide('rx');
        for (let i = 0; i < d.copies; i++) {
          if (d.now) receiver.receive(frame, flags);
          else this.hold(this.rxQueue, frame.slice(), 'rx', d.holdMs, flags);
        }
      },
      flush: () => receiver.flush(),
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    const d = this.decide('tx');
    for (let i = 0; i < d.copies; i++) {
      if (d.now) this.inner.send(frame);
      else this.hold(this.txQueue, frame.slice(), 'tx', d.holdMs);
    }
  }

  /** Queues a frame by due time (after those due at the same time or earlier). */
  private hold(queue: Array<{ due: number; frame: Uint8Array; flags: number }>, frame: Uint8Array, dir: 'rx' | 'tx', holdMs: number, flags = 0): void {
    const due = performance.now() + holdMs;
    let i = queue.length;
    while (i > 0 && queue[i - 1]!.due > due) i--;
    queue.splice(i, 0, { due, frame, flags });
    if (i === 0) {
      // A new head: the timer (if any) was armed for a later frame.
      const t = dir === 'rx' ? this.rxTimer : this.txTimer;
      if (t !== undefined) clearTimeout(t);
      this.arm(dir);
    } else if ((dir === 'rx' ? this.rxTimer : this.txTimer) === undefined) this.arm(dir);
  }

  private arm(dir: 'rx' | 'tx'): void {
    const queue = dir === 'rx' ? this.rxQueue : this.txQueue;
    const head = queue[0];
    if (head === undefined || this.closed) {
      if (dir === 'rx') this.rxTimer = undefined;
      else this.txTimer = undefined;
      return;
    }
    const t = setTimeout(() => this.release(dir), Math.max(0, head.due - performance.now()));
    if (dir === 'rx') this.rxTimer = t;
    else this.txTimer = t;
  }

  private release(dir: 'rx' | 'tx'): void {
    if (this.closed) return;
    const queue = dir === 'rx' ? this.rxQueue : this.txQueue;
    const now = performance.now();
    let n = 0;
    while (n < queue.length && queue[n]!.due <= now + 0.5) n++;
    const due = queue.splice(0, n);
    if (dir === 'rx') {
      if (this.receiver && due.length > 0) {
        for (const f of due) this.receiver.receive(f.frame, f.flags);
        this.receiver.flush();
      }
    } else {
      for (const f of due) this.inner.send(f.frame);
    }
    this.arm(dir);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.rxTimer) clearTimeout(this.rxTimer);
    if (this.txTimer) clearTimeout(this.txTimer);
    this.rxQueue.length = 0;
    this.txQueue.length = 0;
    await this.inner.close();
  }
}
