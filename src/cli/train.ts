import { join } from "node:path";
import { stringify } from "yaml";
import { applicableConfig } from "../config/applicable.ts";
import { buildData, buildTraining, type RunData, type TrainingSetup } from "../config/build.ts";
import { ConfigError, type LoadedConfig, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { backendSummary } from "../engine/backend.ts";
import { openStoreForRuns, storeLocation } from "../store/openRunStore.ts";
import type { RunStore } from "../store/runStore.ts";
import { CheckpointError, loadCheckpoint, restoreCheckpoint } from "../train/checkpoint.ts";
import { checkBeforeCreatingStore, type Run, type RunDashboardOptions, type RunPlan, type RunResult, startRun, stopSignals } from "../train/run.ts";
import { ExitCode } from "./exitCodes.ts";
import { runConfigFile, runName } from "./runDirectory.ts";

// Where a run's store is (see openStore), or null when `store.enabled` is false.
const storeSources = (config: Config, flag?: string) => (config.store.enabled ? { flag, config: config.store, runsDir: config.training.runs_dir } : null);

/**
 * The run store a run records into, or null when `store.enabled` is false: `--store` (`flag`),
 * else GRADSCOPE_STORE_URL, else the config's `store.url` or `store.path`, else
 * `<runs_dir>/gradscope.db`. `runs_dir` is made when the store is in it; a SQLite store
 * elsewhere must be in an existing folder.
 */
export function openStore(config: Config, flag?: string): RunStore | null {
  const sources = storeSources(config, flag);
  return sources && openStoreForRuns(sources);
}

/** Options of `gradscope train`. */
export interface TrainCommandOptions {
  configs: string[];
  overrides: string[];
  resume?: string;
  printConfig?: boolean;
  quiet?: boolean;
  /** The run store (a path or a postgres:// URL), over GRADSCOPE_STORE_URL and the config's. */
  store?: string;
  /** Serve the live dashboard of this run while it trains (host and port as in `gradscope ui`). */
  dashboard?: RunDashboardOptions;
  /**
   * Called with what was built for the run, before training, to add to it (a sweep's trial adds
   * its early-stopping callback): the setup, the run's id and directory, its store, and
   * `interrupt(why)`, which stops the run once it trains as Ctrl-C does (a checkpoint, the run
   * interrupted; a no-op before the run has started).
   */
  extend?: (setup: TrainingSetup, run: { runId: string; directory: string; store: RunStore | null; interrupt: (why: string) => void }) => void;
  /** Messages printed and recorded as the run's `notice` events when it starts (a sweep's trial names its sweep). */
  notices?: string[];
}

const log = (message: string) => process.stdout.write(`${message}\n`);

function disposeSetup(setup: TrainingSetup): void {
  setup.tracker?.dispose();
  setup.optimizer.dispose();
  setup.model.dispose();
}

/**
 * The run a loaded config describes, for the library's run lifecycle: built from the config
 * (data, model, optimizer, scheduler, quantities, callbacks) once its directory is known.
 */
function planOf(name: string, loaded: LoadedConfig, data: RunData, options: TrainCommandOptions, interrupt: (why: string) => void): RunPlan {
  const store = openStore(loaded.config, options.store);
  return {
    name,
    runsDir: loaded.config.training.runs_dir,
    config: loaded.raw,
    store,
    resume: options.resume,
    configChanged: options.overrides.length > 0,
    dashboard: options.dashboard,
    notices: [...data.notices, ...(options.notices ?? [])],
    resumeHint: (directory) => `gradscope train --resume ${directory}`,
    log,
    train: data.train,
    build: (directory, runId) => {
      const setup = buildTraining(loaded, data, directory, options.quiet ? undefined : process.stdout, store ? { store, runId } : undefined);
      try {
        options.extend?.(setup, { runId, directory, store, interrupt });
      } catch (error) {
        disposeSetup(setup);
        throw error;
      }
      return { trainer: setup.trainer, dispose: () => disposeSetup(setup) };
    },
  };
}

/**
 * `gradscope train`: loads the config (or a run's saved config with --resume), trains with
 * progress, checkpoints and logs in the run directory, evaluates on the test set, and writes
 * summary.json, through the library's run lifecycle (`startRun`). Errors found before training
 * starts exit with 2 and create or change nothing. Ctrl-C (SIGINT) or SIGTERM stops after the
 * current step, saves latest.gsckpt, marks the run interrupted and exits with 130 or 143; a
 * second one exits at once, leaving the last checkpoint as it was.
 */
export async function trainCommand(options: TrainCommandOptions): Promise<number> {
  const files = options.resume ? [runConfigFile(options.resume), ...options.configs] : options.configs;
  const loaded = loadConfig(files, options.overrides);
  if (options.printConfig) {
    process.stdout.write(stringify(applicableConfig(loaded.config)));
    return ExitCode.ok;
  }
  const data = buildData(loaded);
  const name = runName(loaded.config.name, options.configs);
  let run: Run;
  // The run once started, for the `interrupt` that `extend` gets.
  const started: { run?: Run } = {};
  try {
    const sources = storeSources(loaded.config, options.store);
    // The check build's directory is never made: the build only names the files the run would write.
    await checkBeforeCreatingStore(
      sources && storeLocation(sources),
      options.resume,
      () => {
        const setup = buildTraining(loaded, data, join(loaded.config.training.runs_dir, name));
        return { dispose: () => disposeSetup(setup) };
      },
      options.dashboard,
    );
    // Opening the store (which makes runs_dir) is part of starting: its errors exit 2 too.
    run = await startRun(planOf(name, loaded, data, options, (why) => started.run?.interrupt(why)));
    started.run = run;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    process.stderr.write(`${(error as Error).message}\n${options.resume ? `(${options.resume} is unchanged)` : "(no run was created)"}\n`);
    return ExitCode.usage;
  }
  const { trainer, directory } = run;
  if (run.dashboardUrl) log(`dashboard: ${run.dashboardUrl}`);
  else if (options.dashboard) log("note: --dashboard needs the run store (store.enabled is false); no dashboard");
  if (options.resume) log(`resuming ${directory} at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}, step ${trainer.position.step}`);
  log(
    `gradscope: ${name}: ${trainer.model.parameterCount()} parameters, ${data.train.dataset.length} training examples${data.validation ? `, ${data.validation.dataset.length} validation` : ""}, ${data.test.dataset.length} test; run directory ${directory}`,
  );
  log(backendSummary());
  let result: RunResult | null = null;
  try {
    result = await run.train(data.train, { validation: data.validation, test: data.test, signals: true });
    if (result.status === "failed") return ExitCode.failed;
    return result.signal ? stopSignals[result.signal] : ExitCode.ok;
  } finally {
    // On a terminal the page stays up for a last look at the finished run.
    if (run.dashboardUrl && process.stdout.isTTY && !result?.signal) {
      log(`training ended; the dashboard stays at ${run.dashboardUrl} until Ctrl-C`);
      await untilSignal();
    }
    await run.close();
    // A process that trains more runs (a sweep's trial host) keeps no prefetch worker of this one.
    await data.train.close();
  }
}

/** Resolves at the next SIGINT or SIGTERM. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

/** Options of `gradscope eval`. */
export interface EvalCommandOptions {
  configs: string[];
  overrides: string[];
  checkpoint: string;
}

/**
 * Builds what a config describes with a checkpoint restored into it, and runs `use` on it; the
 * model, optimizer and tracker are freed afterwards. `gradscope eval` and `gradscope predict`
 * load their model this way.
 */
export function withCheckpoint<T>(options: EvalCommandOptions, use: (setup: TrainingSetup) => T): T {
  const loaded = loadConfig(options.configs, options.overrides);
  const data = buildData(loaded);
  const setup = buildTraining(loaded, data, ".");
  try {
    const checkpoint = loadCheckpoint(options.checkpoint);
    try {
      restoreCheckpoint(checkpoint, setup);
    } catch (error) {
      throw new CheckpointError(`gradscope: checkpoint ${options.checkpoint} does not fit what the config describes: ${(error as Error).message.replace(/^gradscope: /, "")}`);
    }
    return use(setup);
  } finally {
    disposeSetup(setup);
  }
}

/** `gradscope eval`: the test-set loss and metrics of a checkpoint under a config. */
export function evalCommand(options: EvalCommandOptions): number {
  return withCheckpoint(options, (setup) => {
    const { logs, matrices } = setup.trainer.evaluateWithMatrices(setup.data.test, "test_");
    process.stdout.write(`${JSON.stringify({ ...logs, ...matrices })}\n`);
    return ExitCode.ok;
  });
}
