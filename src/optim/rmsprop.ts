import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** RMSprop's hyperparameters (torch.optim.RMSprop). */
export interface RMSpropHyper extends BaseHyper {
  /** Smoothing constant of the running mean of squared gradients (default 0.99). */
  alpha: number;
  /** Added after the square root in the denominator (default 1e-8). */
  eps: number;
  /** L2 penalty added to the gradient as wd·p (default 0). */
  weightDecay: number;
  /** Momentum factor of the step (default 0: none). */
  momentum: number;
  /** Divide by the variance estimate (mean of squares minus squared mean) (default false). */
  centered: boolean;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
}

export const rmspropDefaults: RMSpropHyper = { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false };

/**
 * RMSprop as torch.optim.RMSprop: a running mean of squared gradients (centered: minus the
 * squared running mean), eps added after the square root, optional momentum. Config name `rmsprop`.
 */
export class RMSprop extends Optimizer<RMSpropHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<RMSpropHyper>[], options: Partial<RMSpropHyper> = {}) {
    super("RMSprop", params, { ...rmspropDefaults, ...options });
  }

  protected validate(h: RMSpropHyper, where: string): void {
    new HyperCheck(this.name, where)
      .nonNegative("lr", h.lr)
      .nonNegative("alpha", h.alpha)
      .nonNegative("eps", h.eps)
      .nonNegative("weightDecay", h.weightDecay)
      .nonNegative("momentum", h.momentum)
      .boolean("centered", h.centered)
      .boolean("maximize", h.maximize);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: RMSpropHyper): void {
    state.step++;
    const square = state.buffer("squareAvg", param);
    const average = h.centered ? state.buffer("gradAvg", param) : square;
    const momentum = h.momentum > 0 ? state.buffer("momentumBuffer", param) : square;
    const flags = (h.maximize ? 1 : 0) | (h.centered ? 2 : 0) | (h.momentum > 0 ? 4 : 0);
    runUpdate("rmspropUpdate", param.size, [param.ptr, grad.ptr, square.ptr, average.ptr, momentum.ptr], [h.lr, h.alpha, h.eps, h.weightDecay, h.momentum, flags]);
  }
}
