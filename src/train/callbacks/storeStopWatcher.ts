import type { RunStore } from "../../store/runStore.ts";
import type { Callback } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

/** The reason a run stopped by `RunStore.requestStop` (the dashboard's stop button) gives. */
export const STOP_REQUESTED = "stop requested from the dashboard";

/**
 * Stops the trainer after the current step when someone asked the run store to stop this run
 * (the dashboard's stop button, from this process or another). The store is read at most every
 * `intervalMs`, so the check costs the training loop nothing measurable.
 */
export class StoreStopWatcher implements Callback {
  readonly name = "store_stop";
  private lastCheck = 0;

  constructor(
    readonly store: RunStore,
    readonly runId: string,
    readonly intervalMs = 250,
  ) {}

  onBatchEnd(trainer: Trainer): void {
    const now = performance.now();
    if (now - this.lastCheck < this.intervalMs) return;
    this.lastCheck = now;
    if (this.store.stopRequested(this.runId)) trainer.requestStop(STOP_REQUESTED);
  }
}
