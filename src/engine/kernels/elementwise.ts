import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";

/** dst += src, elementwise over equal sizes. */
export function addInto(dst: Tensor, src: Tensor): void {
  if (dst.size !== src.size) throw new RangeError(`gradscope: addInto size mismatch [${dst.shape.join(", ")}] vs [${src.shape.join(", ")}]`);
  const heap = engineMemory.f32;
  const d = dst.offset;
  const s = src.offset;
  for (let i = 0; i < dst.size; i++) heap[d + i] += heap[s + i];
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
