// A trial's checkpoints in the run store, for sweeps whose workers are on several machines: each
// worker has its own run directories, so the checkpoint a retried trial resumes from travels
// through the store (its `checkpoints` table keeps the latest of each run).
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { StoreUnreachableError } from "../store/postgres/connectionLost.ts";
import type { SweepStore } from "../store/sweeps.ts";
import type { Callback } from "../train/callback.ts";
import { LATEST } from "../train/callbacks/modelCheckpoint.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import type { Trainer } from "../train/trainer.ts";

/**
 * Copies every `latest.gsckpt` the trial's run writes (each epoch's end, an interruption) into
 * the store, replacing the one before. The file is read back whole: a checkpoint is one value
 * of the store, so it must fit in memory and under PostgreSQL's 1 GB per value.
 */
export class StoredCheckpoints implements Callback {
  readonly name = "stored-checkpoints";

  constructor(
    private readonly store: SweepStore,
    private readonly runId: string,
  ) {}

  afterCheckpoint(trainer: Trainer, path: string): void {
    if (basename(path) !== LATEST) return;
    try {
      this.store.saveCheckpoint(this.runId, trainer.position.step, readFileSync(path));
    } catch (error) {
      // The server is away: the checkpoint stays in the run directory alone (the trial stops,
      // see TrialStoreOutage), where this machine's next attempt finds it.
      if (!(error instanceof StoreUnreachableError)) throw error;
    }
  }
}

/**
 * The checkpoint a trial's run resumes from on this machine: this machine's own
 * (`<runsDir>/<runId>/checkpoints/latest.gsckpt`) when it is as new as the store's or newer (a
 * trial that lost its store saved its last checkpoint there only, see TrialStoreOutage), else the
 * store's. Null when neither has one.
 */
export function resumableCheckpoint(store: SweepStore, runId: string, runsDir: string): { step: number; local: boolean } | null {
  const directory = join(runsDir, runId);
  const file = join(directory, "checkpoints", LATEST);
  const localStep = existsSync(file) && existsSync(join(directory, "config.yaml")) ? loadCheckpoint(file).trainer.position.step : null;
  const storedStep = store.checkpointStep(runId);
  if (localStep !== null && (storedStep === null || localStep >= storedStep)) return { step: localStep, local: true };
  return storedStep === null ? null : { step: storedStep, local: false };
}

/**
 * The run directory `<runsDir>/<runId>/` to resume a trial's run from on this machine, with the
 * checkpoint `resumableCheckpoint` chooses: the store's is written there, with the config.yaml
 * that `--resume` reads (the checkpoint's own config), replacing what an earlier attempt on this
 * machine left. Null when there is no checkpoint of the run.
 */
export function restoreStoredCheckpoint(store: SweepStore, runId: string, runsDir: string): string | null {
  const checkpoint = resumableCheckpoint(store, runId, runsDir);
  const directory = join(runsDir, runId);
  if (checkpoint?.local) return directory;
  const stored = checkpoint && store.latestCheckpoint(runId);
  if (!stored) return null;
  const file = join(directory, "checkpoints", LATEST);
  createFolder(join(directory, "checkpoints"));
  writeFileAtomic(file, Buffer.from(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength));
  writeFileAtomic(join(directory, "config.yaml"), stringify(loadCheckpoint(file).config));
  return directory;
}
