import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** Adam's hyperparameters (torch.optim.Adam / AdamW). */
export interface AdamHyper extends BaseHyper {
  /** Decay rates [β1, β2] of the running means of the gradient and its square (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to √v̂ in the denominator for stability (default 1e-8). */
  eps: number;
  /** Weight decay wd: L2 added to the gradient, or decoupled for AdamW (default 0; AdamW 0.01). */
  weightDecay: number;
  /** Divide by the running maximum of v̂ (AMSGrad, Reddi et al. 2018) (default false). */
  amsgrad: boolean;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
  /** AdamW: p ← p·(1 − lr·wd) instead of adding wd·p to the gradient. */
  decoupledWeightDecay: boolean;
}

export const adamDefaults: AdamHyper = { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, decoupledWeightDecay: false };

/** Checks shared by the Adam family (Adam, AdamW, NAdam, RAdam). */
export function checkAdamFamily(check: HyperCheck, h: BaseHyper & { betas: [number, number]; eps: number; weightDecay: number; maximize: boolean }): HyperCheck {
  if (!Array.isArray(h.betas) || h.betas.length !== 2) check.require(false, "betas", "a pair [beta1, beta2]", h.betas);
  return check
    .nonNegative("lr", h.lr)
    .unitInterval("betas[0]", h.betas[0])
    .unitInterval("betas[1]", h.betas[1])
    .nonNegative("eps", h.eps)
    .nonNegative("weightDecay", h.weightDecay)
    .boolean("maximize", h.maximize);
}

/**
 * The kernels' (L2 weight decay, parameter decay factor): L2 adds wd·p to the gradient, the
 * decoupled form (AdamW) multiplies p by 1 − lr·wd instead.
 */
export function weightDecayTerms(h: { lr: number; weightDecay: number; decoupledWeightDecay: boolean }): [number, number] {
  return h.decoupledWeightDecay ? [0, 1 - h.lr * h.weightDecay] : [h.weightDecay, 1];
}

/**
 * Adam (Kingma & Ba) as torch.optim.Adam: bias-corrected moments, eps added after dividing
 * sqrt(v) by sqrt(1 − β2^t), optional AMSGrad, L2 weight decay (or decoupled, see AdamW).
 * Config name `adam`.
 */
export class Adam extends Optimizer<AdamHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<AdamHyper>[], options: Partial<AdamHyper> = {}, name = "Adam") {
    super(name, params, { ...adamDefaults, ...options });
  }

  protected validate(h: AdamHyper, where: string): void {
    checkAdamFamily(new HyperCheck(this.name, where), h).boolean("amsgrad", h.amsgrad).boolean("decoupledWeightDecay", h.decoupledWeightDecay);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: AdamHyper): void {
    state.step++;
    const [beta1, beta2] = h.betas;
    const m = state.buffer("expAvg", param);
    const v = state.buffer("expAvgSq", param);
    const vmax = h.amsgrad ? state.buffer("maxExpAvgSq", param) : v;
    const [l2, decay] = weightDecayTerms(h);
    const stepSize = h.lr / (1 - beta1 ** state.step);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** state.step);
    runUpdate(
      "adamUpdate",
      param.size,
      [param.ptr, grad.ptr, m.ptr, v.ptr, vmax.ptr],
      [stepSize, 1 - beta1, beta2, 1 - beta2, h.eps, l2, decay, bc2Sqrt, (h.maximize ? 1 : 0) | (h.amsgrad ? 2 : 0)],
    );
  }
}

/**
 * AdamW (Loshchilov & Hutter): Adam with decoupled weight decay p ← p·(1 − lr·wd), default
 * wd 0.01, as torch.optim.AdamW. Config name `adamw`.
 */
export class AdamW extends Adam {
  constructor(params: Tensor[] | ParamGroupSpec<AdamHyper>[], options: Partial<AdamHyper> = {}) {
    super(params, { weightDecay: 0.01, ...options, decoupledWeightDecay: true }, "AdamW");
  }
}
