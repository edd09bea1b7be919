import { engineMemory } from "../engine/memory.ts";
import type { Tensor } from "../engine/tensor.ts";

/** What `clipGradNorm` measured. */
export interface ClipResult {
  /** The norm of all gradients together, before clipping. */
  totalNorm: number;
  /** False when totalNorm is NaN or ±∞; the gradients are then left unchanged. */
  finite: boolean;
  /** The factor the gradients were multiplied by (1 when nothing was clipped). */
  scale: number;
}

const f = Math.fround;

/** ‖g‖ of one tensor in float32: L2 (SIMD dot) or ∞ (max |g|, NaN if any is NaN). */
function tensorNorm(grad: Tensor, normType: 2 | "inf"): number {
  if (normType === "inf") return engineMemory.kernels.maxAbs(grad.size, grad.ptr);
  return f(Math.sqrt(engineMemory.kernels.dot(grad.size, grad.ptr, grad.ptr)));
}

/**
 * The joint norm of all gradients as torch.nn.utils.clip_grad_norm_ computes it in float32:
 * ‖(‖g_1‖, …, ‖g_k‖)‖. NaN (or ∞) when any gradient element is.
 */
export function gradientNorm(params: Iterable<Tensor>, normType: 2 | "inf" = 2): number {
  const norms = [...params].flatMap((p) => (p.grad ? [tensorNorm(p.grad, normType)] : []));
  if (normType === "inf") return norms.reduce((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)), 0);
  return f(Math.sqrt(norms.reduce((a, b) => f(a + f(b * b)), 0)));
}

/**
 * Scales all gradients so that their joint norm (`gradientNorm`, or `knownNorm` when the caller
 * has it) is at most maxNorm, as torch.nn.utils.clip_grad_norm_: every gradient is multiplied
 * by min(1, maxNorm/(total + 1e-6)). A non-finite total is reported and the gradients are left
 * as they are (PyTorch would zero or NaN them), so a NaN guard can still name the parameter.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType: 2 | "inf" = 2, knownNorm?: number): ClipResult {
  if (!(maxNorm >= 0)) throw new RangeError(`gradscope: clipGradNorm: maxNorm must be >= 0, got ${maxNorm}`);
  const list = [...params];
  const grads = list.flatMap((p) => (p.grad ? [p.grad] : []));
  const totalNorm = knownNorm ?? gradientNorm(list, normType);
  if (!Number.isFinite(totalNorm)) return { totalNorm, finite: false, scale: 1 };
  const scale = Math.min(1, f(f(maxNorm) / f(totalNorm + 1e-6)));
  if (scale < 1) for (const g of grads) engineMemory.kernels.scaleInPlace(g.size, g.ptr, scale);
  return { totalNorm, finite: true, scale };
}

/** Clamps every gradient element into [−clipValue, clipValue] (torch.nn.utils.clip_grad_value_). */
export function clipGradValue(params: Iterable<Tensor>, clipValue: number): void {
  if (!(clipValue >= 0)) throw new RangeError(`gradscope: clipGradValue: clipValue must be >= 0, got ${clipValue}`);
  for (const p of params) if (p.grad) engineMemory.kernels.clampInPlace(p.grad.size, p.grad.ptr, -clipValue, clipValue);
}

/** The names of parameters whose gradient holds a NaN or ±∞, in the given order. */
export function nonFiniteGradients(named: Iterable<[string, Tensor]>): string[] {
  const bad: string[] = [];
  for (const [name, p] of named) {
    if (p.grad && !Number.isFinite(engineMemory.kernels.maxAbs(p.grad.size, p.grad.ptr))) bad.push(name);
  }
  return bad;
}

/**
 * Gradient accumulation over `steps` micro-batches: call `backward` on each micro-batch's mean
 * loss without zeroing gradients, then `ready()`; when it returns true the gradients have been
 * averaged (the gradient of the mean over all micro-batches) and the optimizer may step.
 */
export class GradientAccumulation {
  private count = 0;

  constructor(readonly steps: number) {
    if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`gradscope: gradient accumulation steps must be a positive integer, got ${steps}`);
  }

  /** Micro-batches accumulated since the last optimizer step. */
  get pending(): number {
    return this.count;
  }

  /** Counts one micro-batch; true (after averaging the gradients) when `steps` have accumulated. */
  ready(params: Iterable<Tensor>): boolean {
    this.count++;
    if (this.count < this.steps) return false;
    this.flush(params);
    return true;
  }

  /** Averages what has accumulated so far (e.g. at the end of an epoch); true if anything was pending. */
  flush(params: Iterable<Tensor>): boolean {
    if (this.count === 0) return false;
    if (this.count > 1) for (const p of params) if (p.grad) engineMemory.kernels.scaleInPlace(p.grad.size, p.grad.ptr, 1 / this.count);
    this.count = 0;
    return true;
  }

  /** State for exact resume. */
  stateDict(): { count: number } {
    return { count: this.count };
  }

  loadStateDict(state: { count: number }): void {
    this.count = state.count;
  }
}
