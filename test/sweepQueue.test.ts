// Sweeps on a PostgreSQL store (against a throwaway cluster, skipped with the reason where the
// PostgreSQL binaries are absent): `gradscope worker` processes with run directories of their own
// share a sweep through its pg-boss queue; a worker killed mid-trial loses no trial; the
// dashboard serves the sweep; bad worker arguments are refused naming them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startDashboard } from "../src/dashboard/server.ts";
import { openRunStore } from "../src/store/openRunStore.ts";
import type { SweepStore, TrialRecord } from "../src/store/sweeps.ts";
import { runSweep } from "../src/sweep/coordinator.ts";
import { loadSweep } from "../src/sweep/spec.ts";
import { trialLogName } from "../src/sweep/sweepStart.ts";
import { TrialHost } from "../src/sweep/trialHost.ts";
import { LATEST } from "../src/train/callbacks/modelCheckpoint.ts";
import { assertOwnEchoes, bin, cli, echoNativeOutput, postgres, spirals, startWorker, storeOnceCreated, trialHosts, until } from "./sweepProcesses.ts";

const skip = postgres.skip;
const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-queue-"));

test("two gradscope workers with their own run directories share a sweep on PostgreSQL; a worker killed mid-trial loses no trial: another resumes it from the checkpoint in the store", {
  skip,
}, async () => {
  const url = postgres.location("sweep_queue");
  const file = join(folder, "queue.yaml");
  // Two identical trials (the same learning rate and seed): the one resumed on the other
  // machine must train exactly the losses of the one that ran through.
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 1024, validation: 0.25 }\n  training: { epochs: 6, runs_dir: ${join(folder, "coordinator")} }\n  scheduler: null\nmethod: grid\nmetric: { name: val_accuracy, goal: maximize }\nparameters:\n  optimizer.lr: { values: [0.1, 0.1] }\nheartbeat_timeout: 2\n`,
  );
  const lines: string[] = [];
  // The coordinator only: the two workers train every trial.
  const sweeping = runSweep(loadSweep(file), { workers: 0, storePath: url, log: (line) => lines.push(line) });
  const runsDirs = [join(folder, "machine-a"), join(folder, "machine-b")];
  const workers = runsDirs.map((runsDir) => startWorker(url, runsDir));
  const store: SweepStore = await storeOnceCreated(url);
  const runs = openRunStore(url, { create: false });
  let victim: TrialRecord;
  try {
    const sweepId = await until("the sweep", () => store.listSweeps()[0]?.id);
    // Once a trial of the first worker has a checkpoint in the store (its first epoch is done),
    // its machine dies: the worker and its trial's process, without warning.
    const workerA = `${hostname()}:${workers[0].child.pid}`;
    victim = await until("a checkpoint of the first worker's trial", () =>
      store.trials(sweepId).find((t) => t.status === "running" && t.worker === workerA && t.runId !== null && store.latestCheckpoint(t.runId) !== null),
    );
    const trialPid = runs.getRun(victim.runId as string).pid as number;
    workers[0].child.kill("SIGKILL");
    process.kill(trialPid, "SIGKILL");
    const outcome = await sweeping;
    assert.equal(outcome.status, "completed", lines.join("\n"));
    assert.deepEqual(
      outcome.trials.map((t) => [t.number, t.status, t.attempts]),
      [
        [1, "completed", victim.number === 1 ? 2 : 1],
        [2, "completed", victim.number === 2 ? 2 : 1],
      ],
      `${lines.join("\n")}\n${workers[1].output()}`,
    );
    const resumed = outcome.trials[victim.number - 1];
    const through = outcome.trials[2 - victim.number];
    assert.equal(resumed.runId, victim.runId, "the retry resumed the trial's run, not a new one");
    assert.equal(runs.listRuns().length, 2, "one run per trial: none lost, none trained twice");
    assert.ok(existsSync(join(runsDirs[1], resumed.runId as string, "checkpoints", LATEST)), "the second worker restored the checkpoint into its own run directory");
    assert.equal(resumed.steps, resumed.plannedSteps);
    const events = runs.events(resumed.runId as string).map((e) => e.kind);
    assert.ok(events.includes("crash") && events.includes("resume"), events.join(", "));
    const losses = (trial: TrialRecord) => runs.scalars(trial.runId as string, "train/loss");
    assert.deepEqual(
      losses(resumed).map((r) => r.step),
      Array.from({ length: resumed.plannedSteps as number }, (_, i) => i),
      "one loss per step, every step",
    );
    assert.deepEqual(
      losses(resumed).map((r) => r.value),
      losses(through).map((r) => r.value),
      "the resumed trial trained the same losses as the one that ran through",
    );
    assert.ok(lines.some((line) => /^trial \d\/2 completed: val_accuracy \S+, optimizer\.lr=0\.1$/.test(line)));
    const table = cli(["sweep", "status", sweepId, "--store", url]);
    assert.equal(table.code, 0, table.stderr);
    for (const trial of outcome.trials) assert.match(table.stdout, new RegExp(`^${trial.number}\\s+completed\\s+\\S+\\s+0\\.1\\s+${trial.plannedSteps}$`, "m"));
    assert.match(table.stdout, /\(grid, completed\): 2 trials, 0 stopped early/);
    const dashboard = await startDashboard({ store: url });
    try {
      const listed = (await (await fetch(new URL("/api/sweeps", dashboard.url))).json()) as { sweeps: Array<{ id: string; status: string; trials: Record<string, number> }> };
      assert.deepEqual(listed.sweeps, [{ ...listed.sweeps[0], id: sweepId, status: "completed", trials: { completed: 2 } }]);
      const one = (await (await fetch(new URL(`/api/sweeps/${sweepId}`, dashboard.url))).json()) as { trials: Array<{ runId: string }> };
      assert.deepEqual(
        one.trials.map((t) => t.runId),
        outcome.trials.map((t) => t.runId),
      );
    } finally {
      await dashboard.close();
    }
    assert.equal(await workers[1].exited, 0, workers[1].output());
  } finally {
    for (const worker of workers) worker.child.kill("SIGKILL");
    store.close();
    runs.close();
  }
});

test("gradscope sweep --store postgres://… trains a TPE sweep on its own local workers and prints the table", { skip }, async () => {
  const url = postgres.location("sweep_local");
  const file = join(folder, "local.yaml");
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 256, validation: 0.25 }\n  training: { epochs: 1, runs_dir: ${join(folder, "local")} }\n  scheduler: null\nmethod: tpe\nbudget: { trials: 2 }\ntpe: { startup_trials: 1 }\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { min: 0.01, max: 1, distribution: log_uniform }\n`,
  );
  const result = cli(["sweep", "-c", file, "--store", url, "--workers", "2"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^sweep (\S+): tpe search, 2 trials on 2 local workers \(1 thread each\); store postgres:\/\/postgres@127\.0\.0\.1:\d+\/sweep_local$/m);
  assert.equal((result.stdout.match(/^trial \d\/2 completed: val_loss \S+, optimizer\.lr=\S+$/gm) ?? []).length, 2, result.stdout);
  assert.match(result.stdout, /\(tpe, completed\): 2 trials, 0 stopped early/);
});

test("a worker of a sweep on PostgreSQL puts each trial's raw output in that trial's log, not the next trial's", { skip }, async () => {
  const url = postgres.location("sweep_echo");
  const file = join(folder, "echo.yaml");
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 128, validation: 0.25 }\n  training: { epochs: 1, runs_dir: ${join(folder, "echo")} }\n  scheduler: null\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1, 0.2, 0.3] } }\n`,
  );
  const restore = echoNativeOutput(folder);
  let outcome: Awaited<ReturnType<typeof runSweep>>;
  try {
    outcome = await runSweep(loadSweep(file), { workers: 1, storePath: url });
  } finally {
    restore();
  }
  assert.deepEqual(
    outcome.trials.map((t) => t.status),
    ["completed", "completed", "completed"],
  );
  for (const trial of [1, 2, 3]) assertOwnEchoes(join(outcome.directory, trialLogName(trial)));
});

// Each local QueueWorker starts its trial host as it starts, and an idle one waits for work
// until the sweep ends: a sweep of fewer trials than workers must not keep a Node process per worker.
test("a sweep on PostgreSQL starts no more local workers (trial hosts) than it has trials", { skip }, async () => {
  const url = postgres.location("sweep_few");
  const file = join(folder, "few.yaml");
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 256, validation: 0.25 }\n  training: { epochs: 1, runs_dir: ${join(folder, "few")} }\n  scheduler: null\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1] } }\n`,
  );
  let hosts = -1;
  // While the trial trains, every local worker's host is alive (the trial is the host's child).
  const outcome = await runSweep(loadSweep(file), { workers: 3, storePath: url, onTrialProcess: () => (hosts = trialHosts().length) });
  assert.equal(hosts, 1);
  assert.equal(outcome.status, "completed");
  assert.deepEqual(
    outcome.trials.map((t) => t.status),
    ["completed"],
  );
});

test("a sweep whose process died goes on with gradscope sweep resume: its queued trial is trained and the rest proposed; a completed sweep or a SQLite store is refused", {
  skip,
}, async () => {
  const url = postgres.location("sweep_resume");
  const file = join(folder, "resume.yaml");
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 256, validation: 0.25 }\n  training: { epochs: 1, runs_dir: ${join(folder, "resume")} }\n  scheduler: null\nmethod: tpe\nbudget: { trials: 2 }\ntpe: { startup_trials: 1 }\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { min: 0.01, max: 1, distribution: log_uniform }\n`,
  );
  // No worker: the coordinator proposes one trial (TPE keeps one waiting) and dies.
  const coordinator = spawn(process.execPath, [bin, "sweep", "-c", file, "--store", url, "--workers", "0"], { stdio: "ignore" });
  const store: SweepStore = await storeOnceCreated(url);
  try {
    const sweepId = await until("the first trial", () => (store.listSweeps()[0] && store.trials(store.listSweeps()[0].id).length === 1 ? store.listSweeps()[0].id : undefined));
    coordinator.kill("SIGKILL");
    await new Promise((resolve) => coordinator.on("close", resolve));
    assert.equal(store.getSweep(sweepId).status, "running", "a dead coordinator leaves its sweep running");
    const resumed = cli(["sweep", "resume", sweepId.slice(0, 8), "--store", url, "--workers", "1"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`^sweep ${sweepId} resumed: 1 of 2 trials proposed so far, 0 interrupted ones queued again; on 1 local worker`, "m"));
    assert.match(resumed.stdout, /\(tpe, completed\): 2 trials, 0 stopped early/);
    assert.deepEqual(
      store.trials(sweepId).map((t) => [t.number, t.status, t.attempts]),
      [
        [1, "completed", 1],
        [2, "completed", 1],
      ],
    );
    const again = cli(["sweep", "resume", sweepId, "--store", url]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^gradscope: sweep \S+ has completed; there is nothing to resume$/m);
    const sqlite = cli(["sweep", "resume", sweepId, "--store", join(folder, "runs.db")]);
    assert.equal(sqlite.code, 2);
    assert.match(sqlite.stderr, /^gradscope: sweep resume needs the PostgreSQL store of the sweep/);
  } finally {
    coordinator.kill("SIGKILL");
    store.close();
  }
});

test("Ctrl-C on a gradscope worker checkpoints its trial and gives it back to the queue without counting an attempt; the next worker finishes it", { skip }, async () => {
  const url = postgres.location("sweep_interrupt");
  const file = join(folder, "interrupt.yaml");
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 1024, validation: 0.25 }\n  training: { epochs: 6, runs_dir: ${join(folder, "coordinator")} }\n  scheduler: null\nmethod: grid\nmetric: { name: val_accuracy, goal: maximize }\nparameters:\n  optimizer.lr: { values: [0.1] }\nretries: 0\n`,
  );
  const sweeping = runSweep(loadSweep(file), { workers: 0, storePath: url });
  const first = startWorker(url, join(folder, "interrupted-a"));
  const store: SweepStore = await storeOnceCreated(url);
  let second: ReturnType<typeof startWorker> | null = null;
  try {
    const sweepId = await until("the sweep", () => store.listSweeps()[0]?.id);
    await until("the trial's first checkpoint", () => {
      const [trial] = store.trials(sweepId);
      return trial?.runId && store.latestCheckpoint(trial.runId) ? trial : undefined;
    });
    first.child.kill("SIGINT");
    assert.equal(await first.exited, 130, first.output());
    assert.match(first.output(), /stopped; trial 1 of sweep \S+ saved a checkpoint and went back to the queue/);
    const [given] = store.trials(sweepId);
    assert.deepEqual([given.status, given.attempts], ["pending", 1]);
    // With no retries left, only a give-back that does not count lets the trial go on.
    second = startWorker(url, join(folder, "interrupted-b"));
    const outcome = await sweeping;
    const [trial] = outcome.trials;
    assert.deepEqual([trial.status, trial.attempts, trial.steps], ["completed", 2, trial.plannedSteps], second.output());
    assert.match(second.output(), /trial 1 of sweep \S+ \(attempt 2, from its checkpoint at step \d+\)/);
  } finally {
    first.child.kill("SIGKILL");
    second?.child.kill("SIGKILL");
    store.close();
  }
});

test("gradscope worker refuses a SQLite path or no URL naming --store, a URL whose port is not a number, a --runs-dir it cannot create before it claims a trial, and an unreachable server with the URL's password redacted (exit 2)", async () => {
  const env = { ...process.env };
  delete env.GRADSCOPE_STORE_URL;
  const none = cli(["worker"], env);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^gradscope: worker needs --store postgres:\/\/… \(or GRADSCOPE_STORE_URL\)/);
  const sqlite = cli(["worker", "--store", join(folder, "runs.db")], env);
  assert.equal(sqlite.code, 2);
  assert.match(sqlite.stderr, /^gradscope: worker --store: expected a postgres:\/\/ URL .*got ".*runs\.db"/);
  const runsDir = join(folder, "refused");
  const unreachable = cli(["worker", "--store", "postgres://nobody:s3cret@127.0.0.1:1/none", "--runs-dir", runsDir, "--idle-exit", "0"], env);
  assert.equal(unreachable.code, 2);
  assert.match(unreachable.stderr, /^gradscope: cannot open the run store postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none: cannot connect \(connect ECONNREFUSED 127\.0\.0\.1:1\)/);
  assert.ok(!unreachable.stderr.includes("s3cret"));
  const badPort = cli(["worker", "--store", "postgres://gs:s3cret@127.0.0.1:notaport/gsdb", "--runs-dir", runsDir], env);
  assert.equal(badPort.code, 2);
  assert.match(
    badPort.stderr,
    /^gradscope: cannot open the run store postgres:\/\/gs:\*\*\*@127\.0\.0\.1:notaport\/gsdb: its port "notaport" is not a number; expected postgres:\/\/user@host:port\/database$/m,
  );
  assert.ok(!badPort.stderr.includes("s3cret"));
  const badRunsDir = cli(["worker", "--store", "postgres://x@127.0.0.1:1/none", "--runs-dir", "/proc/nope/runs"], env);
  assert.equal(badRunsDir.code, 2);
  assert.match(
    badRunsDir.stderr,
    /^gradscope: worker --runs-dir \/proc\/nope\/runs: cannot create the folder \/proc\/nope\/runs: .*; expected a folder this worker can create and write in$/m,
  );
  const badIdle = cli(["worker", "--store", "postgres://x@127.0.0.1:1/none", "--runs-dir", runsDir, "--idle-exit", "soon"], env);
  assert.equal(badIdle.code, 2);
  assert.match(badIdle.stderr, /option '--idle-exit <seconds>' argument 'soon' is invalid\. expected a whole number >= 0, got "soon"/);
});

test("a trial host's process gets its store's URL in its environment, not on its command line (where ps shows it to every user)", async () => {
  const logFile = join(folder, "spawned.log");
  const host = new TrialHost("postgres://gs:s3cret@127.0.0.1:1/none", "stop");
  let commandLine: string[] = [];
  let environment: string[] = [];
  const exit = await host.train({ sweepId: "nosweep", trial: 1, threads: 1, logFile }, (child) => {
    commandLine = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
    environment = readFileSync(`/proc/${child.pid}/environ`, "utf8").split("\0");
  });
  await host.close();
  assert.deepEqual(exit, { code: 1, signal: null }, "the trial could not open its store: its host ended with code 1");
  assert.ok(!commandLine.some((arg) => arg.includes("s3cret")), commandLine.join(" "));
  assert.ok(environment.includes("GRADSCOPE_TRIAL_STORE=postgres://gs:s3cret@127.0.0.1:1/none"));
  assert.match(readFileSync(logFile, "utf8"), /cannot open the run store postgres:\/\/gs:\*\*\*@127\.0\.0\.1:1\/none/, "the trial read its store from the environment");
});
