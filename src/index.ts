/**
 * gradscope: train neural networks in Node.js and see, live, what happens inside the training.
 *
 * Everything a library user needs is importable from `gradscope`: the engine (tensors, ops,
 * autodiff, per-sample extensions), nn modules, optimizers, schedulers and gradient utilities,
 * metrics, data, the Trainer and its callbacks, every Cockpit quantity with the tracker, their
 * configurations and schedules, config loading, the run store, sweeps and the dashboard.
 *
 * @packageDocumentation
 */

export * from "./config/index.ts";
export * from "./dashboard/index.ts";
export * from "./data/index.ts";
export {
  backwardWithExtensions,
  type CurvatureKind,
  type DiagonalCurvatureRequest,
  type ExtensionBackwardOptions,
  type ExtensionRequest,
  type Histogram1dSpec,
  type Histogram2dSpec,
  type ParameterStatistics,
  perSampleLosses,
} from "./engine/extensions/index.ts";
export * from "./engine/index.ts";
export * from "./metrics/index.ts";
export * from "./nn/index.ts";
export * from "./optim/index.ts";
export * from "./quantities/index.ts";
export * from "./store/index.ts";
export * from "./sweep/index.ts";
export * from "./train/index.ts";
