export { Accuracy, type Average, ClassificationScore, PerClassAccuracy, TopKAccuracy } from "./accuracy.ts";
export { type ClassificationReport, ConfusionMatrix, type Normalization, type PRF } from "./confusion.ts";
export { type LossSummary, LossTracker } from "./lossTracker.ts";
export type { Metric } from "./metric.ts";
export { createMetric, metricNames } from "./registry.ts";
