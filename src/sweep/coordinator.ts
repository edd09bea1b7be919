import type { ChildProcess } from "node:child_process";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { createRunsFolderOf, isPostgresUrl } from "../store/openRunStore.ts";
import { openSweepStore, type SweepStatus, type TrialRecord } from "../store/sweeps.ts";
import { LocalTrialQueue, type TrialJob, type TrialQueue } from "./queue.ts";
import { runQueuedSweep } from "./queuedSweep.ts";
import type { LoadedSweep } from "./spec.ts";
import { bestTrial, trialEnded, trialEndLine } from "./status.ts";
import { proposeTrial, type StartedSweep, startSweep, sweepStoreLocation, trialLogName } from "./sweepStart.ts";
import { TrialHost } from "./trialHost.ts";
import { exitDescription, logTail } from "./trialProtocol.ts";
/** Options of `runSweep`. */
export interface SweepOptions {
  /** Trial processes at once on this machine (default: one per core; 0 with a PostgreSQL store: `gradscope worker`s train them all). */
  workers?: number;
  /** The run store, a path or a postgres:// URL (default: GRADSCOPE_STORE_URL, else the base config's). */
  storePath?: string;
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Called with the process that trains each trial, as the trial starts (a test kills one). */
  onTrialProcess?: (job: TrialJob, child: ChildProcess) => void;
}

/** How a sweep ended. */
export interface SweepOutcome {
  /** The sweep's id in the store (its name and start time). */
  sweepId: string;
  /** How the sweep ended: completed, interrupted (Ctrl-C, SIGTERM) or failed. */
  status: Exclude<SweepStatus, "running">;
  /** The store's path, or its URL. */
  storePath: string;
  /** The sweep's folder: its base config and each trial's log. */
  directory: string;
  /** Every trial, in the order of their numbers. */
  trials: TrialRecord[];
  /** The finished trial with the best metric by the sweep's goal, or null when none has one. */
  best: TrialRecord | null;
}

/**
 * Runs a sweep: records it in the run store, proposes trials with its search method as workers
 * free up (so that TPE sees every trial finished so far), and trains them in child processes,
 * one per worker, each trial after the last (`TrialHost`); the store is how trials and the
 * coordinator talk. On a SQLite store the
 * trials go to `workers` local workers through a `TrialQueue`; on a PostgreSQL store, to a
 * pg-boss queue that local workers and `gradscope worker`s on any machine take from
 * (queuedSweep.ts). A trial whose process dies (a signal, or SIGKILL) is queued again and resumed
 * from its last checkpoint, up to `retries` times. SIGINT/SIGTERM stop the sweep: running trials
 * checkpoint and are marked interrupted.
 */
export async function runSweep(loaded: LoadedSweep, options: SweepOptions = {}, queue: TrialQueue = new LocalTrialQueue()): Promise<SweepOutcome> {
  const location = sweepStoreLocation(loaded, options.storePath);
  if (isPostgresUrl(location)) {
    return runQueuedSweep(loaded, location, options);
  }
  const log = options.log ?? (() => {});
  const { spec } = loaded;
  const workers = Math.max(1, options.workers ?? availableParallelism());
  createRunsFolderOf(location, resolve(loaded.baseConfig.config.training.runs_dir));
  const store = openSweepStore(location);
  let sweep: StartedSweep;
  try {
    sweep = startSweep(loaded, store, { workers, log, storeLabel: location });
  } catch (error) {
    store.close();
    throw error;
  }
  const { sweepId, search, threads, directory } = sweep;

  let proposed = 0;
  let stopping = false;
  // The hosts training a trial now.
  const training = new Set<TrialHost>();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the sweep; running trials save a checkpoint`);
    for (const host of training) host.kill(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // A waiting trial (a retry first), else a new one while the budget lasts, else null. Trials
  // are proposed only when a worker is free, so that TPE sees every trial finished by then.
  const nextJob = async (): Promise<TrialJob | null> => {
    while (!stopping) {
      const job = await queue.claim();
      if (job) return job;
      if (proposed >= search.trials) return null;
      const number = ++proposed;
      if (proposeTrial(store, sweep, number, log)) await queue.enqueue({ sweepId, trial: number, attempt: 0 });
    }
    return null;
  };

  const runJob = async (host: TrialHost, job: TrialJob) => {
    store.startTrial(sweepId, job.trial);
    const logFile = join(directory, trialLogName(job.trial));
    training.add(host);
    const exit = await host.train({ sweepId, trial: job.trial, threads, logFile }, (child) => options.onTrialProcess?.(job, child));
    training.delete(host);
    const trial = store.trial(sweepId, job.trial);
    if (trialEnded(trial)) {
      await queue.complete(job);
      log(trialEndLine(trial, spec.metric.name, search.trials));
      return;
    }
    const died = exitDescription(exit);
    if (stopping) {
      store.finishTrial(sweepId, job.trial, { status: "interrupted", message: `the sweep was stopped; the trial's process ${died}` });
      await queue.complete(job);
    } else if (job.attempt < spec.retries) {
      log(`trial ${job.trial}: its process ${died}; resuming it from its last checkpoint (attempt ${job.attempt + 2})`);
      await queue.retry(job);
    } else {
      store.finishTrial(sweepId, job.trial, { status: "failed", message: `its process ${died} ${job.attempt + 1} times; last output: ${logTail(logFile)}` });
      await queue.complete(job);
      log(`trial ${job.trial}/${search.trials} failed: its process ${died}`);
    }
  };

  // Each worker's host starts with its first trial: a worker left without one (more workers
  // than trials) starts no process.
  const hosts: TrialHost[] = [];
  const worker = async () => {
    const host = new TrialHost(location, "finish");
    hosts.push(host);
    for (let job = await nextJob(); job; job = await nextJob()) await runJob(host, job);
    await host.close();
  };

  try {
    await Promise.all(Array.from({ length: workers }, worker));
    const status = stopping ? "interrupted" : "completed";
    store.finishSweep(sweepId, status);
    const trials = store.trials(sweepId);
    return { sweepId, status, storePath: location, directory, trials, best: bestTrial(trials, spec.metric.goal) };
  } catch (error) {
    store.finishSweep(sweepId, "failed");
    for (const host of hosts) host.kill("SIGTERM");
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    store.close();
  }
}
