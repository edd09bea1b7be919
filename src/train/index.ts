export type { Callback, Logs } from "./callback.ts";
export { EarlyStopping, type EarlyStoppingOptions } from "./callbacks/earlyStopping.ts";
export { CsvLogger, JsonlLogger } from "./callbacks/loggers.ts";
export { LATEST, ModelCheckpoint, type ModelCheckpointOptions, writeTrainerCheckpoint } from "./callbacks/modelCheckpoint.ts";
export { NanGuard } from "./callbacks/nanGuard.ts";
export { ProgressLogger } from "./callbacks/progress.ts";
export { QuantityLogger } from "./callbacks/quantityLogger.ts";
export { type SeriesSink, StoreLogger } from "./callbacks/storeLogger.ts";
export { storeRecording } from "./callbacks/storeRecording.ts";
export { STOP_REQUESTED, StoreStopWatcher } from "./callbacks/storeStopWatcher.ts";
export { SystemMonitor } from "./callbacks/systemMonitor.ts";
export { TensorBoardLogger, type TensorBoardLoggerOptions } from "./callbacks/tensorboardLogger.ts";
export { type Checkpoint, CheckpointError, captureCheckpoint, loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "./checkpoint.ts";
export { customLoss, type LossCurvature, type PerSampleLoss } from "./customLoss.ts";
export {
  type ArrayData,
  type FitOptions,
  Learner,
  type LearnerOptions,
  type LearnerResult,
  type LearnerSplit,
  type OptimizerChoice,
  type SchedulerChoice,
} from "./learner.ts";
export { type CustomLossSpec, type LossSpec, lossNames, type TrainingLoss } from "./losses.ts";
export {
  Run,
  type RunDashboardOptions,
  type RunParts,
  type RunPlan,
  type RunResult,
  type RunSummary,
  type RunTrainOptions,
  type StopSignal,
  startRun,
  stopSignals,
} from "./run.ts";
export { claimRunDirectory, freeRunDirectory, safeRunName } from "./runDirectory.ts";
export { type Evaluation, type FitResult, type MetricSpec, Trainer, type TrainerOptions, type TrainerPosition, type TrainerState } from "./trainer.ts";
