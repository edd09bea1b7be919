import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import { runRanges } from "../threads/settings.ts";
import { MIN_ELEMENTWISE_PER_THREAD } from "./elementwise.ts";

// The float64 reductions sum fixed chunks of this many elements, each on whichever thread takes
// it, then add the chunks' sums in order: the same bits at any thread count.
const REDUCTION_CHUNK = 2 ** 16;
/** Floats each thread's share of a reduction must stream to pay for its fork/join (about 20 µs). */
export const MIN_REDUCTION_PER_THREAD = 2 ** 17;

const reductions = { squaredDistance: 0, dotProduct: 1, quotientSum: 2 } as const;

/**
 * The `count` float64s that `compute` writes at the byte offset it is given (engine memory that
 * kernels on any thread can write), copied out.
 */
export function float64Results(count: number, compute: (out: number) => void): Float64Array {
  const area = new Tensor([2 * Math.max(1, count)], "float32", "float64 results");
  try {
    compute(area.ptr);
    return new Float64Array(engineMemory.memory.buffer, area.ptr, count).slice();
  } finally {
    area.dispose();
  }
}

function reduceInChunks(reduction: keyof typeof reductions, n: number, x: number, y: number, epsilon = 0): number {
  const chunks = Math.ceil(n / REDUCTION_CHUNK);
  const partials = float64Results(chunks, (out) =>
    runRanges(splitRange(chunks, 1, partsFor(n, MIN_REDUCTION_PER_THREAD)), (first, end) => ({
      kernel: "reduceChunks",
      args: [reductions[reduction], n, x, y, epsilon, REDUCTION_CHUNK, first, end, out],
    })),
  );
  let total = 0;
  for (const partial of partials) total += partial;
  return total;
}

/**
 * out[o, i] = scale·Σ_l x[o, l, i] for x viewed as [outer, length, inner] (byte offsets), the
 * outer rows split over the threads (each row summed as on one thread).
 */
export function sumAxisInto(x: number, outer: number, length: number, inner: number, scale: number, out: number): void {
  runRanges(splitRange(outer, 1, partsFor(outer * length * inner, MIN_ELEMENTWISE_PER_THREAD)), (start, end) => ({
    kernel: "sumAxis",
    args: [x + 4 * start * length * inner, end - start, length, inner, scale, out + 4 * start * inner],
  }));
}

/**
 * out[i] = x_i·y_i for the `rows` consecutive rows of `length` floats of x (byte offset), against
 * y's rows (`sharedY`: the one y at byte offset y for every row), rows split over the threads.
 * `precise`: each sum in float64, else in float32 (SIMD lanes).
 */
export function rowDots(x: number, y: number, rows: number, length: number, { sharedY = false, precise = false } = {}): Float64Array {
  return float64Results(rows, (out) =>
    runRanges(splitRange(rows, 1, partsFor(rows * length, MIN_ELEMENTWISE_PER_THREAD)), (first, end) => ({
      kernel: "rowDots",
      args: [precise ? 1 : 0, length, x, y, sharedY ? 0 : length, first, end, out],
    })),
  );
}

/** ‖x‖², accumulated in float64 (WASM SIMD, on every thread). */
export function squaredNorm(x: Tensor): number {
  return reduceInChunks("squaredDistance", x.size, x.ptr, 0);
}

/** ‖x − y‖² over equal sizes, accumulated in float64 (WASM SIMD, on every thread). */
export function squaredDistance(x: Tensor, y: Tensor): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: squaredDistance size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return reduceInChunks("squaredDistance", x.size, x.ptr, y.ptr);
}

/** xᵀy over equal sizes, accumulated in float64 (WASM SIMD, on every thread). */
export function dotProduct(x: Tensor, y: Tensor): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: dotProduct size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return reduceInChunks("dotProduct", x.size, x.ptr, y.ptr);
}

/** Σ_i x_i, accumulated in float64 (on every thread). */
export function elementSum(x: Tensor): number {
  return reduceInChunks("quotientSum", x.size, x.ptr, 0);
}

/** Σ_i x_i / (y_i + ε) over equal sizes, each quotient and the sum in float64 (on every thread). */
export function quotientSum(x: Tensor, y: Tensor, epsilon: number): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: quotientSum size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return reduceInChunks("quotientSum", x.size, x.ptr, y.ptr, epsilon);
}

/** The number of elements of x that are not ±0 (NaNs count). */
export function countNonzero(x: Tensor): number {
  return engineMemory.kernels.countNonzero(x.size, x.ptr);
}

/** TypeScript reference of the squaredDistance kernel (y = 0: ‖x‖²), used by the kernel tests. */
export function referenceSquaredDistance(n: number, x: number, y: number): number {
  const heap = engineMemory.f32;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const d = heap[(x >>> 2) + i] - (y ? heap[(y >>> 2) + i] : 0);
    total += d * d;
  }
  return total;
}

/** TypeScript reference of the quotientSum kernel (y = 0: Σ x_i), used by the kernel tests. */
export function referenceQuotientSum(n: number, x: number, y: number, epsilon: number): number {
  const heap = engineMemory.f32;
  let total = 0;
  for (let i = 0; i < n; i++) total += y ? heap[(x >>> 2) + i] / (heap[(y >>> 2) + i] + epsilon) : heap[(x >>> 2) + i];
  return total;
}

/** TypeScript reference of the dotProduct kernel, used by the kernel tests. */
export function referenceDotProduct(n: number, x: number, y: number): number {
  const heap = engineMemory.f32;
  let total = 0;
  for (let i = 0; i < n; i++) total += heap[(x >>> 2) + i] * heap[(y >>> 2) + i];
  return total;
}
