import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";

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
  engineMemory.f32.copyWithin(dst.offset, src.offset, src.offset + src.size);
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
