import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { isStoreUnreachable, untilReachable } from "../store/postgres/connectionLost.ts";
import type { SweepStore } from "../store/sweeps.ts";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import type { PgBossTrialQueue } from "./pgBossQueue.ts";
import type { TrialJob } from "./queue.ts";
import type { SweepSpec } from "./spec.ts";
import { trialEnded, trialEndLine } from "./status.ts";
import { resumableCheckpoint } from "./storedCheckpoints.ts";
import { trialLogName } from "./sweepStart.ts";
import { TrialHost } from "./trialHost.ts";
import { BASE_FILE, STORE_UNREACHABLE_EXIT_CODE, workerSweepFolder } from "./trialProcess.ts";
import { exitDescription, logTail, type TrialExit } from "./trialProtocol.ts";

/** Options of a QueueWorker. */
export interface QueueWorkerOptions {
  /** The PostgreSQL store's URL (the trial processes connect to it). */
  storeUrl: string;
  /** The sweep store on that server, where the worker claims trials and heartbeats. */
  store: SweepStore;
  /** The pg-boss queue the worker takes trial jobs from. */
  queue: PgBossTrialQueue;
  /** This worker's runs directory: its trials' runs, and `sweeps/<id>/` with each sweep's base config and trial logs. */
  runsDir: string;
  /** Engine threads of each trial. */
  threads: number;
  /** Its name in the trials it claims: host:pid, with a suffix for each of several workers in one process. */
  name?: string;
  /** Stop after one trial. */
  once?: boolean;
  /** Stop after this many seconds without a trial to train (default: never). */
  idleExitSeconds?: number;
  /** Stop once this says so and no trial is left to train (a sweep's own workers: the sweep ended). */
  done?: () => boolean;
  /** How often an idle worker looks for a trial (default 500 ms, as the coordinator looks at its queue). */
  pollMs?: number;
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Called with the process that trains each trial, as the trial starts (a test kills one). */
  onTrialProcess?: (job: TrialJob, child: ChildProcess) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Heartbeats per heartbeat_timeout: a worker is given up after missing several in a row.
const HEARTBEATS_PER_TIMEOUT = 6;

/**
 * A worker of sweeps on a PostgreSQL store (`gradscope worker`, and the local workers of
 * `gradscope sweep --store postgres://…`): takes a trial's job from the queue, claims the trial
 * in the store, trains it in its trial host's process (TrialHost, with this worker's runs
 * directory: checkpoints travel through the store) while heartbeating for it, and records the job's end:
 * done when the trial ended; given back to the queue, uncounted, when the worker was stopped;
 * failed (pg-boss retries it, counting an attempt) when the trial's process died. Between
 * trials, and while one trains, it also hands back the trials of workers that stopped
 * heartbeating (`reapStaleTrials`).
 */
export class QueueWorker {
  readonly name: string;
  private readonly host: TrialHost;
  // Whether the host trains a trial now (a signal is passed to it only then).
  private training = false;
  private stopping = false;
  private readonly log: (line: string) => void;
  private readonly spec: (sweepId: string) => SweepSpec;
  private reaping = false;

  constructor(private readonly options: QueueWorkerOptions) {
    this.name = options.name ?? `${hostname()}:${process.pid}`;
    this.log = options.log ?? (() => {});
    this.spec = sweepSpecs(options.store);
    this.host = new TrialHost(options.storeUrl, "stop");
  }

  /** Stops after the current trial, which is passed `signal` once: it checkpoints and goes back to the queue. */
  stop(signal: NodeJS.Signals): void {
    if (this.stopping) return;
    this.stopping = true;
    if (this.training) this.host.kill(signal);
  }

  /** Trains trials until stopped, or until `once`, `idleExitSeconds` or `done` says to stop. Resolves to the trials it ended. */
  async run(): Promise<number> {
    this.host.start();
    try {
      return await this.trainTrials();
    } finally {
      await this.host.close();
    }
  }

  private async trainTrials(): Promise<number> {
    const { queue, pollMs = 500, idleExitSeconds, once, done } = this.options;
    let idleSince = Date.now();
    let ended = 0;
    while (!this.stopping) {
      await this.reap();
      const job = await this.queueCall(() => queue.claim());
      if (job && this.stopping) {
        // Stopped while it waited for the queue: the job goes back untouched, its attempt uncounted.
        await this.queueCall(() => queue.giveBack(job, this.spec(job.sweepId).retries));
        break;
      }
      if (!job) {
        if (done?.()) break;
        if (idleExitSeconds !== undefined && Date.now() - idleSince >= idleExitSeconds * 1000) {
          this.log(`worker ${this.name}: no trial for ${idleExitSeconds} s; exiting`);
          break;
        }
        await sleep(pollMs);
        continue;
      }
      if (await this.train(job)) ended++;
      idleSince = Date.now();
      if (once) break;
    }
    return ended;
  }

  // A call of the job queue or the store, again while the server is away, however long (see untilReachable).
  private queueCall<T>(call: () => T | Promise<T>): Promise<T> {
    return untilReachable(call, { store: this.options.store.displayLocation, log: (line) => this.log(`worker ${this.name}: ${line}`), stopped: () => this.stopping });
  }

  /** Hands back the trials whose worker stopped heartbeating (see reapStaleTrials), one pass at a time. */
  private async reap(): Promise<void> {
    if (this.reaping) return;
    this.reaping = true;
    try {
      await reapStaleTrials(this.options.store, this.options.queue, (sweepId) => this.spec(sweepId).heartbeat_timeout, this.log);
    } catch (error) {
      // An unreachable store is said by the call that waits for it; the next pass reaps.
      if (!isStoreUnreachable(error)) this.log(`worker ${this.name}: could not hand back stale trials: ${(error as Error).message}`);
    } finally {
      this.reaping = false;
    }
  }

  // Trains a job's trial; resolves to whether the trial ended (a stopped worker's trial did not).
  private async train(job: TrialJob): Promise<boolean> {
    const { store, queue } = this.options;
    // The store's calls wait for it as the queue's do: the queue can be back (a job claimed) while
    // the store's connection still fails at once until its next try (see untilReachable). A claim
    // whose answer was lost is made again and refused (the trial is this worker's already): the
    // trial is then left to whoever reaps it.
    const spec = await this.queueCall(() => this.spec(job.sweepId));
    const claim = { worker: this.name, jobId: job.id as string };
    if (!(await this.queueCall(() => store.claimTrial(job.sweepId, job.trial, { ...claim, staleAfterSeconds: spec.heartbeat_timeout })))) {
      // A job of a trial that has ended is spent; one of a trial that a live worker trains (its job
      // expired) is left to that worker, which completes it.
      if (trialEnded(await this.queueCall(() => store.trial(job.sweepId, job.trial)))) await this.queueCall(() => queue.complete(job));
      return false;
    }
    const folder = workerSweepFolder(this.options.runsDir, job.sweepId);
    const baseFile = join(folder, BASE_FILE);
    if (!existsSync(baseFile)) {
      const { base } = await this.queueCall(() => store.getSweep(job.sweepId));
      createFolder(folder);
      writeFileAtomic(baseFile, stringify(base));
    }
    const logFile = join(folder, trialLogName(job.trial));
    const { attempts, runId } = await this.queueCall(() => store.trial(job.sweepId, job.trial));
    const from = attempts > 1 ? ` (attempt ${attempts}, ${await this.queueCall(() => resumePoint(store, runId, this.options.runsDir))})` : "";
    this.log(`worker ${this.name}: trial ${job.trial} of sweep ${job.sweepId}${from}`);
    let lost = false;
    let silent = false;
    const heartbeat = setInterval(
      () => {
        let own: boolean;
        try {
          own = store.heartbeat(job.sweepId, job.trial, claim);
          silent = false;
        } catch (error) {
          // The store stayed away past its reconnect wait: the trial goes on (its own writes wait
          // for the server too); heartbeats resume when the server is back, or another worker
          // takes the trial once this one's heartbeat is stale.
          if (!silent) this.log(`worker ${this.name}: cannot heartbeat for trial ${job.trial} of sweep ${job.sweepId}: ${(error as Error).message.replace(/^gradscope: /, "")}`);
          silent = true;
          return;
        }
        if (!own) {
          // Another worker took the trial (this one was silent too long): the trial is its now.
          lost = true;
          this.host.kill("SIGKILL");
        }
        // A busy worker looks after the others too: with every worker busy, none would otherwise.
        void this.reap();
      },
      (spec.heartbeat_timeout * 1000) / HEARTBEATS_PER_TIMEOUT,
    );
    this.training = true;
    const request = { sweepId: job.sweepId, trial: job.trial, threads: this.options.threads, runsDir: this.options.runsDir, logFile };
    let exit: TrialExit;
    try {
      exit = await this.host.train(request, (child) => this.options.onTrialProcess?.(job, child));
    } finally {
      // Also when the trial could not be sent (its log cannot be written): a heartbeat left
      // running would keep the trial this worker's, and its process alive, for ever.
      this.training = false;
      clearInterval(heartbeat);
    }
    const trial = await this.queueCall(() => store.trial(job.sweepId, job.trial));
    const total = spec.budget?.trials ?? (await this.queueCall(() => store.trials(job.sweepId))).length;
    // The trial was taken from this worker (it missed its heartbeats: hung, stopped, or cut off):
    // its row and its job are the next attempt's, which this worker leaves alone.
    if (lost || trial.worker !== claim.worker || trial.jobId !== claim.jobId) {
      this.log(`worker ${this.name}: trial ${job.trial} of sweep ${job.sweepId} was handed to another worker (this one missed its heartbeats)`);
      return false;
    }
    if (trialEnded(trial)) {
      await this.queueCall(() => queue.complete(job));
      this.log(`worker ${this.name}: ${trialEndLine(trial, spec.metric.name, total)}`);
      return true;
    }
    // A trial whose store was unreachable saved its checkpoint here and stopped: like a stopped
    // worker's, it goes back to the queue without counting an attempt.
    const unreachable = exit.code === STORE_UNREACHABLE_EXIT_CODE;
    // The next trial starts a new host: nothing of a lost connection is carried over.
    if (unreachable) await this.host.close();
    if (this.stopping || unreachable) {
      const why = unreachable ? `its process could not reach the run store on worker ${this.name}` : `its worker ${this.name} was stopped`;
      await this.queueCall(() => store.returnTrial(job.sweepId, job.trial, claim, why));
      await this.queueCall(() => queue.giveBack(job, spec.retries));
      this.log(
        unreachable
          ? `worker ${this.name}: trial ${job.trial} of sweep ${job.sweepId} could not reach the run store; it saved a checkpoint here and went back to the queue (its attempt not counted)`
          : `worker ${this.name}: stopped; trial ${job.trial} of sweep ${job.sweepId} saved a checkpoint and went back to the queue`,
      );
      return false;
    }
    const died = exitDescription(exit);
    await this.queueCall(() => store.returnTrial(job.sweepId, job.trial, claim, `its process ${died} on worker ${this.name}`));
    if ((await this.queueCall(() => queue.fail(job.sweepId, claim.jobId))) === "failed") {
      await this.queueCall(() =>
        store.finishTrial(job.sweepId, job.trial, {
          status: "failed",
          message: `its process ${died} (attempt ${job.attempt + 1} of ${spec.retries + 1}); last output: ${logTail(logFile)}`,
        }),
      );
      this.log(`worker ${this.name}: trial ${job.trial} of sweep ${job.sweepId} failed: its process ${died}`);
      return true;
    }
    this.log(`worker ${this.name}: trial ${job.trial} of sweep ${job.sweepId}: its process ${died}; it goes back to the queue, to resume from its last checkpoint`);
    return false;
  }
}

// Where a retried trial starts: its run's checkpoint in the store or on this machine (see
// resumableCheckpoint), or the start (an earlier attempt died before its first checkpoint, or the
// checkpoint is gone).
function resumePoint(store: SweepStore, runId: string | null, runsDir: string): string {
  const checkpoint = runId === null ? null : resumableCheckpoint(store, runId, runsDir);
  if (checkpoint) return `from its checkpoint at step ${checkpoint.step}${checkpoint.local ? " on this machine" : ""}`;
  return runId === null ? "from the start: no earlier attempt started its run" : "from the start: its run has no checkpoint in the store";
}

/** Each sweep's spec, read from the store once. */
export function sweepSpecs(store: SweepStore): (sweepId: string) => SweepSpec {
  const specs = new Map<string, SweepSpec>();
  return (sweepId) => {
    let spec = specs.get(sweepId);
    if (!spec) {
      spec = store.getSweep(sweepId).spec as SweepSpec;
      specs.set(sweepId, spec);
    }
    return spec;
  };
}

/**
 * Hands back the running trials whose worker has not heartbeated for their sweep's
 * `heartbeat_timeout` (it died, or lost its connection): each is pending again, its run marked
 * crashed, and its job failed so that pg-boss queues it for the next attempt, which resumes
 * from the checkpoint in the store; a trial out of retries is failed. Any worker or coordinator
 * may call it at any time: each stale trial is handed back once.
 */
export async function reapStaleTrials(store: SweepStore, queue: PgBossTrialQueue, timeout: (sweepId: string) => number, log: (line: string) => void): Promise<void> {
  for (const released of store.releaseStaleTrials(timeout)) {
    const { sweepId, number, worker, silentSeconds } = released;
    const next = await queue.fail(sweepId, released.jobId);
    const what = `trial ${number} of sweep ${sweepId}: its worker ${worker} stopped heartbeating (none for ${silentSeconds} s)`;
    if (next === "failed") {
      store.finishTrial(sweepId, number, { status: "failed", message: `its worker ${worker} stopped heartbeating, and its retries are used` });
      log(`${what}; its retries are used: failed`);
    } else log(`${what}; it goes back to the queue, to resume from its last checkpoint`);
  }
}
