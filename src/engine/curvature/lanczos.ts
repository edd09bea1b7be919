import { tensor } from "../creation.ts";
import { axpyInto } from "../kernels/elementwise.ts";
import { dotProduct } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import type { Random } from "../random.ts";
import { scope } from "../scope.ts";
import type { Tensor } from "../tensor.ts";

/** Options of `extremeEigenvalue`. */
export interface LanczosOptions {
  /** At most this many matrix-vector products (default 100). */
  maxIterations?: number;
  /** Stop when the estimate moves by at most atol + rtol·|estimate| in an iteration (1e-3, 1e-6 as Cockpit). */
  rtol?: number;
  atol?: number;
  /** Draws the start vector. */
  random: Random;
}

/** The result of `extremeEigenvalue`. */
export interface EigenvalueEstimate {
  /** The eigenvalue of largest magnitude, with its sign. */
  value: number;
  /** Matrix-vector products used. */
  iterations: number;
}

// The number of eigenvalues of the tridiagonal T (diagonal a, off-diagonal b) below x (Sturm count).
function countBelow(a: number[], b: number[], x: number): number {
  let count = 0;
  let d = 1;
  for (let i = 0; i < a.length; i++) {
    d = a[i] - x - (i > 0 ? (b[i - 1] * b[i - 1]) / d : 0);
    if (d === 0) d = -1e-300;
    if (d < 0) count++;
  }
  return count;
}

// The k-th smallest eigenvalue (0-based) of T, by bisection inside the Gershgorin bounds.
function tridiagonalEigenvalue(a: number[], b: number[], k: number): number {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < a.length; i++) {
    const radius = (i > 0 ? Math.abs(b[i - 1]) : 0) + (i < b.length ? Math.abs(b[i]) : 0);
    low = Math.min(low, a[i] - radius);
    high = Math.max(high, a[i] + radius);
  }
  for (let step = 0; step < 200 && high - low > 1e-14 * Math.max(1, Math.abs(low), Math.abs(high)); step++) {
    const middle = 0.5 * (low + high);
    if (countBelow(a, b, middle) > k) high = middle;
    else low = middle;
  }
  return 0.5 * (low + high);
}

// Vectors are lists of float32 engine tensors (one per parameter, as Hessian-vector products
// take them); their reductions accumulate in float64.
type Vector = Tensor[];
const dot = (x: Vector, y: Vector): number => x.reduce((total, part, k) => total + dotProduct(part, y[k]), 0);
// y += a·x
const axpy = (y: Vector, a: number, x: Vector): void => {
  for (const [k, part] of y.entries()) axpyInto(part, x[k], a);
};
const scale = (x: Vector, a: number): void => {
  for (const part of x) engineMemory.kernels.scaleInPlace(part.size, part.ptr, a);
};
const dispose = (x: Vector): void => {
  for (const part of x) part.dispose();
};

/**
 * The eigenvalue of largest magnitude of a symmetric operator on vectors shaped as `shapes`
 * (the one power iteration converges to), by the Lanczos process: its Ritz values converge to
 * the extremes of the spectrum in far fewer products than power iteration needs. The start
 * vector is random; `multiply` returns new tensors, which the process frees.
 */
export function extremeEigenvalue(multiply: (v: readonly Tensor[]) => Tensor[], shapes: ReadonlyArray<readonly number[]>, options: LanczosOptions): EigenvalueEstimate {
  return scope(() => lanczos(multiply, shapes, options));
}

function lanczos(multiply: (v: readonly Tensor[]) => Tensor[], shapes: ReadonlyArray<readonly number[]>, options: LanczosOptions): EigenvalueEstimate {
  const dimension = shapes.reduce((total, shape) => total + shape.reduce((a, b) => a * b, 1), 0);
  const maxIterations = Math.min(options.maxIterations ?? 100, dimension);
  const rtol = options.rtol ?? 1e-3;
  const atol = options.atol ?? 1e-6;
  let q = shapes.map((shape) => {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = options.random.normal();
    return tensor(values, shape);
  });
  scale(q, 1 / Math.sqrt(dot(q, q)));
  let previous = q.map((part) => tensor(new Float32Array(part.size), part.shape));
  const alphas: number[] = [];
  const betas: number[] = [];
  let estimate = Number.NaN;
  let ends = [Number.NaN, Number.NaN];
  const settled = [0, 0];
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const w = multiply(q);
    const alpha = dot(w, q);
    alphas.push(alpha);
    const beta = betas.length > 0 ? betas[betas.length - 1] : 0;
    // The recurrence, then one pass of reorthogonalization against the last two vectors, which
    // keeps it stable.
    axpy(w, -alpha, q);
    axpy(w, -beta, previous);
    const c1 = dot(w, q);
    const c0 = dot(w, previous);
    axpy(w, -c1, q);
    axpy(w, -c0, previous);
    const squaredNorm = dot(w, w);
    const nextBeta = Math.sqrt(squaredNorm);
    const current = [tridiagonalEigenvalue(alphas, betas, 0), tridiagonalEigenvalue(alphas, betas, alphas.length - 1)];
    const close = (a: number, b: number) => Math.abs(a - b) <= atol + rtol * Math.abs(a);
    for (const end of [0, 1]) settled[end] = close(current[end], ends[end]) ? settled[end] + 1 : 0;
    ends = current;
    const dominant = Math.abs(current[0]) > Math.abs(current[1]) ? 0 : 1;
    estimate = current[dominant];
    // The dominant end must be quiet for two iterations in a row. The other end must be too while
    // it could still overtake: when |λ_min| ≈ λ_max the answer can change sides late. Ritz values
    // only move outward, and an end beyond the other's magnitude would be an outlier or a steep
    // edge of the spectrum, which Lanczos resolves within a few iterations from a random start,
    // so an end still below half the dominant magnitude need not settle (on fmnist_2c2d's
    // Hessian the top settles after about 16 products and the bulk's bottom after 30).
    const otherSettledOrFar = settled[1 - dominant] >= 2 || Math.abs(current[1 - dominant]) < 0.5 * Math.abs(estimate);
    const invariant = nextBeta <= 1e-12 * Math.max(1, Math.abs(estimate));
    if ((settled[dominant] >= 2 && otherSettledOrFar) || invariant) return { value: estimate, iterations: iteration };
    betas.push(nextBeta);
    dispose(previous);
    previous = q;
    q = w;
    scale(q, 1 / nextBeta);
  }
  return { value: estimate, iterations: maxIterations };
}
