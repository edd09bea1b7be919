import type { Tensor } from "../engine/tensor.ts";
import { ConfusionMatrix, type PRF } from "./confusion.ts";
import { argmaxRow, batchArrays, type Metric } from "./metric.ts";

/** Fraction of samples whose argmax score is the target (a NaN target score is never a hit). Config name `accuracy`. */
export class Accuracy implements Metric {
  readonly name: string = "accuracy";
  private correct = 0;
  private seen = 0;

  constructor(readonly classes: number) {}

  update(scores: Tensor, targets: Tensor): void {
    const { values, labels, rows } = batchArrays(this.name, scores, targets, this.classes);
    for (let i = 0; i < rows; i++) if (argmaxRow(values, i, this.classes) === labels[i] && !Number.isNaN(values[i * this.classes + labels[i]])) this.correct++;
    this.seen += rows;
  }

  compute(): number {
    return this.seen === 0 ? 0 : this.correct / this.seen;
  }

  reset(): void {
    this.correct = 0;
    this.seen = 0;
  }
}

/**
 * Fraction of samples whose target is among the k highest scores, with scikit-learn's
 * top_k_accuracy_score tie rule: among equal scores the higher class index ranks first. A NaN
 * target score is never a hit (NaN compares false with everything, so it would otherwise have
 * no score ahead of it), and NaN scores of other classes rank behind every number.
 * Config name `top_k_accuracy` (option k).
 */
export class TopKAccuracy implements Metric {
  readonly name: string;
  private hits = 0;
  private seen = 0;

  constructor(
    readonly classes: number,
    readonly k: number,
  ) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`gradscope: top_k_accuracy: k must be a positive integer, got ${k}`);
    this.name = `top_${k}_accuracy`;
  }

  update(scores: Tensor, targets: Tensor): void {
    const { values, labels, rows } = batchArrays(this.name, scores, targets, this.classes);
    for (let i = 0; i < rows; i++) {
      const base = i * this.classes;
      const target = labels[i];
      const score = values[base + target];
      if (Number.isNaN(score)) continue;
      let ahead = 0;
      for (let c = 0; c < this.classes; c++) {
        const v = values[base + c];
        if (v > score || (v === score && c > target)) ahead++;
      }
      if (ahead < this.k) this.hits++;
    }
    this.seen += rows;
  }

  compute(): number {
    return this.seen === 0 ? 0 : this.hits / this.seen;
  }

  reset(): void {
    this.hits = 0;
    this.seen = 0;
  }
}

/** Accuracy within each true class (its recall; 0 for classes not seen). Config name `per_class_accuracy`. */
export class PerClassAccuracy implements Metric<number[]> {
  readonly name: string = "per_class_accuracy";
  private readonly confusion: ConfusionMatrix;

  constructor(readonly classes: number) {
    this.confusion = new ConfusionMatrix(classes);
  }

  update(scores: Tensor, targets: Tensor): void {
    this.confusion.update(scores, targets);
  }

  compute(): number[] {
    return this.confusion.perClassAccuracy();
  }

  reset(): void {
    this.confusion.reset();
  }
}

/** Which precision/recall/F1 figure a metric reports. */
export type Average = "macro" | "micro" | "weighted" | "none";

/**
 * Precision, recall or F1 (zero_division 0), averaged `macro` (default), `micro`, `weighted`
 * or per class (`none`). Config names `precision`, `recall`, `f1` (option average).
 */
export class ClassificationScore implements Metric<number | number[]> {
  readonly name: string;
  private readonly confusion: ConfusionMatrix;

  constructor(
    readonly classes: number,
    readonly score: keyof PRF,
    readonly average: Average = "macro",
  ) {
    if (!["macro", "micro", "weighted", "none"].includes(average)) throw new RangeError(`gradscope: ${score}: average must be one of macro, micro, weighted, none; got ${average}`);
    this.confusion = new ConfusionMatrix(classes);
    this.name = average === "macro" ? score : `${score}_${average}`;
  }

  update(scores: Tensor, targets: Tensor): void {
    this.confusion.update(scores, targets);
  }

  compute(): number | number[] {
    const report = this.confusion.report();
    return this.average === "none" ? report.perClass[this.score] : report[this.average][this.score];
  }

  reset(): void {
    this.confusion.reset();
  }
}
