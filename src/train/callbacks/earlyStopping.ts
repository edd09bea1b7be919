import type { Tensor } from "../../engine/tensor.ts";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

/** EarlyStopping's options (Keras semantics). */
export interface EarlyStoppingOptions {
  /** The epoch log to watch (default "val_loss"); a name the logs lack throws at the first epoch's end. */
  monitor: string;
  /** Whether the log improves by going down ("min", default) or up ("max"). */
  mode: "min" | "max";
  /** Epochs without improvement before stopping (default 5). */
  patience: number;
  /** The least change that counts as an improvement (default 0). */
  minDelta: number;
  /** Put back the best epoch's weights when stopping (default false). */
  restoreBestWeights: boolean;
}

/**
 * Stops when the monitored log (default `val_loss`) has not improved by more than `minDelta`
 * for `patience` epochs; optionally puts back the weights of the best epoch. Config key
 * `callbacks.early_stopping`.
 */
export class EarlyStopping implements Callback {
  readonly name = "early_stopping";
  readonly options: EarlyStoppingOptions;
  private best: number;
  private wait = 0;
  private bestEpoch = 0;
  private bestWeights: Float32Array[] | null = null;

  constructor(options: Partial<EarlyStoppingOptions> = {}) {
    this.options = { monitor: "val_loss", mode: "min", patience: 5, minDelta: 0, restoreBestWeights: false, ...options };
    this.best = this.options.mode === "min" ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  private improved(value: number): boolean {
    const { mode, minDelta } = this.options;
    return mode === "min" ? value < this.best - minDelta : value > this.best + minDelta;
  }

  onEpochEnd(trainer: Trainer, logs: Logs): void {
    const value = logs[this.options.monitor];
    if (value === undefined) {
      throw new Error(`gradscope: early_stopping monitors "${this.options.monitor}", which the epoch logs do not have (they have ${Object.keys(logs).join(", ")})`);
    }
    if (this.improved(value)) {
      this.best = value;
      this.wait = 0;
      this.bestEpoch = logs.epoch;
      if (this.options.restoreBestWeights) this.bestWeights = trainer.model.parameters().map((p) => p.data.slice());
      return;
    }
    this.wait++;
    if (this.wait >= this.options.patience) {
      if (this.bestWeights) {
        trainer.model.parameters().forEach((p: Tensor, i) => {
          p.data.set((this.bestWeights as Float32Array[])[i]);
        });
      }
      trainer.requestStop(`early stopping: ${this.options.monitor} has not improved for ${this.wait} epochs (best ${this.best} at epoch ${this.bestEpoch})`);
    }
  }

  stateDict(): unknown {
    return { best: this.best, wait: this.wait, bestEpoch: this.bestEpoch, bestWeights: this.bestWeights };
  }

  loadStateDict(state: unknown): void {
    const s = state as { best: number; wait: number; bestEpoch: number; bestWeights: Float32Array[] | null };
    this.best = s.best;
    this.wait = s.wait;
    this.bestEpoch = s.bestEpoch;
    this.bestWeights = s.bestWeights;
  }
}
