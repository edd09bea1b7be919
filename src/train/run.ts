import { existsSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { stringify } from "yaml";
import { startDashboardWorker } from "../dashboard/launch.ts";
import { checkPortFree, DEFAULT_DASHBOARD_HOST } from "../dashboard/listen.ts";
import type { DataLoader } from "../data/loader.ts";
import { confusionTable } from "../metrics/confusion.ts";
import { createsStoreFile } from "../store/openRunStore.ts";
import type { RunStatus, RunStore } from "../store/runStore.ts";
import type { Logs } from "./callback.ts";
import { LATEST, writeTrainerCheckpoint } from "./callbacks/modelCheckpoint.ts";
import { epochLine } from "./callbacks/progress.ts";
import { STOP_REQUESTED } from "./callbacks/storeStopWatcher.ts";
import { loadCheckpoint, restoreCheckpoint } from "./checkpoint.ts";
import { writeFileAtomic } from "./files.ts";
import { claimRunDirectory, freeRunDirectory } from "./runDirectory.ts";
import { type StopSignal, stopSignals } from "./stopSignals.ts";
import type { Evaluation, Trainer, TrainerPosition } from "./trainer.ts";

export { type StopSignal, stopSignals } from "./stopSignals.ts";

/** What a run trains, built once its directory is known (checkpoints and logs go there). */
export interface RunParts {
  /** The trainer, with the model, optimizer, loss and callbacks of the run. */
  trainer: Trainer;
  /** Frees what the run owns in the engine (for the CLI: model, optimizer, tracker). */
  dispose(): void;
}

/** Where the live dashboard of a run listens (as `gradscope ui`). */
export interface RunDashboardOptions {
  /** As `DashboardOptions.host`: the interface to bind (default 127.0.0.1). */
  host?: string;
  /** As `DashboardOptions.port` (default 0: any free port). */
  port?: number;
  /** As `DashboardOptions.token`: the API's access token (generated for a non-loopback host when absent). */
  token?: string;
}

/** Everything `startRun` needs to create or resume a run. */
export interface RunPlan {
  /** The run's name; a new run's directory is `<runsDir>/<name>-<yyyymmdd-hhmmss>`. */
  name: string;
  /** The folder that holds the run directories. */
  runsDir: string;
  /** The resolved config: saved as config.yaml, in the store's run and in every checkpoint. */
  config: unknown;
  /** The run store to record into, or null for none. Closed when the run ends. */
  store: RunStore | null;
  /** A run directory to continue from its checkpoints/latest.gsckpt. */
  resume?: string;
  /** With `resume`: the config differs from the saved one, which it replaces. */
  configChanged?: boolean;
  /** Serve the live dashboard (needs the store). */
  dashboard?: RunDashboardOptions;
  /** Messages for the user (a fallback data set), printed and recorded as events. */
  notices?: string[];
  /** How the user continues an interrupted run, e.g. `gradscope train --resume <dir>`. */
  resumeHint?: (directory: string) => string;
  /** Where progress messages go (default: nowhere). */
  log?: (message: string) => void;
  /** Builds the trainer and its callbacks for the run directory. */
  build(directory: string, runId: string): RunParts;
  /**
   * The training data, checked on `resume` against a checkpoint saved inside an epoch before
   * anything is changed (a resumed `train` checks it too, once the run has been resumed).
   */
  train?: DataLoader;
}

/** The summary.json of a finished run. */
export interface RunSummary {
  /** How training ended (failed and interrupted runs write no summary). */
  status: "completed" | "stopped";
  /** Why it stopped (early stopping, a stop request); absent when completed. */
  reason?: string;
  /** Epochs completed. */
  epochs: number;
  /** Optimizer steps taken. */
  steps: number;
  /** Seconds spent training, summed over the epochs (evaluation excluded). */
  train_seconds: number;
  /** The test set's logs (`test_*`) and confusion matrices; {} without a test set. */
  test: Logs | Record<string, number | number[][]>;
  /** Each epoch's logs, in order. */
  history: Logs[];
}

/** How a run ended. */
export interface RunResult {
  /** `interrupted` when `interrupt()` or a signal stopped it; its latest checkpoint resumes it. */
  status: Exclude<RunStatus, "running" | "crashed">;
  /** Why it stopped, failed or was interrupted; absent when completed. */
  reason?: string;
  /** The signal that interrupted the run, when `train` handled signals. */
  signal?: StopSignal;
  /** Where training ended: epoch, batch and step. */
  position: TrainerPosition;
  /** Each completed epoch's logs, in order. */
  history: Logs[];
  /** The test set's evaluation, when a test loader was given and the run did not fail or stop early. */
  test?: Evaluation;
  /** The summary.json written; null when the run failed or was interrupted. */
  summary: RunSummary | null;
}

type DashboardHandle = Awaited<ReturnType<typeof startDashboardWorker>>;

const reason = (error: unknown) => (error as Error).message.replace(/^gradscope: /, "");

// What a resume continues must be a run of the store that no process is running.
function checkResumable(store: RunStore, runId: string): void {
  if (!store.hasRun(runId)) throw new Error(`gradscope: run ${runId} is not in the run store ${store.displayLocation}`);
  const run = store.getRun(runId);
  if (run.status === "running") throw new Error(`gradscope: run ${runId} is running (process ${run.pid}); stop it before resuming`);
}

function restoreLatest(directory: string, trainer: Trainer): void {
  const latest = join(directory, "checkpoints", LATEST);
  if (!existsSync(latest)) throw new Error(`gradscope: ${directory} has no checkpoints/${LATEST} to resume from`);
  try {
    restoreCheckpoint(loadCheckpoint(latest), { model: trainer.model, optimizer: trainer.optimizer, scheduler: trainer.options.scheduler, trainer });
  } catch (error) {
    throw new Error(`gradscope: cannot resume ${directory} from checkpoints/${LATEST}: ${reason(error)}`);
  }
}

/**
 * What a run checks before it opens a SQLite store that does not exist yet (at `location`; null
 * for no store), which opening creates: a `resume` is refused, since its run cannot be in that
 * store, a new run is built once by `build` and freed, and the `dashboard`'s port is bound once
 * and let go, so that a mistake only building finds (a model whose output does not fit the loss,
 * two callbacks of one name) or a busy port does not leave the new store file behind, empty. A
 * run into an existing store (a sweep's trial, a resume) is not built twice: nothing is written
 * to that store before `startRun` has built the run.
 */
export async function checkBeforeCreatingStore(
  location: string | null,
  resume: string | undefined,
  build: () => { dispose(): void },
  dashboard: RunDashboardOptions | undefined,
): Promise<void> {
  if (location === null || !createsStoreFile(location)) return;
  if (resume !== undefined) throw new Error(`gradscope: run ${basename(resume)} is not in the run store ${location}: there is no such file`);
  build().dispose();
  if (dashboard) await checkPortFree(dashboard.port ?? 0, dashboard.host ?? DEFAULT_DASHBOARD_HOST);
}

/**
 * Builds the run (`plan.build`), opens the dashboard's port and restores the checkpoint to
 * resume, and only then creates the run: its directory and store row for a new run, the saved
 * config and the `running` status for a resumed one. Any error leaves nothing behind and nothing
 * changed (the store is closed, the parts disposed) and is thrown as it was.
 */
export async function startRun(plan: RunPlan): Promise<Run> {
  const { store } = plan;
  const log = plan.log ?? (() => {});
  let dashboard: DashboardHandle | null = null;
  let parts: RunParts | null = null;
  try {
    if (store && plan.resume) checkResumable(store, basename(plan.resume));
    if (store && plan.dashboard) dashboard = await startDashboardWorker({ store: store.location, ...plan.dashboard });
    let directory: string;
    if (plan.resume) {
      directory = plan.resume;
      parts = plan.build(directory, basename(directory));
      restoreLatest(directory, parts.trainer);
      const mismatch = plan.train && parts.trainer.resumeMismatch(plan.train);
      if (mismatch) throw new Error(`gradscope: cannot resume ${directory}: ${mismatch}`);
      if (plan.configChanged) writeFileAtomic(join(directory, "config.yaml"), stringify(plan.config));
      store?.resumeRun(basename(directory), parts.trainer.position.step, plan.configChanged ? plan.config : undefined, directory);
    } else {
      for (;;) {
        directory = freeRunDirectory(plan.runsDir, plan.name, (id) => store?.hasRun(id) ?? false);
        parts = plan.build(directory, basename(directory));
        if (claimRunDirectory(directory, plan.config)) break;
        // Another run took this directory since it was found free: build with the next one.
        parts.dispose();
        parts = null;
      }
      store?.createRun({ id: basename(directory), name: plan.name, config: plan.config, directory });
    }
    for (const notice of plan.notices ?? []) {
      log(`note: ${notice}`);
      store?.event(basename(directory), "notice", notice);
    }
    return new Run(plan, directory, parts, dashboard);
  } catch (error) {
    parts?.dispose();
    await dashboard?.close();
    store?.close();
    throw error;
  }
}

/** Options of `Run.train`. */
export interface RunTrainOptions {
  /** Evaluated after every epoch (`val_*` logs); none by default. */
  validation?: DataLoader;
  /** Evaluated once training ends (not after a failure); its logs go into summary.json. */
  test?: DataLoader;
  /**
   * Handle SIGINT and SIGTERM while training (removed afterwards): the first stops the run after
   * the current step as `interrupt` does; a second one ends the process at once with 130 or 143,
   * leaving the last checkpoint as it was.
   */
  signals?: boolean;
}

/**
 * A created (or resumed) run: its directory, store row and trainer. `train` runs it to its end
 * and records how it ended; the dashboard, if any, stays up until `close`.
 */
export class Run {
  readonly runId: string;
  readonly store: RunStore | null;
  private interruption: { reason: string; signal?: StopSignal } | null = null;

  constructor(
    private readonly plan: RunPlan,
    readonly directory: string,
    readonly parts: RunParts,
    private readonly dashboardHandle: DashboardHandle | null,
  ) {
    this.runId = basename(directory);
    this.store = plan.store;
  }

  get trainer(): Trainer {
    return this.parts.trainer;
  }

  /** The live dashboard's address, or null when none is served. */
  get dashboardUrl(): string | null {
    return this.dashboardHandle?.url ?? null;
  }

  /**
   * Stops the run after the current step, as Ctrl-C does: it saves checkpoints/latest.gsckpt and
   * ends `interrupted`, to be resumed later.
   */
  interrupt(why = "interrupted"): void {
    this.interruption ??= { reason: why };
    this.trainer.requestStop(this.interruption.reason);
  }

  private log(message: string): void {
    this.plan.log?.(message);
  }

  private checkpoint(name: string): void {
    writeTrainerCheckpoint(this.trainer, join(this.directory, "checkpoints", name), this.plan.config);
  }

  /**
   * Trains to the end (or a stop), then records how the run ended: a failure saves
   * checkpoints/failed.gsckpt; an interruption saves latest.gsckpt; otherwise the test set is
   * evaluated and summary.json written. The store's run gets its final status and the store is
   * closed; the parts are disposed.
   */
  async train(train: DataLoader, options: RunTrainOptions = {}): Promise<RunResult> {
    const { trainer, store, runId, directory } = this;
    const hint = this.plan.resumeHint?.(directory);
    const onSignal = (received: StopSignal) => {
      if (this.interruption?.signal) {
        // A second signal leaves at once: the last checkpoint stays as it was (every write of it
        // is atomic), and the run resumes from it.
        store?.event(runId, "stop", `${received} again; exited without a new checkpoint`, trainer.position.step);
        store?.finishRun(runId, "interrupted", null);
        process.exit(stopSignals[received]);
      }
      this.interruption = { reason: `interrupted (${received})`, signal: received };
      trainer.requestStop(this.interruption.reason);
    };
    const signals = options.signals ? (Object.keys(stopSignals) as StopSignal[]) : [];
    for (const name of signals) process.on(name, onSignal);
    let status: RunResult["status"] = "failed";
    let summary: RunSummary | null = null;
    try {
      const fitted = await trainer.fit(train, options.validation);
      const ended = { reason: fitted.reason, position: fitted.position, history: fitted.history };
      if (fitted.status === "failed") {
        this.log(`training failed: ${fitted.reason}`);
        store?.event(runId, "error", fitted.reason ?? "failed", trainer.position.step);
        this.checkpoint("failed.gsckpt");
        return { status, ...ended, summary };
      }
      const interruption = this.interruption;
      if (interruption) {
        this.checkpoint(LATEST);
        store?.event(runId, "stop", interruption.reason, trainer.position.step);
        this.log(`interrupted at epoch ${trainer.position.epoch + 1}, batch ${trainer.position.batch}; checkpoint saved.${hint ? ` Resume with: ${hint}` : ""}`);
        status = "interrupted";
        return { status, ...ended, signal: interruption.signal, summary };
      }
      if (fitted.status === "stopped") {
        this.log(fitted.reason ?? "stopped");
        store?.event(runId, "stop", fitted.reason ?? "stopped", trainer.position.step);
        if (fitted.reason === STOP_REQUESTED) {
          this.checkpoint(LATEST);
          this.log(`checkpoint saved${hint ? `; resume with: ${hint}` : ""}`);
        }
      }
      const test = options.test ? this.evaluate(options.test) : undefined;
      summary = {
        status: fitted.status,
        reason: fitted.reason,
        epochs: trainer.position.epoch,
        steps: trainer.position.step,
        train_seconds: trainer.history.reduce((s, h) => s + (h.epoch_seconds ?? 0), 0),
        test: test ? { ...test.logs, ...test.matrices } : {},
        history: trainer.history,
      };
      writeFileSync(join(directory, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
      status = fitted.status;
      return { status, ...ended, test, summary };
    } finally {
      if (store) {
        store.finishRun(runId, status, summary);
        store.close();
      }
      this.parts.dispose();
      // Only now, when a signal's default action (ending the process) loses nothing.
      for (const name of signals) process.off(name, onSignal);
    }
  }

  private evaluate(loader: DataLoader): Evaluation {
    const evaluation = this.trainer.evaluateWithMatrices(loader, "test_");
    const line = epochLine({ epoch: this.trainer.position.epoch, ...evaluation.logs }, this.trainer.options.epochs);
    this.log(`test: ${line.replace(/^epoch \S+\s+/, "").replace(/\s+\(.*$/, "")}`);
    for (const [key, matrix] of Object.entries(evaluation.matrices)) this.log(`${key}:\n${confusionTable(matrix)}`);
    return evaluation;
  }

  /** Stops the dashboard, if one is served. */
  async close(): Promise<void> {
    await this.dashboardHandle?.close();
  }
}
