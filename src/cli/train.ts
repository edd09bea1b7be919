import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { buildData, buildTraining, type TrainingSetup } from "../config/build.ts";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { startDashboardWorker } from "../dashboard/launch.ts";
import { confusionTable } from "../metrics/confusion.ts";
import { type RunStatus, RunStore } from "../store/runStore.ts";
import { LATEST, writeTrainerCheckpoint } from "../train/callbacks/modelCheckpoint.ts";
import { epochLine } from "../train/callbacks/progress.ts";
import { STOP_REQUESTED } from "../train/callbacks/storeStopWatcher.ts";
import { CheckpointError, loadCheckpoint, restoreCheckpoint } from "../train/checkpoint.ts";
import { createRunDirectory, runConfigFile, runName } from "./runDirectory.ts";

/** The run store a config asks for, or null when `store.enabled` is false. */
export function openStore(config: Config): RunStore | null {
  if (!config.store.enabled) return null;
  return new RunStore(config.store.path ?? join(config.training.runs_dir, "gradscope.db"));
}

/** Exit codes of the CLI. */
export const ExitCode = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

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

/**
 * `gradscope train`: loads the config (or a run's saved config with --resume), trains with
 * progress, checkpoints and logs in the run directory, evaluates on the test set, and writes
 * summary.json. SIGINT stops after the current step, saves latest.gsckpt and exits with 130.
 */
export async function trainCommand(options: TrainCommandOptions): Promise<number> {
  const files = options.resume ? [runConfigFile(options.resume), ...options.configs] : options.configs;
  const loaded = loadConfig(files, options.overrides);
  if (options.printConfig) {
    process.stdout.write(stringify(loaded.config));
    return ExitCode.ok;
  }
  const data = buildData(loaded);
  for (const notice of data.notices) log(`note: ${notice}`);
  const directory = options.resume ?? createRunDirectory(loaded.config.training.runs_dir, runName(loaded.config.name, options.configs), loaded.raw);
  if (options.resume && options.overrides.length > 0) writeFileSync(join(directory, "config.yaml"), stringify(loaded.raw));
  const runId = basename(directory);
  const store = openStore(loaded.config);
  if (store) {
    if (options.resume) store.resumeRun(runId);
    else store.createRun({ id: runId, name: runName(loaded.config.name, options.configs), config: loaded.raw, directory });
    for (const notice of data.notices) store.event(runId, "notice", notice);
  }
  const dashboard = store && options.dashboard ? await startDashboardWorker({ storePath: store.path, ...options.dashboard }) : null;
  if (dashboard) log(`dashboard: ${dashboard.url}`);
  else if (options.dashboard) log("note: --dashboard needs the run store (store.enabled is false); no dashboard");
  const setup = buildTraining(loaded, data, directory, options.quiet ? undefined : process.stdout, store ? { store, runId } : undefined);
  const { trainer, model } = setup;
  if (options.resume) {
    const latest = join(directory, "checkpoints", LATEST);
    if (!existsSync(latest)) throw new Error(`gradscope: ${directory} has no checkpoints/${LATEST} to resume from`);
    restoreCheckpoint(loadCheckpoint(latest), setup);
    log(`resuming ${directory} at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}, step ${trainer.position.step}`);
  }
  log(
    `gradscope: ${runName(loaded.config.name, options.configs)}: ${model.parameterCount()} parameters, ${data.train.dataset.length} training examples${data.validation ? `, ${data.validation.dataset.length} validation` : ""}, ${data.test.dataset.length} test; run directory ${directory}`,
  );
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(ExitCode.interrupted);
    interrupted = true;
    trainer.requestStop("interrupted (SIGINT)");
  };
  process.on("SIGINT", onSignal);
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
    if (interrupted) {
      writeTrainerCheckpoint(trainer, join(directory, "checkpoints", LATEST), loaded.raw);
      log(`interrupted at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}; checkpoint saved. Resume with: gradscope train --resume ${directory}`);
      status = "interrupted";
      return ExitCode.interrupted;
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
    process.off("SIGINT", onSignal);
    if (store) {
      store.finishRun(runId, status, summary);
      store.close();
    }
    setup.tracker?.dispose();
    setup.optimizer.dispose();
    model.dispose();
    if (dashboard) {
      // On a terminal the page stays up for a last look at the finished run.
      if (process.stdout.isTTY && !interrupted) {
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
    setup.tracker?.dispose();
    setup.optimizer.dispose();
    setup.model.dispose();
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
