/**
 * Concurrent idle TCP connections: the kernel side opens COUNT connections to `netstack host`
 * (its echo and discard services, ports 7 and 9) and holds them, sending nothing; the measure is
 * the host process's resident memory (VmRSS) before and with them held, bytes per connection,
 * and whether all were established (the kernel's view from bench/c/idle_conns.c, the stack's
 * from its tcp.established counter) and still open at the end.
 *
 * The 4-tuples: the kernel side connects from four addresses (10.0.0.1 and 10.0.0.3–5, added to
 * the device) with the namespace's ephemeral port range widened to 1024–65535, to two ports:
 * 8 × 64 512 possible tuples. The connections are spread over several idle_conns processes, each
 * below the open-file hard limit (raising it needs CAP_SYS_RESOURCE, which a container may not
 * grant). Bounded in time: every process gives up its connect phase after LIMIT seconds.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { HostProcess } from './host.js';
import { createNs, deleteNs, inNs, sleep, spawnTracked, stopChild, tryInNs, waitLine, type Log } from './util.js';

export interface IdleResult {
  target: number;
  /** Connections the kernel side saw established (handshake complete). */
  established: number;
  /** The stack's tcp.established counter (connections that reached ESTABLISHED). */
  stackEstablished: number | undefined;
  failed: number;
  errors: Record<string, number>;
  /** Still open when the hold ended (none closed or reset by the stack). */
  stillOpen: number;
  closedByPeer: number;
  /** Of those: closed with a FIN, reset. */
  closedFin: number;
  closedReset: number;
  closedOther: number;
  /** Which ones (the clients name the first few). */
  closedExamples: string[];
  /** The stack's non-zero drop counters while they were held (drop.*). */
  stackDrops: Record<string, number>;
  rssBeforeKiB: number;
  rssHeldKiB: number;
  bytesPerConnection: number;
  connectSeconds: number;
  /** Seconds the connections were held before the RSS was read. */
  holdSeconds: number;
  processes: number;
  note?: string;
}

const SOURCES = ['10.0.0.1', '10.0.0.3', '10.0.0.4', '10.0.0.5'];

function hardNofile(): number {
  const out = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? 1_048_576 : Number(out);
}

interface Held {
  established: number;
  failed: number;
  seconds: number;
  errors: Record<string, number>;
}
interface Done {
  established: number;
  still_open: number;
  closed_by_peer: number;
  closed_fin: number;
  closed_reset: number;
  closed_other: number;
}

export async function runIdleBench(opts: { quick: boolean; binDir: string; log: Log }): Promise<IdleResult> {
  const { log } = opts;
  const target = opts.quick ? 20_000 : 100_000;
  const limitS = opts.quick ? 30 : 120;
  const holdS = opts.quick ? 3 : 10;
  const perProc = Math.max(1000, Math.min(hardNofile() - 100, 50_000));
  const procs = Math.ceil(target / perProc);
  const ns = createNs(`nsbidle-${process.pid}`);
  let host: HostProcess | undefined;
  const clients: ReturnType<typeof spawnTracked>[] = [];
  const closedExamples: string[] = [];
  try {
    tryInNs(ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=1024 65535']);
    host = await HostProcess.start(ns, [], { txqueuelen: 10_000 });
    for (const a of SOURCES.slice(1)) inNs(ns, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'tun0']);
    await sleep(2000);
    const rssBeforeKiB = host.rssKiB();
    log(`  idle connections: host RSS before ${(rssBeforeKiB / 1024).toFixed(0)} MiB; opening ${target} from ${procs} process(es)`);
    const t0 = performance.now();
    const helds: Array<Promise<Held>> = [];
    for (let i = 0; i < procs; i++) {
      const count = Math.min(perProc, target - i * perProc);
      // Each process its own source address(es), so no two compete for the same port space.
      const srcs = procs <= SOURCES.length ? [SOURCES[i % SOURCES.length]!] : SOURCES;
      const c = spawnTracked('ip', ['netns', 'exec', ns, join(opts.binDir, 'idle_conns'), '10.0.0.2', '7,9', String(count), '256', String(limitS), ...srcs]);
      clients.push(c);
      c.stderr!.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.startsWith('closed by the peer') && closedExamples.length < 5) closedExamples.push(line.trim());
      });
      helds.push(waitLine(c, /"phase":"held"/, 'idle_conns', (limitS + 30) * 1000).then((l) => JSON.parse(l) as Held));
    }
    const held = await Promise.all(helds);
    const connectSeconds = (performance.now() - t0) / 1000;
    const established = held.reduce((s, h) => s + h.established, 0);
    const failed = held.reduce((s, h) => s + h.failed, 0);
    const errors: Record<string, number> = {};
    for (const h of held) for (const [k, v] of Object.entries(h.errors)) errors[k] = (errors[k] ?? 0) + v;
    log(`  idle connections: ${established} established, ${failed} failed in ${connectSeconds.toFixed(1)} s`);
    // Hold them a while (the host finishes accepting, short-lived garbage is collected) before
    // reading the RSS; the clients watch for any the stack closes or resets meanwhile.
    await sleep(holdS * 1000);
    const rssHeldKiB = host.rssKiB();
    const counters = await host.counters();
    // End the hold: each client reports what it saw and resets its connections.
    const dones = clients.map((c) => waitLine(c, /"phase":"done"/, 'idle_conns', 60_000).then((l) => JSON.parse(l) as Done));
    for (const c of clients) c.stdin!.end();
    const done = await Promise.all(dones);
    const stillOpen = done.reduce((s, d) => s + d.still_open, 0);
    const closedByPeer = done.reduce((s, d) => s + d.closed_by_peer, 0);
    const stackDrops = Object.fromEntries(Object.entries(counters).filter(([k, v]) => k.startsWith('drop.') && k !== 'drop.total' && v > 0));
    const r: IdleResult = {
      target,
      established,
      stackEstablished: counters['tcp.established'],
      failed,
      errors,
      stillOpen,
      closedByPeer,
      closedFin: done.reduce((s, d) => s + (d.closed_fin ?? 0), 0),
      closedReset: done.reduce((s, d) => s + (d.closed_reset ?? 0), 0),
      closedOther: done.reduce((s, d) => s + (d.closed_other ?? 0), 0),
      closedExamples,
      stackDrops,
      rssBeforeKiB,
      rssHeldKiB,
      bytesPerConnection: established > 0 ? ((rssHeldKiB - rssBeforeKiB) * 1024) / established : NaN,
      connectSeconds,
      holdSeconds: holdS,
      processes: procs,
    };
    const notes: string[] = [];
    if (established < target) notes.push(`only ${established} of ${target} established within ${limitS} s: ${JSON.stringify(errors)}`);
    if (closedByPeer > 0) notes.push(`the stack closed ${closedByPeer} of them after the kernel saw them established (${r.closedFin} with a FIN, ${r.closedReset} with a reset, ${r.closedOther} with another error${closedExamples.length ? `; ${closedExamples.join('; ')}` : ''})`);
    if (Object.keys(stackDrops).length > 0) notes.push(`the stack's drop counters while they were held: ${JSON.stringify(stackDrops)}`);
    if (notes.length > 0) r.note = notes.join('; ');
    log(`  idle connections: RSS ${(rssHeldKiB / 1024).toFixed(0)} MiB held, ${r.bytesPerConnection.toFixed(0)} B per connection; ${stillOpen} still open at the end`);
    return r;
  } finally {
    for (const c of clients) await stopChild(c);
    await host?.stop();
    deleteNs(ns);
  }
}
