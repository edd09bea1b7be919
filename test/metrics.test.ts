import assert from "node:assert/strict";
import { test } from "node:test";
import { tensor } from "../src/engine/creation.ts";
import { scope } from "../src/engine/scope.ts";
import { ConfusionMatrix, createMetric, LossTracker, TopKAccuracy } from "../src/metrics/index.ts";

test("top-k breaks ties as scikit-learn does: the higher class index ranks first", () => {
  scope(() => {
    const metric = new TopKAccuracy(4, 1);
    // Row 0: classes 1 and 2 tie; class 2 wins, so target 1 misses and target 2 hits.
    metric.update(tensor([0, 5, 5, 1, 0, 5, 5, 1], [2, 4]), tensor([1, 2], [2], "int32"));
    assert.equal(metric.compute(), 0.5);
    metric.reset();
    assert.equal(metric.compute(), 0);
  });
});

test("the confusion matrix normalizes by rows, columns or the total, and absent classes give 0, not NaN", () => {
  const confusion = new ConfusionMatrix(3);
  confusion.updatePredictions([0, 1, 1, 0], [0, 1, 0, 0]);
  assert.deepEqual(confusion.matrix(), [
    [2, 1, 0],
    [0, 1, 0],
    [0, 0, 0],
  ]);
  assert.deepEqual(confusion.matrix("true"), [
    [2 / 3, 1 / 3, 0],
    [0, 1, 0],
    [0, 0, 0],
  ]);
  assert.deepEqual(confusion.matrix("pred")[0], [1, 0.5, 0]);
  assert.deepEqual(confusion.matrix("all")[0], [0.5, 0.25, 0]);
  assert.equal(confusion.accuracy(), 0.75);
  assert.deepEqual(confusion.perClassAccuracy(), [2 / 3, 1, 0]);
});

test("metrics validate their input and the registry names what it knows", () => {
  scope(() => {
    const metric = createMetric("accuracy", 3);
    assert.throws(() => metric.update(tensor([1, 2], [1, 2]), tensor([0], [1], "int32")), /accuracy: scores must be \[N, 3\], got \[1, 2\]/);
    assert.throws(() => metric.update(tensor([1, 2, 3], [1, 3]), tensor([3], [1], "int32")), /target 3 is not a class in \[0, 3\)/);
    assert.throws(() => createMetric("acuracy", 3), /did you mean "accuracy"/);
    assert.throws(() => createMetric("f1", 3, { averaging: "macro" }), /metric f1: unknown option "averaging"/);
    const f1 = createMetric("f1", 3, { average: "none" });
    f1.update(tensor([1, 0, 0, 0, 1, 0], [2, 3]), tensor([0, 0], [2], "int32"));
    assert.deepEqual(f1.compute(), [2 / 3, 0, 0]);
  });
});

test("the loss tracker keeps running and windowed means, min, max and count, and ignores NaN in the means", () => {
  const tracker = new LossTracker(2);
  for (const v of [4, 2, Number.NaN, 6]) tracker.update(v);
  assert.deepEqual(tracker.compute(), { mean: 4, windowMean: 4, min: 2, max: 6, count: 4, last: 6 });
  tracker.update(1, 3);
  assert.equal(tracker.compute().mean, (4 + 2 + 6 + 3) / 6);
  assert.equal(tracker.compute().windowMean, 3.5);
  tracker.reset();
  assert.ok(Number.isNaN(tracker.compute().mean));
});
