import type { BaseHyper, Optimizer } from "../optimizer.ts";
import { HyperCheck } from "../validate.ts";
import type { Schedule, SchedulerState } from "./scheduler.ts";

/** ReduceLROnPlateau's options (torch.optim.lr_scheduler.ReduceLROnPlateau). */
export interface PlateauOptions {
  /** Whether the monitored metric improves by going down ("min", default) or up ("max"). */
  mode: "min" | "max";
  /** The lr is multiplied by this on a plateau (default 0.1; must be < 1). */
  factor: number;
  /** Calls of `step(metric)` without improvement tolerated before reducing (default 10). */
  patience: number;
  /** The least change that counts as an improvement (default 1e-4). */
  threshold: number;
  /** Whether `threshold` is relative to the best value ("rel", default) or absolute ("abs"). */
  thresholdMode: "rel" | "abs";
  /** Calls of `step(metric)` to wait after a reduction before counting bad ones again (default 0). */
  cooldown: number;
  /** The lower bound of the lr, one for all groups or one per group (default 0). */
  minLr: number | number[];
  /** A reduction smaller than this is not applied (default 1e-8). */
  eps: number;
}

export const plateauDefaults: PlateauOptions = { mode: "min", factor: 0.1, patience: 10, threshold: 1e-4, thresholdMode: "rel", cooldown: 0, minLr: 0, eps: 1e-8 };

/**
 * Multiplies the lr by `factor` once the monitored metric has not improved for more than
 * `patience` steps, then waits `cooldown` steps (torch ReduceLROnPlateau). `step(metric)`
 * takes the metric, usually once per epoch. Config name `plateau`.
 */
export class ReduceLROnPlateau implements Schedule {
  readonly options: PlateauOptions;
  private best: number;
  private badEpochs = 0;
  private cooldownCounter = 0;
  private lastEpoch = 0;
  private lastLrs: number[];

  constructor(
    readonly optimizer: Optimizer<BaseHyper>,
    options: Partial<PlateauOptions> = {},
  ) {
    const o = { ...plateauDefaults, ...options };
    const check = new HyperCheck("ReduceLROnPlateau")
      .oneOf("mode", o.mode, ["min", "max"])
      .oneOf("thresholdMode", o.thresholdMode, ["rel", "abs"])
      .require(o.factor >= 0 && o.factor < 1, "factor", "in [0, 1)", o.factor)
      .nonNegative("patience", o.patience)
      .nonNegative("threshold", o.threshold)
      .nonNegative("cooldown", o.cooldown)
      .nonNegative("eps", o.eps);
    const minLrs = Array.isArray(o.minLr) ? o.minLr : optimizer.paramGroups.map(() => o.minLr as number);
    check.require(minLrs.length === optimizer.paramGroups.length, "minLr", `one value or ${optimizer.paramGroups.length} (one per group)`, o.minLr);
    this.options = { ...o, minLr: minLrs };
    this.best = o.mode === "min" ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
    this.lastLrs = optimizer.paramGroups.map((group) => group.hyper.lr);
  }

  private isBetter(value: number): boolean {
    const { mode, thresholdMode, threshold } = this.options;
    if (mode === "min") return thresholdMode === "rel" ? value < this.best * (1 - threshold) : value < this.best - threshold;
    return thresholdMode === "rel" ? value > this.best * (threshold + 1) : value > this.best + threshold;
  }

  step(metric?: number): void {
    if (metric === undefined || Number.isNaN(metric)) throw new Error(`gradscope: ReduceLROnPlateau.step needs the monitored metric, got ${metric}`);
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.badEpochs = 0;
    } else this.badEpochs++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.options.patience) {
      this.reduce();
      this.cooldownCounter = this.options.cooldown;
      this.badEpochs = 0;
    }
    this.lastLrs = this.optimizer.paramGroups.map((group) => group.hyper.lr);
  }

  private reduce(): void {
    const minLrs = this.options.minLr as number[];
    this.optimizer.paramGroups.forEach((group, i) => {
      const old = group.hyper.lr;
      const reduced = Math.max(old * this.options.factor, minLrs[i]);
      if (old - reduced > this.options.eps) group.hyper.lr = reduced;
    });
  }

  lastLr(): number[] {
    return [...this.lastLrs];
  }

  stateDict(): SchedulerState {
    return { best: this.best, badEpochs: this.badEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch, lastLrs: [...this.lastLrs] };
  }

  loadStateDict(state: SchedulerState): void {
    this.best = state.best as number;
    this.badEpochs = state.badEpochs as number;
    this.cooldownCounter = state.cooldownCounter as number;
    this.lastEpoch = state.lastEpoch as number;
    this.lastLrs = [...(state.lastLrs as number[])];
  }
}
