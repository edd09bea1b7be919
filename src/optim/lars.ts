import { engineMemory } from "../engine/memory.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { ParameterState, ParamGroupSpec } from "./optimizer.ts";
import { SGD, type SGDHyper, sgdStep } from "./sgd.ts";
import { HyperCheck } from "./validate.ts";

/** LARS's hyperparameters: SGD's plus the trust coefficient η and the exclusion rule. */
export interface LARSHyper extends SGDHyper {
  /** Trust coefficient η of the layer-wise ratio η·‖w‖/(‖g‖ + wd·‖w‖) (default 0.001). */
  trustCoefficient: number;
  /** Skip adaptation and weight decay for biases and norm-layer parameters (rank <= 1). */
  excludeBiasAndNorm: boolean;
}

export const larsDefaults: LARSHyper = {
  lr: 0.1,
  momentum: 0.9,
  dampening: 0,
  weightDecay: 0,
  nesterov: false,
  maximize: false,
  trustCoefficient: 0.001,
  excludeBiasAndNorm: true,
};

/**
 * LARS (You, Gitman & Ginsburg 2017), as NVIDIA's LARC without clipping: each layer's gradient
 * plus weight decay is scaled by the trust ratio η·‖w‖/(‖g‖ + wd·‖w‖) (1 when either norm
 * is 0), then an SGD momentum step runs. Biases and norm-layer parameters (rank <= 1) take a
 * plain SGD momentum step without weight decay unless `excludeBiasAndNorm` is false.
 * Config name `lars`.
 */
export class LARS extends SGD {
  constructor(params: Tensor[] | ParamGroupSpec<LARSHyper>[], options: Partial<LARSHyper> = {}) {
    super(params as ParamGroupSpec<SGDHyper>[], { ...larsDefaults, ...options } as Partial<SGDHyper>, "LARS");
  }

  protected validate(h: SGDHyper, where: string): void {
    super.validate(h, where);
    const lars = h as LARSHyper;
    new HyperCheck(this.name, where).positive("trustCoefficient", lars.trustCoefficient).boolean("excludeBiasAndNorm", lars.excludeBiasAndNorm);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: SGDHyper): void {
    const lars = h as LARSHyper;
    if (lars.excludeBiasAndNorm && param.rank <= 1) {
      sgdStep(param, grad, state, h, 0, 1);
      return;
    }
    const weightNorm = Math.sqrt(engineMemory.kernels.dot(param.size, param.ptr, param.ptr));
    const gradNorm = Math.sqrt(engineMemory.kernels.dot(grad.size, grad.ptr, grad.ptr));
    const trust = weightNorm > 0 && gradNorm > 0 ? (lars.trustCoefficient * weightNorm) / (gradNorm + h.weightDecay * weightNorm) : 1;
    sgdStep(param, grad, state, h, h.weightDecay, trust);
  }
}
