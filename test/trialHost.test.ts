import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nativeUnavailableReason } from "../src/engine/backend.ts";
import { createRunsFolderOf } from "../src/store/openRunStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { openSweepStore, type SweepStore } from "../src/store/sweeps.ts";
import { loadSweep } from "../src/sweep/spec.ts";
import { proposeTrial, startSweep, sweepStoreLocation, trialLogName } from "../src/sweep/sweepStart.ts";
import { TrialHost } from "../src/sweep/trialHost.ts";
import { LATEST } from "../src/train/callbacks/modelCheckpoint.ts";
import { assertOwnEchoes, echoNativeOutput, until } from "./sweepProcesses.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-trial-host-"));
const spirals = fileURLToPath(new URL("../examples/spirals.yaml", import.meta.url));

// A SQLite sweep of `trials` one-epoch trials of spirals, proposed and not yet trained (as
// runSweep leaves them for its workers), in the store of `runs` (default: its own), its base
// config with the `base` lines added (and `epochs`, default 1).
function proposedSweep(
  name: string,
  trials: number,
  options: { runs?: string; base?: string; epochs?: number } = {},
): { store: SweepStore; location: string; sweepId: string; logFile: (trial: number) => string } {
  const file = join(folder, `${name}.yaml`);
  const lrs = Array.from({ length: trials }, (_, i) => 0.1 * (i + 1));
  writeFileSync(
    file,
    `base:\n  extends: ${spirals}\n  data: { samples: 128, validation: 0.25 }\n  training: { epochs: ${options.epochs ?? 1}, runs_dir: ${options.runs ?? join(folder, name)} }\n  scheduler: null\n${options.base ?? ""}` +
      `method: grid\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { values: [${lrs.join(", ")}] }\n`,
  );
  const loaded = loadSweep(file);
  const location = sweepStoreLocation(loaded);
  // As gradscope sweep does: the runs folder is made for the store in it.
  createRunsFolderOf(location, loaded.baseConfig.config.training.runs_dir);
  const store = openSweepStore(location);
  const sweep = startSweep(loaded, store, { workers: 1, log: () => {}, storeLabel: location });
  for (let number = 1; number <= trials; number++) assert.ok(proposeTrial(store, sweep, number, () => {}));
  return { store, location, sweepId: sweep.sweepId, logFile: (trial) => join(sweep.directory, trialLogName(trial)) };
}

test("a trial whose log file cannot be written is refused by its worker, naming the file, and no host is started", async () => {
  const host = new TrialHost(join(folder, "gradscope.db"), "finish");
  const logFile = join(folder, "removed", "trial-001.log");
  let started = false;
  await assert.rejects(
    host.train({ sweepId: "nosweep", trial: 1, threads: 1, logFile }, () => {
      started = true;
    }),
    new RegExp(`^Error: gradscope: trial 1's log file ${logFile} cannot be written: ENOENT`),
  );
  assert.equal(started, false);
  assert.equal(existsSync(join(folder, "removed")), false);
  await host.close();
});

test("a trial whose log folder is removed as its host starts ends that attempt (code 1) and leaves its worker running", async () => {
  const host = new TrialHost(join(folder, "gradscope.db"), "finish");
  const logs = join(folder, "removed-later");
  mkdirSync(logs);
  // The host cannot open the log for the trial's output, and its dying words cannot reach it either.
  const exit = await host.train({ sweepId: "nosweep", trial: 1, threads: 1, logFile: join(logs, "trial-001.log") }, () => rmSync(logs, { recursive: true }));
  assert.deepEqual(exit, { code: 1, signal: null });
  await host.close();
});

test("a host that dies while idle, just before its worker hands it the next trial, does not cost that trial an attempt: a new host trains it", async () => {
  const { store, location, sweepId, logFile } = proposedSweep("idle-death", 2);
  const host = new TrialHost(location, "finish");
  const processes: ChildProcess[] = [];
  const train = (trial: number) => {
    store.startTrial(sweepId, trial);
    return host.train({ sweepId, trial, threads: 1, logFile: logFile(trial) }, (child) => processes.push(child));
  };
  try {
    assert.deepEqual(await train(1), { code: 0, signal: null });
    // Killed from outside (the OOM killer, a user), before its worker has heard of it.
    processes[0].kill("SIGKILL");
    assert.deepEqual(await train(2), { code: 0, signal: null }, "trial 2's attempt did not end with the idle host's death");
    assert.notEqual(processes.at(-1)?.pid, processes[0].pid, "trial 2 was trained by a new host");
    const trial = store.trial(sweepId, 2);
    assert.equal(trial.status, "completed");
    assert.equal(trial.attempts, 1);
  } finally {
    await host.close();
    store.close();
  }
});

test("a host that its worker kills before it takes its trial (a stopped sweep) is not replaced: the attempt ends with the signal", async () => {
  const { store, location, sweepId, logFile } = proposedSweep("killed-starting", 1);
  const host = new TrialHost(location, "finish");
  let processes = 0;
  try {
    store.startTrial(sweepId, 1);
    const exit = await host.train({ sweepId, trial: 1, threads: 1, logFile: logFile(1) }, () => {
      processes++;
      host.kill("SIGINT");
    });
    assert.deepEqual(exit, { code: null, signal: "SIGINT" });
    assert.equal(processes, 1);
    assert.equal(store.trial(sweepId, 1).runId, null, "the trial never started");
  } finally {
    await host.close();
    store.close();
  }
});

test("a trial's engine.backend does not carry over to the next trial in the same host: a trial that sets none gets the default (auto: native where it loads)", {
  skip: nativeUnavailableReason() ?? false,
}, async () => {
  const runs = join(folder, "backends");
  const onWasm = proposedSweep("on-wasm", 1, { runs, base: "  engine: { backend: wasm }\n" });
  const byDefault = proposedSweep("by-default", 1, { runs });
  const host = new TrialHost(onWasm.location, "finish");
  try {
    for (const sweep of [onWasm, byDefault]) {
      sweep.store.startTrial(sweep.sweepId, 1);
      assert.deepEqual(await host.train({ sweepId: sweep.sweepId, trial: 1, threads: 1, logFile: sweep.logFile(1) }), { code: 0, signal: null });
    }
    assert.match(readFileSync(onWasm.logFile(1), "utf8"), /^engine: WASM /m);
    assert.match(readFileSync(byDefault.logFile(1), "utf8"), /^engine: native BLAS /m);
  } finally {
    await host.close();
    onWasm.store.close();
    byDefault.store.close();
  }
});

test("a stopping host's trial whose worker then dies still saves its checkpoint: the worker's death is not a second Ctrl-C", async () => {
  const { store, location, sweepId, logFile } = proposedSweep("orphaned-while-stopping", 1, { epochs: 1000 });
  const host = new TrialHost(location, "stop");
  let child: ChildProcess | null = null;
  try {
    store.startTrial(sweepId, 1);
    const attempt = host.train({ sweepId, trial: 1, threads: 1, logFile: logFile(1) }, (started) => {
      child = started;
    });
    const directory = await until("the trial's first checkpoint", () => {
      const trial = store.trial(sweepId, 1);
      return trial.directory && existsSync(join(trial.directory, "checkpoints", LATEST)) ? trial.directory : undefined;
    });
    // Ctrl-C on the worker, passed on to the trial; then the worker dies (its channel closes).
    host.kill("SIGINT");
    (child as unknown as ChildProcess).disconnect();
    assert.deepEqual(await attempt, { code: 130, signal: null });
    const runs = new SqliteRunStore(location);
    try {
      const events = runs.events(basename(directory));
      assert.ok(!events.some((event) => /again/.test(event.message)), events.map((event) => event.message).join("; "));
      assert.deepEqual(events.at(-1)?.message, "interrupted (SIGINT)");
    } finally {
      runs.close();
    }
  } finally {
    await host.close();
    store.close();
  }
});

test("raw output a trial's host writes as the trial ends lands in that trial's log, not the next trial's", async () => {
  const { store, location, sweepId, logFile } = proposedSweep("native-output", 3);
  const restore = echoNativeOutput(folder);
  const host = new TrialHost(location, "finish");
  try {
    for (const trial of [1, 2, 3]) {
      store.startTrial(sweepId, trial);
      assert.deepEqual(await host.train({ sweepId, trial, threads: 1, logFile: logFile(trial) }), { code: 0, signal: null });
    }
  } finally {
    await host.close();
    store.close();
    restore();
  }
  for (const trial of [1, 2, 3]) assertOwnEchoes(logFile(trial));
});

test("a trial whose host cannot write its end marker (its worker closed the host's stdout) still ends its attempt, with its code: the host exits, and the next trial gets a new one", async () => {
  const { store, location, sweepId, logFile } = proposedSweep("unmarked", 2);
  const host = new TrialHost(location, "finish");
  const processes: ChildProcess[] = [];
  const train = (trial: number, onProcess: (child: ChildProcess) => void) => {
    store.startTrial(sweepId, trial);
    return host.train({ sweepId, trial, threads: 1, logFile: logFile(trial) }, onProcess);
  };
  try {
    const first = await train(1, (child) => {
      processes.push(child);
      child.stdout?.destroy();
    });
    assert.deepEqual(first, { code: 0, signal: null });
    assert.equal(store.trial(sweepId, 1).status, "completed");
    assert.deepEqual(await train(2, (child) => processes.push(child)), { code: 0, signal: null });
    assert.notEqual(processes[1].pid, processes[0].pid, "trial 2 was trained by a new host");
    assert.match(readFileSync(logFile(2), "utf8"), /^note: trial 2 of sweep /m);
  } finally {
    await host.close();
    store.close();
  }
});
