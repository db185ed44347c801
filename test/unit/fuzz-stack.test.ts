/**
 * The stack fuzzer (src/fuzz/stack-fuzz.ts), a short run: a few seeds of a TCP upload + UDP
 * echo + pings between two simulated stacks, with ~300 mutated frames injected into one
 * stack's link alongside the real traffic. Long runs: `npm run fuzz -- --minutes N`.
 * `FUZZ_SEEDS=n` changes the number of seeds (default 6), `FUZZ_SEED=s` the first one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyDelta,
  fuzzOnce,
  fuzzParamsForSeed,
  generateFuzzCase,
  legitimatelyHarmful,
  reassembleIpv4,
  reassembleIpv6,
  runFuzzCase,
} from '../../src/fuzz/stack-fuzz.js';
import { fixChecksums, fromHex, mutateFrame, toHex } from '../../src/fuzz/mutate.js';
import { SeededRandom } from '../../src/core/clock.js';
import { parseIpv4 } from '../../src/wire/ipv4.js';
import { parseTcp } from '../../src/wire/tcp.js';
import { pseudoHeaderSumV4 } from '../../src/wire/checksum.js';

const SEEDS = Number(process.env.FUZZ_SEEDS ?? 6);
const FIRST = Number(process.env.FUZZ_SEED ?? 1);

const replay = (seed: number): string => `npm run build && node scripts/fuzz.mjs --seed ${seed} --count 1   # saves the case to test/fuzz/regressions/`;

for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
  const p = fuzzParamsForSeed(seed);
  test(`fuzz seed ${seed}: ${p.kind}, TCP over IPv${p.family}, injecting into ${p.target}`, () => {
    const { fuzzCase, result } = fuzzOnce(p);
    assert.ok(fuzzCase.injections.length > 150, `only ${fuzzCase.injections.length} injections`);
    assert.deepEqual(result.failures, [], `replay: ${replay(seed)}`);
    // Every injected batch was dropped with a reason or reached a layer that counted it.
    assert.equal(result.fate.dropped + result.fate.accepted, result.injected);
    assert.ok(result.fate.dropped > result.injected / 2, `most mutated frames are rejected (${JSON.stringify(result.fate)})`);
    assert.ok(Object.keys(result.dropReasons).length >= 5, `varied drop reasons: ${JSON.stringify(result.dropReasons)}`);
    const sumDrops = (s: Record<string, number>): number => Object.values(s).reduce((x, y) => x + y, 0);
    assert.ok(sumDrops(result.drops.client!) + sumDrops(result.drops.server!) >= result.fate.dropped);
    assert.ok(result.udpEchoes > 0 && result.pingReplies > 0, 'UDP and ping kept working');
  });
}

test('a case replays identically from its JSON', () => {
  const c = generateFuzzCase(fuzzParamsForSeed(FIRST, { injections: 120 }));
  const r1 = runFuzzCase(c);
  const r2 = runFuzzCase(JSON.parse(JSON.stringify(c)));
  assert.deepEqual(r2.fate, r1.fate);
  assert.deepEqual(r2.drops, r1.drops);
  assert.equal(r2.timeMs, r1.timeMs);
});

test('mutations are deterministic from the seed and never throw', () => {
  const frame = fromHex('4500003c1c4640004006b1e60a0000010a000002c0001f90000000010000000050027210d1c10000' + '00'.repeat(20));
  const run = (seed: number): string[] => {
    const rng = new SeededRandom(seed);
    const out: string[] = [];
    for (let i = 0; i < 500; i++) {
      const m = mutateFrame(rng, frame, 'ip', [frame]);
      out.push(m.frames.map(toHex).join('|') + m.ops.join(','));
    }
    return out;
  };
  assert.deepEqual(run(9), run(9));
  assert.notDeepEqual(run(9), run(10));
});

test('fixChecksums makes a mutated IPv4/TCP packet valid again', () => {
  // A SYN with a good checksum, then a changed window and fixed checksums.
  const f = fromHex('45000028000100004006' + '0000' + '0a0000010a000002' + 'c0001f90000000010000000050020000' + '00000000');
  fixChecksums(f, 'ip');
  const ip = parseIpv4(f);
  assert.ok(typeof ip !== 'string', String(ip));
  f[20 + 14] = 0x12;
  assert.equal(typeof parseTcp(f.subarray(20), pseudoHeaderSumV4(ip.src, ip.dst, 6, 20)), 'string');
  fixChecksums(f, 'ip');
  assert.equal(typeof parseTcp(f.subarray(20), pseudoHeaderSumV4(ip.src, ip.dst, 6, 20)), 'object');
});

test('the legitimacy filter: a spoofed connection segment is harmful, a changed window is not', () => {
  const base = fromHex('45000028000100004006' + '0000' + '0a0000010a000002' + 'c0001f90000000010000000050100400' + '00000000');
  fixChecksums(base, 'ip');
  const seqChanged = base.slice();
  seqChanged[20 + 7] ^= 1;
  fixChecksums(seqChanged, 'ip');
  assert.equal(legitimatelyHarmful(base, seqChanged, 'ip'), true);
  const windowChanged = base.slice();
  windowChanged[20 + 14] = 0;
  fixChecksums(windowChanged, 'ip');
  assert.equal(legitimatelyHarmful(base, windowChanged, 'ip'), false);
  const broken = base.slice();
  broken[20 + 7] ^= 1; // bad checksum: it will be dropped, so harmless
  assert.equal(legitimatelyHarmful(base, broken, 'ip'), false);
});

test('classifyDelta: drops, acceptance and silence', () => {
  const m = (o: Record<string, number>): Map<string, number> => new Map(Object.entries(o));
  assert.equal(classifyDelta(m({ 'link.rx': 1 }), m({ 'link.rx': 2, 'drop.total': 1, 'drop.ipv4.bad_checksum': 1 })).fate, 'dropped');
  assert.equal(classifyDelta(m({ 'link.rx': 1 }), m({ 'link.rx': 2, 'udp.rx': 1 })).fate, 'accepted');
  assert.equal(classifyDelta(m({ 'link.rx': 1 }), m({ 'link.rx': 2, 'ipv4.rx': 1 })).fate, 'silent');
});

test('fragmenting mutations reassemble to the original packet (IPv4 and IPv6)', () => {
  const v4 = fromHex('45000064000100004006' + '0000' + '0a0000010a000002' + 'c0001f90000000010000000050100400' + '00000000' + '5a'.repeat(60));
  fixChecksums(v4, 'ip');
  const v6 = fromHex('6000000000500640' + 'fd00' + '00'.repeat(13) + '01' + 'fd00' + '00'.repeat(13) + '02' + 'c0001f90000000010000000050100400' + '00000000' + 'a5'.repeat(60));
  fixChecksums(v6, 'ip');
  for (const [pkt, re, tag] of [
    [v4, reassembleIpv4, 'ipv4.fragment'],
    [v6, reassembleIpv6, 'ipv6.fragment'],
  ] as const) {
    const rng = new SeededRandom(3);
    let seen = 0;
    for (let i = 0; i < 3000 && seen < 10; i++) {
      const m = mutateFrame(rng, pkt, 'ip', [pkt]);
      if (!m.ops[0]?.startsWith(tag)) continue;
      seen++;
      assert.ok(m.frames.length > 1);
      const whole = re(m.frames, 'ip');
      assert.ok(whole, m.ops.join(' '));
      // The same packet, but for the IPv4 identification (and so the header checksum).
      const hl = tag === 'ipv4.fragment' ? 20 : 40;
      assert.deepEqual(whole.subarray(hl), pkt.subarray(hl), m.ops.join(' '));
      assert.deepEqual(whole.subarray(12, hl), pkt.subarray(12, hl));
      assert.equal(whole.length, pkt.length);
    }
    assert.ok(seen > 0, `no ${tag} mutation drawn`);
  }
});
