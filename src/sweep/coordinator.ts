import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { ConfigError, loadConfig } from "../config/load.ts";
import { isPostgresUrl } from "../store/openRunStore.ts";
import { redactUrl } from "../store/postgres/postgresRunStore.ts";
import { openSweepStore, type SweepStatus, type TrialRecord } from "../store/sweeps.ts";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import { freeRunDirectory, safeRunName } from "../train/runDirectory.ts";
import { LocalTrialQueue, type TrialJob, type TrialQueue } from "./queue.ts";
import { createSearch } from "./search.ts";
import { type LoadedSweep, parameterOverrides } from "./spec.ts";
import { bestTrial, formatParams } from "./status.ts";
import { BASE_FILE } from "./trialProcess.ts";

/** Options of `runSweep`. */
export interface SweepOptions {
  /** Trial processes at once (default: one per core). */
  workers?: number;
  /** The run store (default: the base config's). */
  storePath?: string;
  /** Where progress lines go (default: nowhere). */
  log?: (line: string) => void;
  /** Called with each trial process as it starts (a test kills one). */
  onTrialProcess?: (job: TrialJob, child: ChildProcess) => void;
}

/** How a sweep ended. */
export interface SweepOutcome {
  sweepId: string;
  status: Exclude<SweepStatus, "running">;
  storePath: string;
  directory: string;
  trials: TrialRecord[];
  best: TrialRecord | null;
}

const ended = (trial: TrialRecord) => trial.status !== "pending" && trial.status !== "running";

// The trial process's command: the compiled entry, or under tsx (the tests) the TypeScript one
// with tsx's loader, which a child process does not inherit.
function trialCommand(): string[] {
  const source = extname(fileURLToPath(import.meta.url)) === ".ts";
  const entry = fileURLToPath(new URL(source ? "./trialEntry.ts" : "./trialEntry.js", import.meta.url));
  return source ? ["--import", import.meta.resolve("tsx"), entry] : [entry];
}

// The last lines a trial's process wrote (its log file), to say why it failed.
function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join("\n");
  } catch {
    return "";
  }
}

/**
 * Runs a sweep on this machine: records it in the run store, proposes trials with its search
 * method as workers free up (so that TPE sees every trial finished so far), and runs each trial
 * as a child process (`trialEntry`) on one of `workers` local workers through a `TrialQueue`.
 * A separate process per trial keeps each trial's engine memory, threads and crashes its own;
 * the store is how trials and the coordinator talk. A trial process that dies (a signal, or
 * SIGKILL) is queued again and resumed from its last checkpoint, up to `retries` times.
 * SIGINT/SIGTERM stop the sweep: running trials checkpoint and are marked interrupted.
 */
export async function runSweep(loaded: LoadedSweep, options: SweepOptions = {}, queue: TrialQueue = new LocalTrialQueue()): Promise<SweepOutcome> {
  const log = options.log ?? (() => {});
  const { spec, baseConfig } = loaded;
  const config = baseConfig.config;
  const runsDir = resolve(config.training.runs_dir);
  if (options.storePath !== undefined && isPostgresUrl(options.storePath)) {
    throw new ConfigError(`gradscope: sweeps run on a SQLite run store for now; got a PostgreSQL URL for the store (${redactUrl(options.storePath)})`);
  }
  const storePath = resolve(options.storePath ?? config.store.path ?? join(runsDir, "gradscope.db"));
  const workers = Math.max(1, options.workers ?? availableParallelism());
  // The cores shared out among the trials at once, so that they do not oversubscribe the machine.
  const threads = Math.max(1, Math.floor(availableParallelism() / workers));
  const store = openSweepStore(storePath);
  const directory = freeRunDirectory(join(runsDir, "sweeps"), safeRunName(loaded.name), (id) => store.hasSweep(id));
  const sweepId = basename(directory);
  createFolder(directory);
  const base = { ...baseConfig.raw, training: { ...(baseConfig.raw.training as object), runs_dir: runsDir } };
  const baseFile = join(directory, BASE_FILE);
  writeFileAtomic(baseFile, stringify(base));
  store.createSweep({ id: sweepId, name: loaded.name, spec, base, directory });
  const search = createSearch(spec);
  log(
    `sweep ${sweepId}: ${spec.method} search, ${search.trials} trials on ${workers} worker${workers > 1 ? "s" : ""} (${threads} thread${threads > 1 ? "s" : ""} each); store ${storePath}`,
  );

  let proposed = 0;
  let stopping = false;
  const children = new Set<ChildProcess>();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the sweep; running trials save a checkpoint`);
    for (const child of children) child.kill(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  // Proposes one trial and queues it (a proposal the config refuses is a failed trial instead).
  const propose = async () => {
    const finished = store.trials(sweepId).filter(ended);
    const params = search.next(finished.map((t) => ({ params: t.params, metric: t.metric })));
    const number = ++proposed;
    store.addTrial(sweepId, number, params);
    try {
      loadConfig([baseFile], parameterOverrides(params));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      store.finishTrial(sweepId, number, { status: "failed", message: error.message });
      log(`trial ${number}/${search.trials} failed: ${formatParams(params)}: ${error.message}`);
      return;
    }
    await queue.enqueue({ sweepId, trial: number, attempt: 0 });
  };

  // A waiting trial (a retry first), else a new one while the budget lasts, else null. Trials
  // are proposed only when a worker is free, so that TPE sees every trial finished by then.
  const nextJob = async (): Promise<TrialJob | null> => {
    while (!stopping) {
      const job = await queue.claim();
      if (job) return job;
      if (proposed >= search.trials) return null;
      await propose();
    }
    return null;
  };

  const runJob = async (job: TrialJob) => {
    store.startTrial(sweepId, job.trial);
    const logFile = join(directory, `trial-${String(job.trial).padStart(3, "0")}.log`);
    const output = openSync(logFile, "a");
    const [command, ...args] = [process.execPath, ...trialCommand(), storePath, sweepId, String(job.trial), String(threads)];
    // Its own process group: a Ctrl-C reaches the coordinator alone, which passes it on once
    // (a second one would end the trial without a checkpoint).
    const child = spawn(command, args, { stdio: ["ignore", output, output], detached: true });
    closeSync(output);
    children.add(child);
    options.onTrialProcess?.(job, child);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once("exit", (code, signal) => done({ code, signal })));
    children.delete(child);
    const trial = store.trial(sweepId, job.trial);
    if (ended(trial)) {
      await queue.complete(job);
      const metric = trial.metric === null ? "-" : trial.metric.toPrecision(4);
      const why = trial.stoppedBy ? ` (${trial.stoppedBy})` : trial.message ? `: ${trial.message.split("\n")[0]}` : "";
      log(`trial ${job.trial}/${search.trials} ${trial.status}${why}: ${spec.metric.name} ${metric}, ${formatParams(trial.params)}`);
      return;
    }
    const died = exit.signal !== null ? `was killed (${exit.signal})` : `ended with code ${exit.code}`;
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

  const worker = async () => {
    for (let job = await nextJob(); job; job = await nextJob()) await runJob(job);
  };

  try {
    await Promise.all(Array.from({ length: workers }, worker));
    const status = stopping ? "interrupted" : "completed";
    store.finishSweep(sweepId, status);
    const trials = store.trials(sweepId);
    return { sweepId, status, storePath, directory, trials, best: bestTrial(trials, spec.metric.goal) };
  } catch (error) {
    store.finishSweep(sweepId, "failed");
    for (const child of children) child.kill("SIGTERM");
    throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    store.close();
  }
}
