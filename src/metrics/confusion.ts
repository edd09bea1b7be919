import type { Tensor } from "../engine/tensor.ts";
import { argmaxRow, batchArrays, type Metric } from "./metric.ts";

/** How a confusion matrix is normalized: by true class (rows), predicted class (columns), or overall. */
export type Normalization = "none" | "true" | "pred" | "all";

/** Precision, recall and F1 of one class or one average. */
export interface PRF {
  /** TP / (TP + FP); 0 when nothing was predicted (scikit-learn's zero_division=0). */
  precision: number;
  /** TP / (TP + FN); 0 when the class never occurs. */
  recall: number;
  /** The harmonic mean of precision and recall; 0 when both are 0. */
  f1: number;
}

/** precision/recall/F1 per class and averaged (scikit-learn's precision_recall_fscore_support). */
export interface ClassificationReport {
  /** One entry per class, indexed by class. */
  perClass: {
    /** Each class's precision. */
    precision: number[];
    /** Each class's recall. */
    recall: number[];
    /** Each class's F1. */
    f1: number[];
    /** Each class's number of true examples. */
    support: number[];
  };
  /** The unweighted mean over classes. */
  macro: PRF;
  /** From the totals of TP, FP and FN over classes (precision = recall = accuracy). */
  micro: PRF;
  /** The mean over classes weighted by their support. */
  weighted: PRF;
}

// scikit-learn's zero_division=0: a ratio with a zero denominator is 0.
const ratio = (numerator: number, denominator: number) => (denominator === 0 ? 0 : numerator / denominator);

/**
 * The confusion matrix of argmax predictions (rows = true class, columns = predicted), updated
 * per batch. Accuracy, per-class accuracy and precision/recall/F1 derive from it exactly as
 * scikit-learn computes them with labels = 0..C−1 and zero_division = 0 (absent classes count
 * in the macro average). Config name `confusion_matrix`.
 */
export class ConfusionMatrix implements Metric<number[][]> {
  readonly name: string = "confusion_matrix";
  private readonly counts: Float64Array;

  constructor(
    readonly classes: number,
    readonly normalize: Normalization = "none",
  ) {
    if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`gradscope: ConfusionMatrix: classes must be an integer >= 2, got ${classes}`);
    if (!["none", "true", "pred", "all"].includes(normalize)) throw new RangeError(`gradscope: ConfusionMatrix: normalize must be one of none, true, pred, all; got ${normalize}`);
    this.counts = new Float64Array(classes * classes);
  }

  update(scores: Tensor, targets: Tensor): void {
    const { values, labels, rows } = batchArrays(this.name, scores, targets, this.classes);
    for (let i = 0; i < rows; i++) this.counts[labels[i] * this.classes + argmaxRow(values, i, this.classes)]++;
  }

  /** Adds already-made predictions (class indices). */
  updatePredictions(predictions: ArrayLike<number>, targets: ArrayLike<number>): void {
    for (let i = 0; i < targets.length; i++) this.counts[targets[i] * this.classes + predictions[i]]++;
  }

  /** The matrix, normalized as configured. */
  compute(): number[][] {
    return this.matrix(this.normalize);
  }

  /** The matrix with any normalization: counts, or fractions of each row, column, or the total. */
  matrix(normalize: Normalization = "none"): number[][] {
    const C = this.classes;
    const rows = Array.from({ length: C }, (_, t) => Array.from(this.counts.subarray(t * C, (t + 1) * C)));
    if (normalize === "none") return rows;
    const total = this.counts.reduce((a, b) => a + b, 0);
    const rowSums = rows.map((row) => row.reduce((a, b) => a + b, 0));
    const columnSums = rows[0].map((_, p) => rows.reduce((s, row) => s + row[p], 0));
    return rows.map((row, t) => row.map((v, p) => ratio(v, normalize === "true" ? rowSums[t] : normalize === "pred" ? columnSums[p] : total)));
  }

  /** Samples seen. */
  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** Fraction of correct argmax predictions. */
  accuracy(): number {
    let correct = 0;
    for (let c = 0; c < this.classes; c++) correct += this.counts[c * this.classes + c];
    return ratio(correct, this.total);
  }

  /** Recall of each class: correct / samples of that class (0 for absent classes). */
  perClassAccuracy(): number[] {
    return this.report().perClass.recall;
  }

  /** Precision, recall, F1 and support per class, and their macro, micro and weighted averages. */
  report(): ClassificationReport {
    const C = this.classes;
    const tp = Array.from({ length: C }, (_, c) => this.counts[c * C + c]);
    const support = Array.from({ length: C }, (_, t) => this.counts.subarray(t * C, (t + 1) * C).reduce((a, b) => a + b, 0));
    const predicted = Array.from({ length: C }, (_, p) => {
      let sum = 0;
      for (let t = 0; t < C; t++) sum += this.counts[t * C + p];
      return sum;
    });
    const precision = tp.map((v, c) => ratio(v, predicted[c]));
    const recall = tp.map((v, c) => ratio(v, support[c]));
    const f1 = tp.map((v, c) => ratio(2 * v, predicted[c] + support[c]));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const totalSupport = support.reduce((a, b) => a + b, 0);
    const weightedMean = (xs: number[]) =>
      ratio(
        xs.reduce((s, x, c) => s + x * support[c], 0),
        totalSupport,
      );
    const tpSum = tp.reduce((a, b) => a + b, 0);
    const predictedSum = predicted.reduce((a, b) => a + b, 0);
    return {
      perClass: { precision, recall, f1, support },
      macro: { precision: mean(precision), recall: mean(recall), f1: mean(f1) },
      micro: { precision: ratio(tpSum, predictedSum), recall: ratio(tpSum, totalSupport), f1: ratio(2 * tpSum, predictedSum + totalSupport) },
      weighted: { precision: weightedMean(precision), recall: weightedMean(recall), f1: weightedMean(f1) },
    };
  }

  reset(): void {
    this.counts.fill(0);
  }
}

/**
 * A confusion matrix as aligned text for the console: a header row of predicted classes, one
 * row per true class; counts as integers, normalized matrices with three decimals.
 */
export function confusionTable(matrix: number[][]): string {
  const integral = matrix.every((row) => row.every(Number.isInteger));
  const cell = (v: number) => (integral ? String(v) : v.toFixed(3));
  const width = Math.max(String(matrix.length - 1).length, ...matrix.flat().map((v) => cell(v).length));
  const line = (label: string, cells: string[]) => [label.padStart(width), ...cells.map((c) => c.padStart(width))].join("  ");
  const header = line(
    "",
    matrix.map((_, p) => String(p)),
  );
  return ["true \\ predicted", header, ...matrix.map((row, t) => line(String(t), row.map(cell)))].join("\n");
}
