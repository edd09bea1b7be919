export type { Callback, Logs } from "./callback.ts";
export { EarlyStopping, type EarlyStoppingOptions } from "./callbacks/earlyStopping.ts";
export { CsvLogger, JsonlLogger } from "./callbacks/loggers.ts";
export { LATEST, ModelCheckpoint, type ModelCheckpointOptions, writeTrainerCheckpoint } from "./callbacks/modelCheckpoint.ts";
export { NanGuard } from "./callbacks/nanGuard.ts";
export { ProgressLogger } from "./callbacks/progress.ts";
export { type Checkpoint, CheckpointError, captureCheckpoint, loadCheckpoint, restoreCheckpoint, saveCheckpoint, writeFileAtomic } from "./checkpoint.ts";
export { type LossSpec, lossNames } from "./losses.ts";
export { type Evaluation, type FitResult, type MetricSpec, Trainer, type TrainerOptions, type TrainerPosition, type TrainerState } from "./trainer.ts";
