import type { BaseHyper, Optimizer } from "../optimizer.ts";
import { HyperCheck } from "../validate.ts";
import { LRScheduler } from "./scheduler.ts";

/** lr·γ every `stepSize` epochs (torch StepLR). Config name `step`. */
export class StepLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    new HyperCheck("StepLR").positiveInteger("stepSize", stepSize).nonNegative("gamma", gamma);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    const decays = this.lastEpoch !== 0 && this.lastEpoch % this.stepSize === 0;
    return this.currentLrs().map((lr) => (decays ? lr * this.gamma : lr));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** Math.floor(this.lastEpoch / this.stepSize));
  }
}

/** lr·γ at each milestone epoch (torch MultiStepLR; repeated milestones decay repeatedly). Config name `multistep`. */
export class MultiStepLR extends LRScheduler {
  readonly milestones: number[];

  constructor(
    optimizer: Optimizer<BaseHyper>,
    milestones: number[],
    readonly gamma = 0.1,
  ) {
    super(optimizer);
    const check = new HyperCheck("MultiStepLR").nonNegative("gamma", gamma);
    for (const [i, m] of milestones.entries()) check.positiveInteger(`milestones[${i}]`, m);
    this.milestones = [...milestones].sort((a, b) => a - b);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    const hits = this.milestones.filter((m) => m === this.lastEpoch).length;
    return this.currentLrs().map((lr) => lr * this.gamma ** hits);
  }

  protected closedFormLr(): number[] {
    const passed = this.milestones.filter((m) => m <= this.lastEpoch).length;
    return this.baseLrs.map((base) => base * this.gamma ** passed);
  }
}

/** lr·γ every epoch (torch ExponentialLR). Config name `exponential`. */
export class ExponentialLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly gamma: number,
  ) {
    super(optimizer);
    new HyperCheck("ExponentialLR").nonNegative("gamma", gamma);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    return this.currentLrs().map((lr) => (this.lastEpoch === 0 ? lr : lr * this.gamma));
  }

  protected closedFormLr(): number[] {
    return this.baseLrs.map((base) => base * this.gamma ** this.lastEpoch);
  }
}

/**
 * A linear ramp of the lr factor from startFactor to endFactor over totalIters epochs, then
 * constant (torch LinearLR; the usual warmup). Config name `linear`.
 */
export class LinearLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly startFactor = 1 / 3,
    readonly endFactor = 1,
    readonly totalIters = 5,
  ) {
    super(optimizer);
    new HyperCheck("LinearLR")
      .require(startFactor > 0 && startFactor <= 1, "startFactor", "in (0, 1]", startFactor)
      .require(endFactor >= 0 && endFactor <= 1, "endFactor", "in [0, 1]", endFactor)
      .positiveInteger("totalIters", totalIters);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    const t = this.lastEpoch;
    if (t === 0) return this.currentLrs().map((lr) => lr * this.startFactor);
    if (t > this.totalIters) return this.currentLrs();
    const change = this.endFactor - this.startFactor;
    return this.currentLrs().map((lr) => lr * (1 + change / (this.totalIters * this.startFactor + (t - 1) * change)));
  }

  protected closedFormLr(): number[] {
    const progress = Math.min(this.totalIters, this.lastEpoch) / this.totalIters;
    return this.baseLrs.map((base) => base * (this.startFactor + (this.endFactor - this.startFactor) * progress));
  }
}

/** lr·(1 − t/totalIters)^power until totalIters, then constant (torch PolynomialLR). Config name `polynomial`. */
export class PolynomialLR extends LRScheduler {
  constructor(
    optimizer: Optimizer<BaseHyper>,
    readonly totalIters = 5,
    readonly power = 1,
  ) {
    super(optimizer);
    new HyperCheck("PolynomialLR").positiveInteger("totalIters", totalIters).nonNegative("power", power);
    this.initialStep();
  }

  protected recursiveLr(): number[] {
    const t = this.lastEpoch;
    if (t === 0 || t > this.totalIters) return this.currentLrs();
    const factor = ((1 - t / this.totalIters) / (1 - (t - 1) / this.totalIters)) ** this.power;
    return this.currentLrs().map((lr) => lr * factor);
  }

  protected closedFormLr(): number[] {
    const t = Math.min(this.totalIters, this.lastEpoch);
    return this.baseLrs.map((base) => base * (1 - t / this.totalIters) ** this.power);
  }
}
