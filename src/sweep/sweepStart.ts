// Starting a sweep, whichever store and queue it runs on: its record, folder and base config, its
// search, and proposing each trial.
import { availableParallelism } from "node:os";
import { basename, join, resolve } from "node:path";
import { stringify } from "yaml";
import { ConfigError, loadConfig } from "../config/load.ts";
import { isPostgresUrl, storeLocation } from "../store/openRunStore.ts";
import type { SweepStore } from "../store/sweeps.ts";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import { freeRunDirectory, safeRunName } from "../train/runDirectory.ts";
import { createSearch, type Search } from "./search.ts";
import { type LoadedSweep, parameterOverrides } from "./spec.ts";
import { formatParams, trialEnded } from "./status.ts";
import { BASE_FILE } from "./trialProcess.ts";

/** The name of a trial's log file in a sweep's folder. */
export const trialLogName = (trial: number) => `trial-${String(trial).padStart(3, "0")}.log`;

/** A sweep recorded in its store, with its folder and search, ready for trials. */
export interface StartedSweep {
  sweepId: string;
  /** The sweep's folder: base.yaml and the trials' logs. */
  directory: string;
  baseFile: string;
  runsDir: string;
  search: Search;
  /** The cores shared out among the trials at once on this machine. */
  threads: number;
  workers: number;
}

/**
 * Records a sweep in the store (its id from its name and the time), writes its folder with the
 * resolved base config every trial starts from, and logs the sweep's first line.
 */
export function startSweep(loaded: LoadedSweep, store: SweepStore, options: { workers: number; log: (line: string) => void; storeLabel: string }): StartedSweep {
  const { spec, baseConfig } = loaded;
  const runsDir = resolve(baseConfig.config.training.runs_dir);
  // The cores shared out among the trials at once, so that they do not oversubscribe the machine.
  const threads = Math.max(1, Math.floor(availableParallelism() / Math.max(1, options.workers)));
  const directory = freeRunDirectory(join(runsDir, "sweeps"), safeRunName(loaded.name), (id) => store.hasSweep(id));
  const sweepId = basename(directory);
  createFolder(directory);
  const base = { ...baseConfig.raw, training: { ...(baseConfig.raw.training as object), runs_dir: runsDir } };
  const baseFile = join(directory, BASE_FILE);
  writeFileAtomic(baseFile, stringify(base));
  store.createSweep({ id: sweepId, name: loaded.name, spec, base, directory });
  const search = createSearch(spec);
  const { workers } = options;
  const on = workers === 0 ? "gradscope workers only" : `${workers} local worker${workers > 1 ? "s" : ""} (${threads} thread${threads > 1 ? "s" : ""} each)`;
  options.log(`sweep ${sweepId}: ${spec.method} search, ${search.trials} trials on ${on}; store ${options.storeLabel}`);
  return { sweepId, directory, baseFile, runsDir, search, threads, workers };
}

/**
 * Proposes trial `number` from the trials finished so far and adds it to the store. Resolves to
 * true when it is to be trained; a proposal the base config refuses is a failed trial instead.
 */
export function proposeTrial(store: SweepStore, sweep: StartedSweep, number: number, log: (line: string) => void): boolean {
  const finished = store.trials(sweep.sweepId).filter(trialEnded);
  const params = sweep.search.next(finished.map((t) => ({ params: t.params, metric: t.metric })));
  if (!store.addTrial(sweep.sweepId, number, params)) {
    // Only a coordinator that holds the sweep's lease proposes; should two ever, the first wins.
    log(`trial ${number}/${sweep.search.trials} was proposed elsewhere already; leaving it to that proposal`);
    return false;
  }
  try {
    loadConfig([sweep.baseFile], parameterOverrides(params));
    return true;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    store.finishTrial(sweep.sweepId, number, { status: "failed", message: error.message });
    log(`trial ${number}/${sweep.search.trials} failed: ${formatParams(params)}: ${error.message}`);
    return false;
  }
}

/** The store a sweep records into: `--store`, else GRADSCOPE_STORE_URL, else the base config's. */
export function sweepStoreLocation(loaded: LoadedSweep, flag?: string): string {
  const { config } = loaded.baseConfig;
  const location = storeLocation({ flag, config: config.store, runsDir: resolve(config.training.runs_dir) });
  return isPostgresUrl(location) ? location : resolve(location);
}
