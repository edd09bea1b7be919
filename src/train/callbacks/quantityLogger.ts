import { appendFileSync } from "node:fs";
import type { QuantityTracker, TrackerState } from "../../quantities/tracker.ts";
import type { Callback } from "../callback.ts";

/**
 * Subscribes to the tracker and writes every quantity value as it is computed to a JSONL file,
 * one `{ step, quantity, value }` object per line (two-step quantities arrive one step late,
 * under their own step), and carries the tracker's θ_0 through checkpoints. Config section
 * `quantities`; the Trainer's `backward` is the tracker's.
 */
export class QuantityLogger implements Callback {
  readonly name = "quantities";
  private pending: string[] = [];

  constructor(
    readonly tracker: QuantityTracker,
    readonly path: string,
  ) {
    tracker.subscribe((step, quantity, value) => {
      this.pending.push(JSON.stringify({ step, quantity, value }));
    });
  }

  onBatchEnd(): void {
    if (this.pending.length === 0) return;
    appendFileSync(this.path, `${this.pending.join("\n")}\n`);
    this.pending = [];
  }

  onTrainEnd(): void {
    this.onBatchEnd();
  }

  stateDict(): unknown {
    return this.tracker.stateDict();
  }

  loadStateDict(state: unknown): void {
    this.tracker.loadStateDict(state as TrackerState);
  }
}
