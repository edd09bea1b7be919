import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** SGD's hyperparameters (torch.optim.SGD). */
export interface SGDHyper extends BaseHyper {
  /** Momentum factor μ (default 0: none; LARS 0.9). */
  momentum: number;
  /** Dampening of the momentum: buf ← μ·buf + (1 − dampening)·g (default 0). */
  dampening: number;
  /** L2 penalty added to the gradient as wd·p (default 0). */
  weightDecay: number;
  /** Nesterov momentum: step along g + μ·buf (default false; needs momentum > 0 and dampening 0). */
  nesterov: boolean;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
}

/** Defaults as in PyTorch (lr has none there; 0.01 here). */
export const sgdDefaults: SGDHyper = { lr: 0.01, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum, L2 weight decay and
 * maximize, exactly as torch.optim.SGD: the momentum buffer starts as the first gradient
 * (no dampening), and Nesterov steps along g + μ·buf. Config name `sgd`.
 */
export class SGD extends Optimizer<SGDHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<SGDHyper>[], options: Partial<SGDHyper> = {}, name = "SGD") {
    super(name, params, { ...sgdDefaults, ...options });
  }

  protected validate(h: SGDHyper, where: string): void {
    new HyperCheck(this.name, where)
      .nonNegative("lr", h.lr)
      .nonNegative("momentum", h.momentum)
      .nonNegative("dampening", h.dampening)
      .nonNegative("weightDecay", h.weightDecay)
      .boolean("nesterov", h.nesterov)
      .boolean("maximize", h.maximize)
      .require(!h.nesterov || (h.momentum > 0 && h.dampening === 0), "nesterov", "used with momentum > 0 and dampening 0", h.nesterov);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: SGDHyper): void {
    sgdStep(param, grad, state, h, h.weightDecay, 1);
  }
}

/** One SGD update with weight decay `weightDecay` and the effective gradient scaled by `scale`. */
export function sgdStep(param: Tensor, grad: Tensor, state: ParameterState, h: SGDHyper, weightDecay: number, scale: number): void {
  const useMomentum = h.momentum !== 0;
  const buffer = useMomentum ? state.buffer("momentumBuffer", param) : param;
  const flags = (h.maximize ? 1 : 0) | (useMomentum ? 2 : 0) | (h.nesterov ? 4 : 0) | (state.step === 0 ? 8 : 0);
  runUpdate("sgdUpdate", param.size, [param.ptr, grad.ptr, buffer.ptr], [h.lr, h.momentum, h.dampening, weightDecay, scale, flags]);
  state.step++;
}
