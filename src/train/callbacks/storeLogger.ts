import type { RunStore } from "../../store/runStore.ts";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

// Bookkeeping fields of the logs that are not measurements.
const skip = new Set(["epoch", "batch", "step", "size", "tracked"]);

/**
 * Logs the training into the run store: each step's loss, lr and gradient norm under
 * `train/<key>`, and each epoch's logs under `epoch/<key>` at the step the epoch ended.
 * Config section `store`.
 */
export class StoreLogger implements Callback {
  readonly name = "store";

  constructor(
    readonly store: RunStore,
    readonly runId: string,
  ) {}

  onBatchEnd(_trainer: Trainer, logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) if (!skip.has(key)) this.store.log(this.runId, `train/${key}`, logs.step, value);
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    for (const [key, value] of Object.entries(logs)) if (!skip.has(key)) this.store.log(this.runId, `epoch/${key}`, logs.step, value);
    this.store.log(this.runId, "epoch/epoch", logs.step, logs.epoch);
  }

  onTrainEnd(): void {
    this.store.flush();
  }
}
