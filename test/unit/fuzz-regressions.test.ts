/**
 * Replays the fuzzer's saved cases (test/fuzz/):
 *  - regressions/*.json: failing cases saved by `npm run fuzz`; each must now pass;
 *  - known-issues/*.json: failures found and reported but not fixed yet (TCP): `todo` tests,
 *    which start passing once fixed (then move the file to regressions/; none at the moment);
 *  - seeds/seeds.json: corpus seeds, generated and run on every test run (so this file never
 *    passes vacuously), and seeds/*.pcap: the clean captures, mutated and fed to a fresh stack.
 * Replay one verbosely: `npm run build && node scripts/fuzz.mjs --replay test/fuzz/<dir>/<file>.json`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_FUZZ_PARAMS,
  fuzzCorpusFrames,
  fuzzOnce,
  readPcap,
  runFuzzCase,
  type FuzzCase,
  type FuzzParams,
} from '../../src/fuzz/stack-fuzz.js';

// dist/test/unit → the source tree's test/fuzz.
const fuzzDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fuzz');
const jsonFiles = (dir: string): string[] =>
  existsSync(join(fuzzDir, dir)) ? readdirSync(join(fuzzDir, dir)).filter((f) => f.endsWith('.json')).sort() : [];
const replayCmd = (rel: string): string => `npm run build && node scripts/fuzz.mjs --replay test/fuzz/${rel}`;

/**
 * A case either must pass every invariant, or (with `expect`) is one whose transfer cannot
 * succeed by construction and only bounds some drop counters (and never sees an exception).
 */
type RegressionCase = FuzzCase & { expect?: { maxDrops: Record<string, Record<string, number>> } };

for (const f of jsonFiles('regressions')) {
  test(`regression ${f}`, () => {
    const c = JSON.parse(readFileSync(join(fuzzDir, 'regressions', f), 'utf8')) as RegressionCase;
    const r = runFuzzCase(c);
    const why = `replay: ${replayCmd('regressions/' + f)}`;
    if (!c.expect) {
      assert.deepEqual(r.failures, [], why);
      return;
    }
    assert.deepEqual(r.failures.filter((x) => /exception|internal_error|add up|vanished/.test(x)), [], why);
    for (const [side, limits] of Object.entries(c.expect.maxDrops)) {
      for (const [reason, max] of Object.entries(limits)) {
        const n = r.drops[side]?.[reason] ?? 0;
        assert.ok(n <= max, `${side} drop.${reason} = ${n} > ${max}; ${why}`);
      }
    }
  });
}

for (const f of jsonFiles('known-issues')) {
  const c = JSON.parse(readFileSync(join(fuzzDir, 'known-issues', f), 'utf8')) as FuzzCase;
  test(`known issue ${f}: ${(c.failures ?? [])[0] ?? ''}`, { todo: `replay: ${replayCmd('known-issues/' + f)}` }, () => {
    const r = runFuzzCase(c);
    assert.deepEqual(r.failures, []);
  });
}

const seedsFile = join(fuzzDir, 'seeds', 'seeds.json');
test('the seed corpus exists', () => {
  assert.ok(existsSync(seedsFile), `${seedsFile} is missing`);
});
const corpus = existsSync(seedsFile) ? (JSON.parse(readFileSync(seedsFile, 'utf8')) as { cases: Array<Partial<FuzzParams> & { seed: number }> }).cases : [];
for (const p of corpus) {
  test(`corpus seed ${p.seed} (${p.kind}, IPv${p.family}, target ${p.target})`, () => {
    const { result } = fuzzOnce({ ...DEFAULT_FUZZ_PARAMS, ...p });
    assert.ok(result.injected > 100);
    assert.deepEqual(result.failures, [], `replay: npm run build && node scripts/fuzz.mjs --seed ${p.seed} --count 1`);
  });
}

const pcaps = existsSync(join(fuzzDir, 'seeds')) ? readdirSync(join(fuzzDir, 'seeds')).filter((f) => f.endsWith('.pcap')).sort() : [];
test('the seed corpus has pcap captures', () => assert.ok(pcaps.length > 0));
for (const f of pcaps) {
  test(`corpus capture ${f}: mutated frames into a fresh stack`, () => {
    const p = readPcap(readFileSync(join(fuzzDir, 'seeds', f)));
    assert.ok(typeof p !== 'string', String(p));
    assert.ok(p.frames.length > 100);
    const r = fuzzCorpusFrames(p.frames, p.linkType === 1 ? 'ethernet' : 'ip', 7, 2);
    assert.deepEqual(r.failures, []);
    assert.ok(r.dropped > r.injected / 2);
  });
}
