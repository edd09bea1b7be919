import { closestName } from "../nn/spec.ts";
import { Accuracy, type Average, ClassificationScore, PerClassAccuracy, TopKAccuracy } from "./accuracy.ts";
import { ConfusionMatrix, type Normalization } from "./confusion.ts";
import type { Metric } from "./metric.ts";

type Factory = (classes: number, options: Record<string, unknown>) => Metric<unknown>;

const factories: Record<string, { options: string[]; build: Factory }> = {
  accuracy: { options: [], build: (classes) => new Accuracy(classes) },
  top_k_accuracy: { options: ["k"], build: (classes, o) => new TopKAccuracy(classes, Number(o.k ?? 5)) },
  per_class_accuracy: { options: [], build: (classes) => new PerClassAccuracy(classes) },
  confusion_matrix: { options: ["normalize"], build: (classes, o) => new ConfusionMatrix(classes, (o.normalize ?? "none") as Normalization) },
  precision: { options: ["average"], build: (classes, o) => new ClassificationScore(classes, "precision", (o.average ?? "macro") as Average) },
  recall: { options: ["average"], build: (classes, o) => new ClassificationScore(classes, "recall", (o.average ?? "macro") as Average) },
  f1: { options: ["average"], build: (classes, o) => new ClassificationScore(classes, "f1", (o.average ?? "macro") as Average) },
};

/** The metric config names. */
export const metricNames = Object.keys(factories);

/** Builds a classification metric from its config name, e.g. `top_k_accuracy` with `{ k: 3 }`. */
export function createMetric(name: string, classes: number, options: Record<string, unknown> = {}): Metric<unknown> {
  const entry = factories[name];
  if (!entry) {
    const hint = closestName(name, metricNames);
    throw new Error(`gradscope: unknown metric "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${metricNames.join(", ")}`);
  }
  for (const key of Object.keys(options)) {
    if (!entry.options.includes(key)) throw new Error(`gradscope: metric ${name}: unknown option "${key}"; known: ${entry.options.join(", ") || "none"}`);
  }
  return entry.build(classes, options);
}
