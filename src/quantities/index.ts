export { Alpha, fitQuadratic, isDefaultSgd } from "./alpha.ts";
export { Distance, GradNorm, Loss, Time, UpdateSize } from "./basic.ts";
export { GradientNoiseScale, InnerTest, type NoiseScaleState, NormTest, OrthoTest } from "./gradientTests.ts";
export { GradHist1d, GradHist2d, linspaceEdges } from "./histograms.ts";
export type { HistogramValue, Quantity, QuantityValue, StepInfo } from "./quantity.ts";
export { configurations, createQuantities, quantityNames } from "./registry.ts";
export { atSteps, every, logarithmic, type StepSchedule } from "./schedule.ts";
export { mergeRequests, QuantityTracker, type TrackerState } from "./tracker.ts";
export { CABS, EarlyStoppingCriterion, MeanGSNR } from "./variance.ts";
