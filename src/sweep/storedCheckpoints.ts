// A trial's checkpoints in the run store, for sweeps whose workers are on several machines: each
// worker has its own run directories, so the checkpoint a retried trial resumes from travels
// through the store (its `checkpoints` table keeps the latest of each run).
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
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
    if (basename(path) === LATEST) this.store.saveCheckpoint(this.runId, trainer.position.step, readFileSync(path));
  }
}

/**
 * Writes a run's latest checkpoint from the store into `<runsDir>/<runId>/` on this machine, with
 * the config.yaml that `--resume` reads (the checkpoint's own config), replacing what an earlier
 * attempt on this machine left there: the store's is the newest of any machine. Resolves to the
 * run directory to resume, or null when the store has no checkpoint of the run.
 */
export function restoreStoredCheckpoint(store: SweepStore, runId: string, runsDir: string): string | null {
  const stored = store.latestCheckpoint(runId);
  if (!stored) return null;
  const directory = join(runsDir, runId);
  createFolder(join(directory, "checkpoints"));
  const file = join(directory, "checkpoints", LATEST);
  writeFileAtomic(file, Buffer.from(stored.data.buffer, stored.data.byteOffset, stored.data.byteLength));
  writeFileAtomic(join(directory, "config.yaml"), stringify(loadCheckpoint(file).config));
  return directory;
}
