import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** Adagrad's hyperparameters (torch.optim.Adagrad). */
export interface AdagradHyper extends BaseHyper {
  /** Learning-rate decay: step t uses lr/(1 + (t−1)·lrDecay) (default 0). */
  lrDecay: number;
  /** L2 penalty added to the gradient as wd·p (default 0). */
  weightDecay: number;
  /** Starting value of the running sum of squared gradients (default 0). */
  initialAccumulatorValue: number;
  /** Added to the root of the sum in the denominator for stability (default 1e-10). */
  eps: number;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
}

export const adagradDefaults: AdagradHyper = { lr: 0.01, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false };

/**
 * Adagrad as torch.optim.Adagrad: a running sum of squared gradients (starting at the initial
 * accumulator value) and the step lr/(1 + (t−1)·lr_decay). Config name `adagrad`.
 */
export class Adagrad extends Optimizer<AdagradHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<AdagradHyper>[], options: Partial<AdagradHyper> = {}) {
    super("Adagrad", params, { ...adagradDefaults, ...options });
  }

  protected validate(h: AdagradHyper, where: string): void {
    new HyperCheck(this.name, where)
      .nonNegative("lr", h.lr)
      .nonNegative("lrDecay", h.lrDecay)
      .nonNegative("weightDecay", h.weightDecay)
      .nonNegative("initialAccumulatorValue", h.initialAccumulatorValue)
      .nonNegative("eps", h.eps)
      .boolean("maximize", h.maximize);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: AdagradHyper): void {
    state.step++;
    const sum = state.buffer("sum", param, h.initialAccumulatorValue);
    const clr = h.lr / (1 + (state.step - 1) * h.lrDecay);
    runUpdate("adagradUpdate", param.size, [param.ptr, grad.ptr, sum.ptr], [clr, h.eps, h.weightDecay, h.maximize ? 1 : 0]);
  }
}
