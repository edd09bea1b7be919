import { existsSync } from "node:fs";
import { availableParallelism, hostname } from "node:os";
import { join, resolve } from "node:path";
import { stringify } from "yaml";
import { isStoreUnreachable, untilReachable } from "../store/postgres/connectionLost.ts";
import { redactUrl } from "../store/postgres/postgresRunStore.ts";
import { openSweepStore, type SweepStore } from "../store/sweeps.ts";
import { createFolder, writableFolderProblem, writeFileAtomic } from "../train/files.ts";
import type { SweepOptions, SweepOutcome } from "./coordinator.ts";
import { PgBossTrialQueue } from "./pgBossQueue.ts";
import { QueueWorker, reapStaleTrials, sweepSpecs } from "./queueWorker.ts";
import { createSearch } from "./search.ts";
import type { LoadedSweep, SweepSpec } from "./spec.ts";
import { bestTrial, trialEnded, trialEndLine } from "./status.ts";
import { proposeTrial, type StartedSweep, startSweep } from "./sweepStart.ts";
import { BASE_FILE } from "./trialProcess.ts";

/** How often the coordinator looks at the queue and the trials. */
const POLL_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SIGINT/SIGTERM for a sweep's process from its very start (before its queue exists, a signal
 * would otherwise find no handler, or be missed): the first signal is kept, and passed to the
 * listener once `coordinate` sets one.
 */
class StopSignals {
  signal: NodeJS.Signals | null = null;
  private listener: ((signal: NodeJS.Signals) => void) | null = null;
  private readonly handler = (signal: NodeJS.Signals) => {
    if (this.signal !== null) return;
    this.signal = signal;
    this.listener?.(signal);
  };

  constructor() {
    process.on("SIGINT", this.handler);
    process.on("SIGTERM", this.handler);
  }

  /** Calls `listener` on the first signal, at once if it came already. */
  listen(listener: (signal: NodeJS.Signals) => void): void {
    this.listener = listener;
    if (this.signal !== null) listener(this.signal);
  }

  remove(): void {
    process.off("SIGINT", this.handler);
    process.off("SIGTERM", this.handler);
  }
}

// Opens the store and the queue, runs `coordinate` with them, and closes both.
async function withQueue(url: string, use: (store: SweepStore, queue: PgBossTrialQueue, sweeps: string[], signals: StopSignals) => Promise<SweepOutcome>): Promise<SweepOutcome> {
  const signals = new StopSignals();
  // The sweep whose queue the local workers take from, once it is known.
  const sweeps: string[] = [];
  let queue: PgBossTrialQueue | null = null;
  let store: SweepStore | null = null;
  try {
    // The queue first: a database that cannot have pg-boss's schema gets no gradscope tables either.
    queue = await PgBossTrialQueue.start(url, () => sweeps);
    store = openSweepStore(url);
    return await use(store, queue, sweeps, signals);
  } finally {
    signals.remove();
    await queue?.stop();
    store?.close();
  }
}

/**
 * Runs a sweep on a PostgreSQL store: its trials are jobs on a pg-boss queue of its own, trained
 * by `options.workers` local QueueWorkers (0: none) and by `gradscope worker` processes on any
 * machine. See `coordinate` for what the sweep's process does until every trial has ended.
 */
export async function runQueuedSweep(loaded: LoadedSweep, url: string, options: SweepOptions): Promise<SweepOutcome> {
  const log = options.log ?? (() => {});
  const workers = Math.max(0, options.workers ?? availableParallelism());
  return withQueue(url, async (store, queue, sweeps, signals) => {
    const sweep = startSweep(loaded, store, { workers, log, storeLabel: redactUrl(url) });
    // Nobody else knows the new sweep's id yet: the lease is free.
    store.leaseSweep(sweep.sweepId);
    sweeps.push(sweep.sweepId);
    try {
      await queue.createSweepQueue(sweep.sweepId, loaded.spec.retries);
      return await coordinate(store, queue, sweep, loaded.spec, 0, url, options, signals);
    } catch (error) {
      store.finishSweep(sweep.sweepId, "failed");
      throw error;
    }
  });
}

/** `sweep resume` without a runs directory it can write in (a usage error: `--runs-dir` fixes it). */
export class SweepRunsDirError extends Error {}

/** `sweep resume` of a sweep whose coordinator is alive (it holds the sweep's lease). */
export class SweepLeasedError extends Error {
  constructor(sweepId: string) {
    super(`gradscope: sweep ${sweepId} has a coordinator running (a gradscope sweep or sweep resume process holds its lease); stop that one first, or let it go on`);
  }
}

/**
 * `gradscope sweep resume <id>`: takes up a sweep of a PostgreSQL store whose process was stopped
 * (or died): the sweep runs again, its interrupted trials are queued again (resuming from their
 * checkpoints), and trials are proposed where it left off: grid and random replay the proposals
 * made so far, so the rest are the ones the uninterrupted sweep would have proposed; TPE
 * proposes from every trial finished so far. Its local workers' runs go to `options.runsDir`
 * (default: the sweep's own runs directory, which must be usable on this machine). Then as
 * `runQueuedSweep`. A completed sweep is
 * refused, and so is one whose coordinator is alive (SweepLeasedError): one coordinator per
 * sweep, holding its lease while it runs.
 */
export async function resumeQueuedSweep(idOrPrefix: string, url: string, options: SweepOptions & { runsDir?: string }): Promise<SweepOutcome> {
  const log = options.log ?? (() => {});
  const workers = Math.max(0, options.workers ?? availableParallelism());
  return withQueue(url, async (store, queue, sweeps, signals) => {
    const record = store.getSweep(idOrPrefix);
    if (record.status === "completed") throw new Error(`gradscope: sweep ${record.id} has completed; there is nothing to resume`);
    if (!store.leaseSweep(record.id)) throw new SweepLeasedError(record.id);
    const spec = record.spec as SweepSpec;
    const base = record.base as { training: { runs_dir: string } };
    // This machine's runs directory: --runs-dir, else the one the sweep started with (an
    // absolute path on the machine that started it).
    const runsDir = resolve(options.runsDir ?? base.training.runs_dir);
    const problem = writableFolderProblem(runsDir);
    if (problem)
      throw new SweepRunsDirError(
        options.runsDir !== undefined
          ? `gradscope: sweep resume --runs-dir ${options.runsDir}: ${problem}; expected a folder this machine can create and write in`
          : `gradscope: sweep ${record.id}'s runs directory ${runsDir} (its base config's training.runs_dir, on the machine that started it) cannot be used here: ${problem}; give sweep resume --runs-dir DIR, a folder of this machine`,
      );
    // This machine's copy of the sweep's folder: the base config proposals are checked against.
    const directory = join(runsDir, "sweeps", record.id);
    const baseFile = join(directory, BASE_FILE);
    if (!existsSync(baseFile)) {
      createFolder(directory);
      writeFileAtomic(baseFile, stringify(base));
    }
    const search = createSearch(spec);
    const proposed = store.trials(record.id).length;
    for (let i = 0; i < proposed; i++) search.next([]);
    const threads = Math.max(1, Math.floor(availableParallelism() / Math.max(1, workers)));
    const sweep: StartedSweep = { sweepId: record.id, directory, baseFile, runsDir, search, threads, workers };
    sweeps.push(record.id);
    await queue.createSweepQueue(record.id, spec.retries);
    const again = store.reopenSweep(record.id);
    for (const trial of again) await queue.enqueue({ sweepId: record.id, trial, attempt: 0 });
    log(
      `sweep ${record.id} resumed: ${proposed} of ${search.trials} trials proposed so far, ${again.length} interrupted ones queued again; on ${workers} local worker${workers === 1 ? "" : "s"}; store ${redactUrl(url)}`,
    );
    try {
      return await coordinate(store, queue, sweep, spec, proposed, url, options, signals);
    } catch (error) {
      store.finishSweep(record.id, "failed");
      throw error;
    }
  });
}

/**
 * What a sweep's process does on a PostgreSQL store until every trial has ended: proposes trials
 * as they are taken (TPE keeps one trial waiting, so that each proposal sees every trial finished
 * until a worker took the previous one; grid and random, whose proposals do not depend on
 * results, queue every trial at once), runs its local workers, hands back the trials of workers
 * that stopped heartbeating, and prints each trial as it ends. SIGINT/SIGTERM stop it: its local
 * trials checkpoint, the trials not started are dropped from the queue and marked interrupted,
 * and so is the sweep (trials that remote workers are training run to their end).
 *
 * If the process dies, the sweep stays `running`: workers go on training the trials already
 * queued, and no new ones are proposed until `gradscope sweep resume`.
 */
async function coordinate(
  store: SweepStore,
  queue: PgBossTrialQueue,
  sweep: StartedSweep,
  spec: SweepSpec,
  alreadyProposed: number,
  url: string,
  options: SweepOptions,
  signals: StopSignals,
): Promise<SweepOutcome> {
  const log = options.log ?? (() => {});
  const { sweepId, workers } = sweep;
  const total = sweep.search.trials;
  const lookahead = spec.method === "tpe" ? 1 : total;
  let finished = false;
  let stopping = false;
  // Each local worker starts its trial host as it starts: no more of them than trials.
  const local = Array.from(
    { length: Math.min(workers, total) },
    (_, i) =>
      new QueueWorker({
        storeUrl: url,
        store,
        queue,
        runsDir: sweep.runsDir,
        threads: sweep.threads,
        name: `${hostname()}:${process.pid}${workers > 1 ? `#${i + 1}` : ""}`,
        done: () => finished || stopping,
        pollMs: POLL_MS,
        onTrialProcess: options.onTrialProcess,
      }),
  );
  signals.listen((signal) => {
    stopping = true;
    log(`${signal}: stopping the sweep; its local trials save a checkpoint`);
    for (const worker of local) worker.stop(signal);
  });
  const running = local.map((worker) => worker.run());
  try {
    let proposed = alreadyProposed;
    const reported = new Set(
      store
        .trials(sweepId)
        .filter(trialEnded)
        .map((t) => t.number),
    );
    // Every running sweep's stale trials, each by its own sweep's heartbeat_timeout.
    const specs = sweepSpecs(store);
    // The store's and the queue's calls wait out a server that is away, however long: a sweep's
    // process outlives a database's maintenance (a Ctrl-C meanwhile ends it with the error).
    const reachable = <T>(call: () => T | Promise<T>) => untilReachable(call, { store: redactUrl(url), log, stopped: () => stopping });
    for (;;) {
      try {
        await reapStaleTrials(store, queue, (id) => specs(id).heartbeat_timeout, log);
      } catch (error) {
        // A reap is repeated each round: one lost to an unreachable store is only late.
        if (!isStoreUnreachable(error)) throw error;
      }
      const trials = await reachable(() => store.trials(sweepId));
      for (const trial of trials)
        if (trialEnded(trial) && !reported.has(trial.number)) {
          reported.add(trial.number);
          log(trialEndLine(trial, spec.metric.name, total));
        }
      if (stopping) break;
      if (proposed >= total && trials.length === total && trials.every(trialEnded)) break;
      let waiting = proposed < total ? await reachable(() => queue.waiting(sweepId)) : 0;
      while (proposed < total && waiting < lookahead) {
        const number = ++proposed;
        // Not retried: a proposal draws from the search, which a second call would draw again
        // (the store answered just now; should it vanish in between, the error ends the process
        // and leaves the sweep running, for sweep resume).
        if (proposeTrial(store, sweep, number, log)) {
          await reachable(() => queue.enqueue({ sweepId, trial: number, attempt: 0 }));
          waiting++;
        }
      }
      await sleep(POLL_MS);
    }
    finished = true;
    await Promise.all(running);
    if (stopping) {
      await queue.dropWaiting(sweepId);
      for (const trial of store.trials(sweepId))
        if (trial.status === "pending") store.finishTrial(sweepId, trial.number, { status: "interrupted", message: "the sweep was stopped before a worker finished it" });
    }
    const status = stopping ? "interrupted" : "completed";
    store.finishSweep(sweepId, status);
    const trials = store.trials(sweepId);
    return { sweepId, status, storePath: url, directory: sweep.directory, trials, best: bestTrial(trials, spec.metric.goal) };
  } catch (error) {
    for (const worker of local) worker.stop("SIGTERM");
    await Promise.allSettled(running);
    throw error;
  }
}
