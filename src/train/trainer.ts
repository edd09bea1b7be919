import type { DataLoader } from "../data/loader.ts";
import { backward, noGrad } from "../engine/autograd.ts";
import { mean } from "../engine/ops/reduce.ts";
import { scope } from "../engine/scope.ts";
import { Tensor } from "../engine/tensor.ts";
import { argmaxRow, type Metric } from "../metrics/metric.ts";
import { createMetric } from "../metrics/registry.ts";
import type { Module } from "../nn/module.ts";
import { clipGradNorm, clipGradValue, GradientAccumulation, gradientNorm } from "../optim/clip.ts";
import type { BaseHyper, Optimizer } from "../optim/optimizer.ts";
import type { Schedule } from "../optim/schedulers/scheduler.ts";
import type { Callback, Logs } from "./callback.ts";
import {
  type CustomLossSpec,
  checkMetricsFit,
  type LossSpec,
  lossSpecOf,
  metricBatch,
  metricClasses,
  perSampleLoss,
  type TrainingLoss,
  targetClasses,
  targetTensor,
} from "./losses.ts";

/** A metric as configured: its name and options (e.g. `{ name: "top_k_accuracy", options: { k: 3 } }`). */
export interface MetricSpec {
  /** A metric's config name (`accuracy`, `top_k_accuracy`, `f1`, ...). */
  name: string;
  /** Its options (`{ k: 5 }`, `{ average: "macro" }`); default: the metric's own. */
  options?: Record<string, unknown>;
}

/** Everything the fit loop needs. */
export interface TrainerOptions {
  /** The model to train (put in train mode for training steps, eval mode for evaluation). */
  model: Module;
  /** The optimizer over the model's parameters. */
  optimizer: Optimizer<BaseHyper>;
  /**
   * A built-in loss (`{ name: "cross_entropy" }`), or a function returning the per-sample losses
   * [N] of a batch (its mean is trained), or `{ name: "custom", perSample, curvature }`.
   */
  loss: TrainingLoss;
  /** Epochs to train; `fit` continues from the current position up to this one. */
  epochs: number;
  /** An LR scheduler of the optimizer; none by default. */
  scheduler?: Schedule;
  /** When the scheduler steps: after every optimizer step (`batch`) or every epoch (default). */
  schedulerInterval?: "batch" | "epoch";
  /** The log ReduceLROnPlateau watches (default `val_loss`, or `loss` without validation). */
  schedulerMonitor?: string;
  /** Metrics of every evaluation pass (validation and test). */
  metrics?: MetricSpec[];
  /** Scale the gradients to at most this total norm before each step (`clipGradNorm`). */
  clipGradNorm?: number;
  /** The norm `clipGradNorm` measures: 2 (default) or "inf". */
  clipNormType?: 2 | "inf";
  /** Clamp every gradient element to [−v, v] before each step (`clipGradValue`). */
  clipGradValue?: number;
  /** Micro-batches per optimizer step. */
  accumulate?: number;
  /** Expensive per-step work (diagnostics) is due every `trackEvery` steps: logs.tracked is 1 then. */
  trackEvery?: number;
  /** Called at each stage of the loop, in order (EarlyStopping, ModelCheckpoint, loggers, ...). */
  callbacks?: Callback[];
  /**
   * Replaces `backward(loss)`, e.g. to compute per-sample statistics in the same pass. It must
   * leave the gradient of `loss` in the parameters' `.grad`.
   */
  backward?: (loss: Tensor, step: number, tracked: boolean) => void;
}

/**
 * An evaluation pass: scalar logs (`val_loss`, `test_accuracy`, per-class `test_recall/3`) and
 * the matrix results (`test_confusion_matrix`: rows true class, columns predicted).
 */
export interface Evaluation {
  /** The loss and each metric's numbers, by name (`loss`, `accuracy`, ...). */
  logs: Logs;
  /** The metrics whose value is a matrix (`confusion_matrix`), by name. */
  matrices: Record<string, number[][]>;
}

/** Where training stands: the next epoch and batch to run, and optimizer steps taken. */
export interface TrainerPosition {
  /** The next epoch to run, from 0. */
  epoch: number;
  /** The next batch of that epoch, from 0. */
  batch: number;
  /** Optimizer steps taken so far. */
  step: number;
}

/** How `fit` ended. */
export interface FitResult {
  /** completed: every epoch ran; stopped: a callback or `requestStop` ended it; failed: the NaN guard or a callback failed it. */
  status: "completed" | "stopped" | "failed";
  /** Why it stopped or failed (absent when completed). */
  reason?: string;
  /** Each finished epoch's logs (training and validation), in order. */
  history: Logs[];
  /** Where training stands now: `fit` again continues from here. */
  position: TrainerPosition;
}

/** The trainer's own resumable state (the model, optimizer and scheduler are saved beside it). */
export interface TrainerState {
  /** Where training stands. */
  position: TrainerPosition;
  /** The running sums of the epoch in progress (loss, correct, examples, batches, seconds). */
  epochTotals: EpochTotals;
  /** Each finished epoch's logs. */
  history: Logs[];
  /** Gradient accumulation's progress. */
  accumulation: {
    /** Batches accumulated since the last optimizer step. */
    count: number;
  };
  /** Each stateful callback's state, by its name. */
  callbacks: Record<string, unknown>;
  /** The training data of a checkpoint saved inside an epoch (absent in older checkpoints). */
  epochData?: EpochData;
}

/**
 * What a position inside an epoch means: `batch` batches of `batchSize` in the epoch's example
 * order (`order`, a fingerprint of the permutation), from `examples` examples. Other data, batch
 * size, seed or shuffle would make the rest of the epoch skip or repeat examples.
 */
export interface EpochData {
  examples: number;
  batchSize: number;
  order: number;
}

// FNV-1a over an epoch's example order: two orders that differ differ here, but for chance.
function orderFingerprint(order: Int32Array): number {
  let hash = 0x811c9dc5;
  for (const index of order) hash = Math.imul(hash ^ index, 0x01000193) >>> 0;
  return hash;
}

function epochDataOf(train: DataLoader, epoch: number): EpochData {
  return { examples: train.dataset.length, batchSize: train.options.batchSize, order: orderFingerprint(train.order(epoch)) };
}

interface EpochTotals {
  loss: number;
  correct: number;
  seen: number;
  batches: number;
  seconds: number;
}

const emptyTotals = (): EpochTotals => ({ loss: 0, correct: 0, seen: 0, batches: 0, seconds: 0 });

// The fit loop yields to the event loop this often, so that signals (Ctrl-C) and I/O are handled.
const YIELD_EVERY_MS = 50;

/**
 * The fit loop: epochs of training batches (with gradient accumulation, clipping, LR scheduling
 * per batch or per epoch), evaluation with `noGrad()` in eval mode, Keras-style callbacks, and a
 * position that checkpoints restore so that a resumed run computes exactly what an
 * uninterrupted one would. `fit` is async only to let signals through between batches.
 */
export class Trainer {
  readonly options: Required<Pick<TrainerOptions, "schedulerInterval" | "accumulate" | "trackEvery" | "metrics" | "callbacks">> & TrainerOptions;
  /** The loss as a spec (a loss function given as `loss` is a custom one). */
  readonly loss: LossSpec | CustomLossSpec;
  position: TrainerPosition = { epoch: 0, batch: 0, step: 0 };
  history: Logs[] = [];
  private epochTotals = emptyTotals();
  private readonly accumulation: GradientAccumulation;
  private stop: { reason: string; failed: boolean } | null = null;
  // The loader `fit` trains on, whose position a checkpoint inside an epoch records.
  private train: DataLoader | null = null;
  // A restored checkpoint's training data, which a resumed fit must match inside an epoch.
  private restoredEpochData: EpochData | null = null;
  // The training batch's inputs live in this tensor, filled in place by the loader.
  private inputs: Tensor | null = null;
  // The model's parameters, listed once per fit (walking the module tree every step costs).
  private params: Tensor[] = [];

  constructor(options: TrainerOptions) {
    // An option given as undefined takes its default, as one left out does.
    const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as TrainerOptions;
    this.options = { schedulerInterval: "epoch", accumulate: 1, trackEvery: 1, metrics: [], callbacks: [], ...given };
    if (!Number.isInteger(options.epochs) || options.epochs < 1)
      throw new RangeError(`gradscope: training.epochs must be a positive integer, got ${typeof options.epochs === "string" ? JSON.stringify(options.epochs) : options.epochs}`);
    this.accumulation = new GradientAccumulation(this.options.accumulate);
    this.loss = lossSpecOf(options.loss);
    checkMetricsFit(
      this.loss,
      this.options.metrics.map((m) => m.name),
    );
    const names = new Set<string>();
    for (const callback of this.options.callbacks) {
      if (names.has(callback.name)) throw new Error(`gradscope: two callbacks are named "${callback.name}"`);
      names.add(callback.name);
    }
  }

  get model(): Module {
    return this.options.model;
  }

  get optimizer(): Optimizer<BaseHyper> {
    return this.options.optimizer;
  }

  /** The current learning rate of the first parameter group. */
  get lr(): number {
    return this.optimizer.paramGroups[0].hyper.lr;
  }

  /** Asks the loop to stop after the current optimizer step; `failed` marks the run as failed. */
  requestStop(reason: string, failed = false): void {
    this.stop ??= { reason, failed };
  }

  /** Whether a stop was requested, and why (null if not). */
  stopRequest(): { reason: string; failed: boolean } | null {
    return this.stop;
  }

  private call(hook: Exclude<keyof Callback, "name" | "stateDict" | "loadStateDict" | "beforeCheckpoint" | "afterCheckpoint">, logs: Logs): void {
    for (const callback of this.options.callbacks) callback[hook]?.(this, logs);
  }

  /** Trains until `epochs` are done or a stop is requested; continues from `position`. */
  async fit(train: DataLoader, validation?: DataLoader): Promise<FitResult> {
    const mismatch = this.resumeMismatch(train);
    if (mismatch) throw new Error(`gradscope: ${mismatch}`);
    this.train = train;
    this.restoredEpochData = null;
    this.stop = null;
    this.params = this.model.parameters();
    const { epochs } = this.options;
    const classification = this.loss.name === "cross_entropy";
    this.call("onTrainBegin", { epoch: this.position.epoch, step: this.position.step });
    let lastYield = performance.now();
    while (this.position.epoch < epochs && !this.stopRequest()) {
      const epoch = this.position.epoch;
      if (this.position.batch === 0) {
        this.epochTotals = emptyTotals();
        this.call("onEpochBegin", { epoch: epoch + 1, step: this.position.step });
      }
      this.model.train();
      for (const batch of train.batches(epoch, this.position.batch, (size) => this.inputBuffer(size, train.outputShape).data)) {
        const started = performance.now();
        const tracked = this.position.step % this.options.trackEvery === 0;
        const batchLogs: Logs = { epoch: epoch + 1, batch: batch.index, step: this.position.step, size: batch.size, tracked: tracked ? 1 : 0 };
        this.call("onBatchBegin", batchLogs);
        const { loss, correct } = this.trainBatch(this.inputBuffer(batch.size, train.outputShape), batch.targets, classification, tracked);
        batchLogs.loss = loss;
        // One pass over the gradients serves the log, the NaN guard and (without accumulation) clipping.
        batchLogs.grad_norm = gradientNorm(this.params, this.options.clipNormType ?? 2);
        this.call("onBackwardEnd", batchLogs);
        if (this.stopRequest()?.failed) break;
        if (this.accumulation.ready(this.params)) this.applyStep(batchLogs);
        this.position.batch = batch.index + 1;
        const totals = this.epochTotals;
        totals.loss += loss * batch.size;
        totals.correct += correct;
        totals.seen += batch.size;
        totals.batches++;
        totals.seconds += (performance.now() - started) / 1000;
        batchLogs.lr = this.lr;
        this.call("onBatchEnd", batchLogs);
        if (this.stopRequest() && this.accumulation.pending === 0) break;
        if (performance.now() - lastYield > YIELD_EVERY_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
      }
      if (this.position.batch < train.batchesPerEpoch) break; // stopped inside the epoch
      if (this.accumulation.flush(this.params)) this.applyStep({ epoch: epoch + 1, step: this.position.step });
      const logs = this.epochLogs(epoch + 1, classification, validation);
      if (this.options.scheduler && this.options.schedulerInterval === "epoch") this.options.scheduler.step(this.monitored(logs));
      this.position = { epoch: epoch + 1, batch: 0, step: this.position.step };
      this.history.push(logs);
      this.call("onEpochEnd", logs);
    }
    this.inputs?.dispose();
    this.inputs = null;
    const stop = this.stopRequest();
    const status = stop ? (stop.failed ? "failed" : "stopped") : "completed";
    this.call("onTrainEnd", { epoch: this.position.epoch, step: this.position.step });
    return { status, reason: stop?.reason, history: this.history, position: { ...this.position } };
  }

  /** The persistent input tensor for batches of `size` (reallocated when the size changes). */
  private inputBuffer(size: number, shape: readonly number[]): Tensor {
    if (this.inputs?.shape[0] !== size) {
      this.inputs?.dispose();
      this.inputs = new Tensor([size, ...shape], "float32", "training batch").keep();
    }
    return this.inputs;
  }

  private trainBatch(x: Tensor, targets: Int32Array | Float32Array, classification: boolean, tracked: boolean): { loss: number; correct: number } {
    return scope(() => {
      const output = this.model.forward(x);
      const y = targetTensor(this.loss, targets, output.shape);
      const loss = mean(perSampleLoss(this.loss, output, y));
      if (this.options.backward) this.options.backward(loss, this.position.step, tracked);
      else backward(loss);
      return { loss: loss.item(), correct: classification ? countCorrect(output, targetClasses(targets, output.shape[1])) : 0 };
    });
  }

  private applyStep(logs: Logs): void {
    const params = this.params;
    const { clipGradNorm: maxNorm, clipNormType, clipGradValue: clipValue, accumulate, scheduler, schedulerInterval } = this.options;
    // Accumulated gradients differ from the last micro-batch's, whose norm the logs hold.
    if (accumulate > 1 || logs.grad_norm === undefined) logs.grad_norm = gradientNorm(params, clipNormType ?? 2);
    if (maxNorm !== undefined) clipGradNorm(params, maxNorm, clipNormType ?? 2, logs.grad_norm);
    if (clipValue !== undefined) clipGradValue(params, clipValue);
    noGrad(() => this.optimizer.step());
    this.optimizer.zeroGrad();
    this.position.step++;
    if (scheduler && schedulerInterval === "batch") scheduler.step(logs.loss);
  }

  private monitored(logs: Logs): number | undefined {
    const key = this.options.schedulerMonitor ?? ("val_loss" in logs ? "val_loss" : "loss");
    return logs[key];
  }

  private epochLogs(epoch: number, classification: boolean, validation?: DataLoader): Logs {
    const totals = this.epochTotals;
    const logs: Logs = { epoch, step: this.position.step, loss: totals.loss / totals.seen, lr: this.lr, epoch_seconds: totals.seconds };
    if (classification) logs.accuracy = totals.correct / totals.seen;
    if (validation) Object.assign(logs, this.evaluate(validation, "val_"));
    return logs;
  }

  /**
   * Loss and metrics over a whole loader, in eval mode under `noGrad()` (the model returns to
   * train mode afterwards). Keys are prefixed, e.g. `val_loss`, `val_accuracy`; per-class
   * results become `val_recall/3`-style keys. Matrix results (the confusion matrix) are in
   * `evaluateWithMatrices`.
   */
  evaluate(loader: DataLoader, prefix = ""): Logs {
    return this.evaluateWithMatrices(loader, prefix).logs;
  }

  /** As `evaluate`, with the matrix results too, e.g. `test_confusion_matrix`. */
  evaluateWithMatrices(loader: DataLoader, prefix = ""): Evaluation {
    const wasTraining = this.model.training;
    this.model.eval();
    const { loss } = this;
    const classes = metricClasses(loss, loader.dataset.classes);
    const metrics: Metric<unknown>[] = this.options.metrics.map((m) => createMetric(m.name, classes, m.options));
    let lossSum = 0;
    let seen = 0;
    // Batches are gathered straight into one engine tensor, as in training, instead of a new
    // array per batch that is then copied.
    let buffer: Tensor | null = null;
    const bufferOf = (size: number): Tensor => {
      if (buffer?.shape[0] !== size) {
        buffer?.dispose();
        buffer = new Tensor([size, ...loader.outputShape], "float32", "evaluation batch").keep();
      }
      return buffer;
    };
    try {
      for (const batch of loader.batches(0, 0, (size) => bufferOf(size).data)) {
        scope(() =>
          noGrad(() => {
            const x = bufferOf(batch.size);
            const output = this.model.forward(x);
            const y = targetTensor(loss, batch.targets, output.shape);
            lossSum += mean(perSampleLoss(loss, output, y)).item() * batch.size;
            seen += batch.size;
            if (metrics.length === 0) return;
            const { scores, targets } = metricBatch(loss, output, y);
            for (const metric of metrics) metric.update(scores, targets);
          }),
        );
      }
    } finally {
      (buffer as Tensor | null)?.dispose();
      this.model.train(wasTraining);
    }
    const logs: Logs = { [`${prefix}loss`]: lossSum / seen };
    const matrices: Record<string, number[][]> = {};
    for (const metric of metrics) {
      const value = metric.compute();
      const key = `${prefix}${metric.name}`;
      if (typeof value === "number") logs[key] = value;
      else if (Array.isArray(value) && value.every((v) => typeof v === "number")) {
        for (const [i, v] of value.entries()) logs[`${key}/${i}`] = v;
      } else if (Array.isArray(value) && value.every((row) => Array.isArray(row))) matrices[key] = value as number[][];
      else throw new TypeError(`gradscope: metric ${metric.name} computed a value that is neither a number, a list nor a matrix`);
    }
    return { logs, matrices };
  }

  /**
   * Why `train` cannot continue the epoch a restored checkpoint stopped inside (other examples,
   * batch size or example order than the checkpoint's), or null when it can: at an epoch's end,
   * or from a checkpoint that does not record its data.
   */
  resumeMismatch(train: DataLoader): string | null {
    const saved = this.restoredEpochData ?? (this.train && epochDataOf(this.train, this.position.epoch));
    if (this.position.batch === 0 || !saved) return null;
    const now = epochDataOf(train, this.position.epoch);
    if (now.examples === saved.examples && now.batchSize === saved.batchSize && now.order === saved.order) return null;
    const change =
      now.examples !== saved.examples
        ? `${saved.examples} training examples, now ${now.examples}`
        : now.batchSize !== saved.batchSize
          ? `batches of ${saved.batchSize}, now ${now.batchSize}`
          : "another example order (the seed or shuffle changed)";
    return `the checkpoint stopped inside epoch ${this.position.epoch + 1}, after batch ${this.position.batch}, with ${change}: the rest of the epoch would skip or repeat examples; resume with the checkpoint's data, batch size and seed, and change them at an epoch's end`;
  }

  /** The loop's resumable state. */
  stateDict(): TrainerState {
    const callbacks: Record<string, unknown> = {};
    for (const callback of this.options.callbacks) if (callback.stateDict) callbacks[callback.name] = callback.stateDict();
    return {
      position: { ...this.position },
      epochTotals: { ...this.epochTotals },
      history: this.history.map((h) => ({ ...h })),
      accumulation: this.accumulation.stateDict(),
      callbacks,
      ...(this.position.batch > 0 && this.train ? { epochData: epochDataOf(this.train, this.position.epoch) } : {}),
    };
  }

  loadStateDict(state: TrainerState): void {
    this.position = { ...state.position };
    this.epochTotals = { ...state.epochTotals };
    this.history = state.history.map((h) => ({ ...h }));
    this.accumulation.loadStateDict(state.accumulation);
    this.restoredEpochData = state.epochData ?? null;
    for (const callback of this.options.callbacks) {
      if (callback.loadStateDict && callback.name in state.callbacks) callback.loadStateDict(state.callbacks[callback.name]);
    }
  }
}

function countCorrect(output: Tensor, labels: Int32Array): number {
  const classes = output.shape[1];
  const values = output.data;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(values, i, classes) === labels[i]) correct++;
  return correct;
}
