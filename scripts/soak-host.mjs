#!/usr/bin/env node
/**
 * `netstack host` with memory and connection-table sampling, for scripts/soak.mjs. Run it with
 * --expose-gc:
 *
 *   node --expose-gc scripts/soak-host.mjs OUT_DIR host --netns NAME ...
 *
 * It runs the real command (dist/src/cli/main.js with the remaining arguments, unchanged); the
 * only addition is observation:
 *
 * - It notes the Stack the command creates (a wrapper around Stack.prototype.addInterface, the
 *   same module instance the command imports), to read its TCP connection table: the size of the
 *   table (every state but LISTEN, TIME-WAIT included: TcpLayer.connectionCount) and a tally by
 *   RFC 9293 state. Once a second it tallies the states and keeps the peaks (the tally walks the
 *   table, cheap at this rate even with 262,144 entries).
 * - On SIGUSR2 it reads OUT_DIR/request (a JSON {"seq":N,"label":...,"gc":true|false}), with
 *   "gc" runs a full garbage collection (twice: finalizers run by the first free more on the
 *   second; with tens of thousands of connections on a loaded machine this stalls the host for
 *   seconds, so the soak asks for it only at its named sample points), and writes
 *   OUT_DIR/sample.json (atomically, by rename) with process.memoryUsage(), the table counts,
 *   the peaks since the previous sample and overall, and the stack's counters.
 *
 * The counter tables the host prints on SIGUSR1 have no current-connections figure, hence this.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [outDir, ...hostArgs] = process.argv.slice(2);
if (!outDir || hostArgs.length === 0) {
  process.stderr.write('usage: node --expose-gc scripts/soak-host.mjs OUT_DIR host [options]\n');
  process.exit(2);
}
if (typeof globalThis.gc !== 'function') {
  process.stderr.write('soak-host: run with --expose-gc\n');
  process.exit(2);
}

const { Stack } = await import(pathToFileURL(join(root, 'dist', 'src', 'stack.js')).href);
/** The stacks the command created (one for `host`). */
const stacks = [];
const addInterface = Stack.prototype.addInterface;
Stack.prototype.addInterface = function (...args) {
  if (!stacks.includes(this)) stacks.push(this);
  return addInterface.apply(this, args);
};

function tally() {
  const states = {};
  let total = 0;
  for (const stack of stacks) {
    // TcpLayer.conns is private in TypeScript only; reading it changes nothing.
    for (const c of stack.tcp.conns.values()) {
      states[c.stateName] = (states[c.stateName] ?? 0) + 1;
      total++;
    }
  }
  return { total, states };
}

const peakOverall = { total: 0, timeWait: 0 };
let peakInterval = { total: 0, timeWait: 0 };
function track() {
  const t = tally();
  const tw = t.states['TIME-WAIT'] ?? 0;
  for (const p of [peakOverall, peakInterval]) {
    p.total = Math.max(p.total, t.total);
    p.timeWait = Math.max(p.timeWait, tw);
  }
  return t;
}
setInterval(track, 1000).unref();

process.on('SIGUSR2', () => {
  let req = { seq: -1, label: '', gc: true };
  try {
    req = JSON.parse(readFileSync(join(outDir, 'request'), 'utf8'));
  } catch {
    /* answer anyway, with seq -1 */
  }
  const t0 = performance.now();
  if (req.gc !== false) {
    globalThis.gc();
    globalThis.gc();
  }
  const gcMs = performance.now() - t0;
  const t = track();
  const stack = stacks[0];
  const sample = {
    seq: req.seq,
    label: req.label,
    time: Date.now(),
    gc: req.gc !== false,
    gcMs: Math.round(gcMs * 10) / 10,
    memory: process.memoryUsage(),
    connections: t.total,
    connectionCount: stacks.reduce((n, s) => n + s.tcp.connectionCount, 0),
    states: t.states,
    peakInterval,
    peakOverall: { ...peakOverall },
    pmtuEntries: stack ? stack.tcp.pmtuEntries : 0,
    counters: stack ? stack.counters.snapshot() : {},
  };
  peakInterval = { total: t.total, timeWait: t.states['TIME-WAIT'] ?? 0 };
  const tmp = join(outDir, 'sample.json.tmp');
  writeFileSync(tmp, JSON.stringify(sample));
  renameSync(tmp, join(outDir, 'sample.json'));
});

// The command reads process.argv itself when its module is loaded.
const main = join(root, 'dist', 'src', 'cli', 'main.js');
process.argv = [process.argv[0], main, ...hostArgs];
await import(pathToFileURL(main).href);
