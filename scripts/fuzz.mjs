#!/usr/bin/env node
/**
 * The stack fuzzer (src/fuzz/stack-fuzz.ts), run long: `npm run fuzz -- --minutes N [--seed S]`.
 *
 *   node scripts/fuzz.mjs --minutes 10            seeds 1, 2, 3, ... for 10 minutes (default 1)
 *   node scripts/fuzz.mjs --seed 1234 [--count n]  from seed 1234 (n seeds, or until --minutes)
 *   node scripts/fuzz.mjs --replay FILE.json      replays a saved case verbosely
 *   node scripts/fuzz.mjs --write-seeds           rewrites test/fuzz/seeds/*.pcap (the clean captures)
 *   --injections N   injection events per run (default 300)
 *   --no-minimize    save failing cases as found (default: shrink them first)
 *
 * Needs `npm run build` first (npm run fuzz does it). On a failure the case (parameters and
 * the exact injected frames, hex) is saved to test/fuzz/regressions/<name>.json, which
 * test/unit/fuzz-regressions.test.ts replays on every `npm test`, and the replay command is
 * printed. Exit status 1 when anything failed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist', 'src');
let fz, pcap;
try {
  fz = await import(join(dist, 'fuzz', 'stack-fuzz.js'));
  pcap = await import(join(dist, 'link', 'pcap.js'));
} catch (e) {
  console.error(`cannot load dist/src/fuzz (${e.message}); run 'npm run build' first`);
  process.exit(2);
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined) {
    console.error(`${name} needs a value`);
    process.exit(2);
  }
  return v;
}
const has = (name) => process.argv.includes(name);

const regressionsDir = join(root, 'test', 'fuzz', 'regressions');
const seedsDir = join(root, 'test', 'fuzz', 'seeds');

function printResult(label, r) {
  console.log(`${label}: ${r.ok ? 'ok' : 'FAILED'} injected=${r.injected} skipped=${r.skipped ?? 0} dropped=${r.fate.dropped} accepted=${r.fate.accepted} silent=${r.fate.silent} udp_echoes=${r.udpEchoes} ping_replies=${r.pingReplies} virtual=${r.timeMs.toFixed(1)}ms`);
  for (const f of r.failures) console.log(`  - ${f}`);
}

if (has('--replay')) {
  const file = arg('--replay');
  const c = JSON.parse(readFileSync(file, 'utf8'));
  console.log(`replaying ${file}: ${JSON.stringify(c.params)}, ${c.injections.length} injection(s)`);
  for (const [i, inj] of c.injections.entries()) {
    console.log(`  #${i} t=${inj.t} -> ${inj.target}: ${inj.ops.join(' ')} (${inj.frames.map((h) => h.length / 2).join('+')} bytes)`);
  }
  const r = fz.runFuzzCase(c);
  printResult('result', r);
  console.log('drops:', JSON.stringify(r.drops));
  console.log('injected frames by drop reason:', JSON.stringify(r.dropReasons));
  process.exit(r.ok ? 0 : 1);
}

if (has('--write-seeds')) {
  mkdirSync(seedsDir, { recursive: true });
  for (const kind of ['ethernet', 'ip']) {
    for (const family of [4, 6]) {
      const p = { ...fz.DEFAULT_FUZZ_PARAMS, seed: 1, kind, family };
      const cap = fz.captureTraffic(p);
      const chunks = [pcap.pcapFileHeader(pcap.pcapLinkType(kind))];
      for (const f of cap.frames) {
        const h = new DataView(new ArrayBuffer(16));
        const us = Math.round(f.t * 1000);
        h.setUint32(0, Math.floor(us / 1e6), true);
        h.setUint32(4, us % 1e6, true);
        h.setUint32(8, f.frame.length, true);
        h.setUint32(12, f.frame.length, true);
        chunks.push(new Uint8Array(h.buffer), f.frame);
      }
      const file = join(seedsDir, `clean-${kind}-v${family}.pcap`);
      writeFileSync(file, Buffer.concat(chunks));
      console.log(`wrote ${relative(root, file)} (${cap.frames.length} frames)`);
    }
  }
  process.exit(0);
}

const minutes = Number(arg('--minutes', has('--count') ? '1e9' : '1'));
const count = Number(arg('--count', 'Infinity'));
const first = Number(arg('--seed', '1'));
const injections = Number(arg('--injections', String(fz.DEFAULT_FUZZ_PARAMS.injections)));
if (!(minutes > 0) || !Number.isFinite(first) || !(injections >= 0)) {
  console.error('usage: fuzz.mjs [--minutes N] [--seed S] [--count n] [--injections N] | --replay FILE | --write-seeds');
  process.exit(2);
}
const deadline = Date.now() + minutes * 60_000;
let runs = 0;
let failed = 0;
let injected = 0;
const reasons = {};
let lastReport = Date.now();
const t0 = Date.now();
for (let seed = first; Date.now() < deadline && runs < count; seed++) {
  const params = fz.fuzzParamsForSeed(seed >>> 0, { injections });
  let fuzzCase, result;
  try {
    ({ fuzzCase, result } = fz.fuzzOnce(params));
  } catch (e) {
    // An exception out of the harness itself (not caught by a stack): also a finding.
    fuzzCase = { version: 1, params, injections: [], filtered: 0 };
    result = { ok: false, failures: [`harness exception: ${e.stack ?? e}`], fate: { dropped: 0, accepted: 0, silent: 0 }, injected: 0, timeMs: 0, udpEchoes: 0, pingReplies: 0 };
  }
  runs++;
  injected += result.injected;
  for (const [k, v] of Object.entries(result.dropReasons ?? {})) reasons[k] = (reasons[k] ?? 0) + v;
  if (!result.ok) {
    failed++;
    printResult(`seed ${seed} (${params.kind}, IPv${params.family}, target ${params.target})`, result);
    let saved = fuzzCase;
    if (!has('--no-minimize') && fuzzCase.injections.length > 0) {
      saved = fz.minimizeFuzzCase(fuzzCase);
      console.log(`  minimized to ${saved.injections.length} injection(s)`);
    }
    saved.failures = fz.runFuzzCase(saved).failures;
    mkdirSync(regressionsDir, { recursive: true });
    const file = join(regressionsDir, `seed-${seed}-${params.kind}-v${params.family}.json`);
    writeFileSync(file, JSON.stringify(saved, null, 1) + '\n');
    console.log(`  saved ${relative(root, file)}`);
    console.log(`  replay: npm run build && node scripts/fuzz.mjs --replay ${relative(root, file)}`);
  }
  if (Date.now() - lastReport > 10_000) {
    lastReport = Date.now();
    console.log(`... ${runs} runs (seeds ${first}..${seed}), ${injected} injections, ${failed} failed, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
}
const top = Object.entries(reasons).sort((a, b) => b[1] - a[1]);
console.log(`${runs} runs (seeds ${first}..${first + runs - 1}), ${injected} injections in ${((Date.now() - t0) / 1000).toFixed(1)} s, ${failed} failed`);
console.log(`injections by drop reason (${top.length} reasons): ${top.map(([k, v]) => `${k}=${v}`).join(' ')}`);
process.exit(failed > 0 ? 1 : 0);
