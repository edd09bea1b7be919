import type { Random } from "../engine/random.ts";
import { checkProbability, imageOutputShape, imageShape } from "./images.ts";
import { permutation } from "./split.ts";
import type { Transform } from "./transforms.ts";

/** Options of `mixup` and `cutmix`. */
export interface MixOptions {
  /** λ ~ Beta(alpha, alpha) (default 1: uniform). */
  alpha?: number;
  /** Probability of mixing a batch (default 1). */
  p?: number;
}

// Gamma(shape, 1) by Marsaglia & Tsang (2000); shapes below 1 through Gamma(shape + 1)·U^(1/shape).
function gamma(shape: number, random: Random): number {
  if (shape < 1) return gamma(shape + 1, random) * random.uniform() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = random.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = random.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A draw from Beta(alpha, alpha). */
export function symmetricBeta(alpha: number, random: Random): number {
  const a = gamma(alpha, random);
  const b = gamma(alpha, random);
  return a / (a + b);
}

function checkMix(name: string, alpha: number, p: number): void {
  if (!(alpha > 0)) throw new RangeError(`gradscope: transform ${name}: alpha must be > 0, got ${alpha}`);
  checkProbability(name, "p", p);
}

function softTargetsOf(name: string, targets: Float32Array | undefined, batch: number): Float32Array {
  if (!targets || targets.length % batch !== 0)
    throw new Error(`gradscope: transform ${name} blends labels and needs the batch's class probabilities [B, C]; it runs in a DataLoader of a classification data set`);
  return targets;
}

// targets ← λ·targets + (1 − λ)·targets[partner], row by row.
function blendTargets(targets: Float32Array, batch: number, partner: Int32Array, lambda: number): void {
  const classes = targets.length / batch;
  const source = targets.slice();
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < classes; c++) targets[b * classes + c] = lambda * source[b * classes + c] + (1 - lambda) * source[partner[b] * classes + c];
  }
}

/**
 * MixUp (Zhang et al. 2018): with probability p, the batch becomes λ·x + (1 − λ)·x[π] and its
 * targets λ·y + (1 − λ)·y[π], one λ ~ Beta(α, α) per batch and π a random pairing of its
 * examples. Config type `mixup`.
 */
export function mixup(options: MixOptions): Transform {
  const { alpha = 1, p = 1 } = options;
  checkMix("mixup", alpha, p);
  return {
    name: "mixup",
    deterministic: false,
    mixesTargets: true,
    spec: { type: "mixup", alpha, p },
    outputShape: (shape) => [...shape],
    apply(inputs, batch, _shape, random, targets) {
      const soft = softTargetsOf("mixup", targets, batch);
      if (random.uniform() >= p) return inputs;
      const lambda = symmetricBeta(alpha, random);
      const partner = permutation(batch, random);
      const size = inputs.length / batch;
      const out = new Float32Array(inputs.length);
      for (let b = 0; b < batch; b++) {
        const [own, other] = [b * size, partner[b] * size];
        for (let i = 0; i < size; i++) out[own + i] = lambda * inputs[own + i] + (1 - lambda) * inputs[other + i];
      }
      blendTargets(soft, batch, partner, lambda);
      return out;
    },
  };
}

/**
 * CutMix (Yun et al. 2019): with probability p, each image gets the same box pasted from its
 * partner π; the box has sides √(1 − λ)·(H, W) around a uniform centre, clipped at the borders,
 * λ ~ Beta(α, α), and the targets are blended by the area actually kept. Config type `cutmix`.
 */
export function cutmix(options: MixOptions): Transform {
  const { alpha = 1, p = 1 } = options;
  checkMix("cutmix", alpha, p);
  return {
    name: "cutmix",
    deterministic: false,
    mixesTargets: true,
    spec: { type: "cutmix", alpha, p },
    outputShape: imageOutputShape("cutmix"),
    apply(inputs, batch, shape, random, targets) {
      const [channels, height, width] = imageShape("cutmix", shape);
      const soft = softTargetsOf("cutmix", targets, batch);
      if (random.uniform() >= p) return inputs;
      const lambda = symmetricBeta(alpha, random);
      const partner = permutation(batch, random);
      const cut = Math.sqrt(1 - lambda);
      const [boxHeight, boxWidth] = [Math.floor(height * cut), Math.floor(width * cut)];
      const [y, x] = [random.integer(height), random.integer(width)];
      const [top, bottom] = [Math.max(0, y - (boxHeight >> 1)), Math.min(height, y + (boxHeight >> 1))];
      const [left, right] = [Math.max(0, x - (boxWidth >> 1)), Math.min(width, x + (boxWidth >> 1))];
      const out = inputs.slice();
      const size = channels * height * width;
      for (let b = 0; b < batch; b++) {
        for (let c = 0; c < channels; c++) {
          for (let row = top; row < bottom; row++) {
            const offset = c * height * width + row * width;
            out.set(inputs.subarray(partner[b] * size + offset + left, partner[b] * size + offset + right), b * size + offset + left);
          }
        }
      }
      blendTargets(soft, batch, partner, 1 - ((bottom - top) * (right - left)) / (height * width));
      return out;
    },
  };
}
