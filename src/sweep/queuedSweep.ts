import { availableParallelism, hostname } from "node:os";
import { redactUrl } from "../store/postgres/postgresRunStore.ts";
import { openSweepStore } from "../store/sweeps.ts";
import type { SweepOptions, SweepOutcome } from "./coordinator.ts";
import { PgBossTrialQueue } from "./pgBossQueue.ts";
import { QueueWorker, reapStaleTrials, sweepSpecs } from "./queueWorker.ts";
import type { LoadedSweep } from "./spec.ts";
import { bestTrial, trialEnded, trialEndLine } from "./status.ts";
import { proposeTrial, startSweep } from "./sweepStart.ts";

/** How often the coordinator looks at the queue and the trials. */
const POLL_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a sweep on a PostgreSQL store: its trials are jobs on a pg-boss queue of its own, trained
 * by `options.workers` local QueueWorkers (0: none) and by `gradscope worker` processes on any
 * machine. The coordinator proposes trials as they are taken: TPE keeps one trial waiting (each
 * proposal sees every trial finished until a worker took the previous one), grid and random,
 * whose proposals do not depend on results, queue every trial at once. It hands back the trials
 * of workers that stopped heartbeating, prints each trial as it ends, and returns when every
 * trial has ended. SIGINT/SIGTERM stop it: its local trials checkpoint, the trials not started
 * are dropped from the queue, and the sweep is marked interrupted (trials that remote workers
 * are training run to their end).
 *
 * If the coordinator dies, the sweep stays `running`: workers go on training the trials already
 * queued, and no new ones are proposed.
 */
export async function runQueuedSweep(loaded: LoadedSweep, url: string, options: SweepOptions): Promise<SweepOutcome> {
  const log = options.log ?? (() => {});
  const { spec } = loaded;
  const workers = Math.max(0, options.workers ?? availableParallelism());
  const store = openSweepStore(url);
  let queue: PgBossTrialQueue | null = null;
  let sweepId = "";
  try {
    queue = await PgBossTrialQueue.start(url, () => [sweepId]);
    const sweep = startSweep(loaded, store, { workers, log, storeLabel: redactUrl(url) });
    sweepId = sweep.sweepId;
    await queue.createSweepQueue(sweepId, spec.retries);
    const total = sweep.search.trials;
    const lookahead = spec.method === "tpe" ? 1 : total;

    let finished = false;
    let stopping = false;
    const local = Array.from(
      { length: workers },
      (_, i) =>
        new QueueWorker({
          storeUrl: url,
          store,
          queue: queue as PgBossTrialQueue,
          runsDir: sweep.runsDir,
          threads: sweep.threads,
          name: `${hostname()}:${process.pid}${workers > 1 ? `#${i + 1}` : ""}`,
          done: () => finished || stopping,
          pollMs: POLL_MS,
          onTrialProcess: options.onTrialProcess,
        }),
    );
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping the sweep; its local trials save a checkpoint`);
      for (const worker of local) worker.stop(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const running = local.map((worker) => worker.run());
    try {
      let proposed = 0;
      const reported = new Set<number>();
      // Every running sweep's stale trials, each by its own sweep's heartbeat_timeout.
      const specs = sweepSpecs(store);
      for (;;) {
        await reapStaleTrials(store, queue, (id) => specs(id).heartbeat_timeout, log);
        const trials = store.trials(sweepId);
        for (const trial of trials)
          if (trialEnded(trial) && !reported.has(trial.number)) {
            reported.add(trial.number);
            log(trialEndLine(trial, spec.metric.name, total));
          }
        if (stopping) break;
        if (proposed >= total && trials.length === total && trials.every(trialEnded)) break;
        let waiting = proposed < total ? await queue.waiting(sweepId) : 0;
        while (proposed < total && waiting < lookahead) {
          const number = ++proposed;
          if (proposeTrial(store, sweep, number, log)) {
            await queue.enqueue({ sweepId, trial: number, attempt: 0 });
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
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  } catch (error) {
    if (sweepId) store.finishSweep(sweepId, "failed");
    throw error;
  } finally {
    await queue?.stop();
    store.close();
  }
}
