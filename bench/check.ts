/**
 * The regression check (`npm run bench -- --check`): a quick run compared with the figures kept
 * in the repository for the same kind of machine (bench/baselines/<kind>.json, written by
 * `--save-baseline`). A netstack figure worse than its kept value by more than the tolerance
 * (30 %) fails the check, in the direction that matters for it (throughput down, round trip or
 * memory up). The same-run baselines (kernel, C echo) are kept too, but only shown: they tell
 * whether the machine itself got slower or busier, which is worth knowing before blaming a
 * change.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fmt, root } from './util.js';

export const TOLERANCE = 0.3;

export interface Figure {
  key: string;
  label: string;
  unit: string;
  value: number;
  higherIsBetter: boolean;
  /** netstack's own figure (checked) or a same-run baseline (shown only). */
  source: 'netstack' | 'baseline';
  /** The benchmark part that measures it (udp, tcp, ...): what to re-run to confirm. */
  part?: string;
}

export interface BaselineFile {
  kind: string;
  machine: Record<string, unknown>;
  quick: boolean;
  date: string;
  figures: Figure[];
}

/**
 * Machine kind: CPU count, CPU model and memory class (total memory rounded to a power of two
 * GiB), e.g. `2cpu-amd-epyc-32gib`. Figures are only comparable within one kind.
 */
export function machineKind(): string {
  const model = (cpus()[0]?.model ?? 'unknown-cpu')
    .toLowerCase()
    .replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, ' ')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  const gib = totalmem() / 2 ** 30;
  const memClass = 2 ** Math.round(Math.log2(Math.max(1, gib)));
  return `${availableParallelism()}cpu-${model}-${memClass}gib`;
}

export function baselinePath(kind = machineKind()): string {
  return join(root, 'bench', 'baselines', `${kind}.json`);
}

export function saveBaseline(figures: Figure[], machine: Record<string, unknown>, quick: boolean): string {
  const kind = machineKind();
  const file: BaselineFile = { kind, machine, quick, date: new Date().toISOString(), figures: figures.filter((f) => Number.isFinite(f.value)) };
  const path = baselinePath(kind);
  mkdirSync(join(root, 'bench', 'baselines'), { recursive: true });
  writeFileSync(path, JSON.stringify(file, null, 2) + '\n');
  return path;
}

export interface CheckOutcome {
  ok: boolean;
  lines: string[];
  regressions: string[];
  /** Keys of the kept figures that are worse (or missing). */
  regressedKeys: string[];
}

/**
 * Figure by figure, the better of two measurements (direction-aware): a regression must show
 * in both before the check believes it.
 */
export function bestOf(a: Figure[], b: Figure[]): Figure[] {
  const out = new Map(a.map((f) => [f.key, f]));
  for (const f of b) {
    const prev = out.get(f.key);
    if (prev === undefined || improvement(f, prev.value, f.value) > 0) out.set(f.key, f);
  }
  return [...out.values()];
}

/** Relative change in the good direction: +0.1 = 10 % better, -0.4 = 40 % worse. */
export function improvement(f: Pick<Figure, 'higherIsBetter'>, kept: number, now: number): number {
  return f.higherIsBetter ? (now - kept) / kept : (kept - now) / kept;
}

/**
 * Compares `figures` with the kept ones. A kept netstack figure that this run did not produce
 * (a part failed) counts as a regression, unless `partial` (only some parts were run).
 */
export function checkAgainstBaseline(figures: Figure[], quick: boolean, partial = false, path = baselinePath()): CheckOutcome {
  if (!existsSync(path)) {
    return {
      ok: false,
      regressions: [],
      regressedKeys: [],
      lines: [`No kept figures for this machine kind (${machineKind()}): ${path} does not exist.`, 'Record them on a quiet machine with: npm run bench -- --quick --save-baseline'],
    };
  }
  const kept = JSON.parse(readFileSync(path, 'utf8')) as BaselineFile;
  const lines: string[] = [
    `Regression check against ${path.startsWith(root) ? path.slice(root.length + 1) : path} (${kept.quick ? 'quick' : 'full'} run of ${kept.date}); a netstack figure more than ${TOLERANCE * 100} % worse fails.`,
  ];
  if (kept.quick !== quick) lines.push(`Note: the kept figures come from a ${kept.quick ? 'quick' : 'full'} run, this one is ${quick ? 'quick' : 'full'}.`);
  lines.push('', '| figure | kept | now | change (+ = better) | verdict |', '|---|---:|---:|---:|---|');
  const regressions: string[] = [];
  const regressedKeys: string[] = [];
  const now = new Map(figures.map((f) => [f.key, f]));
  for (const k of kept.figures) {
    const f = now.get(k.key);
    const label = `${k.label} (${k.unit})${k.source === 'baseline' ? ' [same-run baseline, not checked]' : ''}`;
    if (f === undefined || !Number.isFinite(f.value)) {
      lines.push(`| ${label} | ${fmt(k.value)} | not measured | | ${k.source === 'netstack' ? 'missing' : ''} |`);
      continue;
    }
    const change = improvement(k, k.value, f.value);
    let verdict = '';
    if (k.source === 'netstack') {
      verdict = change < -TOLERANCE ? 'WORSE' : 'ok';
      if (verdict === 'WORSE') regressedKeys.push(k.key);
      if (verdict === 'WORSE') regressions.push(`${k.label}: ${fmt(k.value)} → ${fmt(f.value)} ${k.unit} (${(change * 100).toFixed(0)} %)`);
    }
    lines.push(`| ${label} | ${fmt(k.value)} | ${fmt(f.value)} | ${(change * 100).toFixed(0)} % | ${verdict} |`);
  }
  const missing = kept.figures.filter((k) => k.source === 'netstack' && !Number.isFinite(now.get(k.key)?.value ?? NaN));
  const added = figures.filter((f) => f.source === 'netstack' && Number.isFinite(f.value) && !kept.figures.some((k) => k.key === f.key));
  if (added.length > 0) lines.push('', `Not in the kept figures (not checked): ${added.map((f) => f.key).join(', ')}.`);
  if (missing.length > 0) {
    lines.push('', `Kept but not measured in this run${partial ? ' (only some parts were run)' : ''}: ${missing.map((f) => f.key).join(', ')}.`);
    if (!partial) {
      for (const m of missing) {
        regressions.push(`${m.label}: not measured in this run`);
        regressedKeys.push(m.key);
      }
    }
  }
  lines.push('', regressions.length === 0 ? 'Check passed: no netstack figure is more than 30 % worse.' : `Check FAILED: ${regressions.length} figure(s) more than 30 % worse:`, ...regressions.map((r) => `- ${r}`));
  return { ok: regressions.length === 0, lines, regressions, regressedKeys };
}
