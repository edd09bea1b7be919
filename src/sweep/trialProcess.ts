import { existsSync } from "node:fs";
import { join } from "node:path";
import { trainCommand } from "../cli/train.ts";
import { UNWRITTEN_FILE } from "../store/postgres/unwrittenWrites.ts";
import { openSweepStore, type SweepStore, type TrialRecord } from "../store/sweeps.ts";
import { LATEST } from "../train/callbacks/modelCheckpoint.ts";
import { loadCheckpoint } from "../train/checkpoint.ts";
import { trialMetric } from "./metric.ts";
import { rungEpochs } from "./rules.ts";
import { parameterOverrides, type SweepSpec } from "./spec.ts";
import { formatParams } from "./status.ts";
import { restoreStoredCheckpoint, StoredCheckpoints } from "./storedCheckpoints.ts";
import { SWEEP_STOP, SweepTrialCallback } from "./trialCallback.ts";
import { TrialFence } from "./trialFence.ts";
import { TrialStoreOutage } from "./trialOutage.ts";

/** The exit code of a trial's process that found its trial taken by another attempt (TrialFence). */
export const FENCED_EXIT_CODE = 75;

/**
 * The exit code of a trial's process that stopped because its store could not be reached for the
 * reconnect window (sysexits' EX_UNAVAILABLE): it saved a checkpoint in its run directory, with
 * the rows the store did not get (TrialStoreOutage). Its worker hands the trial back once the
 * server is back, without counting an attempt, as for a stopped worker's trial.
 */
export const STORE_UNREACHABLE_EXIT_CODE = 69;

// What a trial that lost its store says on the way out (its last words in its log).
function endUnreachable(error: Error, trial: string, directory: string | null): number {
  const checkpoint = directory === null ? null : join(directory, "checkpoints", LATEST);
  const unwritten = directory === null ? null : join(directory, UNWRITTEN_FILE);
  let stopped: string;
  if (checkpoint === null) stopped = "stopped before it trained; it starts (or resumes from its last checkpoint)";
  else if (!existsSync(checkpoint)) stopped = "stopped before its first checkpoint; it starts again";
  else
    stopped = `stopped: its checkpoint at step ${loadCheckpoint(checkpoint).trainer.position.step} is in ${checkpoint}${
      unwritten !== null && existsSync(unwritten) ? `, and the rows the store did not get in ${unwritten}` : ""
    }; it resumes from there`;
  process.stderr.write(`${error.message}\n${trial} ${stopped} once the server is back (exit ${STORE_UNREACHABLE_EXIT_CODE}: its worker hands it back)\n`);
  return STORE_UNREACHABLE_EXIT_CODE;
}

// A fenced attempt ends at once: its run and trial rows are the newer attempt's now, so nothing
// (no run end, no error event, no checkpoint) may be written on the way out.
function endFenced(why: string): never {
  process.stderr.write(`gradscope: ${why}\n`);
  process.exit(FENCED_EXIT_CODE);
}

/** How a worker starts a trial's process. */
export interface TrialArguments {
  storePath: string;
  sweepId: string;
  trial: number;
  threads: number;
  /**
   * A `gradscope worker`'s own runs directory (on any machine): the trial's run goes there, the
   * sweep's base config is read from its `sweeps/<sweep id>/` folder, and its checkpoints go
   * through the store (storedCheckpoints.ts). Unset: the local workers of `gradscope sweep`,
   * which share the sweep's folder and run directories.
   */
  runsDir?: string;
}

/** The file a sweep's trials start from, in the sweep's folder. */
export const BASE_FILE = "base.yaml";

/** A sweep's folder in a worker's own runs directory: its base config and its trials' logs on that machine. */
export const workerSweepFolder = (runsDir: string, sweepId: string) => join(runsDir, "sweeps", sweepId);

// The run directory a trial continues: on a worker with its own run directories, its run's
// latest checkpoint restored from the store; else the trial's directory, when an earlier attempt
// left a checkpoint there. Undefined: the trial starts as a new run.
function resumeDirectory(sweeps: SweepStore, trial: TrialRecord, runsDir: string | undefined): string | undefined {
  if (runsDir !== undefined) return trial.runId === null ? undefined : (restoreStoredCheckpoint(sweeps, trial.runId, runsDir) ?? undefined);
  return trial.directory !== null && existsSync(join(trial.directory, "checkpoints", LATEST)) ? trial.directory : undefined;
}

/** The run name of a trial: the sweep's name and the trial's number. */
export const trialRunName = (sweepName: string, trial: number) => `${sweepName}-t${String(trial).padStart(3, "0")}`;

// The steps a full schedule has: an optimizer step per `accumulate` batches, and one more at the
// end of an epoch for what is left.
const plannedSteps = (epochs: number, batches: number, accumulate: number) => epochs * Math.ceil(batches / accumulate);

/**
 * Trains one trial of a sweep as `gradscope train` would (the run lifecycle of src/train/run.ts,
 * through the CLI's trainCommand) with the trial's parameters over the sweep's base config and
 * its early-stopping callback, resuming the trial's run from its last checkpoint when an earlier
 * attempt left one, and records how it ended in the sweep store. Resolves to the exit code of
 * `gradscope train` (130 or 143 when a signal interrupted it: the worker retries it), or to
 * STORE_UNREACHABLE_EXIT_CODE when the store could not be reached for the reconnect window
 * (TrialStoreOutage: the trial stopped with a checkpoint in its run directory, and its end is
 * left to the worker). `started` gets `interrupt(why)` once the trial's run exists, which stops
 * it as Ctrl-C does (a checkpoint, the run interrupted) without being a signal.
 */
export async function runTrial(args: TrialArguments, started?: (interrupt: (why: string) => void) => void): Promise<number> {
  const outage = new TrialStoreOutage();
  let directory: string | null = null;
  let sweeps: SweepStore | null = null;
  try {
    sweeps = openSweepStore(args.storePath);
    return await trainTrial(args, sweeps, outage, (run) => {
      directory = run.directory;
      started?.(run.interrupt);
    });
  } catch (error) {
    if (!outage.error) throw error;
    return endUnreachable(outage.error, `trial ${args.trial} of sweep ${args.sweepId}`, directory);
  } finally {
    outage.close();
    sweeps?.close();
  }
}

// runTrial's training, and the trial's row after it. `attached` hears of the run: its directory,
// and how to interrupt it.
async function trainTrial(
  args: TrialArguments,
  sweeps: SweepStore,
  outage: TrialStoreOutage,
  attached: (run: { directory: string; interrupt: (why: string) => void }) => void,
): Promise<number> {
  const sweep = sweeps.getSweep(args.sweepId);
  const spec = sweep.spec as SweepSpec;
  const trial = sweeps.trial(sweep.id, args.trial);
  const resume = resumeDirectory(sweeps, trial, args.runsDir);
  // An earlier attempt's run that cannot be continued (no checkpoint was found): this attempt
  // trains a new run, and both runs say so.
  const abandoned = resume === undefined && trial.runId !== null ? trial.runId : null;
  const sweepFolder = args.runsDir === undefined ? sweep.directory : workerSweepFolder(args.runsDir, sweep.id);
  const ownRunsDir = args.runsDir === undefined ? [] : [`training.runs_dir=${args.runsDir}`];
  const asha = spec.early_stopping.asha;
  let callback: SweepTrialCallback | null = null;
  let code: number;
  try {
    code = await trainCommand({
      configs: resume ? [] : [join(sweepFolder, BASE_FILE)],
      // A trial resumed on another machine trains on that machine's threads (the results are
      // the same bits at any count).
      overrides: resume
        ? args.runsDir === undefined
          ? []
          : [`engine.threads=${args.threads}`]
        : [...parameterOverrides(trial.params), `name=${trialRunName(sweep.name, trial.number)}`, `engine.threads=${args.threads}`, ...ownRunsDir],
      // The sweep's store, over GRADSCOPE_STORE_URL and the base config's store.url.
      store: args.storePath,
      resume,
      quiet: true,
      notices: [`trial ${trial.number} of sweep ${sweep.id}: ${formatParams(trial.params)}`],
      extend: (setup, run) => {
        const { epochs, accumulate } = setup.config.training;
        const rungs = asha
          ? {
              epochs: rungEpochs(asha.min_epochs, asha.reduction_factor, asha.max_epochs ?? epochs),
              reductionFactor: asha.reduction_factor,
              metric: asha.metric ?? spec.metric.name,
              goal: spec.metric.goal,
            }
          : null;
        const created = new SweepTrialCallback(spec.early_stopping.rules, rungs, { store: sweeps, sweepId: sweep.id, trial: trial.number });
        // First, so that its rules see a step's logs before the NaN guard acts on them.
        setup.trainer.options.callbacks.unshift(created);
        // Before StoredCheckpoints: a fenced attempt stores no checkpoint.
        setup.trainer.options.callbacks.push(new TrialFence(sweeps, { sweepId: sweep.id, number: trial.number, attempt: trial.attempts }, endFenced));
        if (args.runsDir !== undefined) setup.trainer.options.callbacks.push(new StoredCheckpoints(sweeps, run.runId));
        setup.tracker?.subscribe(created.observeQuantity);
        callback = created;
        outage.attach(run);
        attached(run);
        if (abandoned !== null) {
          sweeps.addRunEvent(run.runId, "warning", `trial ${trial.number} of sweep ${sweep.id} restarted from scratch: no checkpoint of its run ${abandoned} was found`);
          sweeps.addRunEvent(abandoned, "warning", `trial ${trial.number} of sweep ${sweep.id} went on as the new run ${run.runId}: no checkpoint of this run was found`);
        }
        sweeps.attachRun(sweep.id, trial.number, {
          runId: run.runId,
          directory: run.directory,
          plannedSteps: plannedSteps(epochs, setup.data.train.batchesPerEpoch, accumulate),
        });
      },
    });
  } catch (error) {
    if (outage.error) throw error;
    // Bad input found before training (a parameter value the config refuses): the trial fails, the sweep goes on.
    sweeps.finishTrial(sweep.id, trial.number, { status: "failed", message: (error as Error).message.replace(/^gradscope: /, "") });
    return 2;
  }
  // The store went away (the run's end is in its directory, not in the store): see runTrial.
  if (outage.error) throw outage.error;
  const { runId } = sweeps.trial(sweep.id, trial.number);
  const outcome = runId ? sweeps.runOutcome(runId) : null;
  // An interrupted trial (a signal) is the worker's to retry from its checkpoint.
  if (outcome?.status === "interrupted") return code;
  const summary = outcome?.summary as { steps?: number; history?: Array<Record<string, number>>; test?: Record<string, unknown> } | null;
  const stoppedBy = (callback as SweepTrialCallback | null)?.stoppedBy ?? outcome?.stopReason?.replace(SWEEP_STOP, "") ?? null;
  if (outcome?.status === "completed" || outcome?.status === "stopped")
    sweeps.finishTrial(sweep.id, trial.number, {
      status: outcome.status,
      metric: trialMetric(spec.metric.name, summary),
      stoppedBy: outcome.status === "stopped" ? stoppedBy : null,
      steps: summary?.steps ?? null,
    });
  else sweeps.finishTrial(sweep.id, trial.number, { status: "failed", message: outcome?.error ?? `the trial's process ended with code ${code}`, steps: null });
  return code;
}
