// The public functions the README shows, called with the wrong kind of argument: each names the
// argument and what it expected, where they failed with a TypeError from deep inside ("Cannot
// read properties of undefined"), or accepted it and went wrong later.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildModel, DataLoader, fashionMnistSample, flattenInputs, Learner, type ModelSpec, normalize, openRunStore, serveDashboard } from "../src/index.ts";

// The public signatures rule these calls out at compile time; JavaScript callers make them.
const untyped = <T>(value: unknown) => value as T;

test("buildModel names a spec that is not a mapping, an mlp's hidden that is not a list of widths, and a bad input shape", () => {
  assert.throws(() => buildModel(untyped<ModelSpec>(null), [784]), /^Error: gradscope: model: expected \{arch, \.\.\.\} or \{layers: \[\.\.\.\]\}, got null$/);
  assert.throws(() => buildModel(untyped<ModelSpec>("mlp"), [784]), /^Error: gradscope: model: expected .*, got "mlp"$/);
  // The string's characters were read as widths 1, 2 and 8.
  assert.throws(
    () => buildModel({ arch: "mlp", hidden: untyped<number[]>("128") }, [784]),
    /^Error: gradscope: model.hidden: expected a list of layer widths \(positive integers\), got "128"$/,
  );
  assert.throws(() => buildModel({ arch: "mlp", hidden: [0] }, [784]), /model.hidden: expected a list of layer widths \(positive integers\), got \[0\]/);
  assert.throws(() => buildModel({ arch: "mlp", hidden: [8] }, [Number.NaN]), /buildModel inputShape: expected one example's shape as positive integers .*, got \[null\]/);
  assert.throws(() => buildModel({ arch: "mlp", hidden: [8] }, untyped<number[]>(784)), /buildModel inputShape: .*got 784/);
});

test("DataLoader and normalize name a missing data set, a batch size that is not a number, and a mean or std that is not a finite number", () => {
  assert.throws(() => new DataLoader(untyped(null), { batchSize: 2 }), /^TypeError: gradscope: DataLoader\(dataset\): expected a Dataset .*, got null$/);
  const { train } = fashionMnistSample();
  assert.throws(() => new DataLoader(train, { batchSize: untyped<number>("64") }), /batch_size must be a positive integer, got "64"/);
  // A string mean made every input NaN.
  assert.throws(() => normalize(untyped<number>("a"), 1), /normalize: mean must be a finite number, got "a"/);
  assert.throws(() => normalize([0.5, Number.NaN], [1, 1]), /normalize: mean must be a finite number, got null/);
  assert.throws(() => normalize(0, Number.POSITIVE_INFINITY), /normalize: std must be a finite number > 0, got null/);
  assert.throws(() => normalize(0, 0), /normalize: std must be a finite number > 0, got 0/);
});

test('openRunStore refuses an empty or non-string location (SQLite made "" a temporary database whose runs vanished)', () => {
  assert.throws(() => openRunStore(""), /^TypeError: gradscope: openRunStore\(location\): expected a SQLite file's path or a postgres:\/\/ URL, got ""$/);
  assert.throws(() => openRunStore(untyped<string>(123)), /openRunStore\(location\): .*got 123/);
});

test("serveDashboard and the Learner name the option that is missing", async () => {
  await assert.rejects(
    serveDashboard(untyped({})),
    /^TypeError: gradscope: serveDashboard: store: expected a SQLite file's path, a postgres:\/\/ URL or an open RunStore, got undefined$/,
  );
  const { model } = buildModel({ arch: "mlp", hidden: [8], classes: 10 }, [784]);
  const { train } = fashionMnistSample();
  const data = { train: new DataLoader(train, { batchSize: 64, transforms: [flattenInputs()] }) };
  const options = {
    model,
    data,
    loss: "cross_entropy" as const,
    optimizer: { name: "sgd", lr: 0.1 },
    store: false as const,
    runsDir: mkdtempSync(join(tmpdir(), "gradscope-api-")),
  };
  assert.throws(() => new Learner(untyped({})), /^TypeError: gradscope: Learner: model: expected a Module \(e.g. buildModel\(...\).model\), got undefined$/);
  assert.throws(() => new Learner({ ...options, data: untyped(undefined) }), /^TypeError: gradscope: Learner: data: expected \{train, validation\?, test\?\}/);
  assert.throws(() => new Learner({ ...options, loss: untyped(undefined) }), /^TypeError: gradscope: Learner: loss: expected a loss name/);
  assert.throws(() => new Learner({ ...options, optimizer: untyped(undefined) }), /^TypeError: gradscope: Learner: optimizer: expected \{name, \.\.\.options\}/);
  // A string "2" was reported as "got 2", which reads as if 2 were refused.
  await assert.rejects(new Learner(options).fit({ epochs: untyped<number>("2") }), /training.epochs must be a positive integer, got "2"$/);
  await assert.rejects(new Learner(options).fit({ epochs: -1 }), /training.epochs must be a positive integer, got -1$/);
  assert.throws(() => model.predict(untyped(null), { batchSize: untyped<number>("8") }), /predict: batchSize must be a positive integer, got "8"$/);
  model.dispose();
});
