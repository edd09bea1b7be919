export { openSweepStore, type SweepRecord, type SweepStatus, type SweepStore, type TrialRecord, type TrialStatus } from "../store/sweeps.ts";
export { runSweep, type SweepOptions, type SweepOutcome } from "./coordinator.ts";
export { PgBossTrialQueue } from "./pgBossQueue.ts";
export { LocalTrialQueue, type TrialJob, type TrialQueue } from "./queue.ts";
export { QueueWorker, type QueueWorkerOptions } from "./queueWorker.ts";
export { type AshaSpec, distributions, type LoadedSweep, loadSweep, methods, type ParameterSpec, type RuleSpec, type SweepSpec, sweepSchema } from "./spec.ts";
export { bestTrial, stepsSaved } from "./status.ts";
