/**
 * The "limits" table of `netstack host --stats` / SIGUSR1: for each resource limit of
 * docs/HARDENING.md whose current use can be read, the use now, the bound, and the counters
 * that record what happened at the bound (drops, evictions, SYN cookies). Limits with no
 * readable current value (rates) are listed with their counters and '-' as use.
 *
 * `stackLimitRows` reads a Stack (read-only getters only); `formatLimits` is pure formatting.
 * Neither does I/O; `processLine` formats a memory snapshot the caller takes.
 */
import type { Stack } from '../stack.js';

export interface LimitRow {
  /** What is limited, e.g. 'tcp connections'. */
  name: string;
  /** Current use, or undefined when it cannot be read (shown as '-'). */
  use: number | undefined;
  /** The bound (a number), or a text such as '100/s' for rates; undefined = unbounded ('-'). */
  bound: number | string | undefined;
  /** Counters of this limit: drops, evictions, cookies (name → value; 0 when never counted). */
  counters: Record<string, number>;
  /** A short remark (which listener, totals), printed after the counters. */
  note?: string;
}

const LOOPBACK_QUEUE_MAX = 1024; // Stack.loopback(): fixed
const PMTU_CACHE_MAX = 1024; // PmtuCache default, per family (IP layer and TCP)

/** The rows for `stack`, in the order of docs/HARDENING.md's table. */
export function stackLimitRows(stack: Stack): LimitRow[] {
  const C = stack.counters;
  const pick = (...names: string[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const n of names) out[n] = C.get(n);
    return out;
  };
  const L = stack.limits;
  const T = stack.tcp.config;
  const u = stack.tcp.usage();
  const rows: LimitRow[] = [];

  rows.push({
    name: 'tcp connections',
    use: u.connections,
    bound: T.maxConnections,
    counters: pick('drop.tcp.conn_limit'),
    note: stateNote(u.byState),
  });
  // Half-open connections and the accept queue are per listener: show the fullest.
  let synL = u.listeners[0];
  let accL = u.listeners[0];
  for (const l of u.listeners) {
    if (l.halfOpen > synL!.halfOpen) synL = l;
    if (l.acceptQueue / l.backlog > accL!.acceptQueue / accL!.backlog) accL = l;
  }
  const where = (l: typeof synL): string | undefined =>
    l === undefined ? 'no listener' : `${u.listeners.length} listeners, fullest ${l.family === 6 ? `[${l.address}]` : l.address}:${l.port}`;
  rows.push({
    name: 'tcp half-open (per listener)',
    use: synL?.halfOpen ?? 0,
    bound: T.maxSynBacklog,
    counters: pick('tcp.syncookies_sent', 'tcp.syncookies_ok', 'tcp.syncookies_failed', 'drop.tcp.syn_queue_full'),
    note: where(synL),
  });
  rows.push({
    name: 'tcp accept queue (per listener)',
    use: accL?.acceptQueue ?? 0,
    bound: accL?.backlog ?? T.backlog,
    counters: pick('drop.tcp.listen_overflow'),
  });
  rows.push({
    name: 'tcp receive queue (per conn, max)',
    use: u.rcvQueuedMax,
    bound: T.receiveBufferSize,
    counters: pick('drop.tcp.zero_window', 'drop.tcp.out_of_window'),
    note: `${u.rcvQueuedBytes} B unread in all`,
  });
  rows.push({
    name: 'tcp out-of-order bytes (per conn, max)',
    use: u.oooBytesMax,
    // (derived) max(receive buffer, 4 × MSS): the receive buffer unless the MSS is huge.
    bound: T.receiveBufferSize,
    counters: pick('drop.tcp.ooo_queue_full'),
    note: `${u.oooBytes} B in all`,
  });
  rows.push({
    name: 'tcp send buffer (per conn, max)',
    use: u.sendBufferedMax,
    bound: T.sendBufferSize,
    counters: {},
    note: `${u.sendBufferedBytes} B in all`,
  });
  rows.push({
    name: 'tcp TIME-WAIT',
    use: u.byState['TIME-WAIT'] ?? 0,
    bound: undefined,
    counters: pick('tcp.time_wait'),
    note: `${T.timeWaitMs / 1000} s each, within tcp connections`,
  });
  rows.push({ name: 'tcp challenge ACKs', use: undefined, bound: `${T.challengeAckLimit}/s`, counters: pick('drop.tcp.challenge_ack_limited') });
  rows.push({
    name: 'tcp out-of-window ACKs',
    use: undefined,
    bound: T.oowAckIntervalMs > 0 ? `1/${T.oowAckIntervalMs}ms` : undefined,
    counters: pick('tcp.oow_ack_limited'),
  });
  rows.push({ name: 'tcp path-MTU memory', use: stack.tcp.pmtuEntries, bound: 2 * PMTU_CACHE_MAX, counters: pick('tcp.pmtu_updates'), note: 'both families' });

  rows.push({
    name: 'ip reassembly bytes (v4+v6)',
    use: stack.reassemblyBytes,
    bound: L.reassemblyBytes,
    counters: pick('drop.ipv4.reasm_evicted', 'drop.ipv4.reasm_memory', 'drop.ipv6.reasm_evicted', 'drop.ipv6.reasm_memory', 'drop.ipv4.reasm_timeout', 'drop.ipv6.reasm_timeout'),
    note: `${stack.ipv4.reassembler.size + stack.ipv6.reassembler.size} datagrams`,
  });
  rows.push({ name: 'ip path-MTU cache (v4)', use: stack.ipv4.pmtu.size, bound: stack.ipv4.pmtu.maxEntries, counters: pick('ipv4.pmtu_update') });
  rows.push({ name: 'ip path-MTU cache (v6)', use: stack.ipv6.pmtu.size, bound: stack.ipv6.pmtu.maxEntries, counters: {} });
  rows.push({
    name: 'icmp errors',
    use: undefined,
    bound: `${L.icmpErrorRate}/s`,
    counters: pick('drop.icmp.rate_limited', 'drop.icmp6.rate_limited'),
    note: `burst ${L.icmpErrorBurst}`,
  });
  rows.push({ name: 'loopback queue', use: stack.loopbackQueued, bound: LOOPBACK_QUEUE_MAX, counters: pick('drop.loopback.queue_full') });

  // Neighbour caches exist on Ethernet (TAP) interfaces only.
  let entries: number | undefined;
  let pendingPkts: number | undefined;
  let pendingBytes: number | undefined;
  let totalPending = 0;
  for (const iface of stack.interfaces) {
    for (const cache of [iface.arp?.cache, iface.ndp?.cache]) {
      if (!cache) continue;
      entries = Math.max(entries ?? 0, cache.size);
      pendingPkts ??= 0;
      pendingBytes ??= 0;
      for (const e of cache.list()) {
        let b = 0;
        for (const p of e.pending) b += p.length;
        pendingPkts = Math.max(pendingPkts, e.pending.length);
        pendingBytes = Math.max(pendingBytes, b);
        totalPending += e.pending.length;
      }
    }
  }
  const tun = entries === undefined ? 'no ARP/NDP on this link' : undefined;
  rows.push({
    name: 'neighbour entries (per cache)',
    use: entries,
    bound: L.neighborEntries,
    counters: pick('arp.evicted', 'ndp.evicted', 'drop.arp.cache_full', 'drop.ndp.cache_full'),
    note: tun,
  });
  rows.push({
    name: 'pending resolution (per neighbour)',
    use: pendingPkts,
    bound: L.neighborPending,
    counters: pick('drop.arp.queue_full', 'drop.ndp.queue_full', 'drop.arp.resolution_failed', 'drop.ndp.resolution_failed'),
    note: tun ?? `${totalPending} packets in all`,
  });
  rows.push({ name: 'pending resolution bytes (per nbr)', use: pendingBytes, bound: L.neighborPendingBytes, counters: {}, note: tun });
  return rows;
}

function stateNote(byState: Record<string, number>): string | undefined {
  const parts = Object.entries(byState)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/**
 * One aligned table: name, use, bound, use as % of a numeric bound, then the counters
 * (`name=value`) and the note.
 */
export function formatLimits(rows: LimitRow[], title = 'limits'): string {
  const cells = rows.map((r) => {
    const use = r.use === undefined ? '-' : String(r.use);
    const bound = r.bound === undefined ? '-' : String(r.bound);
    const pct = typeof r.bound === 'number' && r.use !== undefined && r.bound > 0 ? `${pct1((100 * r.use) / r.bound)}%` : '';
    const tail = [...Object.entries(r.counters).map(([k, v]) => `${k}=${v}`), ...(r.note ? [`(${r.note})`] : [])].join(' ');
    return [r.name, use, bound, pct, tail] as const;
  });
  const head = ['limit', 'use', 'bound', '%', 'at the bound'] as const;
  const w = [0, 1, 2, 3].map((i) => Math.max(head[i]!.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string =>
    `  ${c[0]!.padEnd(w[0]!)}  ${c[1]!.padStart(w[1]!)}  ${c[2]!.padStart(w[2]!)}  ${c[3]!.padStart(w[3]!)}  ${c[4]}`.trimEnd();
  return [title, line(head), ...cells.map(line)].join('\n') + '\n';
}

function pct1(p: number): string {
  if (p === 0) return '0';
  if (p < 0.1) return '<0.1';
  return p >= 10 ? String(Math.round(p)) : p.toFixed(1);
}

/** The open-socket line: the stack's TCP connections, listeners and UDP sockets. */
export function socketsLine(stack: Stack): string {
  const u = stack.tcp.usage();
  const tw = u.byState['TIME-WAIT'] ?? 0;
  return `sockets: tcp ${u.connections - tw} open (+${tw} TIME-WAIT), ${u.listeners.length} tcp listeners, ${stack.udp.socketCount} udp\n`;
}

export interface ProcessSnapshot {
  heapUsed: number;
  heapTotal: number;
  rss: number;
  external: number;
  /** Open file descriptors, if known. */
  fds?: number;
}

const MiB = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

/** The memory line: heap used of total, RSS, external memory, open descriptors. */
export function processLine(m: ProcessSnapshot): string {
  const fds = m.fds === undefined ? '' : `, fds ${m.fds}`;
  return `memory: heap ${MiB(m.heapUsed)} used of ${MiB(m.heapTotal)}, rss ${MiB(m.rss)}, external ${MiB(m.external)}${fds}\n`;
}
