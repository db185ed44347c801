/**
 * The benchmark's own logic that decides figures and verdicts (bench/): the regression check's
 * direction-aware comparison, wrk output parsing, and the in-memory flow's data check. No
 * timing thresholds here: the benchmark's figures are never pass/fail in tests.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bestOf, checkAgainstBaseline, improvement, machineKind, type BaselineFile, type Figure } from '../../bench/check.js';
import { parseWrk } from '../../bench/http.js';
import { matches, memoryFlow, patternBytes } from '../../bench/memory.js';

const fig = (key: string, value: number, higherIsBetter: boolean, source: Figure['source'] = 'netstack'): Figure => ({ key, label: key, unit: 'u', value, higherIsBetter, source });

function withKept(figures: Figure[], fn: (path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'bench-check-'));
  try {
    const file: BaselineFile = { kind: machineKind(), machine: {}, quick: true, date: '2026-01-01T00:00:00Z', figures };
    const path = join(dir, 'kept.json');
    writeFileSync(path, JSON.stringify(file));
    fn(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('bench --check', () => {
  test('improvement is direction-aware', () => {
    assert.equal(improvement({ higherIsBetter: true }, 100, 60), -0.4);
    assert.equal(improvement({ higherIsBetter: true }, 100, 150), 0.5);
    assert.equal(improvement({ higherIsBetter: false }, 100, 140), -0.4);
    assert.equal(improvement({ higherIsBetter: false }, 100, 50), 0.5);
  });

  test('a netstack figure more than 30 % worse fails, in either direction; 30 % or less passes', () => {
    const kept = [fig('gbps', 2, true), fig('rtt', 100, false), fig('kernel', 10, true, 'baseline')];
    withKept(kept, (path) => {
      assert.equal(checkAgainstBaseline([fig('gbps', 1.5, true), fig('rtt', 125, false), fig('kernel', 1, true, 'baseline')], true, false, path).ok, true, 'within 30 %; baselines are not checked');
      const down = checkAgainstBaseline([fig('gbps', 1.3, true), fig('rtt', 100, false)], true, false, path);
      assert.equal(down.ok, false);
      assert.equal(down.regressions.length, 1);
      assert.match(down.regressions[0]!, /^gbps/);
      const up = checkAgainstBaseline([fig('gbps', 2, true), fig('rtt', 131, false)], true, false, path);
      assert.equal(up.ok, false);
      assert.match(up.regressions[0]!, /^rtt/);
    });
  });

  test('a kept figure missing from the run fails unless only some parts ran', () => {
    withKept([fig('gbps', 2, true), fig('rps', 1000, true)], (path) => {
      assert.equal(checkAgainstBaseline([fig('gbps', 2, true)], true, false, path).ok, false);
      assert.equal(checkAgainstBaseline([fig('gbps', 2, true)], true, true, path).ok, true);
    });
  });

  test('a confirmation run counts only if better, in the figure\'s direction', () => {
    const merged = bestOf([fig('gbps', 1, true), fig('rtt', 100, false), fig('only1', 5, true)], [fig('gbps', 2, true), fig('rtt', 120, false), fig('only2', 7, true)]);
    const v = Object.fromEntries(merged.map((f) => [f.key, f.value]));
    assert.deepEqual(v, { gbps: 2, rtt: 100, only1: 5, only2: 7 });
  });

  test('no kept file: the check fails and says how to make one', () => {
    const r = checkAgainstBaseline([fig('gbps', 2, true)], true, false, join(tmpdir(), 'no-such-dir-bench', 'x.json'));
    assert.equal(r.ok, false);
    assert.match(r.lines.join('\n'), /--save-baseline/);
  });

  test('machine kind names CPU count, model and memory class', () => {
    assert.match(machineKind(), /^\d+cpu-[a-z0-9-]+-\d+gib$/);
  });
});

describe('bench wrk parsing', () => {
  test('requests/s, request count, errors', () => {
    const out = [
      'Running 3s test @ http://10.0.0.2/',
      '  2 threads and 64 connections',
      '  176446 requests in 5.02s, 86.16MB read',
      '  Socket errors: connect 0, read 12, write 1, timeout 2',
      '  Non-2xx or 3xx responses: 5',
      'Requests/sec:  35143.66',
      'Transfer/sec:     17.16MB',
    ].join('\n');
    const r = parseWrk(out);
    assert.equal(r.rps, 35143.66);
    assert.equal(r.requests, 176446);
    assert.equal(r.seconds, 5.02);
    assert.equal(r.errors, 20);
    assert.throws(() => parseWrk('unable to connect to 10.0.0.2:80 Connection refused'));
  });
});

describe('bench in-memory flow', () => {
  test('the data check catches a shifted, altered or wrapped chunk', () => {
    const period = 65_521;
    for (const [off, len] of [
      [0, 1000],
      [period - 10, 100],
      [3 * period + 7, 2 * period + 5],
      [5, (1 << 20) + 3 * period],
    ] as const) {
      const chunk = patternBytes(off, len);
      assert.equal(matches(chunk, off), true, `offset ${off} length ${len}`);
      assert.equal(matches(chunk, off + 1), false);
      const bad = chunk.slice();
      bad[len - 1] ^= 1;
      assert.equal(matches(bad, off), false);
    }
  });

  test('a short flow between two stacks delivers verified data, counted consistently', () => {
    // memoryFlow itself throws on damaged data, inconsistent counts or nothing delivered.
    const r = memoryFlow(1500, 0.2, 0.1);
    assert.ok(r.verified > 0);
    assert.ok(r.verified >= r.bytes);
    assert.equal(r.linkDropped, 0);
    assert.ok(Number.isFinite(r.gbps) && r.gbps >= 0);
  });
});
