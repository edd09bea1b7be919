import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError } from "../src/config/load.ts";
import { Random } from "../src/engine/random.ts";
import { StoreUnreachableError } from "../src/store/postgres/connectionLost.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { openSweepStore } from "../src/store/sweeps.ts";
import { runSweep } from "../src/sweep/coordinator.ts";
import { continuesPastRung, RuleMonitor, rungEpochs } from "../src/sweep/rules.ts";
import { createSearch } from "../src/sweep/search.ts";
import { gridPoints, sampleParams } from "../src/sweep/space.ts";
import { loadSweep, type ParameterSpec, type SweepSpec, sweepSchema } from "../src/sweep/spec.ts";
import { stepsSaved } from "../src/sweep/status.ts";
import { suggestTpe } from "../src/sweep/tpe.ts";
import { SweepTrialCallback } from "../src/sweep/trialCallback.ts";
import { LATEST } from "../src/train/callbacks/modelCheckpoint.ts";
import type { Trainer } from "../src/train/trainer.ts";
import { bin, children, cli, storeOnceCreated, trialHosts, until } from "./sweepProcesses.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const spirals = join(root, "examples", "spirals.yaml");
const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-"));

const spec = (fields: Record<string, unknown>): SweepSpec =>
  sweepSchema.parse({ base: "x.yaml", method: "random", metric: { name: "val_loss", goal: "minimize" }, budget: { trials: 1 }, ...fields });

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function writeSweep(name: string, text: string): string {
  const file = join(folder, name);
  writeFileSync(file, text);
  return file;
}

test("grid search enumerates every combination in order, int_uniform ranges as whole numbers, up to the budget", () => {
  const parameters = sweepSchema.shape.parameters.parse({
    "optimizer.lr": { values: [0.1, 0.01] },
    "model.hidden": { values: [[8], [16, 16]] },
    seed: { min: 0, max: 2, distribution: "int_uniform" },
  });
  const points = gridPoints(parameters);
  assert.equal(points.length, 12);
  assert.deepEqual(points[0], { "optimizer.lr": 0.1, "model.hidden": [8], seed: 0 });
  assert.deepEqual(points[1], { "optimizer.lr": 0.1, "model.hidden": [8], seed: 1 });
  assert.deepEqual(points[11], { "optimizer.lr": 0.01, "model.hidden": [16, 16], seed: 2 });
  const search = createSearch(spec({ method: "grid", parameters, budget: { trials: 5 } }));
  assert.equal(search.trials, 5);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => search.next([])),
    points.slice(0, 5),
  );
  assert.equal(createSearch(spec({ method: "grid", parameters, budget: undefined })).trials, 12);
});

test("random search is seeded and draws within bounds: log-uniform evenly per decade, int and q steps exactly", () => {
  const parameters = {
    lr: { min: 1e-4, max: 10, distribution: "log_uniform" },
    layers: { min: 1, max: 4, distribution: "int_uniform" },
    dropout: { min: 0, max: 0.5, distribution: "q_uniform", q: 0.1 },
    momentum: { min: 0.5, max: 0.99 },
    optimizer: { values: ["sgd", "adam"] },
  };
  const draw = (seed: number) => {
    const search = createSearch(spec({ parameters, seed, budget: { trials: 400 } }));
    return Array.from({ length: 400 }, () => search.next([]));
  };
  const draws = draw(7);
  assert.deepEqual(draw(7), draws, "same seed, same trials");
  assert.notDeepEqual(draw(8), draws);
  const lrs = draws.map((d) => d.lr as number);
  assert.ok(lrs.every((v) => v >= 1e-4 && v <= 10));
  // Five decades, drawn evenly in log space: about a fifth in each, so a fifth below 1e-3.
  const belowMilli = lrs.filter((v) => v < 1e-3).length / lrs.length;
  assert.ok(belowMilli > 0.14 && belowMilli < 0.26, `fraction below 1e-3: ${belowMilli}`);
  const layers = draws.map((d) => d.layers as number);
  assert.deepEqual([...new Set(layers)].sort(), [1, 2, 3, 4]);
  for (const value of draws.map((d) => d.dropout as number)) assert.ok([0, 0.1, 0.2, 0.3, 0.4, 0.5].includes(value), `q_uniform value ${value}`);
  assert.ok(draws.every((d) => (d.momentum as number) >= 0.5 && (d.momentum as number) <= 0.99));
  assert.deepEqual(new Set(draws.map((d) => d.optimizer)), new Set(["sgd", "adam"]));
});

test("TPE stays within bounds, is seeded, and concentrates on the good region of a toy objective", () => {
  // The best learning rate is 1e-2 (a minimum in log space), and a categorical choice prefers "b".
  const parameters = sweepSchema.shape.parameters.parse({ lr: { min: 1e-5, max: 1, distribution: "log_uniform" }, kind: { values: ["a", "b", "c"] } });
  const objective = (p: Record<string, unknown>) => (Math.log10(p.lr as number) + 2) ** 2 + (p.kind === "b" ? 0 : 1);
  const run = (method: "tpe" | "random", seed: number) => {
    const search = createSearch(spec({ method, parameters, seed, budget: { trials: 40 }, tpe: { startup_trials: 10 } }));
    const finished: Array<{ params: Record<string, unknown>; metric: number }> = [];
    for (let i = 0; i < 40; i++) {
      const params = search.next(finished);
      finished.push({ params, metric: objective(params) });
    }
    return finished;
  };
  const tpe = run("tpe", 3);
  assert.deepEqual(run("tpe", 3), tpe);
  assert.ok(tpe.every((t) => (t.params.lr as number) >= 1e-5 && (t.params.lr as number) <= 1));
  const late = tpe.slice(20);
  const lateRandom = run("random", 3).slice(20);
  const distance = (trials: typeof tpe) => median(trials.map((t) => Math.abs(Math.log10(t.params.lr as number) + 2)));
  assert.ok(distance(late) < 0.5, `TPE's median distance from the best lr: ${distance(late)} decades`);
  assert.ok(distance(late) < distance(lateRandom) / 2, `TPE ${distance(late)} vs random ${distance(lateRandom)}`);
  assert.ok(late.filter((t) => t.params.kind === "b").length >= 14, "TPE picks the good category in most late trials");
});

test("TPE's suggestions of int and q ranges are values of the range", () => {
  const parameters = { n: { min: 2, max: 6, distribution: "int_uniform" }, q: { min: 0, max: 1, distribution: "q_uniform", q: 0.25 } } as Record<string, ParameterSpec>;
  const random = new Random(1);
  const observations = Array.from({ length: 12 }, () => sampleParams(parameters, random)).map((params) => ({ params, loss: (params.n as number) + (params.q as number) }));
  for (let i = 0; i < 20; i++) {
    const p = suggestTpe(parameters, observations, random, { gamma: 0.25, candidates: 24 });
    assert.ok(Number.isInteger(p.n) && (p.n as number) >= 2 && (p.n as number) <= 6, `n ${p.n}`);
    assert.ok([0, 0.25, 0.5, 0.75, 1].includes(p.q as number), `q ${p.q}`);
  }
});

test("a sweep file's mistakes are reported with file:line:col and the field", () => {
  const bad = (name: string, text: string, pattern: RegExp) => {
    const file = writeSweep(name, text);
    assert.throws(
      () => loadSweep(file),
      (error: Error) => error instanceof ConfigError && pattern.test(error.message),
      `${name}`,
    );
    try {
      loadSweep(file);
    } catch (error) {
      return (error as Error).message;
    }
  };
  const head = `base: ${spirals}\nmetric: { name: val_loss, goal: minimize }\n`;
  bad(
    "typo.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lr: { min: 0.01, max: 1, distrbution: log_uniform }\n`,
    /typo\.yaml:6:\d+: parameters\.optimizer\.lr\.distrbution: unknown key \(did you mean "distribution"\?\)/,
  );
  bad(
    "log.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lr: { min: 0, max: 1, distribution: log_uniform }\n`,
    /log\.yaml:6:\d+: parameters\.optimizer\.lr\.min: log_uniform needs min > 0 \(got 0\)/,
  );
  bad(
    "heartbeat.yaml",
    `${head}method: grid\nparameters:\n  optimizer.lr: { values: [0.1] }\nheartbeat_timeout: 1e9\n`,
    /heartbeat\.yaml:6:20: heartbeat_timeout: expected at most 3600 seconds \(an hour\)/,
  );
  bad(
    "infinite.yaml",
    `${head}method: grid\nparameters:\n  optimizer.lr: { values: [0.1] }\nheartbeat_timeout: .inf\n`,
    /infinite\.yaml:6:20: heartbeat_timeout: got \.inf; expected a finite number/,
  );
  bad("method.yaml", `${head}method: bayes\nparameters:\n  optimizer.lr: { values: [0.1] }\n`, /method\.yaml:3:9: method: got "bayes"; expected one of grid, random, tpe/);
  bad("budget.yaml", `${head}method: tpe\nparameters:\n  optimizer.lr: { values: [0.1] }\n`, /budget\.yaml:3:9: method: tpe search needs budget: \{trials: N\}/);
  bad(
    "rule.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lr: { values: [0.1] }\nearly_stopping:\n  rules:\n    - { quantity: alpah, above: 0.5 }\n`,
    /rule\.yaml:9:19: early_stopping\.rules\[0\]\.quantity: unknown quantity "alpah" \(did you mean "alpha"\?\)/,
  );
  bad(
    "computed.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lr: { values: [0.1] }\nearly_stopping:\n  rules:\n    - { quantity: alpha, above: 0.5, for_steps: 10 }\n`,
    /computed\.yaml:9:19: early_stopping\.rules\[0\]\.quantity: the base config does not compute "alpha"/,
  );
  bad(
    "conditions.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lr: { values: [0.1] }\nearly_stopping:\n  rules:\n    - { metric: train_loss, above: 3, nan: true }\n`,
    /conditions\.yaml:9:7: early_stopping\.rules\[0\]: a rule has one condition: above, below, diverges or nan \(got above, nan\)/,
  );
  const message = bad(
    "path.yaml",
    `${head}method: random\nbudget: { trials: 2 }\nparameters:\n  optimizer.lrr: { values: [0.1] }\n`,
    /path\.yaml:6:3: parameters\.optimizer\.lrr: the base config does not take optimizer\.lrr=0\.1: /,
  );
  assert.match(message as string, /optimizer\.lrr: unknown key \(did you mean "lr"\?\)/);
  bad(
    "inline.yaml",
    `base:\n  extends: ${spirals}\n  training: { epochs: 0 }\nmethod: random\nbudget: { trials: 2 }\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { values: [0.1] }\n`,
    /inline\.yaml:3:23: training\.epochs: Too small/,
  );
});

test("the example sweeps are valid: a 16-trial random sweep of spirals, and learning rates 1e-4..10 for the Fashion-MNIST MLP with rules", () => {
  const spiralsSweep = loadSweep(join(root, "examples", "sweep-spirals.yaml"));
  assert.equal(spiralsSweep.spec.method, "random");
  assert.equal(createSearch(spiralsSweep.spec).trials, 16);
  const lr = loadSweep(join(root, "examples", "sweep-fashion-mnist-lr.yaml"));
  assert.deepEqual(lr.spec.parameters["optimizer.lr"], { min: 1e-4, max: 10, distribution: "log_uniform" });
  assert.deepEqual(
    lr.spec.early_stopping.rules.map((rule) => rule.quantity ?? rule.metric),
    ["alpha", "train_grad_norm", "train_loss"],
  );
});

test("gradscope sweep usage mistakes exit with 2 and say what is wrong", async () => {
  const expectUsage = async (args: string[], message: RegExp) => {
    const result = cli(args);
    assert.equal(result.code, 2, `gradscope ${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  };
  await expectUsage(["sweep"], /gradscope: sweep needs -c SWEEP_FILE \(or: gradscope sweep status SWEEP_ID\)/);
  await expectUsage(["sweep", "status"], /sweep status needs a sweep id/);
  await expectUsage(["sweep", "frobnicate"], /sweep frobnicate: unknown action; expected status or resume/);
  await expectUsage(["sweep", "status", "x", "--store", join(folder, "none.db")], /no run store at .*none\.db/);
  await expectUsage(["sweep", "-c", "x.yaml", "--workers", "-1"], /expected a whole number >= 0, got "-1"/);
  await expectUsage(
    [
      "sweep",
      "-c",
      writeSweep("local.yaml", `base: ${spirals}\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1] } }\n`),
      "--workers",
      "0",
      "--store",
      join(folder, "local.db"),
    ],
    /sweep --workers 0 needs a PostgreSQL store \(--store postgres:\/\/…\)/,
  );
  const missing = join(folder, "missing");
  await expectUsage(
    [
      "sweep",
      "-c",
      writeSweep("nowhere.yaml", `base: ${spirals}\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1] } }\n`),
      "--store",
      join(missing, "x.db"),
    ],
    /cannot open the run store .*missing\/x\.db: the folder .*missing does not exist/,
  );
  assert.ok(!existsSync(missing), "a store path in a missing folder makes no folder");
  await expectUsage(
    ["sweep", "-c", writeSweep("cli.yaml", `base: ${spirals}\nmethod: grid\nmetric: { name: val_loss }\nparameters: { optimizer.lr: { values: [0.1] } }\n`)],
    /cli\.yaml:3:1: metric\.goal: required; expected one of minimize, maximize/,
  );
});

test("diagnostic rules fire on bounds held for a span of steps, divergence and NaN; successive halving keeps the best 1/rf", () => {
  const rules = sweepSchema.shape.early_stopping.parse({
    rules: [
      { quantity: "alpha", above: 0.5, for_steps: 3 },
      { metric: "train_grad_norm", diverges: { factor: 10, window: 2 } },
      { metric: "train_loss", nan: true },
    ],
  }).rules;
  const monitor = new RuleMonitor(rules);
  assert.equal(monitor.observe("quantity", "alpha", 0, 0.9), null);
  assert.equal(monitor.observe("quantity", "alpha", 1, 0.2), null, "a value within the bound restarts the span");
  assert.equal(monitor.observe("quantity", "alpha", 2, 0.9), null);
  assert.equal(monitor.observe("quantity", "alpha", 3, 0.8), null);
  assert.equal(monitor.observe("quantity", "alpha", 4, 0.7), rules[0]);
  for (const [step, norm] of [1, 1, 2, 5].entries()) assert.equal(monitor.observe("metric", "train_grad_norm", step, norm), null);
  assert.equal(monitor.observe("metric", "train_grad_norm", 4, 30), rules[1], "mean of the last 2 (17.5) > 10 x the first 2 (1)");
  assert.equal(monitor.observe("metric", "train_loss", 5, 2.3), null);
  assert.equal(monitor.observe("metric", "train_loss", 6, Number.NaN), rules[2]);
  const resumed = new RuleMonitor(rules);
  resumed.loadStateDict(monitor.stateDict());
  assert.equal(resumed.observe("quantity", "alpha", 5, 0.9), rules[0], "the span goes on after a resume");

  assert.deepEqual(rungEpochs(1, 3, 30), [1, 3, 9, 27]);
  assert.deepEqual(rungEpochs(2, 2, 8), [2, 4]);
  assert.equal(continuesPastRung(0.5, [0.5], 3, "minimize"), true, "the first trial at a rung goes on");
  assert.equal(continuesPastRung(0.7, [0.5, 0.7], 3, "minimize"), false);
  assert.equal(continuesPastRung(0.4, [0.5, 0.7, 0.4, 0.9, 0.6, 0.8], 3, "minimize"), true);
  assert.equal(continuesPastRung(0.5, [0.5, 0.7, 0.4, 0.9, 0.6, 0.8], 3, "minimize"), true);
  assert.equal(continuesPastRung(0.6, [0.5, 0.7, 0.4, 0.9, 0.6, 0.8], 3, "minimize"), false);
  assert.equal(continuesPastRung(0.9, [0.5, 0.9], 2, "maximize"), true);
  assert.equal(continuesPastRung(Number.NaN, [null], 2, "minimize"), false);
});

// A small spirals problem: a trial takes a second or two of training.
const tinyBase = (runs: string, epochs: number, samples = 256) =>
  `base:\n  extends: ${spirals}\n  data: { samples: ${samples}, validation: 0.25 }\n  training: { epochs: ${epochs}, runs_dir: ${runs} }\n  scheduler: null\n`;

test("a grid sweep on 2 local workers trains each trial as a run of the store; a diagnostic rule stops the trial it fires on", async () => {
  const runs = join(folder, "grid");
  const file = writeSweep(
    "grid.yaml",
    `${tinyBase(runs, 2)}method: grid\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { values: [0.05, 5] }\n  optimizer.momentum: { values: [0.5] }\nearly_stopping:\n  rules:\n    - { metric: train_lr, above: 1, for_steps: 3 }\n`,
  );
  const lines: string[] = [];
  const outcome = await runSweep(loadSweep(file), { workers: 2, log: (line) => lines.push(line) });
  assert.equal(outcome.status, "completed");
  assert.match(lines[0], /2 trials on 2 local workers/);
  const [good, stopped] = outcome.trials;
  assert.equal(good.status, "completed");
  assert.deepEqual(good.params, { "optimizer.lr": 0.05, "optimizer.momentum": 0.5 });
  assert.equal(good.steps, good.plannedSteps);
  assert.ok(good.metric !== null && Number.isFinite(good.metric));
  assert.equal(stopped.status, "stopped");
  assert.equal(stopped.stoppedBy, "train_lr above 1 for 3 steps");
  assert.equal(stopped.steps, 3, "stopped after steps 0, 1 and 2");
  assert.equal(stepsSaved(outcome.trials), (stopped.plannedSteps as number) - 3);
  assert.equal(outcome.best?.number, 1);
  const store = new SqliteRunStore(outcome.storePath);
  try {
    for (const trial of outcome.trials) {
      const run = store.getRun(trial.runId as string);
      assert.equal(run.status, trial.status);
      assert.equal((run.config as { optimizer: { lr: number } }).optimizer.lr, trial.params["optimizer.lr"], "the run's config has the trial's parameters");
      assert.ok(
        store
          .events(run.id)
          .some(
            (e) => e.kind === "notice" && e.message === `trial ${trial.number} of sweep ${outcome.sweepId}: optimizer.lr=${trial.params["optimizer.lr"]} optimizer.momentum=0.5`,
          ),
        "the run names its sweep, trial and parameters",
      );
    }
    assert.ok(store.events(stopped.runId as string).some((e) => e.kind === "stop" && e.message === "stopped by the sweep: train_lr above 1 for 3 steps"));
  } finally {
    store.close();
  }
  const table = cli(["sweep", "status", outcome.sweepId.slice(0, 12), "--store", outcome.storePath]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^2\s+stopped\s+\S+\s+5\s+0\.5\s+3\/6\s+train_lr above 1 for 3 steps$/m);
  assert.match(table.stdout, /best: trial 1 \(completed\), val_loss \S+, optimizer\.lr=0\.05 optimizer\.momentum=0\.5/);
  const report = JSON.parse(cli(["sweep", "status", outcome.sweepId, "--store", outcome.storePath, "--json"]).stdout);
  assert.equal(report.best.trial, 1);
  assert.equal(report.coordinator, null, "an ended sweep (and any sweep of a SQLite store) has no coordinator to report");
  assert.equal(report.steps_saved, stepsSaved(outcome.trials));
  assert.deepEqual(
    report.trials.map((t: { status: string; stopped_by: string | null }) => [t.status, t.stopped_by]),
    [
      ["completed", null],
      ["stopped", "train_lr above 1 for 3 steps"],
    ],
  );
});

test("a rung the store cannot take (its server unreachable) is kept in the trial's checkpoint and compared when the trial resumes", () => {
  const rungs = { epochs: [1, 3], reductionFactor: 2, metric: "val_loss", goal: "minimize" as const };
  const recorded: unknown[][] = [];
  let reachable = false;
  const store = {
    recordRung: (...args: unknown[]) => {
      if (!reachable) throw new StoreUnreachableError("gradscope: lost the connection to the run store postgres://x and could not reach the server for 30 s");
      recorded.push(args);
    },
    rungValues: () =>
      new Map([
        [1, 0.5],
        [2, 0.9],
      ]),
  };
  const stops: string[] = [];
  const trainer = { requestStop: (reason: string) => stops.push(reason) } as unknown as Trainer;
  const stopped = new SweepTrialCallback([], rungs, { store: store as never, sweepId: "s", trial: 2 });
  stopped.onTrainBegin(trainer);
  stopped.onEpochEnd(trainer, { epoch: 1, step: 12, val_loss: 0.9 });
  assert.deepEqual([recorded, stops], [[], []], "nothing recorded, and the trial not stopped by a rung it could not compare");
  reachable = true;
  const resumed = new SweepTrialCallback([], rungs, { store: store as never, sweepId: "s", trial: 2 });
  resumed.loadStateDict(structuredClone(stopped.stateDict()));
  resumed.onTrainBegin(trainer);
  assert.deepEqual(recorded, [["s", 1, 2, 0.9]]);
  assert.deepEqual(stops, ["stopped by the sweep: asha rung at epoch 1: val_loss 0.9000 not in the best 1/2 of 2 trials"]);
  assert.deepEqual(resumed.stateDict(), { rules: new RuleMonitor([]).stateDict(), pendingRung: null });
});

test("successive halving stops a trial whose metric at a rung is worse than the trials before it", async () => {
  const runs = join(folder, "asha");
  const file = writeSweep(
    "asha.yaml",
    `${tinyBase(runs, 3)}method: grid\nmetric: { name: val_loss, goal: minimize }\nparameters:\n  optimizer.lr: { values: [0.3, 0.00001] }\nearly_stopping:\n  asha: { min_epochs: 1, reduction_factor: 2 }\n`,
  );
  const outcome = await runSweep(loadSweep(file), { workers: 1 });
  const [first, slow] = outcome.trials;
  assert.equal(first.status, "completed");
  assert.equal(slow.status, "stopped");
  assert.match(slow.stoppedBy as string, /^asha rung at epoch 1: val_loss \S+ not in the best 1\/2 of 2 trials$/);
  assert.equal(slow.steps, (slow.plannedSteps as number) / 3, "stopped after its first epoch");
  const store = openSweepStore(outcome.storePath);
  try {
    assert.deepEqual([...store.rungValues(outcome.sweepId, 1).keys()].sort(), [1, 2]);
  } finally {
    store.close();
  }
  const runStore = new SqliteRunStore(outcome.storePath);
  try {
    const [firstPid, slowPid] = [first, slow].map((trial) => runStore.getRun(trial.runId as string).pid);
    assert.equal(firstPid, slowPid, "the one worker's trial host trained both trials, one after the other");
    assert.notEqual(firstPid, process.pid, "in a process of its own");
  } finally {
    runStore.close();
  }
});

test("a trial whose process is killed (SIGKILL) mid-trial is resumed from its last checkpoint and loses no step", async () => {
  const runs = join(folder, "kill");
  const file = writeSweep("kill.yaml", `${tinyBase(runs, 6, 1024)}method: grid\nmetric: { name: val_accuracy, goal: maximize }\nparameters:\n  optimizer.lr: { values: [0.1] }\n`);
  let killed = false;
  // Opened before the sweep, which would make its runs folder.
  mkdirSync(runs);
  const store = openSweepStore(join(runs, "gradscope.db"));
  const outcome = await runSweep(loadSweep(file), {
    workers: 1,
    onTrialProcess: (job, child) => {
      if (job.attempt > 0) return;
      // Once the first epoch's checkpoint exists, the trial is mid-way: kill it without warning.
      const poll = setInterval(() => {
        const trial = store.trial(job.sweepId, job.trial);
        if (child.exitCode !== null) clearInterval(poll);
        else if (trial.directory && existsSync(join(trial.directory, "checkpoints", LATEST))) {
          clearInterval(poll);
          killed = child.kill("SIGKILL");
        }
      }, 20);
    },
  });
  store.close();
  assert.ok(killed, "the trial's process was killed");
  const [trial] = outcome.trials;
  assert.equal(trial.status, "completed");
  assert.equal(trial.attempts, 2);
  assert.equal(trial.steps, trial.plannedSteps);
  const runStore = new SqliteRunStore(outcome.storePath);
  try {
    const events = runStore.events(trial.runId as string).map((e) => e.kind);
    assert.ok(events.includes("crash") && events.includes("resume"), events.join(", "));
    const losses = runStore.scalars(trial.runId as string, "train/loss");
    assert.deepEqual(
      losses.map((r) => r.step),
      Array.from({ length: trial.plannedSteps as number }, (_, i) => i),
      "one loss per step, every step",
    );
  } finally {
    runStore.close();
  }
});

test("a local sweep's process killed mid-trial: its trial host trains the trial to its end and records it", async () => {
  const runs = join(folder, "orphan");
  const file = writeSweep(
    "orphan.yaml",
    `${tinyBase(runs, 6, 1024)}method: grid\nmetric: { name: val_accuracy, goal: maximize }\nparameters:\n  optimizer.lr: { values: [0.1] }\n`,
  );
  const coordinator = spawn(process.execPath, [bin, "sweep", "-c", file, "--workers", "1", "-q"], { stdio: "ignore" });
  const exited = new Promise((resolve) => coordinator.once("exit", resolve));
  const store = await storeOnceCreated(join(runs, "gradscope.db"));
  try {
    const sweepId = await until("the sweep", () => store.listSweeps()[0]?.id);
    // Its trial has started its run: the sweep's process dies without warning.
    const started = await until("the trial's run", () => store.trials(sweepId).find((t) => t.runId !== null));
    coordinator.kill("SIGKILL");
    await exited;
    const trial = await until("the trial's end", () => store.trials(sweepId).find((t) => t.status !== "running"));
    assert.equal(trial.status, "completed");
    assert.equal(trial.runId, started.runId);
    assert.equal(trial.steps, trial.plannedSteps, "every step trained");
    assert.equal(trial.attempts, 1);
  } finally {
    store.close();
  }
});

test("a local sweep that cannot be set up (its runs folder is a file) fails naming the folder, and leaves none of its trial hosts running", async () => {
  const blocked = join(folder, "blocked-runs");
  writeFileSync(blocked, "not a folder");
  const file = writeSweep(
    "blocked.yaml",
    `base:\n  extends: ${spirals}\n  training: { runs_dir: ${blocked} }\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1] } }\n`,
  );
  const before = children();
  await assert.rejects(runSweep(loadSweep(file), { workers: 2, storePath: join(folder, "blocked.db") }), new RegExp(blocked));
  assert.equal(children().length, before.length);
});

// Each worker's trial host is started with the sweep, so a sweep of fewer trials than workers
// (the default workers are the machine's cores) must not start a Node process per worker.
test("a local sweep starts no more trial hosts than it has trials", async () => {
  const file = writeSweep(
    "one-trial.yaml",
    `base:\n  extends: ${spirals}\n  training: { epochs: 1, runs_dir: ${join(folder, "one-trial-runs")} }\nmethod: grid\nmetric: { name: val_loss, goal: minimize }\nparameters: { optimizer.lr: { values: [0.1] } }\n`,
  );
  // Counted while the one trial trains, when every worker has asked for a trial.
  let hostsWhileTraining = 0;
  const outcome = await runSweep(loadSweep(file), {
    workers: 3,
    storePath: join(folder, "one-trial.db"),
    onTrialProcess: () => {
      hostsWhileTraining = trialHosts().length;
    },
  });
  assert.equal(hostsWhileTraining, 1);
  assert.equal(outcome.status, "completed");
  assert.deepEqual(
    outcome.trials.map((t) => t.status),
    ["completed"],
  );
});
