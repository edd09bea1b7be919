import { isPostgresUrl } from "../store/openRunStore.ts";
import { RunLookupError } from "../store/runStore.ts";
import { openSweepStore, type SweepStore } from "../store/sweeps.ts";
import { runSweep, type SweepOutcome } from "../sweep/coordinator.ts";
import { resumeQueuedSweep, SweepLeasedError, SweepRunsDirError } from "../sweep/queuedSweep.ts";
import { loadSweep } from "../sweep/spec.ts";
import { type CoordinatorState, sweepReport, trialTable } from "../sweep/status.ts";
import { sweepStoreLocation } from "../sweep/sweepStart.ts";
import { ExitCode } from "./exitCodes.ts";
import { openExisting } from "./runs.ts";
import { UsageError } from "./usageError.ts";

const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * `gradscope sweep -c sweep.yaml`: validates the sweep file, runs its trials on local workers
 * (and, on a PostgreSQL store, on `gradscope worker`s), prints each as it ends, then the table
 * of trials and the best one. Exits 130 when stopped by Ctrl-C.
 */
export async function sweepCommand(options: { config: string; workers?: number; store?: string; quiet?: boolean }): Promise<number> {
  const loaded = loadSweep(options.config);
  if (options.workers === 0 && !isPostgresUrl(sweepStoreLocation(loaded, options.store)))
    throw new UsageError(
      "gradscope: sweep --workers 0 needs a PostgreSQL store (--store postgres://…), whose gradscope workers train the trials; a SQLite store's sweep needs --workers >= 1",
    );
  const outcome = await runSweep(loaded, { workers: options.workers, storePath: options.store, log: options.quiet ? undefined : log });
  return printOutcome(outcome);
}

// The table of a sweep's trials once it ended; the exit code: 130 when it was stopped.
function printOutcome(outcome: SweepOutcome): number {
  const store = openSweepStore(outcome.storePath);
  try {
    log(trialTable(store.getSweep(outcome.sweepId), outcome.trials));
  } finally {
    store.close();
  }
  return outcome.status === "interrupted" ? ExitCode.interrupted : ExitCode.ok;
}

/**
 * `gradscope sweep resume <id> --store postgres://…`: takes up a sweep whose process was stopped
 * or died (resumeQueuedSweep), then prints as `gradscope sweep -c` does.
 */
export async function sweepResumeCommand(id: string, options: { store: string; workers?: number; runsDir?: string; quiet?: boolean }): Promise<number> {
  if (!isPostgresUrl(options.store))
    throw new UsageError(`gradscope: sweep resume needs the PostgreSQL store of the sweep (--store postgres://… or GRADSCOPE_STORE_URL); got "${options.store}"`);
  let outcome: SweepOutcome;
  try {
    outcome = await resumeQueuedSweep(id, options.store, { workers: options.workers, runsDir: options.runsDir, log: options.quiet ? undefined : log });
  } catch (error) {
    if (
      error instanceof RunLookupError ||
      error instanceof SweepLeasedError ||
      error instanceof SweepRunsDirError ||
      /has completed; there is nothing to resume$/.test((error as Error).message)
    )
      throw new UsageError((error as Error).message);
    throw error;
  }
  return printOutcome(outcome);
}

/** `gradscope sweep status <id>`: a sweep's trials as a table (or JSON) and its best trial. */
export function sweepStatusCommand(id: string, options: { store: string; json?: boolean }): number {
  // Refuses a missing file or one that is not a store, as `gradscope runs` does.
  openExisting(options.store).close();
  const store = openSweepStore(options.store, { create: false });
  try {
    let sweep: ReturnType<SweepStore["getSweep"]>;
    try {
      sweep = store.getSweep(id);
    } catch (error) {
      throw error instanceof RunLookupError ? new UsageError(error.message) : error;
    }
    const trials = store.trials(sweep.id);
    // Only a running sweep of a PostgreSQL store has a lease to look at (see CoordinatorState).
    const coordinator: CoordinatorState = sweep.status !== "running" || !isPostgresUrl(options.store) ? null : store.sweepLeased(sweep.id) ? "running" : "missing";
    process.stdout.write(options.json ? `${JSON.stringify(sweepReport(sweep, trials, coordinator), null, 2)}\n` : `${trialTable(sweep, trials)}\n`);
    if (!options.json && coordinator === "missing")
      process.stdout.write(
        `sweep ${sweep.id} has no coordinator (its gradscope sweep process is gone): workers train the trials already queued; gradscope sweep resume ${sweep.id} --store … proposes the rest\n`,
      );
    return ExitCode.ok;
  } finally {
    store.close();
  }
}
