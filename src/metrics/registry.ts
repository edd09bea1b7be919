import { closestName } from "../nn/spec.ts";
import { Accuracy, type Average, ClassificationScore, PerClassAccuracy, TopKAccuracy } from "./accuracy.ts";
import { ConfusionMatrix, type Normalization } from "./confusion.ts";
import type { Metric } from "./metric.ts";
import { R2Score, RegressionError } from "./regression.ts";

/** What a metric scores: class scores against labels, or predicted values against float targets. */
export type MetricTask = "classification" | "regression";

type Factory = (classes: number, options: Record<string, unknown>) => Metric<unknown>;

const factories: Record<string, { task: MetricTask; options: string[]; build: Factory }> = {
  accuracy: { task: "classification", options: [], build: (classes) => new Accuracy(classes) },
  top_k_accuracy: { task: "classification", options: ["k"], build: (classes, o) => new TopKAccuracy(classes, Number(o.k ?? 5)) },
  per_class_accuracy: { task: "classification", options: [], build: (classes) => new PerClassAccuracy(classes) },
  confusion_matrix: { task: "classification", options: ["normalize"], build: (classes, o) => new ConfusionMatrix(classes, String(o.normalize ?? "none") as Normalization) },
  precision: { task: "classification", options: ["average"], build: (classes, o) => new ClassificationScore(classes, "precision", (o.average ?? "macro") as Average) },
  recall: { task: "classification", options: ["average"], build: (classes, o) => new ClassificationScore(classes, "recall", (o.average ?? "macro") as Average) },
  f1: { task: "classification", options: ["average"], build: (classes, o) => new ClassificationScore(classes, "f1", (o.average ?? "macro") as Average) },
  mae: { task: "regression", options: [], build: () => new RegressionError("mae") },
  mse: { task: "regression", options: [], build: () => new RegressionError("mse") },
  rmse: { task: "regression", options: [], build: () => new RegressionError("rmse") },
  r2: { task: "regression", options: [], build: () => new R2Score() },
};

/** The metric config names. */
export const metricNames = Object.keys(factories);

function entryOf(name: string) {
  const entry = factories[name];
  if (!entry) {
    const hint = closestName(name, metricNames);
    throw new Error(`gradscope: unknown metric "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${metricNames.join(", ")}`);
  }
  return entry;
}

/** The metric names of a task, e.g. `mae, mse, rmse, r2` for regression. */
export function metricNamesOf(task: MetricTask): string[] {
  return metricNames.filter((name) => factories[name].task === task);
}

/** Whether a metric scores classes or regression outputs. */
export function metricTask(name: string): MetricTask {
  return entryOf(name).task;
}

/**
 * Builds a metric from its config name, e.g. `top_k_accuracy` with `{ k: 3 }`. `classes` is the
 * number of classes a classification metric counts (regression metrics ignore it).
 */
export function createMetric(name: string, classes: number, options: Record<string, unknown> = {}): Metric<unknown> {
  const entry = entryOf(name);
  for (const key of Object.keys(options)) {
    if (!entry.options.includes(key)) throw new Error(`gradscope: metric ${name}: unknown option "${key}"; known: ${entry.options.join(", ") || "none"}`);
  }
  return entry.build(classes, options);
}
