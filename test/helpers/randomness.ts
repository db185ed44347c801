/**
 * A simple randomness check for values an off-path attacker must not predict: TCP initial
 * sequence numbers (RFC 6528), ephemeral ports (RFC 6056), IPv4 identification fields (RFC 6864
 * §5, RFC 7739). It is no proof of unpredictability (a keyed PRF and an LCG both pass); it
 * catches what implementations get wrong in practice: counters, clocks, constant or small
 * increments, constant or stuck bits, a narrow range. Values are taken as uniform over
 * [min, max]; with n samples (at least 100) the checks are:
 *
 * 1. Distinct: the number of repeated values is at most E + 4·√E + 2, where
 *    E = n(n−1)/(2N) is the expected number of colliding pairs (the birthday bound), N = max−min+1.
 * 2. Not monotonic: the share of ascending steps (v[i+1] > v[i]) is within 0.35–0.65 (a random
 *    sequence: 0.5 ± 1/√(12n); a counter or a clock: ~1).
 * 3. Successive differences not constant: at least half of the n−1 differences (mod N) are
 *    distinct (an arithmetic progression mod N has one).
 * 4. Every bit of v − min is set in its expected share of samples ± 0.15 (0.5 for a power-of-two
 *    range, so 35–65 %; computed exactly for other ranges).
 * 5. Chi-square over 16 equal-width bins of the range (the top 4 bits for a power-of-two range):
 *    χ² ≤ 57.4, the 1 − 10⁻⁶ quantile for 15 degrees of freedom.
 *
 * With n ≥ 300 a uniform source fails any check with probability below about 10⁻⁵ per set.
 */

export interface RandomnessResult {
  ok: boolean;
  /** What failed, readable. */
  failures: string[];
  n: number;
  repeats: number;
  allowedRepeats: number;
  ascending: number;
  distinctDiffs: number;
  chiSquare: number;
  /** Share of samples with each bit set (bit 0 first). */
  bits: number[];
}

export const CHI_SQUARE_LIMIT = 57.4;

export function checkRandomness(values: readonly number[], min: number, max: number): RandomnessResult {
  const n = values.length;
  const N = max - min + 1;
  const failures: string[] = [];
  if (n < 100) failures.push(`only ${n} samples (at least 100 needed)`);
  for (const v of values) {
    if (!Number.isInteger(v) || v < min || v > max) {
      failures.push(`value ${v} outside [${min}, ${max}]`);
      break;
    }
  }
  // 1. Repeats against the birthday bound.
  const repeats = n - new Set(values).size;
  const E = (n * (n - 1)) / (2 * N);
  const allowedRepeats = Math.floor(E + 4 * Math.sqrt(E) + 2);
  if (repeats > allowedRepeats) failures.push(`${repeats} repeated values, at most ${allowedRepeats} expected by the birthday bound`);
  // 2. Monotonicity.
  let up = 0;
  for (let i = 1; i < n; i++) if (values[i]! > values[i - 1]!) up++;
  const ascending = n > 1 ? up / (n - 1) : 0;
  if (ascending < 0.35 || ascending > 0.65) failures.push(`${(ascending * 100).toFixed(1)} % of steps ascend (35–65 % expected)`);
  // 3. Successive differences.
  const diffs = new Set<number>();
  for (let i = 1; i < n; i++) diffs.add((((values[i]! - values[i - 1]!) % N) + N) % N);
  if (diffs.size < (n - 1) / 2) failures.push(`only ${diffs.size} distinct successive differences of ${n - 1}`);
  // 4. Bit balance of v − min.
  const width = Math.max(1, Math.ceil(Math.log2(N)));
  const bits: number[] = [];
  for (let b = 0; b < width; b++) {
    let set = 0;
    for (const v of values) if (Math.floor((v - min) / 2 ** b) % 2 === 1) set++;
    const share = set / n;
    bits.push(share);
    const expected = bitShare(N, b);
    if (Math.abs(share - expected) > 0.15) {
      failures.push(`bit ${b} set in ${(share * 100).toFixed(1)} % of samples (${(expected * 100).toFixed(1)} % expected)`);
    }
  }
  // 5. Chi-square over 16 bins.
  const bins = new Array<number>(16).fill(0);
  for (const v of values) bins[Math.min(15, Math.floor(((v - min) * 16) / N))]!++;
  let chiSquare = 0;
  for (let k = 0; k < 16; k++) {
    // Expected count of bin k: the integers of [0, N) whose bin is k.
    const lo = Math.ceil((k * N) / 16);
    const hi = Math.ceil(((k + 1) * N) / 16);
    const e = (n * (hi - lo)) / N;
    if (e > 0) chiSquare += (bins[k]! - e) ** 2 / e;
  }
  if (chiSquare > CHI_SQUARE_LIMIT) failures.push(`chi-square over 16 bins ${chiSquare.toFixed(1)} > ${CHI_SQUARE_LIMIT}`);
  return { ok: failures.length === 0, failures, n, repeats, allowedRepeats, ascending, distinctDiffs: diffs.size, chiSquare, bits };
}

/** The share of the integers in [0, N) with bit b set. */
function bitShare(N: number, b: number): number {
  const period = 2 ** (b + 1);
  const half = 2 ** b;
  const full = Math.floor(N / period);
  const rest = N - full * period;
  return (full * half + Math.max(0, rest - half)) / N;
}

/** A one-line summary for test output. */
export function describeRandomness(r: RandomnessResult): string {
  const bits = r.bits.map((s) => Math.round(s * 100)).join(' ');
  return (
    `n=${r.n} repeats=${r.repeats} (≤${r.allowedRepeats}) ascending=${(r.ascending * 100).toFixed(1)}% ` +
    `distinctDiffs=${r.distinctDiffs} chi2=${r.chiSquare.toFixed(1)} bits%=[${bits}]` +
    (r.ok ? '' : ` FAILED: ${r.failures.join('; ')}`)
  );
}
