/**
 * TCP throughput on a lossy path: 1 % loss and 10 ms round trip, one flow each way.
 *
 * - netstack: `netstack host --impair delay=5ms,loss=1%` (the stack's own emulation, both
 *   directions: each frame is lost with probability 1 %, the others held 5 ms, so the round trip
 *   is 10 ms), measured through the host's services from the kernel side: stack → kernel (the
 *   chargen service: netstack's own sender and congestion control, CUBIC) and kernel → stack
 *   (the discard service: the kernel's sender, netstack only receives and acknowledges).
 * - kernel↔kernel under netem (the baseline): `tc qdisc … netem delay 5ms loss 1%` on
 *   both ends of a veth pair between two namespaces, only where the kernel has sch_netem. Where
 *   it has not, that baseline is reported as not available; none is made up.
 * - kernel↔kernel through bench/c/tun_relay.c: two namespaces joined by two TUN devices and a C
 *   relay that applies the same model as --impair (i.i.d. 1 % loss per packet and direction,
 *   5 ms hold each way). Measured always; labelled as an emulation, not netem. Without a
 *   virtio-net header every packet is at most one MTU, as on netstack's TUN.
 *
 * The kernel baselines run with the namespace's default congestion control (reported; on these
 * machines BBR, which does not back off on random loss) and with CUBIC (TCP_BULK_CC=cubic), the
 * algorithm netstack implements, so the comparison can be made like for like.
 */
import { join } from 'node:path';
import { HostProcess, bulk, CHARGEN, DISCARD } from './host.js';
import { createNs, deleteNs, inNs, median, spawnTracked, stopChild, tryInNs, waitLine, type Log } from './util.js';

export const IMPAIR = 'delay=5ms,loss=1%';

/** A kernel↔kernel baseline: path (netem on veth, or the C relay) × congestion control. */
export interface LossVariant {
  key: string;
  label: string;
  path: 'netem' | 'relay';
  /** undefined = the namespace's default. */
  cc: string | undefined;
}

export interface LossRow {
  key: string;
  label: string;
  netstack: number[];
  /** Gbit/s per run, by variant key. */
  kernel: Record<string, number[]>;
}

export interface LossBenchResult {
  rows: LossRow[];
  variants: LossVariant[];
  seconds: number;
  repetitions: number;
  /** The namespaces' default congestion control (net.ipv4.tcp_congestion_control). */
  defaultCc: string;
  /** Why the netem baseline is missing, when it is. */
  baselineMissing?: string;
  notes: string[];
}

/** Tries netem on a device in a namespace; returns undefined when it works, else the reason. */
function tryNetem(ns: string, dev: string): string | undefined {
  const r = tryInNs(ns, 'tc', ['qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '5ms', 'loss', '1%']);
  if (r.ok) return undefined;
  return /unknown/i.test(r.err) ? 'no sch_netem on this kernel' : `netem failed: ${r.err.split('\n')[0]}`;
}

/** Server ports in the kernel baselines' receiving namespace: default CC and CUBIC. */
const PORTS = { sink: 5201, source: 5202, sinkCubic: 5203, sourceCubic: 5204 };

async function startServers(ns: string, binDir: string): Promise<void> {
  for (const [port, mode, cc] of [
    [PORTS.sink, 'sink', undefined],
    [PORTS.source, 'source', undefined],
    [PORTS.sinkCubic, 'sink', 'cubic'],
    [PORTS.sourceCubic, 'source', 'cubic'],
  ] as const) {
    const c = spawnTracked('ip', ['netns', 'exec', ns, ...(cc ? ['env', `TCP_BULK_CC=${cc}`] : []), join(binDir, 'tcp_bulk'), 'server', String(port), mode]);
    c.stdin!.end();
    await waitLine(c, /^ready/, 'tcp_bulk server', 5000);
    c.stdout!.resume();
    c.stderr!.resume();
  }
}

export async function runLossBench(opts: { quick: boolean; binDir: string; log: Log }): Promise<LossBenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 4 : 10;
  const reps = opts.quick ? 1 : 3;
  const rows: LossRow[] = [
    { key: 'loss_up_1', label: 'TCP stack → kernel, 1 flow, 1 % loss, 10 ms RTT', netstack: [], kernel: {} },
    { key: 'loss_down_1', label: 'TCP kernel → stack, 1 flow, 1 % loss, 10 ms RTT', netstack: [], kernel: {} },
  ];
  const notes: string[] = [];
  const tag = process.pid;
  const nsHost = createNs(`nsbloss-${tag}`);
  const nsA = createNs(`nsblva-${tag}`);
  const nsB = createNs(`nsblvb-${tag}`);
  const nsC = createNs(`nsblra-${tag}`);
  const nsD = createNs(`nsblrb-${tag}`);
  let host: HostProcess | undefined;
  let relay: ReturnType<typeof spawnTracked> | undefined;
  let baselineMissing: string | undefined;
  const variants: LossVariant[] = [];
  const defaultCc = tryInNs(nsA, 'sysctl', ['-n', 'net.ipv4.tcp_congestion_control']).out.trim() || 'unknown';
  try {
    host = await HostProcess.start(nsHost, ['--impair', IMPAIR], { txqueuelen: 10_000 });

    // netem: veth between nsA (10.9.1.1) and nsB (10.9.1.2), netem on both ends.
    inNs(nsA, 'ip', ['link', 'add', 'vl0', 'type', 'veth', 'peer', 'name', 'vl1', 'netns', nsB]);
    inNs(nsA, 'ip', ['addr', 'add', '10.9.1.1/24', 'dev', 'vl0']);
    inNs(nsB, 'ip', ['addr', 'add', '10.9.1.2/24', 'dev', 'vl1']);
    inNs(nsA, 'ip', ['link', 'set', 'vl0', 'up']);
    inNs(nsB, 'ip', ['link', 'set', 'vl1', 'up']);
    baselineMissing = tryNetem(nsA, 'vl0') ?? tryNetem(nsB, 'vl1');
    if (baselineMissing === undefined) {
      await startServers(nsB, opts.binDir);
      variants.push({ key: 'netem', label: `kernel↔kernel veth + netem (${defaultCc})`, path: 'netem', cc: undefined });
      if (defaultCc !== 'cubic') variants.push({ key: 'netem_cubic', label: 'kernel↔kernel veth + netem (cubic)', path: 'netem', cc: 'cubic' });
    } else log(`  lossy path: no netem baseline (${baselineMissing}); measuring the C relay emulation instead`);

    // The C relay: tunnel rla (nsC, 10.9.2.1) ↔ rlb (nsD, 10.9.2.2).
    relay = spawnTracked('ip', ['netns', 'exec', nsC, join(opts.binDir, 'tun_relay'), nsD, 'rla', 'rlb', '5', '1', '1', String(reps * 6 * (seconds + 5) + 120)]);
    relay.stdin!.end();
    await waitLine(relay, /^ready/, 'tun_relay', 10_000);
    inNs(nsC, 'ip', ['addr', 'add', '10.9.2.1/24', 'dev', 'rla']);
    inNs(nsD, 'ip', ['addr', 'add', '10.9.2.2/24', 'dev', 'rlb']);
    inNs(nsC, 'ip', ['link', 'set', 'rla', 'mtu', '1500', 'txqueuelen', '10000', 'up']);
    inNs(nsD, 'ip', ['link', 'set', 'rlb', 'mtu', '1500', 'txqueuelen', '10000', 'up']);
    let relayOut = '';
    relay.stdout!.on('data', (d: Buffer) => (relayOut += d.toString()));
    relay.stderr!.resume();
    await startServers(nsD, opts.binDir);
    variants.push({ key: 'relay', label: `kernel↔kernel, C relay emulation (${defaultCc})`, path: 'relay', cc: undefined });
    if (defaultCc !== 'cubic') variants.push({ key: 'relay_cubic', label: 'kernel↔kernel, C relay emulation (cubic)', path: 'relay', cc: 'cubic' });
    for (const row of rows) for (const v of variants) row.kernel[v.key] = [];

    // Warm-up (JIT): not measured.
    await bulk(opts.binDir, nsHost, '10.0.0.2', DISCARD, 'send', 1, 1);
    for (let rep = 0; rep < reps; rep++) {
      for (const row of rows) {
        const up = row.key.startsWith('loss_up');
        const v = await bulk(opts.binDir, nsHost, '10.0.0.2', up ? CHARGEN : DISCARD, up ? 'recv' : 'send', 1, seconds);
        row.netstack.push(v);
        log(`  ${row.label}, netstack (--impair ${IMPAIR}): ${(v * 1000).toFixed(1)} Mbit/s`);
        for (const variant of variants) {
          const [ns, addr] = variant.path === 'netem' ? [nsA, '10.9.1.2'] : [nsC, '10.9.2.2'];
          // 'stack → kernel' pairs with the far namespace sending (its source server), so the
          // receiving kernel is on the client side as the kernel is for netstack's chargen.
          const port = up ? (variant.cc ? PORTS.sourceCubic : PORTS.source) : variant.cc ? PORTS.sinkCubic : PORTS.sink;
          const k = await bulk(opts.binDir, ns, addr, port, up ? 'recv' : 'send', 1, seconds, variant.cc);
          row.kernel[variant.key]!.push(k);
          log(`  ${row.label}, ${variant.label}: ${(k * 1000).toFixed(1)} Mbit/s`);
        }
      }
    }
    const c = await host.counters();
    notes.push(`netstack retransmitted ${c['tcp.retransmits'] ?? 0} segments; its impairment dropped ${c['rxLost'] ?? 0} received and ${c['txLost'] ?? 0} sent frames`);
    await stopChild(relay);
    const counts = /\{"a_to_b".*\}/.exec(relayOut)?.[0];
    if (counts) notes.push(`C relay counters: ${counts}`);
    notes.push(`the kernel's default congestion control in these namespaces is ${defaultCc}; netstack implements CUBIC`);
  } finally {
    if (relay) await stopChild(relay);
    await host?.stop();
    for (const n of [nsHost, nsA, nsB, nsC, nsD]) deleteNs(n);
  }
  return { rows, variants, seconds, repetitions: reps, defaultCc, baselineMissing, notes };
}

export function lossMedian(row: LossRow, who: 'netstack' | string): number {
  return median(who === 'netstack' ? row.netstack : (row.kernel[who] ?? []));
}
