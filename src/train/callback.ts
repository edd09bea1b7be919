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
  /** Once, before the first batch; logs `{ epoch, step }` (after a resume: the restored position). */
  onTrainBegin?(trainer: Trainer, logs: Logs): void;
  /** Before each epoch's first batch; logs `{ epoch, step }`, the epoch counted from 1. */
  onEpochBegin?(trainer: Trainer, logs: Logs): void;
  /** Before each batch's forward pass; logs `{ epoch, batch, step, size, tracked }`. */
  onBatchBegin?(trainer: Trainer, logs: Logs): void;
  /** After the backward pass, before the gradients are clipped and applied; the logs add `loss` and `grad_norm`. */
  onBackwardEnd?(trainer: Trainer, logs: Logs): void;
  /** After the batch's optimizer step (or its accumulation); the logs add `lr`. */
  onBatchEnd?(trainer: Trainer, logs: Logs): void;
  /** After each epoch's last batch and its validation, with the epoch's logs (loss, metrics, `val_*`). */
  onEpochEnd?(trainer: Trainer, logs: Logs): void;
  /** Once, when training ends (completed, stopped or failed); logs `{ epoch, step }`. */
  onTrainEnd?(trainer: Trainer, logs: Logs): void;
  /**
   * Before a checkpoint of the trainer is written: commit what the callback buffers elsewhere
   * (the run store's rows), so that a run resumed from the checkpoint misses nothing before it.
   */
  beforeCheckpoint?(trainer: Trainer): void;
  /** After a checkpoint of the trainer was written to `path` (a sweep's trial copies the latest into the run store). */
  afterCheckpoint?(trainer: Trainer, path: string): void;
  /** The callback's state to save in a checkpoint (JSON-serializable). */
  stateDict?(): unknown;
  /** Restores the state `stateDict` returned, when a run resumes. */
  loadStateDict?(state: unknown): void;
}
