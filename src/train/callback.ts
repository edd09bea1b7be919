import type { Trainer } from "./trainer.ts";

/** Values a hook sees: e.g. `{ epoch, step, loss, accuracy, val_loss, lr }`. */
export type Logs = Record<string, number>;

/**
 * Keras-style hooks. Every hook is optional; `trainer.requestStop(reason)` ends training after
 * the current batch. `onBackwardEnd` runs after the gradients exist and before they are
 * clipped and applied, for checks such as the NaN guard. Callbacks with state that must survive
 * a resume implement `stateDict`/`loadStateDict`.
 */
export interface Callback {
  /** A key for the callback's saved state (unique among a trainer's callbacks). */
  readonly name: string;
  onTrainBegin?(trainer: Trainer, logs: Logs): void;
  onEpochBegin?(trainer: Trainer, logs: Logs): void;
  onBatchBegin?(trainer: Trainer, logs: Logs): void;
  onBackwardEnd?(trainer: Trainer, logs: Logs): void;
  onBatchEnd?(trainer: Trainer, logs: Logs): void;
  onEpochEnd?(trainer: Trainer, logs: Logs): void;
  onTrainEnd?(trainer: Trainer, logs: Logs): void;
  /**
   * Before a checkpoint of the trainer is written: commit what the callback buffers elsewhere
   * (the run store's rows), so that a run resumed from the checkpoint misses nothing before it.
   */
  beforeCheckpoint?(trainer: Trainer): void;
  /** After a checkpoint of the trainer was written to `path` (a sweep's trial copies the latest into the run store). */
  afterCheckpoint?(trainer: Trainer, path: string): void;
  stateDict?(): unknown;
  loadStateDict?(state: unknown): void;
}
