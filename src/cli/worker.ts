import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { isPostgresUrl, STORE_URL_VARIABLE } from "../store/openRunStore.ts";
import { isStoreUnreachable } from "../store/postgres/connectionLost.ts";
import { redactUrl } from "../store/postgres/postgresRunStore.ts";
import { openSweepStore } from "../store/sweeps.ts";
import { PgBossTrialQueue } from "../sweep/pgBossQueue.ts";
import { QueueWorker } from "../sweep/queueWorker.ts";
import { writableFolderProblem } from "../train/files.ts";
import { stopSignals } from "../train/run.ts";
import { ExitCode } from "./exitCodes.ts";
import { UsageError } from "./usageError.ts";

/** Options of `gradscope worker`. */
export interface WorkerCommandOptions {
  /** The PostgreSQL store's URL (default: GRADSCOPE_STORE_URL). */
  store?: string;
  /** Engine threads of each trial (default: every core). */
  threads?: number;
  /** The worker's own runs directory (default: runs). */
  runsDir?: string;
  once?: boolean;
  idleExitSeconds?: number;
  quiet?: boolean;
}

const log = (line: string) => process.stdout.write(`${line}\n`);

/**
 * `gradscope worker --store postgres://…`: trains trials of every running sweep of a PostgreSQL
 * store, one at a time, oldest sweep first, until Ctrl-C (the running trial checkpoints and goes
 * back to the queue; exit 130), or `--once` trial, or `--idle-exit` seconds without one. A
 * SQLite path, or no URL, is a usage error: workers on several machines share the store.
 */
export async function workerCommand(options: WorkerCommandOptions): Promise<number> {
  const url = options.store ?? process.env[STORE_URL_VARIABLE];
  if (!url) throw new UsageError(`gradscope: worker needs --store postgres://… (or ${STORE_URL_VARIABLE}): the PostgreSQL store that holds the sweeps and their queue`);
  if (!isPostgresUrl(url))
    throw new UsageError(
      `gradscope: worker --store: expected a postgres:// URL (workers on any machine share a PostgreSQL store), got "${url}"; a sweep on a SQLite store runs on gradscope sweep's own workers`,
    );
  const runsDir = resolve(options.runsDir ?? "runs");
  // Before any trial is claimed: a trial that cannot be written would cost one of its retries.
  const problem = writableFolderProblem(runsDir);
  if (problem) throw new UsageError(`gradscope: worker --runs-dir ${options.runsDir ?? "runs"}: ${problem}; expected a folder this worker can create and write in`);
  let store: ReturnType<typeof openSweepStore> | null = null;
  let queue: PgBossTrialQueue | null = null;
  let stoppedBy: NodeJS.Signals | null = null;
  let worker: QueueWorker | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    stoppedBy ??= signal;
    worker?.stop(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // The queue first: a database that cannot have pg-boss's schema gets no gradscope tables either.
    // Oldest sweep first: listSweeps is newest first.
    queue = await PgBossTrialQueue.start(url, () =>
      (store as NonNullable<typeof store>)
        .listSweeps()
        .filter((sweep) => sweep.status === "running")
        .map((sweep) => sweep.id)
        .reverse(),
    );
    store = openSweepStore(url);
    worker = new QueueWorker({
      storeUrl: url,
      store,
      queue,
      runsDir,
      threads: options.threads ?? availableParallelism(),
      once: options.once,
      idleExitSeconds: options.idleExitSeconds,
      log: options.quiet ? undefined : log,
    });
    if (!options.quiet) log(`worker ${worker.name}: training the trials of the running sweeps in ${redactUrl(url)}; runs in ${runsDir}`);
    if (stoppedBy) return stopSignals[stoppedBy as keyof typeof stopSignals];
    try {
      await worker.run();
    } catch (error) {
      // Stopped while it waited for an unreachable store: its trial, if it had one, is handed
      // back by whoever reaps stale trials once the server is back.
      if (!(stoppedBy && isStoreUnreachable(error))) throw error;
      if (!options.quiet) log(`worker ${worker.name}: stopped while the run store was unreachable`);
    }
    return stoppedBy ? stopSignals[stoppedBy as keyof typeof stopSignals] : ExitCode.ok;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await queue?.stop();
    store?.close();
  }
}
