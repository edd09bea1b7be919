export { Alpha } from "./alpha.ts";
export { Distance, GradNorm, Loss, Time, UpdateSize } from "./basic.ts";
export { HessMaxEV, HessTrace, TICDiag, TICTrace } from "./curvature.ts";
export { defineQuantity, type QuantityDefinition } from "./definition.ts";
export { GradientNoiseScale, InnerTest, type NoiseScaleState, NormTest, OrthoTest } from "./gradientTests.ts";
export { type BinAdaptation, GradHist1d, GradHist2d } from "./histograms.ts";
export {
  type EarlierStepRead,
  type HistogramValue,
  type Quantity,
  type QuantityParts,
  type QuantityValue,
  type RequestContext,
  ScheduledQuantity,
  StabilizedQuantity,
  type StepInfo,
  summedStatistic,
} from "./quantity.ts";
export { type QuantityReference, quantityReference, quantityReferenceMarkdown } from "./reference.ts";
export { configurations, createQuantities, quantityDefinitions, quantityNames, registerQuantity } from "./registry.ts";
export { atSteps, every, logarithmic, type StepSchedule } from "./schedule.ts";
export { collectQuantityValues, type PendingStepState, type QuantitySubscriber, QuantityTracker, type TrackerState } from "./tracker.ts";
export { CABS, EarlyStoppingCriterion, MeanGSNR } from "./variance.ts";
