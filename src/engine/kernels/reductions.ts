import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";

/** ‖x‖², accumulated in float64 (WASM SIMD). */
export function squaredNorm(x: Tensor): number {
  return engineMemory.kernels.squaredDistance(x.size, x.ptr, 0);
}

/** ‖x − y‖² over equal sizes, accumulated in float64 (WASM SIMD). */
export function squaredDistance(x: Tensor, y: Tensor): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: squaredDistance size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return engineMemory.kernels.squaredDistance(x.size, x.ptr, y.ptr);
}

/** xᵀy over equal sizes, accumulated in float64 (WASM SIMD). */
export function dotProduct(x: Tensor, y: Tensor): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: dotProduct size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return engineMemory.kernels.dotProduct(x.size, x.ptr, y.ptr);
}

/** Σ_i x_i, accumulated in float64. */
export function elementSum(x: Tensor): number {
  return engineMemory.kernels.quotientSum(x.size, x.ptr, 0, 0);
}

/** Σ_i x_i / (y_i + ε) over equal sizes, each quotient and the sum in float64. */
export function quotientSum(x: Tensor, y: Tensor, epsilon: number): number {
  if (x.size !== y.size) throw new RangeError(`gradscope: quotientSum size mismatch [${x.shape.join(", ")}] vs [${y.shape.join(", ")}]`);
  return engineMemory.kernels.quotientSum(x.size, x.ptr, y.ptr, epsilon);
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
