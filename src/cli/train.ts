import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { buildData, buildTraining, type TrainingSetup } from "../config/build.ts";
import { ConfigError, type LoadedConfig, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { startDashboardWorker } from "../dashboard/launch.ts";
import { confusionTable } from "../metrics/confusion.ts";
import { type RunStatus, RunStore } from "../store/runStore.ts";
import { LATEST, writeTrainerCheckpoint } from "../train/callbacks/modelCheckpoint.ts";
import { epochLine } from "../train/callbacks/progress.ts";
import { STOP_REQUESTED } from "../train/callbacks/storeStopWatcher.ts";
import { CheckpointError, loadCheckpoint, restoreCheckpoint } from "../train/checkpoint.ts";
import { writeFileAtomic } from "../train/files.ts";
import { claimRunDirectory, freeRunDirectory, runConfigFile, runName } from "./runDirectory.ts";

/** The run store a config asks for, or null when `store.enabled` is false. */
export function openStore(config: Config): RunStore | null {
  if (!config.store.enabled) return null;
  return new RunStore(config.store.path ?? join(config.training.runs_dir, "gradscope.db"));
}

/** Exit codes of the CLI: 130 and 143 are 128 + the number of the signal that stopped the run. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130, terminated: 143 } as const;

// The signals that stop a run as Ctrl-C does, with the exit code of each.
const stopSignals = { SIGINT: ExitCode.interrupted, SIGTERM: ExitCode.terminated } as const;
type StopSignal = keyof typeof stopSignals;

/** Options of `gradscope train`. */
export interface TrainCommandOptions {
  configs: string[];
  overrides: string[];
  resume?: string;
  printConfig?: boolean;
  quiet?: boolean;
  /** Serve the live dashboard of this run while it trains (host and port as in `gradscope ui`). */
  dashboard?: { host?: string; port?: number; token?: string };
}

const log = (message: string) => process.stdout.write(`${message}\n`);

type Dashboard = Awaited<ReturnType<typeof startDashboardWorker>>;

/** A run that is built, validated and registered: its directory and store row exist. */
interface StartedRun {
  directory: string;
  runId: string;
  setup: TrainingSetup;
  store: RunStore | null;
  dashboard: Dashboard | null;
}

function disposeSetup(setup: TrainingSetup): void {
  setup.tracker?.dispose();
  setup.optimizer.dispose();
  setup.model.dispose();
}

const reason = (error: unknown) => (error as Error).message.replace(/^gradscope: /, "");

// What --resume continues must be a run of the store that no process is running.
function checkResumable(store: RunStore, runId: string): void {
  if (!store.hasRun(runId)) throw new Error(`gradscope: run ${runId} is not in the run store ${store.path}`);
  const run = store.getRun(runId);
  if (run.status === "running") throw new Error(`gradscope: run ${runId} is running (process ${run.pid}); stop it before resuming`);
}

function restoreLatest(directory: string, setup: TrainingSetup): void {
  const latest = join(directory, "checkpoints", LATEST);
  if (!existsSync(latest)) throw new Error(`gradscope: ${directory} has no checkpoints/${LATEST} to resume from`);
  try {
    restoreCheckpoint(loadCheckpoint(latest), setup);
  } catch (error) {
    throw new Error(`gradscope: cannot resume ${directory} from checkpoints/${LATEST}: ${reason(error)}`);
  }
}

/**
 * Builds everything the run needs (data, model, optimizer, scheduler, quantities, callbacks,
 * the store, the dashboard's port, the checkpoint to resume) and only then creates the run:
 * its directory and store row for a new run, the saved config and the `running` status for a
 * resumed one. Any error leaves nothing behind and nothing changed.
 */
async function startRun(loaded: LoadedConfig, options: TrainCommandOptions): Promise<StartedRun> {
  const name = runName(loaded.config.name, options.configs);
  const data = buildData(loaded);
  const store = openStore(loaded.config);
  let dashboard: Dashboard | null = null;
  let setup: TrainingSetup | null = null;
  const build = (directory: string) =>
    buildTraining(loaded, data, directory, options.quiet ? undefined : process.stdout, store ? { store, runId: basename(directory) } : undefined);
  try {
    if (store && options.resume) checkResumable(store, basename(options.resume));
    if (store && options.dashboard) dashboard = await startDashboardWorker({ storePath: store.path, ...options.dashboard });
    let directory: string;
    if (options.resume) {
      directory = options.resume;
      setup = build(directory);
      restoreLatest(directory, setup);
      const overridden = options.overrides.length > 0;
      if (overridden) writeFileAtomic(join(directory, "config.yaml"), stringify(loaded.raw));
      store?.resumeRun(basename(directory), setup.trainer.position.step, overridden ? loaded.raw : undefined);
    } else {
      for (;;) {
        directory = freeRunDirectory(loaded.config.training.runs_dir, name, (id) => store?.hasRun(id) ?? false);
        setup = build(directory);
        if (claimRunDirectory(directory, loaded.raw)) break;
        // Another run took this directory since it was found free: build with the next one.
        disposeSetup(setup);
        setup = null;
      }
      store?.createRun({ id: basename(directory), name, config: loaded.raw, directory });
    }
    for (const notice of data.notices) {
      log(`note: ${notice}`);
      store?.event(basename(directory), "notice", notice);
    }
    return { directory, runId: basename(directory), setup, store, dashboard };
  } catch (error) {
    if (setup) disposeSetup(setup);
    await dashboard?.close();
    store?.close();
    throw error;
  }
}

/**
 * `gradscope train`: loads the config (or a run's saved config with --resume), trains with
 * progress, checkpoints and logs in the run directory, evaluates on the test set, and writes
 * summary.json. Errors found before training starts exit with 2 and create or change nothing.
 * Ctrl-C (SIGINT) or SIGTERM stops after the current step, saves latest.gsckpt, marks the run
 * interrupted and exits with 130 or 143; a second one exits at once, leaving the last
 * checkpoint as it was.
 */
export async function trainCommand(options: TrainCommandOptions): Promise<number> {
  const files = options.resume ? [runConfigFile(options.resume), ...options.configs] : options.configs;
  const loaded = loadConfig(files, options.overrides);
  if (options.printConfig) {
    process.stdout.write(stringify(loaded.config));
    return ExitCode.ok;
  }
  let run: StartedRun;
  try {
    run = await startRun(loaded, options);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    process.stderr.write(`${(error as Error).message}\n${options.resume ? `(${options.resume} is unchanged)` : "(no run was created)"}\n`);
    return ExitCode.usage;
  }
  return await train(run, loaded, options);
}

async function train(run: StartedRun, loaded: LoadedConfig, options: TrainCommandOptions): Promise<number> {
  const { directory, runId, setup, store, dashboard } = run;
  const { trainer, model, data } = setup;
  if (dashboard) log(`dashboard: ${dashboard.url}`);
  else if (options.dashboard) log("note: --dashboard needs the run store (store.enabled is false); no dashboard");
  if (options.resume) log(`resuming ${directory} at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}, step ${trainer.position.step}`);
  log(
    `gradscope: ${runName(loaded.config.name, options.configs)}: ${model.parameterCount()} parameters, ${data.train.dataset.length} training examples${data.validation ? `, ${data.validation.dataset.length} validation` : ""}, ${data.test.dataset.length} test; run directory ${directory}`,
  );
  let signal: StopSignal | null = null;
  const onSignal = (received: StopSignal) => {
    if (signal) {
      // A second signal leaves at once: the last checkpoint stays as it was (every write of it is
      // atomic), and the run resumes from it.
      store?.event(runId, "stop", `${received} again; exited without a new checkpoint`, trainer.position.step);
      store?.finishRun(runId, "interrupted", null);
      process.exit(stopSignals[received]);
    }
    signal = received;
    trainer.requestStop(`interrupted (${received})`);
  };
  for (const name of Object.keys(stopSignals) as StopSignal[]) process.on(name, onSignal);
  let status: RunStatus = "failed";
  let summary: unknown = null;
  try {
    const result = await trainer.fit(data.train, data.validation);
    if (result.status === "failed") {
      log(`training failed: ${result.reason}`);
      store?.event(runId, "error", result.reason ?? "failed", trainer.position.step);
      writeTrainerCheckpoint(trainer, join(directory, "checkpoints", "failed.gsckpt"), loaded.raw);
      return ExitCode.failed;
    }
    if (signal) {
      writeTrainerCheckpoint(trainer, join(directory, "checkpoints", LATEST), loaded.raw);
      store?.event(runId, "stop", `interrupted (${signal})`, trainer.position.step);
      log(`interrupted at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}; checkpoint saved. Resume with: gradscope train --resume ${directory}`);
      status = "interrupted";
      return stopSignals[signal as StopSignal];
    }
    if (result.status === "stopped") {
      log(result.reason ?? "stopped");
      store?.event(runId, "stop", result.reason ?? "stopped", trainer.position.step);
      if (result.reason === STOP_REQUESTED) {
        writeTrainerCheckpoint(trainer, join(directory, "checkpoints", LATEST), loaded.raw);
        log(`checkpoint saved; resume with: gradscope train --resume ${directory}`);
      }
    }
    const { logs: testLogs, matrices } = trainer.evaluateWithMatrices(data.test, "test_");
    log(
      `test: ${epochLine({ epoch: trainer.position.epoch, ...testLogs }, loaded.config.training.epochs)
        .replace(/^epoch \S+\s+/, "")
        .replace(/\s+\(.*$/, "")}`,
    );
    for (const [key, matrix] of Object.entries(matrices)) log(`${key}:\n${confusionTable(matrix)}`);
    const test = { ...testLogs, ...matrices };
    const seconds = trainer.history.reduce((s, h) => s + (h.epoch_seconds ?? 0), 0);
    summary = {
      status: result.status,
      reason: result.reason,
      epochs: trainer.position.epoch,
      steps: trainer.position.step,
      train_seconds: seconds,
      test,
      history: trainer.history,
    };
    writeFileSync(join(directory, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
    status = result.status;
    return ExitCode.ok;
  } finally {
    if (store) {
      store.finishRun(runId, status, summary);
      store.close();
    }
    disposeSetup(setup);
    // Only now, when a signal's default action (ending the process) loses nothing.
    for (const name of Object.keys(stopSignals) as StopSignal[]) process.off(name, onSignal);
    if (dashboard) {
      // On a terminal the page stays up for a last look at the finished run.
      if (process.stdout.isTTY && !signal) {
        log(`training ended; the dashboard stays at ${dashboard.url} until Ctrl-C`);
        await untilSignal();
      }
      await dashboard.close();
    }
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
