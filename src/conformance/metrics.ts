import { scope } from "../engine/scope.ts";
import { Accuracy, TopKAccuracy } from "../metrics/accuracy.ts";
import { ConfusionMatrix } from "../metrics/confusion.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenValues, toTensor } from "./golden.ts";

/** One case of metrics.json (scikit-learn 1.9.1, zero_division 0). */
export interface MetricCase {
  name: string;
  num_classes: number;
  logits: GoldenTensor;
  targets: GoldenTensor;
  predictions: GoldenTensor;
  top1_accuracy: number;
  top3_accuracy: number;
  confusion_matrix: GoldenTensor;
  per_class: { precision: number[]; recall: number[]; f1: number[]; support: number[] };
  macro: { precision: number; recall: number; f1: number };
  micro: { precision: number; recall: number; f1: number };
  weighted: { precision: number; recall: number; f1: number };
}

/** Feeds the logits in two batches (so the incremental path is exercised) and compares everything. */
export function runMetricCase(c: MetricCase, tolerance: Tolerance): Comparison[] {
  return scope(() => {
    const classes = c.num_classes;
    const logits = toTensor(c.logits);
    const targets = toTensor(c.targets);
    const n = targets.shape[0];
    const half = Math.floor(n / 2);
    const batches = [
      [0, half],
      [half, n],
    ].map(([from, to]) => [
      toTensor({ shape: [to - from, classes], dtype: "float32", data: c.logits.data.slice(from * classes, to * classes) }),
      toTensor({ shape: [to - from], dtype: "int64", data: c.targets.data.slice(from, to) }),
    ]);
    const accuracy = new Accuracy(classes);
    const top3 = new TopKAccuracy(classes, 3);
    const confusion = new ConfusionMatrix(classes);
    for (const [scores, labels] of batches) for (const metric of [accuracy, top3, confusion]) metric.update(scores, labels);
    const report = confusion.report();
    const exact: Tolerance = { rtol: 0, atol: 0 };
    const comparisons = [
      compareValues("top1_accuracy", [accuracy.compute()], [c.top1_accuracy], tolerance),
      compareValues("top3_accuracy", [top3.compute()], [c.top3_accuracy], tolerance),
      compareValues("confusion_matrix", confusion.compute().flat(), goldenValues(c.confusion_matrix), exact),
      compareValues("support", report.perClass.support, c.per_class.support, exact),
    ];
    for (const key of ["precision", "recall", "f1"] as const) {
      comparisons.push(compareValues(`per_class ${key}`, report.perClass[key], c.per_class[key], tolerance));
      for (const average of ["macro", "micro", "weighted"] as const) {
        comparisons.push(compareValues(`${average} ${key}`, [report[average][key]], [c[average][key]], tolerance));
      }
    }
    // The golden argmax predictions, checked through the same confusion matrix.
    const fromPredictions = new ConfusionMatrix(classes);
    fromPredictions.updatePredictions(goldenValues(c.predictions), goldenValues(c.targets));
    comparisons.push(compareValues("confusion from predictions", fromPredictions.compute().flat(), goldenValues(c.confusion_matrix), exact));
    logits.dispose();
    return comparisons;
  });
}
