/**
 * TCP throughput on a lossy path: 1 % loss and 10 ms round trip.
 *
 * - netstack: `netstack host --impair delay=5ms,loss=1%` (the stack's own emulation, both
 *   directions: each frame is lost with probability 1 %, the others held 5 ms, so the round trip
 *   is 10 ms), measured through the host's services from the kernel side: kernel → stack
 *   (discard) and stack → kernel (chargen; this is the stack's own sender and congestion control).
 * - kernel-to-kernel baseline: the same impairment with `tc qdisc … netem delay 5ms loss 1%` on
 *   both ends of a veth pair between two namespaces — only where the kernel has sch_netem. Where
 *   it has not, the baseline is reported as not available; none is made up.
 */
import { HostProcess, bulk, CHARGEN, DISCARD } from './host.js';
import { createNs, deleteNs, inNs, median, spawnTracked, tryInNs, waitLine, type Log } from './util.js';
import { join } from 'node:path';

export interface LossRow {
  key: string;
  label: string;
  netstack: number[];
  kernel: number[];
}

export interface LossBenchResult {
  rows: LossRow[];
  seconds: number;
  repetitions: number;
  /** Why the kernel baseline is missing, when it is. */
  baselineMissing?: string;
  notes: string[];
}

export const IMPAIR = 'delay=5ms,loss=1%';

/** Tries netem on a device in a namespace; returns undefined when it works, else the reason. */
function tryNetem(ns: string, dev: string): string | undefined {
  const r = tryInNs(ns, 'tc', ['qdisc', 'add', 'dev', dev, 'root', 'netem', 'delay', '5ms', 'loss', '1%']);
  if (r.ok) return undefined;
  return /unknown/i.test(r.err) ? 'no sch_netem on this kernel' : `netem failed: ${r.err.split('\n')[0]}`;
}

export async function runLossBench(opts: { quick: boolean; binDir: string; log: Log }): Promise<LossBenchResult> {
  const { log } = opts;
  const seconds = opts.quick ? 4 : 10;
  const reps = opts.quick ? 1 : 3;
  const rows: LossRow[] = [
    { key: 'loss_up_1', label: 'TCP stack → kernel, 1 flow, 1 % loss, 10 ms RTT', netstack: [], kernel: [] },
    { key: 'loss_down_1', label: 'TCP kernel → stack, 1 flow, 1 % loss, 10 ms RTT', netstack: [], kernel: [] },
  ];
  const notes: string[] = [];
  const tag = process.pid;
  const nsHost = createNs(`nsbloss-${tag}`);
  const nsA = createNs(`nsblva-${tag}`);
  const nsB = createNs(`nsblvb-${tag}`);
  let host: HostProcess | undefined;
  let baselineMissing: string | undefined;
  try {
    host = await HostProcess.start(nsHost, ['--impair', IMPAIR], { txqueuelen: 10_000 });
    // Kernel-to-kernel: veth between nsA (10.9.1.1) and nsB (10.9.1.2), netem on both ends.
    inNs(nsA, 'ip', ['link', 'add', 'vl0', 'type', 'veth', 'peer', 'name', 'vl1', 'netns', nsB]);
    inNs(nsA, 'ip', ['addr', 'add', '10.9.1.1/24', 'dev', 'vl0']);
    inNs(nsB, 'ip', ['addr', 'add', '10.9.1.2/24', 'dev', 'vl1']);
    inNs(nsA, 'ip', ['link', 'set', 'vl0', 'up']);
    inNs(nsB, 'ip', ['link', 'set', 'vl1', 'up']);
    baselineMissing = tryNetem(nsA, 'vl0') ?? tryNetem(nsB, 'vl1');
    if (baselineMissing === undefined) {
      for (const [n, port, mode] of [[nsB, 5201, 'sink'], [nsB, 5202, 'source']] as const) {
        const c = spawnTracked('ip', ['netns', 'exec', n, join(opts.binDir, 'tcp_bulk'), 'server', String(port), mode]);
        c.stdin!.end();
        await waitLine(c, /^ready/, 'tcp_bulk server', 5000);
        c.stdout!.resume();
        c.stderr!.resume();
      }
    } else log(`  lossy path: kernel-to-kernel baseline not available (${baselineMissing})`);
    // Warm-up (JIT): not measured.
    await bulk(opts.binDir, nsHost, '10.0.0.2', DISCARD, 'send', 1, 1);
    for (let rep = 0; rep < reps; rep++) {
      for (const row of rows) {
        const up = row.key.startsWith('loss_up');
        const v = await bulk(opts.binDir, nsHost, '10.0.0.2', up ? CHARGEN : DISCARD, up ? 'recv' : 'send', 1, seconds);
        row.netstack.push(v);
        log(`  ${row.label}, netstack (--impair ${IMPAIR}): ${(v * 1000).toFixed(1)} Mbit/s`);
        if (baselineMissing === undefined) {
          // The kernel's receiver is in nsB: 'stack → kernel' is nsA receiving from nsB's source.
          const k = await bulk(opts.binDir, nsA, '10.9.1.2', up ? 5202 : 5201, up ? 'recv' : 'send', 1, seconds);
          row.kernel.push(k);
          log(`  ${row.label}, kernel veth (netem): ${(k * 1000).toFixed(1)} Mbit/s`);
        }
      }
    }
    const c = await host.counters();
    notes.push(`lossy path: netstack retransmitted ${c['tcp.retransmits'] ?? 0} segments; the impairment dropped ${c['rxLost'] ?? 0} received and ${c['txLost'] ?? 0} sent frames`);
  } finally {
    await host?.stop();
    for (const n of [nsHost, nsA, nsB]) deleteNs(n);
  }
  return { rows, seconds, repetitions: reps, baselineMissing, notes };
}

export function lossMedian(row: LossRow, who: 'netstack' | 'kernel'): number {
  return median(row[who]);
}
