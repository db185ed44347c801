/**
 * Human-readable, aligned counter tables for `netstack host` (printed on SIGUSR1 and every
 * --stats seconds). Pure formatting: no I/O.
 */

export type CounterValues = Record<string, number | bigint | string | boolean | undefined | null>;

export interface TableSection {
  title: string;
  values: CounterValues;
}

/**
 * Formats sections as one aligned two-column table: names left-aligned, numbers right-aligned,
 * each section under its title. Zero-length sections print "(none)".
 */
export function formatCounters(header: string, sections: TableSection[]): string {
  const rows: Array<[string, string] | string> = [];
  let nameWidth = 0;
  let valueWidth = 0;
  for (const s of sections) {
    rows.push(s.title);
    const keys = Object.keys(s.values).filter((k) => s.values[k] !== undefined && s.values[k] !== null);
    if (keys.length === 0) {
      rows.push(['(none)', '']);
      continue;
    }
    for (const k of keys) {
      const v = s.values[k];
      const text = typeof v === 'number' ? formatNumber(v) : String(v);
      rows.push([k, text]);
      nameWidth = Math.max(nameWidth, k.length);
      valueWidth = Math.max(valueWidth, text.length);
    }
  }
  const lines = [header];
  for (const r of rows) {
    if (typeof r === 'string') lines.push(r);
    else lines.push(`  ${r[0].padEnd(nameWidth)}  ${r[1].padStart(valueWidth)}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(3);
}

/** Flattens nested objects into dotted keys (`{a: {b: 1}}` → `{'a.b': 1}`), for link stats. */
export function flatten(obj: unknown, prefix = '', out: CounterValues = {}): CounterValues {
  if (obj === null || obj === undefined) return out;
  if (typeof obj !== 'object') {
    out[prefix || 'value'] = obj as number;
    return out;
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) flatten(v, key, out);
    else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string' || typeof v === 'boolean') out[key] = v;
  }
  return out;
}
