import * as z from "zod";
import type { ExtensionRequest } from "../engine/extensions/index.ts";
import { defineQuantity } from "./definition.ts";
import { type QuantityParts, ScheduledQuantity, type StepInfo, summedStatistic } from "./quantity.ts";
import type { StepSchedule } from "./schedule.ts";

const totalGradSquared = (step: StepInfo): number => step.gradSquaredNorms.reduce((a, b) => a + b, 0);

// Σ_i‖g_i‖², N and ‖g‖² over all parameters; Σ_i‖g_i − g‖² = Σ_i‖g_i‖² − N‖g‖² since g is the mean.
function spread(step: StepInfo): { sumL2: number; n: number; gradSquared: number } {
  const n = step.batchSize;
  let sumL2 = 0;
  for (const v of summedStatistic(step, "batchL2")) sumL2 += v;
  return { sumL2, n, gradSquared: totalGradSquared(step) };
}

/**
 * The norm test (Byrd et al. 2012): sqrt(Σ_i‖g_i − g‖² / (N(N−1)‖g‖²)); above 1 the batch is
 * too small for the gradient's direction to be trusted. Config name `norm_test`.
 */
export class NormTest extends ScheduledQuantity {
  readonly name = "NormTest";
  request(): ExtensionRequest {
    return { batchL2: true };
  }
  compute(step: StepInfo): number {
    const { sumL2, n, gradSquared } = spread(step);
    return Math.sqrt((sumL2 - n * gradSquared) / (n * (n - 1) * gradSquared));
  }
}

// g_iᵀg summed over the parameters (g is the batch mean: the Gram matrix's row means).
function projectionsOnMean(step: StepInfo): { dots: Float64Array; gradSquared: number } {
  return { dots: summedStatistic(step, "meanProjections"), gradSquared: totalGradSquared(step) };
}

/** The inner-product test (Bollapragada et al. 2018): sqrt(Σ_i(g_iᵀg − ‖g‖²)² / (N(N−1)‖g‖⁴)). Config name `inner_test`. */
export class InnerTest extends ScheduledQuantity {
  readonly name = "InnerTest";
  request(): ExtensionRequest {
    return { meanProjections: true };
  }
  compute(step: StepInfo): number {
    const n = step.batchSize;
    const { dots, gradSquared } = projectionsOnMean(step);
    let total = 0;
    for (const d of dots) total += (d - gradSquared) ** 2;
    return Math.sqrt(total / (n * (n - 1) * gradSquared ** 2));
  }
}

/**
 * The orthogonality test (Bollapragada et al. 2018): sqrt(Σ_i‖g_i − (g_iᵀg/‖g‖²)g‖² /
 * (N(N−1)‖g‖²)), using ‖g_i − c g‖² = ‖g_i‖² − (g_iᵀg)²/‖g‖². Config name `ortho_test`.
 */
export class OrthoTest extends ScheduledQuantity {
  readonly name = "OrthoTest";
  request(): ExtensionRequest {
    return { meanProjections: true, batchL2: true };
  }
  compute(step: StepInfo): number {
    const n = step.batchSize;
    const { dots, gradSquared } = projectionsOnMean(step);
    const squaredNorms = summedStatistic(step, "batchL2");
    let total = 0;
    for (let i = 0; i < n; i++) total += squaredNorms[i] - dots[i] ** 2 / gradSquared;
    return Math.sqrt(total / (n * (n - 1) * gradSquared));
  }
}

/** The running averages GradientNoiseScale keeps, as checkpoints store them. */
export interface NoiseScaleState {
  /** EMA of the tr(Σ) estimates (without bias correction). */
  trace: number;
  /** EMA of the ‖G‖² estimates (without bias correction). */
  gradSquared: number;
}

/**
 * The gradient noise scale B_simple = tr(Σ)/‖G‖² (McCandlish et al. 2018) with the unbiased
 * in-batch estimates tr(Σ) ≈ Σ_i‖g_i − g‖²/(N−1) and ‖G‖² ≈ ‖g‖² − tr(Σ)/N, from NormTest's
 * statistics. Config name `gradient_noise_scale`.
 *
 * The per-step ratio is recorded as `GradientNoiseScale`; its ‖G‖² estimate is small and noisy,
 * so it is often negative. `GradientNoiseScale/smoothed` is the estimate McCandlish et al.
 * recommend (appendix A.1): the ratio of exponential moving averages (weight `smoothing`) of
 * the two unbiased estimates over the steps computed so far. Both averages start at 0 and
 * would need the same bias correction 1/(1 − smoothingᵗ), which cancels in their ratio.
 */
export class GradientNoiseScale extends ScheduledQuantity {
  readonly name = "GradientNoiseScale";
  private averages: NoiseScaleState = { trace: 0, gradSquared: 0 };
  constructor(
    schedule?: StepSchedule,
    readonly smoothing = 0.95,
  ) {
    super(schedule);
    if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`gradscope: GradientNoiseScale smoothing: expected a number in [0, 1), got ${smoothing}`);
  }
  request(): ExtensionRequest {
    return { batchL2: true };
  }
  compute(step: StepInfo): QuantityParts {
    const { sumL2, n, gradSquared } = spread(step);
    const trace = (sumL2 - n * gradSquared) / (n - 1);
    const signal = gradSquared - trace / n;
    const w = this.smoothing;
    this.averages = { trace: w * this.averages.trace + (1 - w) * trace, gradSquared: w * this.averages.gradSquared + (1 - w) * signal };
    return { total: trace / signal, parts: { smoothed: this.averages.trace / this.averages.gradSquared } };
  }
  /** The two running averages, so that a resumed run continues them exactly. */
  stateDict(): NoiseScaleState {
    return { ...this.averages };
  }
  loadStateDict(state: unknown): void {
    const { trace, gradSquared } = (state ?? {}) as Partial<NoiseScaleState>;
    if (typeof trace !== "number" || typeof gradSquared !== "number" || !Number.isFinite(trace) || !Number.isFinite(gradSquared)) {
      throw new Error(`gradscope: the checkpoint's GradientNoiseScale state ${JSON.stringify(state)} is not { trace, gradSquared } as finite numbers`);
    }
    this.averages = { trace, gradSquared };
  }
}

/** The definitions of the quantities above. */
export const gradientTestDefinitions = [
  defineQuantity({ configName: "norm_test", name: "NormTest", description: "the norm test (Byrd et al. 2012)", options: {}, create: (_, schedule) => new NormTest(schedule) }),
  defineQuantity({
    configName: "inner_test",
    name: "InnerTest",
    description: "the inner-product test (Bollapragada et al. 2018)",
    options: {},
    create: (_, schedule) => new InnerTest(schedule),
  }),
  defineQuantity({
    configName: "ortho_test",
    name: "OrthoTest",
    description: "the orthogonality test (Bollapragada et al. 2018)",
    options: {},
    create: (_, schedule) => new OrthoTest(schedule),
  }),
  defineQuantity({
    configName: "gradient_noise_scale",
    name: "GradientNoiseScale",
    description: "the gradient noise scale B_simple (McCandlish et al. 2018), per step and smoothed",
    options: { smoothing: z.number().min(0).lt(1).default(0.95) },
    create: (options, schedule) => new GradientNoiseScale(schedule, options.smoothing),
  }),
];
