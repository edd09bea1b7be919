import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DataLoader } from "../src/data/loader.ts";
import { blobs } from "../src/data/synthetic.ts";
import { tensor } from "../src/engine/creation.ts";
import { mul, sub } from "../src/engine/ops/binary.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { sum } from "../src/engine/ops/reduce.ts";
import { softmax } from "../src/engine/ops/softmax.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount, type Tensor } from "../src/engine/tensor.ts";
import { Tanh } from "../src/nn/activations.ts";
import { Sequential } from "../src/nn/containers.ts";
import { Linear } from "../src/nn/layers.ts";
import { createOptimizer } from "../src/optim/registry.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import type { Callback } from "../src/train/callback.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import type { PerSampleLoss } from "../src/train/customLoss.ts";
import { Learner, type LearnerOptions } from "../src/train/learner.ts";
import type { TrainingLoss } from "../src/train/losses.ts";
import { Trainer } from "../src/train/trainer.ts";
import { assertClose } from "./helpers.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-learner-"));

// A model of the user's own: modules put together by hand, initialized from a fixed seed.
const userModel = (seed = 3) => {
  const random = new Random(seed);
  return new Sequential([new Linear(2, 12, { random }), Tanh(), new Linear(12, 2, { random })]);
};

const data = blobs(240, 2, 2, 1, 7);
const arrays = { inputs: data.inputs, targets: data.targets as Int32Array, inputShape: [2] };

// The Brier score Σ_c (softmax(z)_c − [c = y])² per sample, from engine ops: a loss no name covers.
const brier: PerSampleLoss = (output, target) => {
  const [n, classes] = output.shape;
  const oneHot = new Float32Array(n * classes);
  target.ints.forEach((label, i) => {
    oneHot[i * classes + label] = 1;
  });
  const difference = sub(softmax(output), tensor(oneHot, [n, classes]));
  return sum(mul(difference, difference), 1);
};

// Cross-entropy's output Hessian diag(p) − ppᵀ as the columns √p_k (e_k − p).
const crossEntropyCurvature = (output: Tensor): Tensor[] => {
  const [n, classes] = output.shape;
  const p = softmax(output).data.slice();
  return Array.from({ length: classes }, (_, k) => {
    const column = new Float32Array(n * classes);
    for (let i = 0; i < n; i++) {
      const root = Math.sqrt(p[i * classes + k]);
      for (let c = 0; c < classes; c++) column[i * classes + c] = root * ((c === k ? 1 : 0) - p[i * classes + c]);
    }
    return tensor(column, [n, classes]);
  });
};

const weights = (model: Sequential) => model.parameters().map((p) => p.data.slice());

let runs = 0;
const options = (overrides: Partial<LearnerOptions> = {}): LearnerOptions => ({
  model: userModel(),
  data: { train: arrays },
  loss: brier,
  optimizer: { name: "sgd", lr: 0.5 },
  batchSize: 24,
  seed: 1,
  runsDir: join(folder, `runs-${runs++}`),
  ...overrides,
});

test("a Trainer takes a per-sample loss function: a custom cross-entropy trains to the built-in one's weights", async () => {
  const trained = async (loss: TrainingLoss) => {
    const model = userModel();
    const trainer = new Trainer({ model, optimizer: createOptimizer("sgd", model.parameters(), { lr: 0.5 }), loss, epochs: 2 });
    const before = liveTensorCount();
    const result = await trainer.fit(new DataLoader(data, { batchSize: 24, shuffle: true, seed: 1 }));
    assert.equal(result.status, "completed");
    return { weights: weights(model), allocated: liveTensorCount() - before };
  };
  const builtIn = await trained({ name: "cross_entropy" });
  const custom = await trained((output, target) => crossEntropy(output, target));
  builtIn.weights.forEach((w, k) => {
    assert.deepEqual(custom.weights[k], w, `parameter ${k}`);
  });
  assert.equal(custom.allocated, builtIn.allocated, "the custom loss's graph is freed with each step's");
});

test("the Learner trains a user model with a custom per-sample loss and economy quantities, recording the run as the CLI does", async () => {
  const settings = options({
    data: { train: arrays, test: arrays },
    quantities: ["economy"],
    metrics: ["accuracy"],
    scheduler: { name: "cosine", t_max: 3 },
    dashboard: true,
    name: "brier blobs",
  });
  const messages: string[] = [];
  const learner = new Learner({ ...settings, log: (message) => messages.push(message) });
  const result = await learner.fit({ epochs: 3 });
  assert.equal(result.status, "completed");
  assert.match(result.directory, /brier-blobs-\d{8}-\d{6}$/);
  assert.match(result.dashboardUrl ?? "", /^http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok(messages.includes(`dashboard: ${result.dashboardUrl}`));
  assert.ok(result.metrics.test_accuracy > 0.9, `test accuracy ${result.metrics.test_accuracy}`);
  assert.ok(result.metrics.loss < result.history[0].loss, "the loss falls");
  // Cosine annealing over 3 epochs: lr·(1 + cos(πe/3))/2 for e = 0, 1, 2.
  assertClose(
    result.history.map((epoch) => epoch.lr),
    [0.5, 0.375, 0.125],
    1e-12,
    0,
    "the lr of each epoch",
  );
  for (const file of ["config.yaml", "summary.json", "metrics.csv", "log.jsonl", "quantities.jsonl", "checkpoints/latest.gsckpt"])
    assert.ok(existsSync(join(result.directory, file)), file);
  assert.equal(JSON.parse(readFileSync(join(result.directory, "summary.json"), "utf8")).status, "completed");
  const store = new SqliteRunStore(join(settings.runsDir as string, "gradscope.db"));
  try {
    const run = store.getRun(result.runId);
    assert.equal(run.status, "completed");
    assert.equal((run.config as { training: { loss: string } }).training.loss, "custom");
    const keys = store.keys(result.runId);
    for (const name of ["Alpha", "Distance", "GradNorm", "InnerTest", "Loss", "NormTest", "OrthoTest", "UpdateSize"]) {
      assert.ok([...keys.scalars, ...keys.lists].includes(`quantities/${name}`), `quantities/${name} in ${[...keys.scalars, ...keys.lists]}`);
    }
    assert.ok(keys.histograms.includes("quantities/GradHist1d"));
    // 10 batches an epoch, 3 epochs: one NormTest per step, each finite.
    const normTests = store.scalars(result.runId, "quantities/NormTest");
    assert.equal(normTests.length, 30);
    assert.ok(normTests.every((row) => Number.isFinite(row.value)));
    assert.deepEqual(
      store.events(result.runId).map((e) => e.kind),
      ["start"],
    );
  } finally {
    store.close();
  }
});

test("a curvature quantity with a custom loss refuses without lossCurvature, naming itself and what to supply; other mistakes refuse at construction too", () => {
  for (const [quantities, name] of [
    [["hess_trace"], "HessTrace"],
    [["business"], "TICDiag"],
    [["economy", "hess_max_ev"], "HessMaxEV"],
  ] as const) {
    assert.throws(
      () => new Learner(options({ quantities: [...quantities] })),
      new RegExp(`^Error: gradscope: ${name} needs the loss's curvature: pass lossCurvature to the Learner, or use a built-in loss$`),
    );
  }
  assert.throws(() => new Learner(options({ loss: "cross_entropy", lossCurvature: crossEntropyCurvature })), /lossCurvature is for a custom loss/);
  assert.throws(() => new Learner(options({ quantities: ["grad_nrom"] })), /unknown quantity or configuration "grad_nrom" \(did you mean "grad_norm"\?\)/);
  // The configurations are names too: a misspelt one is matched, and listed among the known.
  assert.throws(
    () => new Learner(options({ quantities: ["economi"] })),
    /unknown quantity or configuration "economi" \(did you mean "economy"\?\); known: economy, business, full, loss, /,
  );
  assert.throws(() => new Learner(options({ loss: "mse", metrics: ["accuracy"] })), /metric accuracy scores classification, but the mse loss trains regression/);
  // A model for other inputs is refused here, not at the first step of a run already created;
  // the probe frees what it made and leaves the model in its mode.
  const wide = options({ model: new Linear(3, 2) });
  const before = liveTensorCount();
  assert.throws(
    () => new Learner(wide),
    /^Error: gradscope: Learner: the model cannot take the training examples, \[2\] each: linear: input \[1, 2\], weight \[2, 3\], bias \[2\]: expected input \[N, \*, 3\] and bias \[2\]$/,
  );
  assert.equal(existsSync(wide.runsDir as string), false);
  assert.equal(liveTensorCount(), before);
  const model = userModel();
  new Learner(options({ model }));
  assert.equal(model.training, true);
});

test("with lossCurvature, a custom cross-entropy gives the built-in one's HessTrace, TICDiag and HessMaxEV", async () => {
  const quantities = ["hess_trace", "tic_diag", "hess_max_ev"];
  const recorded = async (overrides: Partial<LearnerOptions>) => {
    const settings = options({ quantities, trackEvery: 4, ...overrides });
    const result = await new Learner(settings).fit({ epochs: 1 });
    assert.equal(result.status, "completed");
    const store = new SqliteRunStore(join(settings.runsDir as string, "gradscope.db"));
    try {
      return {
        trace: store.lists(result.runId, "quantities/HessTrace").map((row) => row.value),
        tic: store.scalars(result.runId, "quantities/TICDiag").map((row) => row.value as number),
        maxEigenvalue: store.scalars(result.runId, "quantities/HessMaxEV").map((row) => row.value as number),
      };
    } finally {
      store.close();
    }
  };
  const builtIn = await recorded({ loss: "cross_entropy" });
  const custom = await recorded({ loss: (output, target) => crossEntropy(output, target), lossCurvature: crossEntropyCurvature });
  assert.equal(builtIn.trace.length, 3);
  for (const [k, trace] of builtIn.trace.entries()) assertClose(custom.trace[k], trace, 1e-4, 1e-7, `HessTrace at step ${4 * k}`);
  assertClose(custom.tic, builtIn.tic, 1e-4, 1e-7, "TICDiag");
  assertClose(custom.maxEigenvalue, builtIn.maxEigenvalue, 1e-3, 1e-6, "HessMaxEV");
});

test("requestStop interrupts a Learner's run with a checkpoint; resuming it ends with the weights of an uninterrupted run", async () => {
  const straight = new Learner(options({ quantities: ["grad_norm", "norm_test"] }));
  assert.equal((await straight.fit({ epochs: 3 })).status, "completed");
  const expected = weights(straight.model as Sequential);

  const listeners = process.listenerCount("SIGINT");
  let learner: Learner | null = null;
  let listening = 0;
  const stopAt: Callback = {
    name: "stop_at",
    onBatchEnd: (_trainer, logs) => {
      listening = process.listenerCount("SIGINT");
      if (logs.step === 14) learner?.requestStop();
    },
  };
  const settings = options({ quantities: ["grad_norm", "norm_test"], callbacks: [stopAt] });
  learner = new Learner(settings);
  const stopped = await learner.fit({ epochs: 3, signals: true });
  assert.equal(stopped.status, "interrupted");
  assert.equal(listening, listeners + 1, "fit({ signals: true }) handles SIGINT while it trains");
  assert.equal(process.listenerCount("SIGINT"), listeners, "and removes its handler afterwards");
  assert.deepEqual(loadCheckpoint(join(stopped.directory, "checkpoints", "latest.gsckpt")).trainer.position, { epoch: 1, batch: 5, step: 15 });
  const storePath = join(settings.runsDir as string, "gradscope.db");
  const store = new SqliteRunStore(storePath);
  assert.equal(store.getRun(stopped.runId).status, "interrupted");
  store.close();

  const resumed = Learner.resume(stopped.directory, options({ quantities: ["grad_norm", "norm_test"], runsDir: undefined }));
  const result = await resumed.fit({ epochs: 3 });
  assert.equal(result.status, "completed");
  assert.equal(result.directory, stopped.directory);
  weights(resumed.learner.model as Sequential).forEach((w, k) => {
    assert.deepEqual(w, expected[k], `parameter ${k}`);
  });
  const after = new SqliteRunStore(storePath);
  try {
    assert.equal(after.getRun(stopped.runId).status, "completed");
    assert.deepEqual(
      after.events(stopped.runId).map((e) => e.kind),
      ["start", "stop", "resume"],
    );
    assert.equal(after.scalars(stopped.runId, "quantities/NormTest").length, 30, "one NormTest per step across the interruption");
  } finally {
    after.close();
  }
});

test("a Learner's fit that cannot start (a busy dashboard port) rejects and creates no runs folder and no store file, or in an existing store no run directory and no row", async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const port = (busy.address() as AddressInfo).port;
  const settings = options({ dashboard: { port } });
  const runsDir = settings.runsDir as string;
  const busyPort = new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`);
  try {
    await assert.rejects(new Learner(settings).fit({ epochs: 1 }), busyPort);
    assert.equal(existsSync(runsDir), false, "a new store: no runs folder, no store file");
    mkdirSync(runsDir);
    new SqliteRunStore(join(runsDir, "gradscope.db")).close();
    await assert.rejects(new Learner(settings).fit({ epochs: 1 }), busyPort);
  } finally {
    busy.close();
  }
  assert.deepEqual(
    readdirSync(runsDir).filter((name) => statSync(join(runsDir, name)).isDirectory()),
    [],
  );
  const store = new SqliteRunStore(join(runsDir, "gradscope.db"));
  assert.deepEqual(store.listRuns(), []);
  store.close();
});

test("a Learner's fit mistake that only building the run finds (epochs: 0, two callbacks of one name) rejects leaving no runs folder and no store file, nor leaking the tracker; a store in a missing folder, or a resume into a store that does not exist, is refused, naming it", async () => {
  const named = (name: string): Callback => ({ name });
  const cases: Array<[string, LearnerOptions, number, RegExp]> = [
    ["epochs: 0", options({ quantities: ["economy"] }), 0, /training\.epochs must be a positive integer, got 0/],
    ["two callbacks of one name", options({ callbacks: [named("mine"), named("mine")] }), 1, /two callbacks are named "mine"/],
  ];
  for (const [what, settings, epochs, message] of cases) {
    const learner = new Learner(settings);
    const before = liveTensorCount();
    await assert.rejects(learner.fit({ epochs }), message, what);
    assert.equal(liveTensorCount(), before, `${what}: no tensor leaked`);
    assert.equal(existsSync(settings.runsDir as string), false, `${what}: no runs folder, no store file`);
  }
  const missing = join(folder, "no-such-folder");
  const settings = options({ store: join(missing, "x.db") });
  await assert.rejects(
    new Learner(settings).fit({ epochs: 1 }),
    new RegExp(`cannot open the run store ${missing}/x\\.db: the folder ${missing} does not exist; expected the path of a store file in an existing folder`),
  );
  assert.equal(existsSync(missing), false, "the store's folder was not made");
  assert.equal(existsSync(settings.runsDir as string), false, "nor the runs folder");
  // A resume into a store that does not exist: its run cannot be there, and no store file is made.
  const absent = join(folder, "absent.db");
  await assert.rejects(
    Learner.resume(join(folder, "gone", "learner-1"), options({ store: absent })).fit({ epochs: 1 }),
    new RegExp(`run learner-1 is not in the run store ${absent}: there is no such file`),
  );
  assert.equal(existsSync(absent), false, "no store file was made for the resume");
});

test("dashboard: { keepOpen: true } serves the finished run until closeDashboard", async () => {
  const learner = new Learner(options({ dashboard: { keepOpen: true } }));
  const result = await learner.fit({ epochs: 1 });
  const url = result.dashboardUrl as string;
  try {
    const page = await fetch(new URL("/api/runs", url));
    assert.equal(page.status, 200);
    assert.deepEqual(
      ((await page.json()) as { runs: Array<{ id: string }> }).runs.map((run) => run.id),
      [result.runId],
    );
  } finally {
    await learner.closeDashboard();
  }
  await assert.rejects(fetch(new URL("/api/runs", url)));
});

test("array data: one array per example and float targets make a regression split, scored by the mse loss's metrics", async () => {
  const inputs = Array.from({ length: 64 }, (_, i) => [i / 64, (i % 8) / 8]);
  const targets = inputs.map(([x, z]) => [2 * x - z]);
  const random = new Random(1);
  const model = new Sequential([new Linear(2, 1, { random })]);
  const learner = new Learner(
    options({ model, data: { train: { inputs, targets }, validation: { inputs, targets } }, loss: "mse", optimizer: { name: "sgd", lr: 0.5 }, store: false }),
  );
  const fitting = learner.fit({ epochs: 40 });
  await assert.rejects(learner.fit({ epochs: 1 }), /this Learner is already fitting; await its fit first/);
  const result = await fitting;
  assert.equal(result.status, "completed");
  assert.ok(result.metrics.val_r2 > 0.99, `val_r2 ${result.metrics.val_r2}`);
  assert.ok(Math.abs(result.metrics.val_mse - result.metrics.val_loss) <= 1e-6 * result.metrics.val_loss);
  assert.throws(() => new Learner(options({ data: { train: { inputs: new Float32Array(4), targets: [0, 1] } } })), /Learner data\.train: flat inputs need inputShape/);
});

test("learner.predict gives the model's eval-mode outputs for a loader or arrays, in the data set's order, leaking nothing", async () => {
  const inputs = Array.from({ length: 37 }, (_, i) => [Math.sin(i), Math.cos(3 * i)]);
  const targets = inputs.map(([x]) => (x > 0 ? 1 : 0));
  const random = new Random(2);
  const model = new Sequential([new Linear(2, 4, { random }), Tanh(), new Linear(4, 2, { random })]);
  const learner = new Learner(options({ model, data: { train: { inputs, targets } }, loss: "cross_entropy", optimizer: { name: "sgd", lr: 0.1 }, store: false, batchSize: 8 }));
  await learner.fit({ epochs: 2 });
  const before = liveTensorCount();
  const expected = scope(() => model.predict(tensor(inputs.flat(), [37, 2])));
  const fromArrays = learner.predict({ inputs, targets });
  // A shuffling loader still predicts in the data set's order.
  const dataset = blobs(23, 2, 2, 1, 0);
  const fromLoader = learner.predict(new DataLoader(dataset, { batchSize: 5, shuffle: true, seed: 9 }));
  const everyIndex = Int32Array.from({ length: dataset.length }, (_, i) => i);
  const direct = scope(() => model.predict(tensor(dataset.batch(everyIndex).inputs, [dataset.length, 2])));
  assert.deepEqual(fromArrays.shape, [37, 2]);
  assert.deepEqual([...fromArrays.data], [...expected.data]);
  assert.deepEqual([...fromLoader.data], [...direct.data]);
  for (const t of [expected, fromArrays, fromLoader, direct]) t.dispose();
  assert.equal(liveTensorCount(), before, "no tensor left behind");
});
