import type { QuantitySubscriber } from "../../quantities/tracker.ts";
import type { RunStore } from "../../store/runStore.ts";
import { seriesKey } from "../../store/seriesKeys.ts";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

/**
 * Where a StoreLogger records: the run store, or another sink with the store's writing methods
 * (the TensorBoard logger records the same series into an event file through one).
 */
export type SeriesSink = Pick<RunStore, "log" | "setParameters" | "flush">;

// Bookkeeping fields of the logs that are not measurements.
const skip = new Set(["epoch", "batch", "step", "size", "tracked"]);

/**
 * Logs the training into the run store (keys from store/seriesKeys.ts): each step's loss, lr
 * and gradient norm in the `train` family, each epoch's logs in the `epoch` family at the step
 * the epoch ended, and the other numeric hyperparameters of the first parameter group (momentum,
 * betas, weight decay) in the `hyper` family once they change (a schedule such as one-cycle moves
 * them). Records the parameter names that label per-parameter lists. Subscribed to a quantity
 * tracker (`logQuantity`), it stores each quantity value in the `quantity` family. Commits the store's buffer before each checkpoint, and carries
 * what it knows of the hyperparameters through checkpoints, so that a resumed run logs exactly
 * the rows of an uninterrupted one. Config section `store`.
 */
export class StoreLogger implements Callback {
  readonly name = "store";
  // Each hyperparameter's last value, and whether it has changed (been logged) yet.
  private readonly hyper = new Map<string, { value: number; step: number; logged: boolean }>();

  constructor(
    readonly store: SeriesSink,
    readonly runId: string,
  ) {}

  /** A tracker subscriber: `tracker.subscribe(storeLogger.logQuantity)`. */
  readonly logQuantity: QuantitySubscriber = (step, name, value) => this.store.log(this.runId, seriesKey.quantity(name), step, value);

  onTrainBegin(trainer: Trainer): void {
    this.store.setParameters(
      this.runId,
      trainer.model.namedParameters().map(([name]) => name),
    );
  }

  onBatchEnd(trainer: Trainer, logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) if (!skip.has(key)) this.store.log(this.runId, seriesKey.train(key), logs.step, value);
    this.logChangedHyperparameters(trainer, logs.step);
  }

  private logChangedHyperparameters(trainer: Trainer, step: number): void {
    for (const [name, value] of Object.entries(trainer.optimizer.paramGroups[0].hyper)) {
      if (name === "lr") continue;
      const entries: Array<[string, unknown]> = Array.isArray(value) ? value.map((v, i) => [`${name}/${i}`, v]) : [[name, value]];
      for (const [key, v] of entries) {
        if (typeof v !== "number") continue;
        const seen = this.hyper.get(key);
        if (!seen) {
          this.hyper.set(key, { value: v, step, logged: false });
          continue;
        }
        if (seen.value === v) continue;
        // Constant hyperparameters are never logged; a changing one from its first value on.
        if (!seen.logged) this.store.log(this.runId, seriesKey.hyper(key), seen.step, seen.value);
        this.store.log(this.runId, seriesKey.hyper(key), step, v);
        this.hyper.set(key, { value: v, step, logged: true });
      }
    }
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) if (!skip.has(key)) this.store.log(this.runId, seriesKey.epoch(key), logs.step, value);
    this.store.log(this.runId, seriesKey.epoch("epoch"), logs.step, logs.epoch);
  }

  onTrainEnd(): void {
    this.store.flush();
  }

  beforeCheckpoint(): void {
    this.store.flush();
  }

  stateDict(): unknown {
    return Object.fromEntries(this.hyper);
  }

  loadStateDict(state: unknown): void {
    this.hyper.clear();
    for (const [key, seen] of Object.entries(state as Record<string, { value: number; step: number; logged: boolean }>)) this.hyper.set(key, { ...seen });
  }
}
