export { Accuracy, type Average, ClassificationScore, PerClassAccuracy, TopKAccuracy } from "./accuracy.ts";
export { type ClassificationReport, ConfusionMatrix, confusionTable, type Normalization, type PRF } from "./confusion.ts";
export { type LossSummary, LossTracker } from "./lossTracker.ts";
export type { Metric } from "./metric.ts";
export { createMetric, type MetricTask, metricNames, metricNamesOf, metricTask } from "./registry.ts";
export { type ErrorKind, R2Score, RegressionError } from "./regression.ts";
