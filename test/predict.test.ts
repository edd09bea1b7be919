import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadCsv } from "../src/data/csv.ts";
import { noGrad } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { softmax } from "../src/engine/ops/softmax.ts";
import { sigmoid } from "../src/engine/ops/unary.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount } from "../src/engine/tensor.ts";
import { Sequential } from "../src/nn/containers.ts";
import { buildModel, type ModelSpec } from "../src/nn/spec.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { assertClose, randomValues } from "./helpers.ts";

// Batch norm and dropout make train-mode and eval-mode outputs differ, so a predict that ran in
// train mode would not match the eval-mode forward pass.
const convNet = () =>
  buildModel(
    {
      layers: [
        { type: "conv2d", out_channels: 3, kernel_size: 3 },
        { type: "batchnorm2d" },
        { type: "relu" },
        { type: "dropout", p: 0.5 },
        { type: "flatten" },
        { type: "linear", out: 4 },
      ],
    },
    [1, 6, 6],
    3,
  ).model;

const examples = (count: number) => tensor(randomValues(count * 36, 11), [count, 1, 6, 6]);

// The eval-mode forward pass over the whole input at once, as a plain array.
const evalForward = (model: Sequential, count: number): number[] =>
  scope(() => {
    model.eval();
    const values = noGrad(() => model.forward(examples(count)).toArray());
    model.train();
    return values;
  });

test("model.predict gives the eval-mode forward pass's outputs, in one batch and in several", () => {
  const model = convNet();
  const expected = evalForward(model, 10);
  for (const batchSize of [256, 10, 4, 1]) {
    const predictions = scope(() => {
      const output = model.predict(examples(10), { batchSize });
      return { shape: [...output.shape], values: output.toArray() };
    });
    assert.deepEqual(predictions.shape, [10, 4], `batchSize ${batchSize}`);
    assert.deepEqual(predictions.values, expected, `batchSize ${batchSize}`);
  }
  const trainMode = scope(() => noGrad(() => model.forward(examples(10)).toArray()));
  assert.notDeepEqual(trainMode, expected, "train mode differs (dropout, batch statistics), so the test can tell the modes apart");
  model.dispose();
});

test("model.predict restores each module's mode, records no graph, and leaks no tensor", () => {
  const model = convNet();
  const inputs = examples(7);
  // A frozen batch norm inside a training model keeps its eval mode afterwards.
  const [, batchNorm] = model.children()[1];
  batchNorm.eval();
  const before = liveTensorCount();
  const output = model.predict(inputs, { batchSize: 3 });
  assert.equal(liveTensorCount(), before + 1, "only the returned tensor stays alive");
  assert.equal(output.requiresGrad, false);
  assert.equal(output.node, null);
  assert.deepEqual(
    model.namedModules().map(([name, module]) => [name, module.training]),
    model.namedModules().map(([name, module]) => [name, module !== batchNorm]),
  );
  output.dispose();
  assert.equal(liveTensorCount(), before);
  model.eval();
  model.predict(inputs).dispose();
  assert.ok(
    model.namedModules().every(([, module]) => !module.training),
    "a model in eval mode stays in eval mode",
  );
  inputs.dispose();
  model.dispose();
});

test("model.predict's result belongs to the caller's scope, and a pass-through model returns a copy", () => {
  const model = convNet();
  const before = liveTensorCount();
  scope(() => {
    model.predict(examples(5), { batchSize: 2 });
  });
  assert.equal(liveTensorCount(), before, "the enclosing scope frees the predictions");
  const identity = new Sequential([]);
  const inputs = examples(2);
  const copy = identity.predict(inputs);
  assert.notEqual(copy, inputs);
  inputs.dispose();
  assert.deepEqual(copy.shape, [2, 1, 6, 6]);
  assert.equal(copy.disposed, false);
  copy.dispose();
  model.dispose();
});

test("model.predict refuses a bad batch size and inputs without a batch dimension", () => {
  const model = convNet();
  const inputs = examples(2);
  assert.throws(() => model.predict(inputs, { batchSize: 0 }), /predict: batchSize must be a positive integer, got 0/);
  assert.throws(() => model.predict(inputs, { batchSize: 2.5 }), /predict: batchSize must be a positive integer, got 2.5/);
  const scalar = tensor([1], []);
  assert.throws(() => model.predict(scalar), /predict: inputs need a batch dimension/);
  assert.ok(model.training, "a refused call leaves the mode alone");
  for (const t of [inputs, scalar]) t.dispose();
  model.dispose();
});

// The CLI as users run it: bin/gradscope.js on the compiled dist/ (npm test builds it first).
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "gradscope-predict-"));
const file = (name: string, contents: string | Uint8Array) => {
  const path = join(folder, name);
  writeFileSync(path, contents);
  return path;
};
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder });

test("loadCsv with an expected feature count reads files with and without the label column", () => {
  const unlabeled = loadCsv(file("reader-unlabeled.csv", "a,b\n1,2\n3,4\n"), { classes: 3, features: 2 });
  assert.deepEqual([...unlabeled.inputs], [1, 2, 3, 4]);
  assert.deepEqual([...unlabeled.targets], [0, 0]);
  const labeled = loadCsv(file("reader-labeled.csv", "y,a,b\n2,1,2\n1,3,4\n"), { label: "y", classes: 3, features: 2 });
  assert.deepEqual([...labeled.inputs], [1, 2, 3, 4]);
  assert.deepEqual([...labeled.targets], [2, 1]);
  assert.throws(
    () => loadCsv(file("wide.csv", "a,b,c,d\n1,2,3,4\n"), { classes: 3, features: 2 }),
    /wide\.csv has 4 columns \(a, b, c, d\); expected 2 features, with or without the label column/,
  );
  assert.throws(() => loadCsv(file("named.csv", "a,b,c\n1,2,3\n"), { label: "y", classes: 3, features: 2 }), /named\.csv has no column "y"/);
});

// Trains `config` for its epochs in its own runs folder; returns the final checkpoint's path.
function train(config: string, runs: string): string {
  const result = run(["train", "-q", "-c", config, `training.runs_dir=${runs}`]);
  assert.equal(result.status, 0, result.stderr);
  const [directory] = readdirSync(join(folder, runs));
  return join(folder, runs, directory, "checkpoints", "latest.gsckpt");
}

interface PredictionFile {
  header: string[];
  rows: number[][];
}

function readPredictions(path: string): PredictionFile {
  const [header, ...lines] = readFileSync(path, "utf8").trimEnd().split("\n");
  return { header: header.split(","), rows: lines.map((line) => line.split(",").map(Number)) };
}

// The classes and probabilities columns of a classification file, after checking the rows' shape.
function checkClassification(predictions: PredictionFile, count: number, classes: number): number[][] {
  assert.deepEqual(predictions.header, ["index", "class", ...Array.from({ length: classes }, (_, k) => `p_${k}`)]);
  assert.equal(predictions.rows.length, count);
  return predictions.rows.map(([index, predicted, ...probabilities], i) => {
    assert.equal(index, i);
    const sum = probabilities.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i}: probabilities sum to ${sum}`);
    assert.ok(
      probabilities.every((p) => p >= 0 && p <= 1),
      `row ${i}: ${probabilities}`,
    );
    assert.equal(predicted, probabilities.indexOf(Math.max(...probabilities)), `row ${i}: the class is the argmax`);
    return probabilities;
  });
}

// The outputs of the checkpoint's model, computed in this process, as float32 values.
function checkpointOutputs(checkpoint: string, spec: ModelSpec, inputShape: number[], inputs: number[], count: number): number[] {
  const { model } = buildModel(spec, inputShape, 0);
  const weights = loadCheckpoint(checkpoint).model;
  model.loadStateDict(Object.fromEntries(Object.entries(weights).map(([name, entry]) => [name, { shape: entry.shape, data: Array.from(entry.data) }])));
  const outputs = scope(() => model.predict(tensor(inputs, [count, ...inputShape])).toArray());
  model.dispose();
  return outputs;
}

const spiralsModel: ModelSpec = { arch: "mlp", hidden: [16], activation: "tanh", classes: 2 };
const spiralsConfig = file(
  "spirals.yaml",
  `name: spirals
seed: 2
model: { arch: mlp, hidden: [16], activation: tanh, classes: 2 }
data: { source: spirals, samples: 400, batch_size: 20 }
training: { epochs: 1 }
optimizer: { name: sgd, lr: 0.2, momentum: 0.5 }
store: { enabled: false }
`,
);
const spiralsCheckpoint = train(spiralsConfig, "spirals-runs");
const points = [0.1, 0.2, -0.5, 0.3, 0.9, -0.7];

test("gradscope predict writes the class and the probabilities of every test example", () => {
  const result = run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", "test-set.csv"]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /wrote 80 predictions of spirals .* to test-set\.csv/);
  const probabilities = checkClassification(readPredictions(join(folder, "test-set.csv")), 80, 2);
  assert.ok(new Set(probabilities.map((p) => p[1] > 0.5)).size === 2, "a trained model predicts both classes");
  assert.deepEqual(
    readdirSync(folder).filter((name) => name.includes(".tmp")),
    [],
    "no temporary file is left",
  );
});

test("gradscope predict reads a CSV with or without the label column, and its probabilities are the model's softmax", () => {
  const expected = scope(() => softmax(tensor(checkpointOutputs(spiralsCheckpoint, spiralsModel, [2], points, 3), [3, 2])).toArray());
  const unlabeled = file("unlabeled.csv", `x,y\n${points[0]},${points[1]}\n${points[2]},${points[3]}\n${points[4]},${points[5]}\n`);
  const labeled = file("labeled.csv", `x,y,label\n${points[0]},${points[1]},1\n${points[2]},${points[3]},0\n${points[4]},${points[5]},1\n`);
  for (const input of [unlabeled, labeled]) {
    const result = run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--input", input, "--out", "csv-input.csv"]);
    assert.equal(result.status, 0, result.stderr);
    const probabilities = checkClassification(readPredictions(join(folder, "csv-input.csv")), 3, 2);
    // Each value is written as the shortest decimal of its float32, so it reads back exactly.
    assert.deepEqual(probabilities.flat().map(Math.fround), expected, input);
  }
});

test("gradscope predict writes values for regression and a sigmoid for one bce_with_logits logit", () => {
  const regression = file(
    "regression.yaml",
    `seed: 4
model: { arch: mlp, hidden: [8], classes: 1 }
data: { source: regression, samples: 100, dims: 2 }
training: { epochs: 1, loss: mse, metrics: [] }
optimizer: { name: sgd, lr: 0.05 }
store: { enabled: false }
`,
  );
  const regressionCheckpoint = train(regression, "regression-runs");
  const input = file("regression-input.csv", `a,b\n${points[0]},${points[1]}\n${points[2]},${points[3]}\n${points[4]},${points[5]}\n`);
  let result = run(["predict", "-c", regression, "--checkpoint", regressionCheckpoint, "--input", input, "--out", "values.csv"]);
  assert.equal(result.status, 0, result.stderr);
  const values = readPredictions(join(folder, "values.csv"));
  assert.deepEqual(values.header, ["index", "value_0"]);
  assert.deepEqual(
    values.rows.map((row) => Math.fround(row[1])),
    checkpointOutputs(regressionCheckpoint, { arch: "mlp", hidden: [8], classes: 1 }, [2], points, 3),
  );

  const binary = file("binary.yaml", `extends: spirals.yaml\nmodel: { arch: mlp, hidden: [16], activation: tanh, classes: 1 }\ntraining: { loss: bce_with_logits, metrics: [] }\n`);
  const binaryCheckpoint = train(binary, "binary-runs");
  result = run(["predict", "-c", binary, "--checkpoint", binaryCheckpoint, "--input", input, "--out", "binary.csv"]);
  assert.equal(result.status, 0, result.stderr);
  const probabilities = checkClassification(readPredictions(join(folder, "binary.csv")), 3, 2);
  const logits = checkpointOutputs(binaryCheckpoint, { ...spiralsModel, classes: 1 }, [2], points, 3);
  const expected = scope(() => sigmoid(tensor(logits)).toArray());
  assert.deepEqual(
    probabilities.map((p) => Math.fround(p[1])),
    expected,
  );
  assert.deepEqual(
    readPredictions(join(folder, "binary.csv")).rows.map((row) => row[1]),
    logits.map((logit) => (logit > 0 ? 1 : 0)),
  );
});

// An IDX file of unsigned-byte images [count, height, width].
function idxImages(count: number, height: number, width: number, seed: number): Uint8Array {
  const header = [0, 0, 8, 3, ...[count, height, width].flatMap((n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])];
  const pixels = randomValues(count * height * width, seed).map((v) => Math.min(255, Math.max(0, Math.round(128 + 60 * v))));
  return Uint8Array.from([...header, ...pixels]);
}

const idxLabels = (count: number) => Uint8Array.from([0, 0, 8, 1, 0, 0, 0, count, ...Array.from({ length: count }, (_, i) => i % 2)]);

test("gradscope predict reads an IDX images file through the config's transforms", () => {
  file("train-images", idxImages(40, 4, 4, 1));
  file("train-labels", idxLabels(40));
  file("test-images", idxImages(10, 4, 4, 2));
  file("test-labels", idxLabels(10));
  const images = file(
    "images.yaml",
    `seed: 5
model: { layers: [{ type: linear, out: 2 }] }
data:
  source: idx
  path: ${folder}
  classes: 2
  train_images: train-images
  train_labels: train-labels
  test_images: test-images
  test_labels: test-labels
  transforms: [{ type: normalize, mean: 0.5, std: 0.25 }, { type: flatten }]
training: { epochs: 1 }
optimizer: { name: sgd, lr: 0.1 }
store: { enabled: false }
`,
  );
  const checkpoint = train(images, "images-runs");
  const result = run(["predict", "-c", images, "--checkpoint", checkpoint, "--input", "test-images", "--out", "images.csv"]);
  assert.equal(result.status, 0, result.stderr);
  const probabilities = checkClassification(readPredictions(join(folder, "images.csv")), 10, 2);
  const pixels = Array.from(idxImages(10, 4, 4, 2).subarray(16), (byte) => (byte / 255 - 0.5) / 0.25);
  const expected = scope(() => softmax(tensor(checkpointOutputs(checkpoint, { layers: [{ type: "linear", out: 2 }] }, [16], pixels, 10), [10, 2])).toArray());
  // Normalizing in float32 here and in the CLI may round differently in the last place.
  assertClose(probabilities.flat(), expected, 0, 1e-6, "probabilities");

  const wrongSize = file("large-images", idxImages(3, 5, 5, 3));
  const refused = run(["predict", "-c", images, "--checkpoint", checkpoint, "--input", wrongSize, "--out", "images.csv"]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /--input .*large-images: its examples are \[1, 5, 5\] \(\[25\] after the config's transforms\), but the model takes \[16\]/);
  assert.deepEqual(readPredictions(join(folder, "images.csv")).rows.length, 10, "the earlier predictions file is untouched");
});

test("gradscope predict refuses bad arguments with exit code 2, naming them, and leaves an existing output alone", () => {
  const previous = file("previous.csv", "index,class,p_0,p_1\n0,1,0.25,0.75\n");
  const predict = (...args: string[]) => run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", previous, ...args]);
  const narrow = file("narrow.csv", "x\n0.5\n");
  const cases: Array<[string[], RegExp]> = [
    [["--input", "missing.csv"], /--input missing\.csv: does not exist/],
    [["--input", narrow], /--input .*narrow\.csv: CSV file .*narrow\.csv has 1 columns \(x\); expected 2 features, with or without the label column/],
    [["--input", spiralsConfig], /--input .*spirals\.yaml: IDX file .*spirals\.yaml has a bad magic number/],
    [["model.hidden=[8]"], /checkpoint .*latest\.gsckpt does not fit what the config describes: loadStateDict: 0\.weight has shape \[16, 2\], the model expects \[8, 2\]/],
    [["--checkpoint", "nowhere.gsckpt"], /--checkpoint nowhere\.gsckpt: does not exist/],
    [["--out", "missing-folder/out.csv"], /--out missing-folder\/out\.csv: the folder .*missing-folder does not exist/],
    [["--out", "."], /--out \.: is a folder; expected a file name/],
  ];
  // --out naming the config, the checkpoint or the input replaced it with predictions.
  const configText = readFileSync(spiralsConfig, "utf8");
  const checkpointBytes = readFileSync(spiralsCheckpoint);
  const runPredict = (out: string, ...args: string[]) => run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", out, ...args]);
  const inputs: Array<[string, string[], RegExp]> = [
    [spiralsConfig, [], /--out .*spirals\.yaml: is the -c file .*spirals\.yaml; expected a new file name for the predictions/],
    [spiralsCheckpoint, [], /--out .*latest\.gsckpt: is the --checkpoint file .*latest\.gsckpt; expected a new file name/],
    [previous, ["--input", previous], /--out .*previous\.csv: is the --input file .*previous\.csv; expected a new file name/],
  ];
  for (const [out, args, message] of inputs) {
    const result = runPredict(out, ...args);
    assert.equal(result.status, 2, `--out ${out}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
  assert.equal(readFileSync(spiralsConfig, "utf8"), configText, "the config is untouched");
  assert.deepEqual(readFileSync(spiralsCheckpoint), checkpointBytes, "the checkpoint is untouched");
  for (const [args, message] of cases) {
    const result = predict(...args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
  }
  assert.equal(readFileSync(previous, "utf8"), "index,class,p_0,p_1\n0,1,0.25,0.75\n");
  assert.ok(!existsSync(join(folder, "missing-folder")));
  assert.deepEqual(
    readdirSync(folder).filter((name) => name.includes(".tmp")),
    [],
    "no temporary file is left",
  );
});

test("gradscope predict takes --threads and --backend as eval does, with the same predictions at 1 and 2 threads", () => {
  const outputs = ["1", "2"].map((threads) => {
    const out = `threads-${threads}.csv`;
    const result = run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", out, "--threads", threads, "--backend", "wasm"]);
    assert.equal(result.status, 0, result.stderr);
    return readFileSync(join(folder, out), "utf8");
  });
  assert.equal(outputs[0].trim().split("\n").length, 1 + 80);
  assert.equal(outputs[1], outputs[0]);
});

test("a missing best.gsckpt (the README's example name) gets the checkpoints its folder holds and when a run writes one, from predict and eval", () => {
  const best = join(dirname(spiralsCheckpoint), "best.gsckpt");
  const why = /best\.gsckpt: does not exist \(its folder holds latest\.gsckpt; a run writes best\.gsckpt only when its callbacks\.checkpoint\.monitor is set\)/;
  for (const command of [
    ["predict", "-c", spiralsConfig, "--checkpoint", best, "--out", "best.csv"],
    ["eval", "-c", spiralsConfig, "--checkpoint", best],
  ]) {
    const result = run(command);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, why);
  }
});

test("gradscope eval, which loads its model as predict does, names a checkpoint that does not fit the config", () => {
  const result = run(["eval", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "model.hidden=[8]"]);
  assert.equal(result.status, 2, "an unusable checkpoint is bad input");
  assert.match(result.stderr, /checkpoint .*latest\.gsckpt does not fit what the config describes: loadStateDict: 0\.weight has shape \[16, 2\], the model expects \[8, 2\]/);
});

test("gradscope predict imports --plugin modules first, as eval does, so a config may name their quantities", () => {
  const plugin = file("marker-plugin.mjs", `import { writeFileSync } from "node:fs";\nwriteFileSync(new URL("./plugin-imported", import.meta.url), "yes");\n`);
  const result = run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", "with-plugin.csv", "--plugin", plugin]);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(readFileSync(join(folder, "plugin-imported"), "utf8"), "yes");
  checkClassification(readPredictions(join(folder, "with-plugin.csv")), 80, 2);
  const missing = run(["predict", "-c", spiralsConfig, "--checkpoint", spiralsCheckpoint, "--out", "with-plugin.csv", "--plugin", "nowhere.mjs"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--plugin nowhere\.mjs: file not found/);
});
