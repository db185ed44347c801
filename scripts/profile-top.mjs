#!/usr/bin/env node
/**
 * Prints the top functions by self time (and by total time) of a V8 .cpuprofile written by
 * `node --cpu-prof`. Usage: node scripts/profile-top.mjs FILE.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';

process.stdout.on('error', () => process.exit(0));

const file = process.argv[2];
const n = Number(process.argv[3] ?? 30);
if (!file) {
  process.stderr.write('usage: node scripts/profile-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((x) => [x.id, x]));
const self = new Map();
const counts = new Map();
for (const s of prof.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
const total = prof.samples.length;
const parent = new Map();
for (const node of prof.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
const label = (node) => {
  const f = node.callFrame;
  const url = f.url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '');
  return `${f.functionName || '(anon)'} ${url ? url + ':' + (f.lineNumber + 1) : ''}`.trim();
};
const incl = new Map();
for (const [id, k] of counts) {
  const node = byId.get(id);
  const l = label(node);
  self.set(l, (self.get(l) ?? 0) + k);
  // Inclusive: count each distinct label once per stack.
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const lab = label(byId.get(cur));
    if (seen.has(lab)) continue;
    seen.add(lab);
    incl.set(lab, (incl.get(lab) ?? 0) + k);
  }
}
const pct = (k) => ((100 * k) / total).toFixed(1).padStart(5) + '%';
const idle = self.get('(idle)') ?? 0;
process.stdout.write(`samples: ${total} (idle ${pct(idle)}, busy ${pct(total - idle)})\n\nself time:\n`);
for (const [l, k] of [...self].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(k)}  ${l}\n`);
process.stdout.write('\ninclusive time:\n');
for (const [l, k] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(k)}  ${l}\n`);

// `--callers NAME`: who calls functions named NAME (self samples of NAME by caller label).
const ci = process.argv.indexOf('--callers');
if (ci > 0) {
  const name = process.argv[ci + 1];
  const by = new Map();
  for (const [id, k] of counts) {
    const node = byId.get(id);
    if (node.callFrame.functionName !== name) continue;
    // The nearest caller that is not a wrapper of the same name or a Node internal.
    let p = parent.get(id);
    const chain = [];
    while (p !== undefined && chain.length < 4) {
      const lab = label(byId.get(p));
      if (!/^now |node:internal|runtime\.js/.test(lab)) chain.push(lab.replace(/ src\//, ' '));
      p = parent.get(p);
    }
    const l = chain.join(' < ') || '(none)';
    by.set(l, (by.get(l) ?? 0) + k);
  }
  process.stdout.write(`\ncallers of ${name} (self samples):\n`);
  for (const [l, k] of [...by].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${pct(k)}  ${l}\n`);
}

// `--lines NAME`: self samples of functions named NAME by source line (positionTicks).
const li = process.argv.indexOf('--lines');
if (li > 0) {
  const name = process.argv[li + 1];
  const lines = new Map();
  for (const node of prof.nodes) {
    if (node.callFrame.functionName !== name) continue;
    for (const t of node.positionTicks ?? []) lines.set(t.line, (lines.get(t.line) ?? 0) + t.ticks);
  }
  process.stdout.write(`\nlines of ${name} (self ticks; JS line numbers of dist/):\n`);
  for (const [l, k] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, n)) process.stdout.write(`${String(k).padStart(6)}  line ${l}\n`);
}
