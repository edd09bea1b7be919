import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { checkAdamFamily, weightDecayTerms } from "./adam.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** RAdam's hyperparameters (torch.optim.RAdam). */
export interface RAdamHyper extends BaseHyper {
  /** Decay rates [β1, β2] of the running means of the gradient and its square (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to √v̂ in the denominator for stability (default 1e-8). */
  eps: number;
  /** Weight decay wd, L2 or decoupled (default 0). */
  weightDecay: number;
  /** Decoupled weight decay p ← p·(1 − lr·wd) instead of L2 (default false). */
  decoupledWeightDecay: boolean;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
}

export const radamDefaults: RAdamHyper = { lr: 0.001, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, decoupledWeightDecay: false, maximize: false };

/**
 * RAdam (Liu et al.) as torch.optim.RAdam: Adam whose adaptive step is rectified once the
 * variance estimate is tractable (ρ_t > 5) and plain bias-corrected momentum before that.
 * Config name `radam`.
 */
export class RAdam extends Optimizer<RAdamHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<RAdamHyper>[], options: Partial<RAdamHyper> = {}) {
    super("RAdam", params, { ...radamDefaults, ...options });
  }

  protected validate(h: RAdamHyper, where: string): void {
    checkAdamFamily(new HyperCheck(this.name, where), h).boolean("decoupledWeightDecay", h.decoupledWeightDecay);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: RAdamHyper): void {
    state.step++;
    const t = state.step;
    const [beta1, beta2] = h.betas;
    const bc2 = 1 - beta2 ** t;
    const rhoInf = 2 / (1 - beta2) - 1;
    const rhoT = rhoInf - (2 * t * beta2 ** t) / bc2;
    const rectified = rhoT > 5;
    const rect = rectified ? Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) : 1;
    const [l2, decay] = weightDecayTerms(h);
    runUpdate(
      "radamUpdate",
      param.size,
      [param.ptr, grad.ptr, state.buffer("expAvg", param).ptr, state.buffer("expAvgSq", param).ptr],
      [h.lr, 1 - beta1, beta2, 1 - beta2, h.eps, l2, decay, 1 - beta1 ** t, Math.sqrt(bc2), rect, (h.maximize ? 1 : 0) | (rectified ? 2 : 0)],
    );
  }
}
