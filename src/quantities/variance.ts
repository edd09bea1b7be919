import * as z from "zod";
import type { ExtensionRequest } from "../engine/extensions/index.ts";
import { defineQuantity } from "./definition.ts";
import { ScheduledQuantity, StabilizedQuantity, type StepInfo } from "./quantity.ts";

// Visits (g_j, Σ_i g_ij²) for every scalar j of every parameter.
function forEachCoordinate(step: StepInfo, visit: (grad: number, sumSquares: number) => void): void {
  step.params.forEach(({ tensor }, k) => {
    const sums = step.stats.get(tensor)?.sumGradSquared?.data;
    if (!sums) throw new Error(`gradscope: quantity needs sumGradSquared for ${tensor.name ?? "a parameter"}, which was not computed`);
    const grad = step.grads[k];
    for (let j = 0; j < grad.length; j++) visit(grad[j], sums[j]);
  });
}

function requireZeroMomentumSgd(name: string, optimizer: StepInfo["optimizer"]): void {
  const momentum = Number(optimizer.hyper.momentum ?? 0);
  if (optimizer.name !== "SGD" || momentum !== 0) {
    throw new Error(`gradscope: ${name} only supports zero-momentum SGD (as Cockpit); the optimizer is ${optimizer.name}${momentum ? ` with momentum ${momentum}` : ""}`);
  }
}

/** (1/D) Σ_j g_j² / ((1/N)Σ_i g_ij² − g_j² + ε), the mean gradient signal-to-noise ratio. Config name `mean_gsnr`. */
export class MeanGSNR extends StabilizedQuantity {
  readonly name = "MeanGSNR";
  request(): ExtensionRequest {
    return { sumGradSquared: true };
  }
  compute(step: StepInfo): number {
    const n = step.batchSize;
    let total = 0;
    let count = 0;
    forEachCoordinate(step, (g, s) => {
      total += (g * g) / (s / n - g * g + this.epsilon);
      count++;
    });
    return total / count;
  }
}

/**
 * Mahsereci et al.'s evidence-based early-stopping criterion 1 − (N/D) Σ_j g_j²/(s_j² + ε), with
 * s_j² the ddof-1 variance of the g_ij; positive values suggest stopping. Zero-momentum SGD only.
 * Config name `early_stopping`.
 */
export class EarlyStoppingCriterion extends StabilizedQuantity {
  readonly name = "EarlyStopping";
  request(): ExtensionRequest {
    return { sumGradSquared: true };
  }
  checkOptimizer(optimizer: StepInfo["optimizer"]): void {
    requireZeroMomentumSgd(this.name, optimizer);
  }
  compute(step: StepInfo): number {
    // Checked again at every step: a schedule (one-cycle) may change the momentum.
    requireZeroMomentumSgd(this.name, step.optimizer);
    const n = step.batchSize;
    let total = 0;
    let count = 0;
    forEachCoordinate(step, (g, s) => {
      total += (g * g) / ((s - n * g * g) / (n - 1) + this.epsilon);
      count++;
    });
    return 1 - (n / count) * total;
  }
}

/**
 * CABS (Balles et al. 2017), the batch size the gradient noise suggests for the current lr:
 * lr·(1/N)Σ_i‖g_i − g‖²/L. Zero-momentum SGD only. Config name `cabs`.
 */
export class CABS extends ScheduledQuantity {
  readonly name = "CABS";
  request(): ExtensionRequest {
    return { sumGradSquared: true };
  }
  checkOptimizer(optimizer: StepInfo["optimizer"]): void {
    requireZeroMomentumSgd(this.name, optimizer);
  }
  compute(step: StepInfo): number {
    // Checked again at every step: a schedule (one-cycle) may change the momentum.
    requireZeroMomentumSgd(this.name, step.optimizer);
    const n = step.batchSize;
    let spread = 0;
    forEachCoordinate(step, (g, s) => {
      spread += s - n * g * g;
    });
    return (Number(step.optimizer.hyper.lr) * (spread / n)) / step.loss;
  }
}

const epsilon = z.number().positive().default(1e-5).describe("the stabilizing ε of the denominator");

/** The definitions of the quantities above. */
export const varianceDefinitions = [
  defineQuantity({
    configName: "cabs",
    name: "CABS",
    description: "the batch size CABS suggests for the current lr (zero-momentum SGD only)",
    options: {},
    create: (_, schedule) => new CABS(schedule),
  }),
  defineQuantity({
    configName: "early_stopping",
    name: "EarlyStopping",
    description: "Mahsereci et al.'s evidence-based early-stopping criterion (zero-momentum SGD only)",
    options: { epsilon },
    create: (options, schedule) => new EarlyStoppingCriterion(schedule, options.epsilon),
  }),
  defineQuantity({
    configName: "mean_gsnr",
    name: "MeanGSNR",
    description: "the mean gradient signal-to-noise ratio",
    options: { epsilon },
    create: (options, schedule) => new MeanGSNR(schedule, options.epsilon),
  }),
];
