import assert from "node:assert/strict";
import { test } from "node:test";
import { tensor } from "../src/engine/creation.ts";
import { scope } from "../src/engine/scope.ts";
import { Accuracy, ConfusionMatrix, confusionTable, createMetric, LossTracker, metricTask, R2Score, RegressionError, TopKAccuracy } from "../src/metrics/index.ts";
import { randomValues } from "./helpers.ts";

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

test("NaN scores are never a hit for accuracy and top-k accuracy", () => {
  scope(() => {
    const targets = tensor([0, 1, 2], [3], "int32");
    const allNaN = tensor(new Array(9).fill(Number.NaN), [3, 3]);
    for (const metric of [new TopKAccuracy(3, 1), new TopKAccuracy(3, 3), new Accuracy(3)]) {
      metric.update(allNaN, targets);
      assert.equal(metric.compute(), 0, `${metric.name} on all-NaN scores`);
    }
    // A NaN target score misses; a NaN elsewhere ranks behind the numbers.
    const mixed = tensor([Number.NaN, 1, 2, 1, Number.NaN, 0, 3, 2, 1], [3, 3]);
    const top2 = new TopKAccuracy(3, 2);
    top2.update(mixed, tensor([0, 0, 0], [3], "int32"));
    assert.equal(top2.compute(), 2 / 3);
    const accuracy = new Accuracy(3);
    accuracy.update(mixed, tensor([0, 0, 0], [3], "int32"));
    assert.equal(accuracy.compute(), 2 / 3, "row 0 predicts class 0 from a NaN score: a miss");
  });
});

// scikit-learn's definitions, written out directly in float64 over the whole set.
function regressionReference(predicted: number[], actual: number[], columns: number) {
  const errors = actual.map((y, i) => predicted[i] - y);
  const mse = errors.reduce((s, e) => s + e * e, 0) / errors.length;
  const rows = actual.length / columns;
  let r2 = 0;
  for (let c = 0; c < columns; c++) {
    const ys = Array.from({ length: rows }, (_, r) => actual[r * columns + c]);
    const mean = ys.reduce((a, b) => a + b, 0) / rows;
    const total = ys.reduce((s, y) => s + (y - mean) ** 2, 0);
    const residual = ys.reduce((s, y, r) => s + (y - predicted[r * columns + c]) ** 2, 0);
    r2 += total === 0 ? (residual === 0 ? 1 : 0) : 1 - residual / total;
  }
  return { mae: errors.reduce((s, e) => s + Math.abs(e), 0) / errors.length, mse, rmse: Math.sqrt(mse), r2: r2 / columns };
}

test("regression metrics (mae, mse, rmse, r2) over several batches match scikit-learn's definitions", () => {
  scope(() => {
    for (const columns of [1, 3]) {
      const rows = 50;
      const actual = randomValues(rows * columns, 4).map((v) => Math.fround(2 * v + 1));
      const predicted = actual.map((y, i) => Math.fround(y + 0.3 * randomValues(rows * columns, 5)[i]));
      const expected = regressionReference(predicted, actual, columns);
      for (const name of ["mae", "mse", "rmse", "r2"] as const) {
        assert.equal(metricTask(name), "regression");
        const metric = createMetric(name, 0);
        // Batches of 20, 20 and 10 rows.
        for (const [start, end] of [
          [0, 20],
          [20, 40],
          [40, 50],
        ]) {
          metric.update(
            tensor(predicted.slice(start * columns, end * columns), [end - start, columns]),
            tensor(actual.slice(start * columns, end * columns), [end - start, columns]),
          );
        }
        const value = metric.compute() as number;
        assert.ok(Math.abs(value - expected[name]) <= 1e-12 * (1 + Math.abs(expected[name])), `${name} with ${columns} outputs: ${value} vs ${expected[name]}`);
      }
    }
    const constant = new R2Score();
    constant.update(tensor([2, 2], [2, 1]), tensor([2, 2], [2, 1]));
    assert.equal(constant.compute(), 1, "a constant target predicted exactly");
    constant.update(tensor([3], [1, 1]), tensor([2], [1, 1]));
    assert.equal(constant.compute(), 0, "a constant target predicted wrongly");
    const mae = new RegressionError("mae");
    assert.ok(Number.isNaN(mae.compute()), "nothing seen yet");
    assert.throws(() => mae.update(tensor([1, 2], [2, 1]), tensor([1], [1, 1])), /mae: predictions \[2, 1\] and float32 targets of the same shape expected, got float32 \[1, 1\]/);
    assert.equal(metricTask("confusion_matrix"), "classification");
  });
});

test("the confusion matrix prints as a table of counts, or of fractions when normalized", () => {
  assert.equal(
    confusionTable([
      [98, 2],
      [13, 87],
    ]),
    ["true \\ predicted", "     0   1", " 0  98   2", " 1  13  87"].join("\n"),
  );
  assert.equal(
    confusionTable([
      [0.5, 0.25],
      [0, 1],
    ]).split("\n")[2],
    "    0  0.500  0.250",
  );
});
