import assert from "node:assert/strict";
import { test } from "node:test";
import { noGrad } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount } from "../src/engine/tensor.ts";
import { Sequential } from "../src/nn/containers.ts";
import { buildModel } from "../src/nn/spec.ts";
import { randomValues } from "./helpers.ts";

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
