// Sweeps on a PostgreSQL store when things go wrong around them (against a throwaway cluster,
// skipped with the reason where the PostgreSQL binaries are absent): the server restarts
// mid-trial; a second coordinator takes up a live sweep; a worker that lost its claim goes on.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { openRunStore } from "../src/store/openRunStore.ts";
import { StoreUnreachableError } from "../src/store/postgres/connectionLost.ts";
import { openSweepStore } from "../src/store/sweeps.ts";
import { runSweep } from "../src/sweep/coordinator.ts";
import { PgBossTrialQueue } from "../src/sweep/pgBossQueue.ts";
import type { TrialJob } from "../src/sweep/queue.ts";
import { QueueWorker } from "../src/sweep/queueWorker.ts";
import { loadSweep } from "../src/sweep/spec.ts";
import { startSweep } from "../src/sweep/sweepStart.ts";
import { PASSWORD, PASSWORD_USER, type PostgresCluster } from "./postgresCluster.ts";
import { postgresCluster } from "./storeBackends.ts";
import { bin, cli, postgres, sleep, spirals, startWorker, storeOnceCreated, until } from "./sweepProcesses.ts";

const skip = postgres.skip;
const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-resilience-"));

// Whether a process runs: an exited child of a stopped parent stays a zombie (state Z) until the
// parent reaps it.
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

// A sweep file of `trials` identical spirals trials of `epochs` epochs.
function sweepFile(name: string, epochs: number, extra = ""): string {
  const file = join(folder, `${name}.yaml`);
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 1024, validation: 0.25 }\n  training: { epochs: ${epochs}, runs_dir: ${join(folder, name)} }\n  scheduler: null\nmethod: grid\nmetric: { name: val_accuracy, goal: maximize }\nparameters:\n  optimizer.lr: { values: [0.1] }\n${extra}`,
  );
  return file;
}

test("a PostgreSQL restart mid-trial does not end the sweep: every connection reconnects, and the trial completes with one row per step", { skip }, async () => {
  const url = postgres.location("sweep_restart");
  const lines: string[] = [];
  const sweeping = runSweep(loadSweep(sweepFile("restart", 4)), { workers: 1, storePath: url, log: (line) => lines.push(line) });
  const store = await storeOnceCreated(url);
  try {
    const sweepId = await until("the sweep", () => store.listSweeps()[0]?.id);
    await until("the trial's first checkpoint", () => {
      const [trial] = store.trials(sweepId);
      return trial?.runId && store.latestCheckpoint(trial.runId) ? trial : undefined;
    });
    (postgresCluster() as PostgresCluster).restart();
    const outcome = await sweeping;
    assert.equal(outcome.status, "completed", lines.join("\n"));
    const [trial] = outcome.trials;
    assert.deepEqual([trial.status, trial.attempts, trial.steps], ["completed", 1, trial.plannedSteps], lines.join("\n"));
    const runs = openRunStore(url, { create: false });
    try {
      assert.equal(runs.getRun(trial.runId as string).status, "completed");
      assert.deepEqual(
        runs.scalars(trial.runId as string, "train/loss").map((r) => r.step),
        Array.from({ length: trial.plannedSteps as number }, (_, i) => i),
        "one loss per step, every step",
      );
    } finally {
      runs.close();
    }
  } finally {
    store.close();
  }
});

// A process of the CLI with its output kept (stdout and stderr as they come).
function startCli(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr.on("data", (chunk) => {
    output += chunk;
  });
  return { child, output: () => output, exited: new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code))) };
}

test("a PostgreSQL server gone longer than the reconnect window: the trial checkpoints into its run directory and exits 69, worker and coordinator wait, and the trial resumes from that checkpoint, uncounted, with one row per step", {
  skip,
}, async () => {
  const cluster = postgresCluster() as PostgresCluster;
  const url = postgres.location("sweep_gone");
  // The processes log in with a password, which no message may show.
  cluster.psql("postgres", `GRANT CREATE ON DATABASE sweep_gone TO ${PASSWORD_USER}`);
  const passwordUrl = url.replace("postgres@", `${PASSWORD_USER}:${PASSWORD}@`);
  const shown = url.replace("postgres@", `${PASSWORD_USER}:***@`);
  // A window of 2 s instead of 30, for every process of the sweep.
  const env = { ...process.env, GRADSCOPE_RECONNECT_SECONDS: "2" };
  // retries: 0, so that the trial would fail were the outage counted as an attempt.
  const file = sweepFile("gone", 100, "heartbeat_timeout: 5\nretries: 0\n");
  const coordinator = startCli(["sweep", "-c", file, "--store", passwordUrl, "--workers", "0"], env);
  const runsDir = join(folder, "gone-worker");
  let worker: ReturnType<typeof startWorker> | null = null;
  const store = await storeOnceCreated(url);
  try {
    const sweepId = await until("the trial", () => {
      const [sweep] = store.listSweeps();
      return sweep && store.trials(sweep.id).length === 1 ? sweep.id : undefined;
    });
    worker = startWorker(passwordUrl, runsDir, env);
    const training = await until("the trial's first checkpoint in the store", () => {
      const [trial] = store.trials(sweepId);
      return trial?.runId && store.checkpointStep(trial.runId) !== null ? trial : undefined;
    });
    const runId = training.runId as string;
    const storedStep = store.checkpointStep(runId) as number;
    cluster.shutDown();
    const log = join(runsDir, "sweeps", sweepId, "trial-001.log");
    const trialLog = await until(
      "the trial's process to stop",
      () => {
        const text = existsSync(log) ? readFileSync(log, "utf8") : "";
        return /\(exit 69: /.test(text) ? text : undefined;
      },
      60_000,
    );
    // The server stays away until the worker and the coordinator have both waited out their window.
    const waits = /^(worker \S+: )?lost the connection to the run store \S+ and could not reach the server for 2 s \(.+\); waiting for it to come back$/m;
    await until("the worker and the coordinator to wait for the store", () => (waits.test(worker?.output() ?? "") && waits.test(coordinator.output()) ? true : undefined), 30_000);
    const unwritten = join(runsDir, runId, "unwritten.jsonl");
    assert.ok(existsSync(unwritten) && readFileSync(unwritten, "utf8").length > 0, "the rows the store did not get are in the run directory");
    cluster.start();
    assert.equal(await coordinator.exited, 0, coordinator.output());
    assert.equal(await worker.exited, 0, worker.output());

    const escaped = shown.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assert.match(trialLog, new RegExp(`^gradscope: lost the connection to the run store ${escaped} and could not reach the server for 2 s \\(.+\\)$`, "m"));
    const stopped = trialLog.match(
      new RegExp(
        `^trial 1 of sweep ${sweepId} stopped: its checkpoint at step (\\d+) is in (\\S+), and the rows the store did not get in \\S+unwritten\\.jsonl; it resumes from there once the server is back \\(exit 69: its worker hands it back\\)$`,
        "m",
      ),
    );
    assert.ok(stopped, trialLog);
    const localStep = Number(stopped[1]);
    assert.equal(stopped[2], join(runsDir, runId, "checkpoints", "latest.gsckpt"));
    assert.ok(localStep > storedStep, `the local checkpoint (step ${localStep}) is newer than the store's (step ${storedStep})`);
    assert.match(
      worker.output(),
      new RegExp(`trial 1 of sweep ${sweepId} could not reach the run store; it saved a checkpoint here and went back to the queue \\(its attempt not counted\\)`),
    );
    assert.match(worker.output(), /the run store \S+ is reachable again/);
    assert.match(worker.output(), new RegExp(`trial 1 of sweep ${sweepId} \\(attempt 2, from its checkpoint at step ${localStep} on this machine\\)`));
    for (const output of [trialLog, worker.output(), coordinator.output()]) assert.ok(!output.includes(PASSWORD), "the password is hidden");

    const trial = store.trial(sweepId, 1);
    assert.deepEqual([trial.status, trial.runId, trial.steps], ["completed", runId, trial.plannedSteps], JSON.stringify(trial));
    assert.ok(!existsSync(unwritten), "replayed into the store, then removed");
    const runs = openRunStore(url, { create: false });
    try {
      assert.equal(runs.getRun(runId).status, "completed");
      const resumes = runs.events(runId).filter((e) => e.kind === "resume");
      assert.deepEqual(
        resumes.map((e) => e.step),
        [localStep],
        "resumed once, from the checkpoint the trial saved in its run directory",
      );
      assert.ok(runs.events(runId).some((e) => e.kind === "stop" && /^interrupted: lost the connection to the run store .* could not reach the server for 2 s/.test(e.message)));
      const steps = Array.from({ length: trial.plannedSteps as number }, (_, i) => i);
      for (const key of ["train/loss", "train/lr", "train/grad_norm"])
        assert.deepEqual(
          runs.scalars(runId, key).map((r) => r.step),
          steps,
          `one ${key} per step, every step`,
        );
      assert.equal(runs.scalars(runId, "epoch/val_accuracy").length, 100, "one validation accuracy per epoch");
    } finally {
      runs.close();
    }
  } finally {
    coordinator.child.kill("SIGKILL");
    worker?.child.kill("SIGKILL");
    store.close();
  }
});

test("whoever reaps stale trials after losing the server counts a worker's silence from its reconnect: no worker could heartbeat meanwhile", { skip }, async () => {
  const url = postgres.location("sweep_reap_grace");
  const store = openSweepStore(url);
  try {
    const sweep = startSweep(loadSweep(sweepFile("grace", 1)), store, { workers: 0, log: () => {}, storeLabel: url });
    store.addTrial(sweep.sweepId, 1, { "optimizer.lr": 0.1 });
    assert.ok(store.claimTrial(sweep.sweepId, 1, { worker: "elsewhere:1", jobId: "job-1", staleAfterSeconds: 1 }));
    await sleep(1200);
    (postgresCluster() as PostgresCluster).restart();
    // The first call after the restart reconnects: the heartbeat, 1.2 s old, is not stale yet.
    assert.deepEqual(
      store.releaseStaleTrials(() => 1),
      [],
    );
    await sleep(1200);
    assert.deepEqual(
      store.releaseStaleTrials(() => 1).map((released) => [released.number, released.worker]),
      [[1, "elsewhere:1"]],
      "stale once the worker has been silent a whole timeout since the reconnect",
    );
  } finally {
    store.close();
  }
});

test("GRADSCOPE_RECONNECT_SECONDS that is not a number of seconds in (0, 3600] is refused naming the variable (exit 2), before any connection", () => {
  for (const value of ["soon", "0", "-5", "7200"]) {
    const refused = cli(["worker", "--store", "postgres://gradscope@127.0.0.1:1/none", "--runs-dir", join(folder, "window"), "--idle-exit", "0"], {
      ...process.env,
      GRADSCOPE_RECONNECT_SECONDS: value,
    });
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(
      refused.stderr,
      `gradscope: GRADSCOPE_RECONNECT_SECONDS="${value}": expected a number of seconds greater than 0 and at most 3600 (how long a lost connection to the run store is retried; default 30)\n`,
    );
  }
});

test("sweep resume refuses a sweep whose coordinator is alive (it holds the sweep's lease), which ends with its process (then sweep status suggests sweep resume); a trial proposed twice is added once", {
  skip,
}, async () => {
  const url = postgres.location("sweep_lease");
  // No worker: the coordinator proposes its trials and waits.
  const coordinator = spawn(process.execPath, [bin, "sweep", "-c", sweepFile("lease", 1), "--store", url, "--workers", "0"], { stdio: "ignore" });
  const exited = new Promise((resolve) => coordinator.on("close", resolve));
  const store = await storeOnceCreated(url);
  try {
    const sweepId = await until("the first trial", () => {
      const [sweep] = store.listSweeps();
      return sweep && store.trials(sweep.id).length === 1 ? sweep.id : undefined;
    });
    assert.equal(store.sweepLeased(sweepId), true);
    const live = cli(["sweep", "status", sweepId, "--store", url]);
    assert.equal(live.code, 0, live.stderr);
    assert.doesNotMatch(live.stdout, /has no coordinator/);
    const coordinatorOf = () => JSON.parse(cli(["sweep", "status", sweepId, "--store", url, "--json"]).stdout).coordinator;
    assert.equal(coordinatorOf(), "running");
    const refused = cli(["sweep", "resume", sweepId, "--store", url, "--workers", "0"]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`^gradscope: sweep ${sweepId} has a coordinator running \\(a gradscope sweep or sweep resume process holds its lease\\)`, "m"));
    assert.equal(store.getSweep(sweepId).status, "running", "a refused resume leaves the sweep as it was");
    assert.equal(store.addTrial(sweepId, 1, { "optimizer.lr": 0.5 }), false, "a second proposal of trial 1 is not added");
    assert.deepEqual(store.trial(sweepId, 1).params, { "optimizer.lr": 0.1 });
    coordinator.kill("SIGKILL");
    await exited;
    await until("the dead coordinator's lease to end", () => (store.sweepLeased(sweepId) ? undefined : true), 10_000);
    const orphaned = cli(["sweep", "status", sweepId, "--store", url]);
    assert.match(
      orphaned.stdout,
      new RegExp(`^sweep ${sweepId} has no coordinator \\(its gradscope sweep process is gone\\): .*gradscope sweep resume ${sweepId} --store … proposes the rest$`, "m"),
    );
    assert.equal(coordinatorOf(), "missing");
    const badRunsDir = cli(["sweep", "resume", sweepId, "--store", url, "--workers", "0", "--runs-dir", "/proc/nope/runs"]);
    assert.equal(badRunsDir.code, 2, badRunsDir.stderr);
    assert.match(
      badRunsDir.stderr,
      /^gradscope: sweep resume --runs-dir \/proc\/nope\/runs: cannot create the folder \/proc\/nope\/runs: .*; expected a folder this machine can create and write in$/m,
    );
  } finally {
    coordinator.kill("SIGKILL");
    store.close();
  }
});

test("a hung worker's trial stops as soon as another worker takes the trial (fencing), and the hung worker, once it goes on, leaves the trial to it", { skip }, async () => {
  const url = postgres.location("sweep_fence");
  const lines: string[] = [];
  const sweeping = runSweep(loadSweep(sweepFile("fence", 200, "heartbeat_timeout: 2\n")), { workers: 0, storePath: url, log: (line) => lines.push(line) });
  const store = await storeOnceCreated(url);
  const runs = openRunStore(url, { create: false });
  let hung: ReturnType<typeof startWorker> | null = null;
  let other: ReturnType<typeof startWorker> | null = null;
  try {
    const sweepId = await until("the sweep", () => store.listSweeps()[0]?.id);
    // Once its trial is proposed: a worker that finds nothing for 3 s exits (a loaded machine
    // may take that long to start the sweep).
    await until("the trial", () => (store.trials(sweepId).length === 1 ? true : undefined));
    hung = startWorker(url, join(folder, "fence-a"));
    const first = await until("the trial's first checkpoint", () => {
      const [trial] = store.trials(sweepId);
      return trial?.runId && store.latestCheckpoint(trial.runId) ? trial : undefined;
    }).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(store.trials(sweepId))}\n${lines.join("\n")}\n${hung?.output()}`);
    });
    assert.equal(first.worker, `${hostname()}:${hung.child.pid}`);
    const stalePid = runs.getRun(first.runId as string).pid as number;
    // The worker hangs; its trial's process (a process group of its own) trains on.
    hung.child.kill("SIGSTOP");
    other = startWorker(url, join(folder, "fence-b"));
    await until("the second attempt", () => (store.trial(sweepId, 1).attempts === 2 ? true : undefined), 20_000).catch((error) => {
      throw new Error(`${error.message}: ${JSON.stringify(store.trial(sweepId, 1))}\n${lines.join("\n")}\n${other?.output()}`);
    });
    await until("the stale attempt's process to stop", () => (running(stalePid) ? undefined : true), 10_000);
    const staleLog = readFileSync(join(folder, "fence-a", "sweeps", sweepId, "trial-001.log"), "utf8");
    assert.match(staleLog, /^gradscope: trial 1 of sweep \S+ (is in its attempt 2 elsewhere|was handed back \(it is pending\)); this attempt 1 stops without writing more$/m);
    assert.doesNotMatch(staleLog, /^test: /m, "the stale attempt did not train to its end");
    hung.child.kill("SIGCONT");
    const outcome = await sweeping;
    const [trial] = outcome.trials;
    assert.deepEqual([outcome.status, trial.status, trial.attempts, trial.steps], ["completed", "completed", 2, trial.plannedSteps], lines.join("\n"));
    assert.equal(trial.worker, `${hostname()}:${other.child.pid}`, "the trial row is the second worker's");
    assert.equal(await hung.exited, 0, hung.output());
    assert.match(hung.output(), /trial 1 of sweep \S+ was handed to another worker/);
    assert.deepEqual(
      runs.scalars(trial.runId as string, "train/loss").map((r) => r.step),
      Array.from({ length: trial.plannedSteps as number }, (_, i) => i),
      "one loss per step, every step",
    );
    assert.equal(runs.getRun(trial.runId as string).status, "completed");
  } finally {
    hung?.child.kill("SIGCONT");
    hung?.child.kill("SIGKILL");
    other?.child.kill("SIGKILL");
    store.close();
    runs.close();
  }
});

test("a user without CREATE on the database is told that pg-boss needs it once (exit 2, password hidden), before any table is created", { skip }, () => {
  const cluster = postgresCluster() as PostgresCluster;
  const url = postgres.location("sweep_no_create").replace("postgres@", `${PASSWORD_USER}:${PASSWORD}@`);
  const refused = cli(["worker", "--store", url, "--runs-dir", join(folder, "no-create"), "--idle-exit", "0"]);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(
    refused.stderr,
    new RegExp(
      `^gradscope: cannot start the job queue at postgres://${PASSWORD_USER}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/sweep_no_create: permission denied for database sweep_no_create; pg-boss creates its schema \\(pgboss\\) in the store's database once, which needs CREATE on the database`,
      "m",
    ),
  );
  assert.ok(!refused.stderr.includes(PASSWORD));
  assert.equal(cluster.psql("sweep_no_create", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").trim(), "0", "no gradscope table was created");
});

test("a retried trial whose run has no checkpoint in the store restarts from scratch and says so: the worker's line, and a warning on both runs", { skip }, async () => {
  const url = postgres.location("sweep_scratch");
  const store = openSweepStore(url);
  const runs = openRunStore(url);
  try {
    // An earlier attempt started run "lost-run" on another machine and died; its checkpoint row is gone.
    const sweep = startSweep(loadSweep(sweepFile("scratch", 1)), store, { workers: 0, log: () => {}, storeLabel: url });
    store.addTrial(sweep.sweepId, 1, { "optimizer.lr": 0.1 });
    const claim = { worker: "elsewhere:1", jobId: "job-1" };
    assert.ok(store.claimTrial(sweep.sweepId, 1, { ...claim, staleAfterSeconds: 30 }));
    runs.createRun({ id: "lost-run", name: "lost-run", config: {}, directory: "/elsewhere/runs/lost-run" });
    runs.finishRun("lost-run", "interrupted", null);
    store.attachRun(sweep.sweepId, 1, { runId: "lost-run", directory: "/elsewhere/runs/lost-run", plannedSteps: 12 });
    assert.ok(store.returnTrial(sweep.sweepId, 1, claim, "its worker was stopped"));
    const queue = await PgBossTrialQueue.start(url, () => [sweep.sweepId]);
    try {
      await queue.createSweepQueue(sweep.sweepId, 2);
      await queue.enqueue({ sweepId: sweep.sweepId, trial: 1, attempt: 0 });
    } finally {
      await queue.stop();
    }
    const worker = cli(["worker", "--store", url, "--runs-dir", join(folder, "scratch-b"), "--threads", "1", "--once"]);
    assert.equal(worker.code, 0, worker.stderr);
    assert.match(worker.stdout, new RegExp(`trial 1 of sweep ${sweep.sweepId} \\(attempt 2, from the start: its run has no checkpoint in the store\\)`));
    const trial = store.trial(sweep.sweepId, 1);
    assert.deepEqual([trial.status, trial.attempts], ["completed", 2]);
    assert.notEqual(trial.runId, "lost-run");
    const warnings = (runId: string) =>
      runs
        .events(runId)
        .filter((e) => e.kind === "warning")
        .map((e) => e.message);
    assert.deepEqual(warnings(trial.runId as string), [`trial 1 of sweep ${sweep.sweepId} restarted from scratch: no checkpoint of its run lost-run was found`]);
    assert.deepEqual(warnings("lost-run"), [`trial 1 of sweep ${sweep.sweepId} went on as the new run ${trial.runId}: no checkpoint of this run was found`]);
  } finally {
    store.close();
    runs.close();
  }
});

test("Ctrl-C between a sweep's start and its queue's creation stops the sweep: it ends interrupted, not running without trials", { skip }, async () => {
  const url = postgres.location("sweep_early_signal");
  const outcome = await runSweep(loadSweep(sweepFile("early", 1)), {
    workers: 0,
    storePath: url,
    // startSweep's line comes after the sweep is recorded and before its queue is created.
    log: (line) => {
      if (/^sweep \S+: grid search/.test(line)) process.emit("SIGINT", "SIGINT");
    },
  });
  assert.equal(outcome.status, "interrupted");
  const store = openSweepStore(url, { create: false });
  try {
    assert.equal(store.getSweep(outcome.sweepId).status, "interrupted");
    assert.ok(store.trials(outcome.sweepId).every((t) => t.status === "interrupted"));
  } finally {
    store.close();
  }
});

test("a worker stopped while it waits for the queue gives the job it then gets back, uncounted, and starts no trial", async () => {
  const job: TrialJob = { sweepId: "s", trial: 3, attempt: 1, id: "job-3" };
  const calls: string[] = [];
  let answer: ((job: TrialJob) => void) | null = null;
  const queue = {
    claim: () => new Promise<TrialJob>((resolve) => (answer = resolve)),
    giveBack: async (given: TrialJob, retries: number) => void calls.push(`giveBack ${given.id} ${retries}`),
  };
  const store = {
    releaseStaleTrials: () => [],
    getSweep: () => ({ spec: { retries: 2, heartbeat_timeout: 30 } }),
    claimTrial: () => {
      calls.push("claimTrial");
      return false;
    },
  };
  const worker = new QueueWorker({ storeUrl: "postgres://x@127.0.0.1:1/none", store: store as never, queue: queue as never, runsDir: folder, threads: 1 });
  const running = worker.run();
  await until("the worker to wait for the queue", () => (answer === null ? undefined : answer));
  worker.stop("SIGINT");
  (answer as unknown as (job: TrialJob) => void)(job);
  assert.equal(await running, 0);
  assert.deepEqual(calls, ["giveBack job-3 2"]);
});

test("a worker whose trial's log cannot be written fails with the log's name and stops heartbeating for the trial (its process can end)", async () => {
  const runsDir = join(folder, "unwritable-log");
  const job: TrialJob = { sweepId: "s", trial: 3, attempt: 0, id: "job-3" };
  // The trial's log is a folder: no file can be opened there.
  mkdirSync(join(runsDir, "sweeps", "s", "trial-003.log"), { recursive: true });
  writeFileSync(join(runsDir, "sweeps", "s", "base.yaml"), "{}\n");
  let heartbeats = 0;
  let claims = 0;
  const queue = { claim: async () => (claims++ === 0 ? job : null) };
  const store = {
    releaseStaleTrials: () => [],
    getSweep: () => ({ spec: { retries: 2, heartbeat_timeout: 0.06 } }),
    claimTrial: () => true,
    trial: () => ({ attempts: 1, runId: null }),
    heartbeat: () => {
      heartbeats++;
      return true;
    },
  };
  const worker = new QueueWorker({ storeUrl: "postgres://x@127.0.0.1:1/none", store: store as never, queue: queue as never, runsDir, threads: 1, once: true });
  await assert.rejects(worker.run(), /^Error: gradscope: trial 3's log file .*trial-003\.log cannot be written: EISDIR/);
  const after = heartbeats;
  await sleep(100);
  assert.equal(heartbeats, after, "no heartbeat after the worker failed");
});

test("a worker whose store is still unreachable when the job queue is back (its next try is up to 0.5 s away) waits to claim the trial instead of exiting", async () => {
  const job: TrialJob = { sweepId: "s", trial: 4, attempt: 0, id: "job-4" };
  let claims = 0;
  const lines: string[] = [];
  const queue = { claim: async () => job };
  const store = {
    displayLocation: "postgres://x@127.0.0.1:1/none",
    releaseStaleTrials: () => [],
    getSweep: () => ({ spec: { retries: 2, heartbeat_timeout: 30 } }),
    claimTrial: () => {
      if (claims++ === 0) throw new StoreUnreachableError("gradscope: lost the connection to the run store postgres://x@127.0.0.1:1/none and could not reach the server for 30 s");
      // Taken by another worker meanwhile: this one leaves it.
      return false;
    },
    trial: () => ({ status: "running" }),
  };
  const worker = new QueueWorker({
    storeUrl: "postgres://x@127.0.0.1:1/none",
    store: store as never,
    queue: queue as never,
    runsDir: folder,
    threads: 1,
    once: true,
    log: (line) => lines.push(line),
  });
  assert.equal(await worker.run(), 0);
  assert.equal(claims, 2, "the claim was made again once the store answered");
  assert.match(lines.join("\n"), /could not reach the server for 30 s; waiting for it to come back/);
});
