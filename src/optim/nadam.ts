import { runUpdate } from "../engine/kernels/elementwise.ts";
import type { Tensor } from "../engine/tensor.ts";
import { checkAdamFamily, weightDecayTerms } from "./adam.ts";
import { type BaseHyper, Optimizer, type ParameterState, type ParamGroupSpec } from "./optimizer.ts";
import { HyperCheck } from "./validate.ts";

/** NAdam's hyperparameters (torch.optim.NAdam). */
export interface NAdamHyper extends BaseHyper {
  /** Decay rates [β1, β2] of the running means of the gradient and its square (default [0.9, 0.999]). */
  betas: [number, number];
  /** Added to √v̂ in the denominator for stability (default 1e-8). */
  eps: number;
  /** Weight decay wd, L2 or decoupled (default 0). */
  weightDecay: number;
  /** ψ of the momentum schedule μ_t = β1(1 − 0.5·0.96^(t·ψ)) (default 0.004). */
  momentumDecay: number;
  /** Decoupled weight decay p ← p·(1 − lr·wd) (NAdamW) instead of L2 (default false). */
  decoupledWeightDecay: boolean;
  /** Ascend the objective instead of descending it (default false). */
  maximize: boolean;
}

export const nadamDefaults: NAdamHyper = { lr: 0.002, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, momentumDecay: 0.004, decoupledWeightDecay: false, maximize: false };

/**
 * NAdam (Dozat) as torch.optim.NAdam: Adam with Nesterov momentum and the momentum schedule
 * μ_t = β1(1 − 0.5·0.96^(t·ψ)). It follows PyTorch's _single_tensor_nadam (the CPU path)
 * rounding by rounding: the scalars (μ, bias correction, step sizes, 1 − β) in double, the
 * running product of μ in a float32 tensor, the tensors in float32. Config name `nadam`.
 */
export class NAdam extends Optimizer<NAdamHyper> {
  constructor(params: Tensor[] | ParamGroupSpec<NAdamHyper>[], options: Partial<NAdamHyper> = {}) {
    super("NAdam", params, { ...nadamDefaults, ...options });
  }

  protected validate(h: NAdamHyper, where: string): void {
    checkAdamFamily(new HyperCheck(this.name, where), h).nonNegative("momentumDecay", h.momentumDecay).boolean("decoupledWeightDecay", h.decoupledWeightDecay);
  }

  protected update(param: Tensor, grad: Tensor, state: ParameterState, h: NAdamHyper): void {
    state.step++;
    const t = state.step;
    const [beta1, beta2] = h.betas;
    const mu = beta1 * (1 - 0.5 * 0.96 ** (t * h.momentumDecay));
    const muNext = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * h.momentumDecay));
    // mu_product is a float32 tensor: `mu_product *= mu` rounds mu to float32, then the product.
    const muProduct = Math.fround((state.values.get("muProduct") ?? 1) * Math.fround(mu));
    state.values.set("muProduct", muProduct);
    const muProductNext = muProduct * muNext;
    const [l2, decay] = weightDecayTerms(h);
    runUpdate(
      "nadamUpdate",
      param.size,
      [param.ptr, grad.ptr, state.buffer("expAvg", param).ptr, state.buffer("expAvgSq", param).ptr],
      [1 - beta1, beta2, 1 - beta2, h.eps, l2, decay, 1 - beta2 ** t, (-h.lr * (1 - mu)) / (1 - muProduct), (-h.lr * muNext) / (1 - muProductNext), h.maximize ? 1 : 0],
    );
  }
}
