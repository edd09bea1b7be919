import { existsSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Callback, Logs } from "../callback.ts";
import { captureCheckpoint, saveCheckpoint } from "../checkpoint.ts";
import { createFolder } from "../files.ts";
import type { Trainer } from "../trainer.ts";

/** ModelCheckpoint's options. */
export interface ModelCheckpointOptions {
  /** Also keep `epoch-NNNN.gsckpt` every this many epochs (0: only latest and best). */
  every: number;
  /** Keep only the newest this many `epoch-NNNN` files (0: all). */
  keepLast: number;
  /** Save `best.gsckpt` when this log improves (e.g. `val_accuracy`); none when unset. */
  monitor?: string;
  /** Whether `monitor` improves by going down ("min", default) or up ("max"). */
  mode: "min" | "max";
}

/** The checkpoint that resuming reads, inside a run's checkpoint folder. */
export const LATEST = "latest.gsckpt";

/**
 * Captures and atomically writes the trainer's full state, after its callbacks committed what
 * they buffer (`beforeCheckpoint`): what a checkpoint covers is never lost with the process.
 * Then tells the callbacks where it was written (`afterCheckpoint`).
 */
export function writeTrainerCheckpoint(trainer: Trainer, path: string, config: unknown): void {
  for (const callback of trainer.options.callbacks) callback.beforeCheckpoint?.(trainer);
  saveCheckpoint(path, captureCheckpoint({ model: trainer.model, optimizer: trainer.optimizer, scheduler: trainer.options.scheduler, trainer, config }));
  for (const callback of trainer.options.callbacks) callback.afterCheckpoint?.(trainer, path);
}

/**
 * Writes `latest.gsckpt` after every epoch (what `--resume` reads), `epoch-NNNN.gsckpt` every
 * `every` epochs keeping the last `keepLast`, and `best.gsckpt` when the monitored log improves.
 * Every write is atomic. Config key `callbacks.checkpoint`.
 */
export class ModelCheckpoint implements Callback {
  readonly name = "checkpoint";
  readonly options: ModelCheckpointOptions;
  private best: number;
  private kept: string[] = [];

  constructor(
    readonly directory: string,
    readonly config: unknown,
    options: Partial<ModelCheckpointOptions> = {},
  ) {
    this.options = { every: 0, keepLast: 3, mode: "min", ...options };
    this.best = this.options.mode === "min" ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  onTrainBegin(): void {
    createFolder(this.directory);
  }

  onEpochEnd(trainer: Trainer, logs: Logs): void {
    const { every, keepLast, monitor, mode } = this.options;
    if (monitor !== undefined) {
      const value = logs[monitor];
      if (value === undefined) throw new Error(`gradscope: checkpoint monitors "${monitor}", which the epoch logs do not have (they have ${Object.keys(logs).join(", ")})`);
      if (mode === "min" ? value < this.best : value > this.best) {
        this.best = value;
        writeTrainerCheckpoint(trainer, join(this.directory, "best.gsckpt"), this.config);
      }
    }
    if (every > 0 && logs.epoch % every === 0) {
      const name = `epoch-${String(logs.epoch).padStart(4, "0")}.gsckpt`;
      writeTrainerCheckpoint(trainer, join(this.directory, name), this.config);
      this.kept.push(name);
      while (keepLast > 0 && this.kept.length > keepLast) {
        const old = join(this.directory, this.kept.shift() as string);
        if (existsSync(old)) unlinkSync(old);
      }
    }
    // Last, so that latest.gsckpt carries this callback's updated state.
    writeTrainerCheckpoint(trainer, join(this.directory, LATEST), this.config);
  }

  stateDict(): unknown {
    return { best: this.best, kept: [...this.kept] };
  }

  loadStateDict(state: unknown): void {
    const s = state as { best: number; kept: string[] };
    this.best = s.best;
    this.kept = [...s.kept];
  }
}
