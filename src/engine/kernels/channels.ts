import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import type { KernelCall } from "../threads/pool.ts";
import { runParallel } from "../threads/settings.ts";

/**
 * A tensor viewed as [outer, channels, inner] by the per-channel kernels: batch norm's
 * [N, C, spatial], layer norm's rows as [1, rows, length], and its per-position affine as
 * [rows, length, 1]. Per-channel arguments hold `channels` values.
 */
export interface ChannelLayout {
  outer: number;
  channels: number;
  inner: number;
}

const pointer = (t: Tensor | null | undefined): number => t?.ptr ?? 0;

// Elements each thread must get for a split to pay for its fork/join: these kernels take about
// half a nanosecond an element, so 2^16 take some 30-50 µs (as GEMM's threshold, see gemm.ts).
export const MIN_CHANNEL_ELEMENTS_PER_THREAD = 2 ** 16;

const threadsFor = (layout: ChannelLayout): number => partsFor(layout.outer * layout.channels * layout.inner, MIN_CHANNEL_ELEMENTS_PER_THREAD);

// `address` moved on by `elements` float32s; 0 (an absent term) stays 0.
const advanced = (address: number, elements: number): number => (address === 0 ? 0 : address + 4 * elements);

function check(name: string, layout: ChannelLayout, tensors: Array<Tensor | null | undefined>, perChannel: Array<Tensor | null | undefined>): void {
  const size = layout.outer * layout.channels * layout.inner;
  for (const t of tensors) if (t && t.size !== size) throw new RangeError(`gradscope: ${name}: [${t.shape.join(", ")}] is not ${layout.outer}×${layout.channels}×${layout.inner}`);
  for (const t of perChannel) if (t && t.size !== layout.channels) throw new RangeError(`gradscope: ${name}: per-channel [${t.shape.join(", ")}] needs ${layout.channels} values`);
}

/**
 * out[c] = Σ over outer and inner of (x − centers[c])·(y − centers[c]), accumulated in float64
 * (WASM SIMD); without centers they are 0, without y the second factor is 1. So: plain sums,
 * sums of products, and with y = x and the means as centers, squared deviations.
 */
export function channelSums(x: Tensor, layout: ChannelLayout, out: Tensor, terms: { y?: Tensor | null; centers?: Tensor | null } = {}): void {
  check("channelSums", layout, [x, terms.y], [out, terms.centers]);
  const args = [x.ptr, pointer(terms.y), layout.outer, layout.channels, layout.inner, pointer(terms.centers), out.ptr] as const;
  const parts = threadsFor(layout);
  if (parts === 1) {
    engineMemory.kernels.channelSums(...args);
    return;
  }
  // Threads take channel ranges: each channel is summed by one thread, in one thread's order.
  runParallel(splitRange(layout.channels, 1, parts).map(([first, end]): KernelCall => ({ kernel: "channelSumsRange", args: [...args, first, end] })));
}

/** The per-channel terms of `channelAffine`; absent ones are centers 0, scales 1, no y term, shifts 0. */
export interface ChannelTerms {
  center?: Tensor | null;
  scale?: Tensor | null;
  /** A second input of x's size, added times `weight`. */
  y?: Tensor | null;
  weight?: Tensor | null;
  shift?: Tensor | null;
}

/**
 * out = (x − center[c])·scale[c] + weight[c]·y + shift[c] (WASM SIMD): normalizing, the affine
 * after it, and the input gradients of batch and layer norm.
 */
export function channelAffine(x: Tensor, layout: ChannelLayout, out: Tensor, terms: ChannelTerms): void {
  const { center, scale, y, weight, shift } = terms;
  if (y && !weight) throw new RangeError("gradscope: channelAffine: a y term needs its per-channel weight");
  check("channelAffine", layout, [x, y, out], [center, scale, weight, shift]);
  const { outer, channels, inner } = layout;
  const parts = threadsFor(layout);
  if (parts === 1) {
    engineMemory.kernels.channelAffine(x.ptr, pointer(y), outer, channels, inner, pointer(center), pointer(scale), pointer(weight), pointer(shift), out.ptr);
    return;
  }
  // Every element is computed on its own, so threads take blocks of whole [channels, inner]
  // rows, or with a single row, ranges of four channels (the inner-1 form vectorizes across
  // channels, so its lanes stay as on one thread).
  const perChannel = [center, scale, weight, shift].map(pointer);
  const calls =
    outer > 1
      ? splitRange(outer, 1, parts).map(([first, end]): KernelCall => {
          const skip = first * channels * inner;
          return { kernel: "channelAffine", args: [x.ptr + 4 * skip, advanced(pointer(y), skip), end - first, channels, inner, ...perChannel, out.ptr + 4 * skip] };
        })
      : splitRange(channels, 4, parts).map(([first, end]): KernelCall => {
          const skip = first * inner;
          const terms = perChannel.map((address) => advanced(address, first));
          return { kernel: "channelAffine", args: [x.ptr + 4 * skip, advanced(pointer(y), skip), 1, end - first, inner, ...terms, out.ptr + 4 * skip] };
        });
  runParallel(calls);
}

// The references below take the kernels' arguments (byte addresses, 0 for absent) and are what
// the kernel tests compare against.

const index = (layout: ChannelLayout, n: number, c: number, s: number) => (n * layout.channels + c) * layout.inner + s;
const valueAt = (address: number, i: number, absent: number) => (address ? engineMemory.f32[(address >>> 2) + i] : absent);

/** TypeScript reference of channelSums. */
export function referenceChannelSums(x: number, y: number, layout: ChannelLayout, centers: number, out: number): void {
  for (let c = 0; c < layout.channels; c++) {
    const center = valueAt(centers, c, 0);
    let total = 0;
    for (let n = 0; n < layout.outer; n++) {
      for (let s = 0; s < layout.inner; s++) {
        const i = index(layout, n, c, s);
        total += (valueAt(x, i, 0) - center) * (y ? valueAt(y, i, 0) - center : 1);
      }
    }
    engineMemory.f32[(out >>> 2) + c] = total;
  }
}

/** TypeScript reference of channelAffine, in float32 steps as the kernel. */
export function referenceChannelAffine(x: number, y: number, layout: ChannelLayout, center: number, scale: number, weight: number, shift: number, out: number): void {
  const f = Math.fround;
  for (let n = 0; n < layout.outer; n++) {
    for (let c = 0; c < layout.channels; c++) {
      for (let s = 0; s < layout.inner; s++) {
        const i = index(layout, n, c, s);
        const term = y ? f(valueAt(weight, c, 0) * valueAt(y, i, 0)) : 0;
        engineMemory.f32[(out >>> 2) + i] = f(f(f(f(valueAt(x, i, 0) - valueAt(center, c, 0)) * valueAt(scale, c, 1)) + term) + valueAt(shift, c, 0));
      }
    }
  }
}
