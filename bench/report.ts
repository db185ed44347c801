/**
 * What `npm run bench` prints and saves: the targets table (every measure of the performance
 * issue's targets, with its same-run baseline, the ratio and whether the target is met), the
 * detailed tables of each part, and the flat list of figures the regression check compares.
 */
import type { UdpBenchResult } from './udp.js';
import { tcpTable, type TcpBenchResult } from './tcp.js';
import type { MemoryBenchResult } from './memory.js';
import { httpMedian, type HttpBenchResult } from './http.js';
import type { IdleResult } from './idle.js';
import type { HostBenchResult } from './host.js';
import { IMPAIR, lossMedian, type LossBenchResult } from './loss.js';
import type { Figure } from './check.js';
import { fmt, median } from './util.js';

export interface BenchResults {
  udp?: UdpBenchResult;
  tcp?: TcpBenchResult;
  memory?: MemoryBenchResult;
  http?: HttpBenchResult;
  idle?: IdleResult;
  host?: HostBenchResult;
  loss?: LossBenchResult;
  /** Parts that failed, with the reason (their rows say so). */
  errors: Record<string, string>;
  /** Parts not run (--only / --skip). */
  skipped: string[];
}

/** tcpip.js between two stacks in one process on this machine kind: quoted from the issue text. */
export const TCPIP_JS_GBPS = 0.56;

export interface TargetRow {
  measure: string;
  target: string;
  netstack: string;
  baseline: string;
  ratio: string;
  status: string;
  /** Numbers behind the text (NaN when not measured). */
  values: { netstack: number; baseline: number; ratio: number };
}

const GBIT = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} Gbit/s` : 'n/a');
const ratioText = (r: number, digits = 2): string => (Number.isFinite(r) ? r.toFixed(digits) : 'n/a');

/** Median of paired ratios a[i]/b[i] (both measured back to back), or NaN. */
function pairedRatio(a: number[], b: number[]): number {
  if (a.length === 0 || a.length !== b.length) return NaN;
  return median(a.map((v, i) => v / b[i]!));
}

export function targetRows(r: BenchResults, quick: boolean): TargetRow[] {
  const rows: TargetRow[] = [];
  const missing = (part: string): string => (r.skipped.includes(part) ? 'not run (--only/--skip)' : r.errors[part] !== undefined ? `failed: ${r.errors[part]!.slice(0, 80)}` : 'not measured');
  const blank = (measure: string, target: string, why: string): TargetRow => ({ measure, target, netstack: why, baseline: '', ratio: '', status: 'n/a', values: { netstack: NaN, baseline: NaN, ratio: NaN } });
  const atLeast = (v: number, t: number): string => (!Number.isFinite(v) ? 'n/a' : v >= t ? 'met' : 'not met');

  // TCP over TUN, no offloads (bench/tcp.ts: the stack in the benchmark's process).
  for (const [key, measure] of [
    ['tcp_down_1', 'kernel → stack over TUN, MTU 1500, no offloads'],
    ['tcp_up_1', 'stack → kernel over TUN, MTU 1500, no offloads'],
  ] as const) {
    const row = r.tcp?.rows.find((x) => x.key === key);
    if (!row) {
      rows.push(blank(measure, '≥ 3 Gbit/s', missing('tcp')));
      continue;
    }
    const n = median(row.netstack);
    const b = median(row.kernelOffloadOff);
    const ratio = pairedRatio(row.netstack, row.kernelOffloadOff);
    rows.push({ measure, target: '≥ 3 Gbit/s', netstack: GBIT(n), baseline: row.kernelOffloadOff.length ? `${GBIT(b)} (kernel↔kernel veth, offloads off)` : 'n/a (no ethtool)', ratio: ratioText(ratio), status: atLeast(n, 3), values: { netstack: n, baseline: b, ratio } });
  }

  // With IFF_VNET_HDR offloads (netstack host --offload).
  for (const [key, tcpKey, measure] of [
    ['offload_down_1', 'tcp_down_1', 'kernel → stack with IFF_VNET_HDR offloads (`host --offload`)'],
    ['offload_up_1', 'tcp_up_1', 'stack → kernel with IFF_VNET_HDR offloads (`host --offload`)'],
  ] as const) {
    const row = r.host?.rows.find((x) => x.key === key);
    if (!row || row.runs.length === 0) {
      rows.push(blank(measure, '≥ 10 Gbit/s', row?.status ?? missing('host')));
      continue;
    }
    const n = median(row.runs);
    const k = r.tcp?.rows.find((x) => x.key === tcpKey);
    const b = k ? median(k.kernelOffloadOn) : NaN;
    rows.push({ measure, target: '≥ 10 Gbit/s', netstack: GBIT(n), baseline: Number.isFinite(b) ? `${GBIT(b)} (kernel↔kernel veth, offloads on)` : `n/a (${missing('tcp')})`, ratio: ratioText(n / b), status: atLeast(n, 10), values: { netstack: n, baseline: b, ratio: n / b } });
  }

  // Two stacks in one process over the in-memory link.
  for (const [mtu, target, t] of [
    ['1500', '≥ 3 Gbit/s (5× tcpip.js)', 3],
    ['65535', '≥ 15 Gbit/s (25× tcpip.js)', 15],
  ] as const) {
    const measure = `two stacks in one process, in-memory link, MTU ${mtu}`;
    const runs = r.memory?.runs[mtu];
    if (!runs || runs.length === 0) {
      rows.push(blank(measure, target, missing('memory')));
      continue;
    }
    const n = median(runs.map((x) => x.gbps));
    rows.push({ measure, target, netstack: GBIT(n), baseline: `${TCPIP_JS_GBPS} Gbit/s (tcpip.js, quoted from the issue, not this run)`, ratio: `${(n / TCPIP_JS_GBPS).toFixed(1)}×`, status: atLeast(n, t), values: { netstack: n, baseline: TCPIP_JS_GBPS, ratio: n / TCPIP_JS_GBPS } });
  }

  // UDP echo and ping against the C echo.
  const udp = (key: string): UdpBenchResult['rows'][number] | undefined => r.udp?.rows.find((x) => x.key === key);
  const u = udp('udp4_64_kpps');
  if (u) rows.push({ measure: 'UDP echo packets/s (IPv4, 64 B, window 32)', target: '≥ 0.8 × C echo', netstack: `${fmt(u.netstack)} kpps`, baseline: `${fmt(u.c)} kpps (C echo)`, ratio: ratioText(u.ratio), status: atLeast(u.ratio, 0.8), values: { netstack: u.netstack, baseline: u.c, ratio: u.ratio } });
  else rows.push(blank('UDP echo packets/s', '≥ 0.8 × C echo', missing('udp')));
  const p = udp('ping4_rtt_avg_us');
  if (p) rows.push({ measure: 'ping round trip (IPv4, avg)', target: '≤ 1.5 × C echo', netstack: `${fmt(p.netstack)} µs`, baseline: `${fmt(p.c)} µs (C echo)`, ratio: ratioText(p.ratio), status: Number.isFinite(p.ratio) ? (p.ratio <= 1.5 ? 'met' : 'not met') : 'n/a', values: { netstack: p.netstack, baseline: p.c, ratio: p.ratio } });
  else rows.push(blank('ping round trip', '≤ 1.5 × C echo', missing('udp')));

  // HTTP with wrk.
  for (const [key, measure, target, t, unit] of [
    ['http_close_cps', 'HTTP (Node `http` over the stack), new connection per request', '≥ 10,000 connections/s', 10_000, 'conn/s'],
    ['http_keepalive_rps', 'HTTP (Node `http` over the stack), keep-alive', '≥ 40,000 requests/s', 40_000, 'req/s'],
  ] as const) {
    const row = r.http?.rows.find((x) => x.key === key);
    if (!row || row.netstack.length === 0) {
      rows.push(blank(measure, target, r.http?.skipped ?? missing('http')));
      continue;
    }
    const n = httpMedian(row, 'netstack');
    const b = httpMedian(row, 'kernel');
    const ratio = pairedRatio(row.netstack.map((x) => x.rps), row.kernel.map((x) => x.rps));
    rows.push({ measure, target, netstack: `${n.toFixed(0)} ${unit}`, baseline: `${b.toFixed(0)} ${unit} (same Node server, kernel TCP)`, ratio: ratioText(ratio), status: atLeast(n, t), values: { netstack: n, baseline: b, ratio } });
  }

  // Concurrent idle connections.
  {
    const measure = 'concurrent idle TCP connections';
    const target = '100,000 held, RSS ≤ 1 GiB';
    const i = r.idle;
    if (!i) rows.push(blank(measure, target, missing('idle')));
    else {
      const mib = i.rssHeldKiB / 1024;
      const all = i.established >= 100_000 && i.stillOpen >= i.established;
      let status = all && mib <= 1024 ? 'met' : 'not met';
      let text = `${i.established.toLocaleString('en-US')} held${i.stillOpen < i.established ? ` (${i.stillOpen.toLocaleString('en-US')} still open at the end)` : ''}, RSS ${mib.toFixed(0)} MiB (${(i.bytesPerConnection / 1024).toFixed(1)} KiB/conn)`;
      if (i.target < 100_000) {
        const projected = (i.rssBeforeKiB * 1024 + i.bytesPerConnection * 100_000) / 2 ** 20;
        text += `; projected ${projected.toFixed(0)} MiB at 100,000`;
        status = `n/a (quick run: ${i.target.toLocaleString('en-US')})`;
      }
      rows.push({ measure, target, netstack: text, baseline: '— (absolute target)', ratio: '', status, values: { netstack: mib, baseline: NaN, ratio: NaN } });
    }
  }

  // Lossy path.
  for (const [key, measure] of [
    ['loss_up_1', 'stack → kernel, 1 % loss, 10 ms RTT'],
    ['loss_down_1', 'kernel → stack, 1 % loss, 10 ms RTT'],
  ] as const) {
    const target = '≥ 0.8 × kernel↔kernel under the same netem';
    const l = r.loss;
    const row = l?.rows.find((x) => x.key === key);
    if (!l || !row || row.netstack.length === 0) {
      rows.push(blank(measure, target, missing('loss')));
      continue;
    }
    const n = lossMedian(row, 'netstack');
    const netText = `${(n * 1000).toFixed(1)} Mbit/s (\`--impair ${IMPAIR}\`)`;
    const mbit = (k: string): string => `${(lossMedian(row, k) * 1000).toFixed(1)} Mbit/s`;
    if (l.baselineMissing !== undefined) {
      const relay = l.variants.filter((v) => v.path === 'relay').map((v) => `${mbit(v.key)} (${v.cc ?? l.defaultCc})`);
      const emu = relay.length ? `; emulated by a C relay instead: ${relay.join(', ')}` : '';
      rows.push({ measure, target, netstack: netText, baseline: `n/a (${l.baselineMissing})${emu}`, ratio: 'n/a', status: 'n/a (no netem baseline)', values: { netstack: n, baseline: NaN, ratio: NaN } });
      continue;
    }
    const b = lossMedian(row, 'netem');
    const ratio = pairedRatio(row.netstack, row.kernel['netem'] ?? []);
    const cubic = row.kernel['netem_cubic'] ? `; with cubic ${mbit('netem_cubic')}` : '';
    rows.push({ measure, target, netstack: netText, baseline: `${mbit('netem')} (kernel↔kernel veth + netem, ${l.defaultCc})${cubic}`, ratio: ratioText(ratio), status: atLeast(ratio, 0.8), values: { netstack: n, baseline: b, ratio } });
  }

  // Multi-queue.
  {
    const measure = 'multi-queue: 8 flows, `host --shards 2` over `--shards 1`';
    const target = 'report the scaling';
    const one = r.host?.rows.find((x) => x.key === 'shards1_down_8');
    const two = r.host?.rows.find((x) => x.key === 'shards2_down_8');
    const oneUp = r.host?.rows.find((x) => x.key === 'shards1_up_8');
    const twoUp = r.host?.rows.find((x) => x.key === 'shards2_up_8');
    if (!one || !two || one.runs.length === 0 || two.runs.length === 0) rows.push(blank(measure, target, two?.status ?? one?.status ?? missing('host')));
    else {
      const s = r.host!.shardScaling;
      const parts = [`kernel → stack ${median(two.runs).toFixed(2)} vs ${median(one.runs).toFixed(2)} Gbit/s`];
      if (oneUp && twoUp && oneUp.runs.length && twoUp.runs.length) parts.push(`stack → kernel ${median(twoUp.runs).toFixed(2)} vs ${median(oneUp.runs).toFixed(2)}`);
      rows.push({ measure, target, netstack: parts.join('; '), baseline: '— (1 shard is the reference)', ratio: `${ratioText(s.down ?? NaN)}× / ${ratioText(s.up ?? NaN)}×`, status: 'reported', values: { netstack: median(two.runs), baseline: median(one.runs), ratio: s.down ?? NaN } });
    }
  }
  void quick;
  return rows;
}

export function targetsTable(rows: TargetRow[]): string[] {
  return [
    '| measure | target | netstack | same-run baseline | ratio | status |',
    '|---|---|---:|---:|---:|---|',
    ...rows.map((t) => `| ${t.measure} | ${t.target} | ${t.netstack} | ${t.baseline} | ${t.ratio} | ${t.status} |`),
  ];
}

/** The detailed tables of every part that ran. */
export function detailTables(r: BenchResults): string[] {
  const out: string[] = [];
  if (r.udp) {
    out.push(
      '',
      '#### UDP echo and ping (netstack host vs the C echo on its own TUN device)',
      '',
      '| measure | netstack | C echo | ratio netstack / C |',
      '|---|---:|---:|---:|',
      ...r.udp.rows.map((x) => `| ${x.label} (${x.unit}, ${x.higherIsBetter ? 'higher' : 'lower'} is better) | ${fmt(x.netstack)} | ${fmt(x.c)} | ${x.ratio.toFixed(2)} |`),
      '',
      `Medians of ${r.udp.repetitions} run(s); the ratio is the median of the per-run ratios (both targets measured back to back).`,
    );
  }
  if (r.tcp) {
    out.push(
      '',
      '#### TCP over TUN, no offloads (the stack in the benchmark process) vs kernel↔kernel over veth',
      '',
      ...tcpTable(r.tcp),
      '',
      `Medians of ${r.tcp.repetitions} run(s) of ${r.tcp.seconds} s after a 1 s warm-up; ratios are medians of the per-run ratios.`,
      ...r.tcp.notes.map((n) => `Note: ${n}.`),
    );
  }
  if (r.memory) {
    const m = r.memory;
    out.push('', '#### Two stacks in one process over the in-memory link (one flow, wall clock)', '', '| MTU | Gbit/s (median) | runs | data verified | retransmits |', '|---:|---:|---|---:|---:|');
    for (const mtu of ['1500', '65535'] as const) {
      const runs = m.runs[mtu];
      if (runs.length === 0) continue;
      out.push(`| ${mtu} | ${median(runs.map((x) => x.gbps)).toFixed(2)} | ${runs.map((x) => x.gbps.toFixed(2)).join(', ')} | ${(runs.reduce((s, x) => s + x.verified, 0) / 2 ** 30).toFixed(1)} GiB | ${runs.reduce((s, x) => s + x.retransmits, 0)} |`);
    }
    out.push('', `Each run ${m.seconds} s after a 1 s warm-up; every byte delivered is compared with what was sent. tcpip.js: ${TCPIP_JS_GBPS} Gbit/s (from the issue text, not measured here).`);
  }
  if (r.http) {
    const h = r.http;
    out.push('', '#### HTTP with wrk (-t2 -c64): Node `http` over netstack vs the same server over the kernel TCP (loopback)', '');
    if (h.skipped) out.push(`Not measured: ${h.skipped}.`);
    else {
      out.push(
        '| measure | netstack | kernel TCP | ratio |',
        '|---|---:|---:|---:|',
        ...h.rows.map((x) => `| ${x.label} (${x.unit}) | ${fmt(httpMedian(x, 'netstack'))} | ${fmt(httpMedian(x, 'kernel'))} | ${ratioText(pairedRatio(x.netstack.map((y) => y.rps), x.kernel.map((y) => y.rps)))} |`),
        '',
        `Medians of ${h.repetitions} run(s) of ${h.seconds} s each.`,
      );
    }
    out.push(...h.notes.map((n) => `Note: ${n}.`));
  }
  if (r.idle) {
    const i = r.idle;
    out.push(
      '',
      '#### Concurrent idle TCP connections (kernel → netstack host, ports 7 and 9)',
      '',
      '| target | established (kernel) | tcp.established (stack) | failed | still open at the end | RSS before | RSS held | per connection | connect time | held for |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      `| ${i.target} | ${i.established} | ${i.stackEstablished ?? 'n/a'} | ${i.failed} | ${i.stillOpen} | ${(i.rssBeforeKiB / 1024).toFixed(0)} MiB | ${(i.rssHeldKiB / 1024).toFixed(0)} MiB | ${i.bytesPerConnection.toFixed(0)} B | ${i.connectSeconds.toFixed(1)} s | ${i.holdSeconds} s |`,
    );
    if (i.note) out.push('', `Note: ${i.note}.`);
  }
  if (r.host) {
    const h = r.host;
    out.push('', '#### TCP through `netstack host` processes (tcp_bulk from the kernel side: discard / chargen)', '', '| measure | Gbit/s (median) | runs |', '|---|---:|---|');
    for (const x of h.rows) out.push(`| ${x.label} | ${x.runs.length ? median(x.runs).toFixed(2) : (x.status ?? 'n/a')} | ${x.runs.map((v) => v.toFixed(2)).join(', ')} |`);
    out.push('', `Each run ${h.seconds} s; ${h.repetitions} run(s).`, ...h.notes.map((n) => `Note: ${n}.`));
  }
  if (r.loss) {
    const l = r.loss;
    out.push(
      '',
      `#### Lossy path: netstack host \`--impair ${IMPAIR}\` vs kernel↔kernel under the same impairment`,
      '',
      `| measure | netstack | ${l.variants.map((v) => v.label).join(' | ')} | ${l.variants.map((v) => `netstack / ${v.key}`).join(' | ')} |`,
      `|---|---:|${l.variants.map(() => '---:|').join('')}${l.variants.map(() => '---:|').join('')}`,
    );
    for (const x of l.rows) {
      const cells = l.variants.map((v) => (lossMedian(x, v.key) * 1000).toFixed(1));
      const ratios = l.variants.map((v) => ratioText(pairedRatio(x.netstack, x.kernel[v.key] ?? [])));
      out.push(`| ${x.label} (Mbit/s) | ${(lossMedian(x, 'netstack') * 1000).toFixed(1)} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
    }
    out.push('', `Each run ${l.seconds} s; ${l.repetitions} run(s).${l.baselineMissing ? ` No netem baseline: ${l.baselineMissing}.` : ''}`, ...l.notes.map((n) => `Note: ${n}.`));
  }
  for (const [part, err] of Object.entries(r.errors)) out.push('', `**${part} failed:** ${err}`);
  return out;
}

/** The flat figures: netstack's (checked by --check) and the same-run baselines (shown). */
export function figures(r: BenchResults): Figure[] {
  const f: Figure[] = [];
  let part = '';
  const add = (key: string, label: string, unit: string, value: number, higherIsBetter: boolean, source: Figure['source']): void => {
    if (Number.isFinite(value)) f.push({ key, label, unit, value: Number(value.toPrecision(4)), higherIsBetter, source, part });
  };
  part = 'udp';
  for (const x of r.udp?.rows ?? []) {
    add(x.key, x.label, x.unit, x.netstack, x.higherIsBetter, 'netstack');
    add(`${x.key}.c_echo`, `${x.label}, C echo`, x.unit, x.c, x.higherIsBetter, 'baseline');
  }
  part = 'tcp';
  for (const x of r.tcp?.rows ?? []) {
    add(x.key, x.label, 'Gbit/s', median(x.netstack), true, 'netstack');
    add(`${x.key}.kernel_on`, `${x.label}, kernel veth offloads on`, 'Gbit/s', median(x.kernelOffloadOn), true, 'baseline');
    add(`${x.key}.kernel_off`, `${x.label}, kernel veth offloads off`, 'Gbit/s', median(x.kernelOffloadOff), true, 'baseline');
  }
  part = 'memory';
  for (const mtu of ['1500', '65535'] as const) {
    const runs = r.memory?.runs[mtu] ?? [];
    add(`mem_${mtu}_gbps`, `in-memory link, MTU ${mtu}, one flow`, 'Gbit/s', median(runs.map((x) => x.gbps)), true, 'netstack');
  }
  part = 'http';
  for (const x of r.http?.rows ?? []) {
    add(x.key, x.label, x.unit, httpMedian(x, 'netstack'), true, 'netstack');
    add(`${x.key}.kernel`, `${x.label}, kernel TCP`, x.unit, httpMedian(x, 'kernel'), true, 'baseline');
  }
  part = 'idle';
  if (r.idle) {
    add('idle_bytes_per_conn', `idle connections (${r.idle.target}), host RSS per connection`, 'B', r.idle.bytesPerConnection, false, 'netstack');
    add('idle_established', `idle connections established (of ${r.idle.target})`, 'connections', r.idle.established, true, 'netstack');
  }
  part = 'host';
  for (const x of r.host?.rows ?? []) add(x.key, x.label, 'Gbit/s', median(x.runs), true, 'netstack');
  part = 'loss';
  for (const x of r.loss?.rows ?? []) {
    add(x.key, x.label, 'Mbit/s', lossMedian(x, 'netstack') * 1000, true, 'netstack');
    for (const v of r.loss!.variants) add(`${x.key}.${v.key}`, `${x.label}, ${v.label}`, 'Mbit/s', lossMedian(x, v.key) * 1000, true, 'baseline');
  }
  return f;
}
