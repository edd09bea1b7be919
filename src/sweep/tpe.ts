import type { Random } from "../engine/random.ts";
import { interval, type Params, pointOf, type RangeSpec, valueAt } from "./space.ts";
import type { ParameterSpec } from "./spec.ts";

/** TPE's settings (the sweep file's `tpe` section). */
export interface TpeOptions {
  /** The fraction of observations that forms the good group. */
  gamma: number;
  /** Draws from the good density scored per parameter and suggestion. */
  candidates: number;
}

/** A finished trial as TPE sees it: its parameters and a loss to minimize (Infinity: failed). */
export interface Observation {
  params: Params;
  loss: number;
}

// erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7), enough for Parzen weights.
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}
const normalCdf = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));

/**
 * A Parzen estimator on [lo, hi]: a mixture of normals truncated to the interval, one at each
 * observed point and one wide prior at the middle, with equal weights. Each point's width is
 * the larger gap to its neighbours (the interval's ends count as neighbours), clipped to
 * [(hi − lo) / min(100, n + 1), hi − lo], as in Bergstra et al. (2011) and Optuna's TPE.
 */
class ParzenEstimator {
  private readonly mus: number[];
  private readonly sigmas: number[];

  constructor(
    points: number[],
    private readonly lo: number,
    private readonly hi: number,
  ) {
    const width = hi - lo;
    const mus = [...points, (lo + hi) / 2];
    const order = points.map((_, i) => i).sort((a, b) => points[a] - points[b]);
    const sigmas = new Array<number>(mus.length);
    for (const [rank, i] of order.entries()) {
      const left = rank === 0 ? lo : points[order[rank - 1]];
      const right = rank === order.length - 1 ? hi : points[order[rank + 1]];
      sigmas[i] = Math.max(points[i] - left, right - points[i]);
    }
    sigmas[mus.length - 1] = width;
    const floor = width / Math.min(100, points.length + 1);
    this.mus = mus;
    this.sigmas = sigmas.map((s) => Math.min(Math.max(s, floor), width));
  }

  sample(random: Random): number {
    const k = random.integer(this.mus.length);
    for (let attempt = 0; attempt < 100; attempt++) {
      const x = this.mus[k] + this.sigmas[k] * random.normal();
      if (x >= this.lo && x <= this.hi) return x;
    }
    return this.lo + random.uniform() * (this.hi - this.lo);
  }

  logDensity(x: number): number {
    let density = 0;
    for (let k = 0; k < this.mus.length; k++) {
      const mu = this.mus[k];
      const sigma = this.sigmas[k];
      const mass = normalCdf((this.hi - mu) / sigma) - normalCdf((this.lo - mu) / sigma);
      const z = (x - mu) / sigma;
      density += Math.exp(-0.5 * z * z) / (sigma * Math.sqrt(2 * Math.PI) * mass);
    }
    return Math.log(density / this.mus.length);
  }
}

/** A categorical estimator: each value's count plus one (the prior), normalized. */
class CategoricalEstimator {
  private readonly weights: number[];

  constructor(indices: number[], count: number) {
    const weights = new Array<number>(count).fill(1);
    for (const i of indices) weights[i]++;
    const total = weights.reduce((a, b) => a + b, 0);
    this.weights = weights.map((w) => w / total);
  }

  sample(random: Random): number {
    let u = random.uniform();
    for (const [i, w] of this.weights.entries()) {
      u -= w;
      if (u < 0) return i;
    }
    return this.weights.length - 1;
  }

  logDensity(i: number): number {
    return Math.log(this.weights[i]);
  }
}

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

// The best of `candidates` draws from the good density l by l(x)/g(x), TPE's stand-in for the
// expected improvement.
function bestCandidate<T>(good: { sample(r: Random): T; logDensity(x: T): number }, bad: { logDensity(x: T): number }, random: Random, candidates: number): T {
  let best = good.sample(random);
  let bestScore = good.logDensity(best) - bad.logDensity(best);
  for (let i = 1; i < candidates; i++) {
    const x = good.sample(random);
    const score = good.logDensity(x) - bad.logDensity(x);
    if (score > bestScore) {
      best = x;
      bestScore = score;
    }
  }
  return best;
}

/**
 * The next parameters by the Tree-structured Parzen Estimator (Bergstra et al., 2011), per
 * parameter independently as Optuna's default TPE does: the observations sorted by loss split
 * into the best ⌈gamma·n⌉ (good) and the rest (bad); each parameter gets a Parzen density of
 * each group (log space for log_uniform), and the value among draws from the good density with
 * the highest good/bad ratio is chosen.
 */
export function suggestTpe(parameters: Record<string, ParameterSpec>, observations: Observation[], random: Random, options: TpeOptions): Params {
  const sorted = [...observations].sort((a, b) => a.loss - b.loss);
  const goodCount = Math.max(1, Math.ceil(options.gamma * sorted.length));
  const good = sorted.slice(0, goodCount);
  const bad = sorted.slice(goodCount);
  const params: Params = {};
  for (const [path, parameter] of Object.entries(parameters)) {
    if ("values" in parameter) {
      const indices = (group: Observation[]) => group.map((o) => parameter.values.findIndex((v) => sameValue(v, o.params[path]))).filter((i) => i >= 0);
      const n = parameter.values.length;
      params[path] = parameter.values[bestCandidate(new CategoricalEstimator(indices(good), n), new CategoricalEstimator(indices(bad), n), random, options.candidates)];
      continue;
    }
    const range = parameter as RangeSpec;
    const [lo, hi] = interval(range);
    const points = (group: Observation[]) =>
      group
        .map((o) => o.params[path])
        .filter((v): v is number => typeof v === "number")
        .map((v) => pointOf(range, v));
    const x = bestCandidate(new ParzenEstimator(points(good), lo, hi), new ParzenEstimator(points(bad), lo, hi), random, options.candidates);
    params[path] = valueAt(range, x);
  }
  return params;
}
