import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import type { KernelCall } from "../threads/pool.ts";
import { runRanges } from "../threads/settings.ts";
import type { WasmKernels } from "../wasm.ts";

/** The optimizer updates: kernels of the form kernel(n, ...float32 pointers, ...scalars). */
export type UpdateKernel = "sgdUpdate" | "adamUpdate" | "rmspropUpdate" | "adagradUpdate" | "nadamUpdate" | "radamUpdate";

// Elements an update must give each thread for the split to pay for its fork/join: Adam takes
// about 1.5 ns an element on one thread, so 2^15 take about 50 µs, as GEMM's threshold.
export const MIN_UPDATE_ELEMENTS_PER_THREAD = 2 ** 15;
// Elements a memory-bound elementwise op (ReLU, a broadcast add, pooling, a bias gradient's row
// sums) must give each thread: ReLU takes about 0.25 ns an element on one thread (measured,
// 2^17 in 33 µs, 1.6x on 2 threads; 2^13 already 1.1x with the workers awake), so 2^17 take
// about 30 µs, enough to cover a worker's wake-up (about 100 µs split two ways, bench/threads.ts).
// Below two threads' worth the op stays on the calling thread.
export const MIN_ELEMENTWISE_PER_THREAD = 2 ** 17;
// Parts are whole blocks of 64 elements: a multiple of the four lanes, so every element is
// computed by the vector body or the scalar tail exactly as on one thread, and of a cache line,
// so no two threads write one line.
const ELEMENT_BLOCK = 64;

/**
 * Runs `part(start, end)` over contiguous ranges of n independent elements, split in whole
 * 64-element blocks over the threads when n gives each at least `minPerThread`; each element is
 * computed as on one thread, so the result is the same bits at any thread count.
 */
export function runElementwise(n: number, part: (start: number, end: number) => KernelCall, minPerThread = MIN_ELEMENTWISE_PER_THREAD): void {
  runRanges(splitRange(n, ELEMENT_BLOCK, partsFor(n, minPerThread)), part);
}

/**
 * Runs an optimizer update over n elements whose arrays start at `pointers` (byte offsets),
 * split over the threads in contiguous ranges.
 */
export function runUpdate(kernel: UpdateKernel, n: number, pointers: number[], scalars: number[]): void {
  runElementwise(
    n,
    (start, end) => ({ kernel: kernel satisfies keyof WasmKernels, args: [end - start, ...pointers.map((pointer) => pointer + 4 * start), ...scalars] }),
    MIN_UPDATE_ELEMENTS_PER_THREAD,
  );
}

/**
 * out[i] = a[i] ∘ b[⌊i / inner⌋ mod period] over n elements (binaryPeriodic, byte offsets), split
 * over the threads: in 64-element blocks when b is a scalar or a's shape, else in whole cycles of
 * b (inner·period elements), so that every part starts at b's first element.
 */
export function binaryPeriodic(op: number, a: number, b: number, out: number, n: number, period: number, inner: number): void {
  const sameShape = inner === 1 && period === n;
  const parts = partsFor(n, MIN_ELEMENTWISE_PER_THREAD);
  runRanges(sameShape || period === 1 ? splitRange(n, ELEMENT_BLOCK, parts) : splitRange(n, inner * period, parts), (start, end) => ({
    kernel: "binaryPeriodic",
    args: [op, a + 4 * start, sameShape ? b + 4 * start : b, out + 4 * start, end - start, sameShape ? end - start : period, inner],
  }));
}

/** out[r] = Σ_j x[r·length + j] for each of `rows` rows (byte offsets), rows split over the threads. */
export function rowSums(x: number, rows: number, length: number, out: number): void {
  runRanges(splitRange(rows, 1, partsFor(rows * length, MIN_ELEMENTWISE_PER_THREAD)), (start, end) => ({
    kernel: "rowSums",
    args: [x + 4 * start * length, end - start, length, out + 4 * start],
  }));
}

/** dst += alpha·src over equal sizes (WASM SIMD). */
export function axpyInto(dst: Tensor, src: Tensor, alpha: number): void {
  if (dst.size !== src.size) throw new RangeError(`gradscope: axpy size mismatch [${dst.shape.join(", ")}] vs [${src.shape.join(", ")}]`);
  engineMemory.kernels.axpy(dst.size, alpha, src.ptr, dst.ptr);
}

/** dst += src over equal sizes. */
export function addInto(dst: Tensor, src: Tensor): void {
  axpyInto(dst, src, 1);
}

/** TypeScript reference of axpy, used by the kernel tests. */
export function referenceAxpy(n: number, alpha: number, x: number, y: number): void {
  const heap = engineMemory.f32;
  for (let i = 0; i < n; i++) heap[(y >>> 2) + i] = Math.fround(heap[(y >>> 2) + i] + Math.fround(alpha * heap[(x >>> 2) + i]));
}

/** TypeScript reference of sumSquaresInto, used by the kernel tests. */
export function referenceSumSquaresInto(n: number, blocks: number, src: number, dst: number, sign: number): void {
  const heap = engineMemory.f32;
  for (let j = 0; j < n; j++) {
    let total = 0;
    for (let b = 0; b < blocks; b++) total = Math.fround(total + Math.fround(heap[(src >>> 2) + b * n + j] ** 2));
    heap[(dst >>> 2) + j] = Math.fround(heap[(dst >>> 2) + j] + Math.fround(sign * total));
  }
}

/** dst = src. */
export function copyInto(src: Tensor, dst: Tensor): void {
  if (dst.size !== src.size) throw new RangeError(`gradscope: copyInto size mismatch [${src.shape.join(", ")}] vs [${dst.shape.join(", ")}]`);
  if (dst === src) return;
  // Parts copied on different threads must not read what another part writes.
  if (dst.ptr < src.ptr + 4 * src.size && src.ptr < dst.ptr + 4 * dst.size) throw new RangeError("gradscope: copyInto between overlapping tensors");
  runElementwise(src.size, (start, end) => ({ kernel: "copyFloats", args: [end - start, src.ptr + 4 * start, dst.ptr + 4 * start] }));
}

/** dst[i] = value. */
export function fillWith(dst: Tensor, value: number): void {
  if (dst.dtype === "int32") engineMemory.i32.fill(value, dst.offset, dst.offset + dst.size);
  else engineMemory.f32.fill(value, dst.offset, dst.offset + dst.size);
}

/** dst = srcᵀ for a rows×cols matrix at byte offset src (float32 or int32), into byte offset dst. */
export function transposeMatrix(src: number, rows: number, cols: number, dst: number): void {
  engineMemory.kernels.transpose(src, rows, cols, dst);
}
