import { dirname, join } from "node:path";
import { ArrayDataset } from "../data/dataset.ts";
import { DataLoader } from "../data/loader.ts";
import { tensor, zeros } from "../engine/creation.ts";
import { scope } from "../engine/scope.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Module } from "../nn/module.ts";
import { hinted } from "../nn/spec.ts";
import { type BaseHyper, Optimizer } from "../optim/optimizer.ts";
import { createOptimizer, createScheduler } from "../optim/registry.ts";
import type { Schedule } from "../optim/schedulers/scheduler.ts";
import type { Quantity } from "../quantities/quantity.ts";
import { configurations, createQuantities, quantityNames } from "../quantities/registry.ts";
import { QuantityTracker } from "../quantities/tracker.ts";
import { openStoreForRuns, storeLocation } from "../store/openRunStore.ts";
import type { RunStore } from "../store/runStore.ts";
import type { Callback, Logs } from "./callback.ts";
import { CsvLogger, JsonlLogger } from "./callbacks/loggers.ts";
import { ModelCheckpoint } from "./callbacks/modelCheckpoint.ts";
import { NanGuard } from "./callbacks/nanGuard.ts";
import { ProgressLogger } from "./callbacks/progress.ts";
import { QuantityLogger } from "./callbacks/quantityLogger.ts";
import { storeRecording } from "./callbacks/storeRecording.ts";
import { TensorBoardLogger, tensorBoardFolder } from "./callbacks/tensorboardLogger.ts";
import type { LossCurvature, PerSampleLoss } from "./customLoss.ts";
import { type CustomLossSpec, checkMetricsFit, defaultMetricNames, type LossSpec, type lossNames, lossSpecOf } from "./losses.ts";
import { checkBeforeCreatingStore, type Run, type RunDashboardOptions, type RunParts, type RunResult, type RunSummary, startRun } from "./run.ts";
import { safeRunName } from "./runDirectory.ts";
import { type Evaluation, type MetricSpec, Trainer, type TrainerPosition } from "./trainer.ts";

/**
 * Examples as arrays: inputs flat ([N × inputShape] values) or one array per example, and
 * integer labels (classification) or float targets (regression), flat or one array per example.
 */
export interface ArrayData {
  /** The inputs: flat, [N × inputShape] values, or one array per example. */
  inputs: Float32Array | number[] | number[][];
  /** One label or target per example (flat), or one array of targets per example. */
  targets: Int32Array | Float32Array | number[] | number[][];
  /** The shape of one example's input; needed for flat inputs, else the length of `inputs[0]`. */
  inputShape?: number[];
  /**
   * Labels' classes. Default: max label + 1 for Int32Array or integer targets, 0 (regression)
   * for Float32Array, fractional or per-example array targets.
   */
  classes?: number;
}

/** A split of the data: a DataLoader, or arrays that the Learner batches (`batchSize`, train shuffled). */
export type LearnerSplit = DataLoader | ArrayData;

/** An optimizer, or its registry name and options (`{ name: "adam", lr: 1e-3 }`). */
export type OptimizerChoice =
  | Optimizer<BaseHyper>
  | ({
      /** The optimizer's config name (`sgd`, `adam`, ...); the other fields are its options. */
      name: string;
    } & Record<string, unknown>);

/** A scheduler, or its registry name and options (`{ name: "cosine", t_max: 10 }`). */
export type SchedulerChoice =
  | Schedule
  | ({
      /** The scheduler's config name (`step`, `cosine`, ...); the other fields are its options. */
      name: string;
    } & Record<string, unknown>);

/** What a Learner trains and how it records the run. */
export interface LearnerOptions {
  /** The model: any Module (a `buildModel` result or your own). */
  model: Module;
  /**
   * The splits, each a DataLoader or arrays: `train` is trained on, `validation` evaluated after
   * every epoch (`val_*` logs), `test` once at the end (`test_*`).
   */
  data: {
    /** The training split. */
    train: LearnerSplit;
    /** Evaluated after every epoch; none by default. */
    validation?: LearnerSplit;
    /** Evaluated once at the end; none by default. */
    test?: LearnerSplit;
  };
  /**
   * A built-in loss by name, or a function returning the per-sample losses [N] of a batch (its
   * mean is trained; sample n's loss depends on output row n only).
   */
  loss: (typeof lossNames)[number] | LossSpec | PerSampleLoss;
  /**
   * With a custom loss: the factor of its Hessian w.r.t. the output, which the curvature
   * quantities (HessTrace, TICDiag, TICTrace, HessMaxEV) need; they refuse without it.
   */
  lossCurvature?: LossCurvature;
  /** An optimizer over the model's parameters, or its config name and options (`{ name: "adam", lr: 1e-3 }`). */
  optimizer: OptimizerChoice;
  /** An LR scheduler, or its config name and options (`{ name: "cosine", t_max: 10 }`); none by default. */
  scheduler?: SchedulerChoice;
  /** When the scheduler steps (default `epoch`). */
  schedulerInterval?: "batch" | "epoch";
  /** Evaluation metrics (default: accuracy, or the regression metrics for mse; none for a custom loss). */
  metrics?: Array<string | MetricSpec>;
  /**
   * Cockpit quantities: configuration names (`economy`, `business`, `full`), quantity names
   * (`grad_norm`, `hess_max_ev`) and Quantity instances, mixed freely.
   */
  quantities?: string | Array<string | Quantity>;
  /** Named quantities are computed every this many steps (default 1). */
  trackEvery?: number;
  /** Batch size for splits given as arrays (default 32). */
  batchSize?: number;
  /** Seeds the shuffling of array data (default 0). */
  seed?: number;
  /**
   * Serve the live dashboard while training (`true`: 127.0.0.1, any free port); `keepOpen` keeps
   * it serving after the fit, until `closeDashboard()`.
   */
  dashboard?:
    | boolean
    | (RunDashboardOptions & {
        /** Keep serving after the fit, until `closeDashboard()` (default false). */
        keepOpen?: boolean;
      });
  /** The run directory's parent (default `runs`, or the resumed run's parent). */
  runsDir?: string;
  /** The run's name (default `learner`). */
  name?: string;
  /**
   * The run store: a SQLite file's path (in an existing folder, or in `runsDir`, which is made) or a
   * postgres:// URL (default GRADSCOPE_STORE_URL, else `<runsDir>/gradscope.db`), or false for none.
   */
  store?: string | false;
  /**
   * Write TensorBoard event files while training (`TensorBoardLogger`): `true` in
   * `<run dir>/tensorboard`; with a `dir`, in its subfolder named by the run's id.
   */
  tensorboard?:
    | boolean
    | {
        /** The folder whose subfolder named by the run's id gets the event files (default: `<run dir>/tensorboard` itself). */
        dir?: string;
        /** As `TensorBoardLoggerOptions.flushSecs` (default 2). */
        flushSecs?: number;
      };
  /** More callbacks, after the Learner's own NaN guard and before its loggers. */
  callbacks?: Callback[];
  /** Where progress messages go; `true` prints them and a progress line to stdout. */
  log?: boolean | ((message: string) => void);
}

/** Options of `Learner.fit`. */
export interface FitOptions {
  /** Epochs to train in all (a resumed run trains the ones it lacks). */
  epochs: number;
  /** A run directory to continue from its checkpoints/latest.gsckpt (the same model, optimizer, loss). */
  resume?: string;
  /** Handle Ctrl-C and SIGTERM while training (as `gradscope train`); off by default. */
  signals?: boolean;
}

/** How a fit ended, where the run is, and its final numbers. */
export interface LearnerResult {
  /** How the run ended: completed, stopped, failed or interrupted. */
  status: RunResult["status"];
  /** Why it stopped, failed or was interrupted; absent when completed. */
  reason?: string;
  /** The run's id in the store (its directory's name). */
  runId: string;
  /** The run directory (checkpoints, logs, summary.json). */
  directory: string;
  /** Where training ended: epoch, batch and step. */
  position: TrainerPosition;
  /** Each completed epoch's logs, in order. */
  history: Logs[];
  /** The last epoch's logs (loss, metrics, val_*) merged with the test set's (test_*). */
  metrics: Logs;
  /** The test split's evaluation; absent without one, or when the run failed or was interrupted. */
  test?: Evaluation;
  /** The summary.json written; null when the run failed or was interrupted. */
  summary: RunSummary | null;
  /** The dashboard's address (it stays open after the fit only with `dashboard.keepOpen`). */
  dashboardUrl: string | null;
}

const toFloat32 = (values: Float32Array | number[] | number[][]) => (values instanceof Float32Array ? values : Float32Array.from((values as number[][]).flat()));

function arrayDataset(data: ArrayData, split: string): ArrayDataset {
  const nested = Array.isArray(data.inputs[0]);
  const inputShape = data.inputShape ?? (nested ? [(data.inputs[0] as number[]).length] : undefined);
  if (!inputShape) throw new Error(`gradscope: Learner data.${split}: flat inputs need inputShape`);
  const targets = data.targets;
  const perExample = Array.isArray(targets[0]);
  const labels = targets instanceof Int32Array || (!(targets instanceof Float32Array) && !perExample && (targets as number[]).every(Number.isInteger));
  const classes = data.classes ?? (labels ? Math.max(-1, ...Array.from(targets as ArrayLike<number>)) + 1 : 0);
  const inputs = toFloat32(data.inputs);
  const count = inputs.length / inputShape.reduce((a, b) => a * b, 1);
  const flatTargets = classes > 0 ? Int32Array.from(targets as ArrayLike<number>) : toFloat32(targets as number[]);
  const targetShape = classes > 0 || flatTargets.length === count ? [] : [flatTargets.length / count];
  return new ArrayDataset(inputs, flatTargets, inputShape, classes, `Learner data.${split}`, targetShape);
}

function loaderOf(split: LearnerSplit, name: string, batchSize: number, train: boolean, seed: number): DataLoader {
  if (split instanceof DataLoader) return split;
  return new DataLoader(arrayDataset(split, name), { batchSize, shuffle: train, seed });
}

function optimizerOf(choice: OptimizerChoice, model: Module): Optimizer<BaseHyper> {
  if (choice instanceof Optimizer) return choice;
  const { name, ...options } = choice;
  return createOptimizer(name, model.parameters(), options);
}

function schedulerOf(choice: SchedulerChoice, optimizer: Optimizer<BaseHyper>): Schedule {
  if ("step" in choice && typeof choice.step === "function") return choice as Schedule;
  const { name, ...options } = choice as { name: string } & Record<string, unknown>;
  return createScheduler(name, optimizer, options);
}

/**
 * A model that cannot take the data's examples would fail at the first step, after the run was
 * created: one zero example through `predict` (eval mode, no graph, every module's mode
 * restored, so nothing of training changes) finds that at construction.
 */
function checkModelTakes(model: Module, loader: DataLoader): void {
  try {
    scope(() => {
      model.predict(zeros([1, ...loader.outputShape]));
    });
  } catch (error) {
    throw new Error(
      `gradscope: Learner: the model cannot take the training examples, [${loader.outputShape.join(", ")}] each: ${(error as Error).message.replace(/^gradscope: /, "")}`,
    );
  }
}

/** The quantities a Learner tracks, refused by name when the loss cannot give what they need. */
function quantitiesOf(options: LearnerOptions, loss: LossSpec | CustomLossSpec): Quantity[] {
  const trackEvery = options.trackEvery ?? 1;
  const requested = options.quantities === undefined ? [] : typeof options.quantities === "string" ? [options.quantities] : options.quantities;
  // A name may be a configuration too, so a misspelt one is matched against both.
  const names = [...Object.keys(configurations), ...quantityNames()];
  for (const name of requested) {
    if (typeof name !== "string" || names.includes(name)) continue;
    throw new Error(`gradscope: unknown quantity or configuration "${name}"${hinted(name, names)}`);
  }
  const quantities = requested.flatMap((q) => (typeof q !== "string" ? [q] : createQuantities(Object.hasOwn(configurations, q) ? q : { [q]: true }, trackEvery)));
  if (loss.name === "custom" && !loss.curvature) {
    const needing = quantities.find((q) => q.usesLossCurvature);
    if (needing) throw new Error(`gradscope: ${needing.name} needs the loss's curvature: pass lossCurvature to the Learner, or use a built-in loss`);
  }
  return quantities;
}

/**
 * LMD4MLTraining's contract in TypeScript: one call trains a model of your own with live
 * Cockpit diagnostics and records the run as `gradscope train` does — a run directory
 * (config.yaml, checkpoints, metrics.csv, log.jsonl, quantities.jsonl, summary.json), a run in
 * the store with its status and events, the dashboard if asked, checkpoints to resume from.
 *
 * ```ts
 * const learner = new Learner({ model, data: { train, test }, loss: (out, y) => perSample, optimizer: { name: "sgd", lr: 0.1 }, quantities: ["economy"], dashboard: true });
 * const result = await learner.fit({ epochs: 5 });
 * ```
 *
 * Everything is checked at construction (the loss, quantity names, a curvature quantity with a
 * custom loss that has no `lossCurvature`, that the model takes the data's examples); the run directory and store row are created only
 * once `fit` has built the run. The model and optimizer stay yours: nothing disposes them.
 */
export class Learner {
  readonly model: Module;
  readonly optimizer: Optimizer<BaseHyper>;
  readonly scheduler?: Schedule;
  readonly loss: LossSpec | CustomLossSpec;
  readonly quantities: Quantity[];
  private readonly metrics: MetricSpec[];
  private readonly loaders: { train: DataLoader; validation?: DataLoader; test?: DataLoader };
  private run: Run | null = null;
  private fitting = false;
  private dashboardRun: Run | null = null;

  constructor(readonly options: LearnerOptions) {
    // The options a Learner cannot default, named before their absence surfaces as a TypeError.
    if (typeof options?.model?.parameters !== "function")
      throw new TypeError(`gradscope: Learner: model: expected a Module (e.g. buildModel(...).model), got ${String(options?.model)}`);
    if (options.loss === undefined)
      throw new TypeError("gradscope: Learner: loss: expected a loss name (cross_entropy, mse, bce_with_logits), {name, ...options} or a function of (outputs, targets)");
    if (typeof options.data !== "object" || options.data === null || options.data.train === undefined)
      throw new TypeError("gradscope: Learner: data: expected {train, validation?, test?}, each a DataLoader or arrays");
    if (options.optimizer === undefined) throw new TypeError('gradscope: Learner: optimizer: expected {name, ...options}, e.g. {name: "adam", lr: 1e-3}');
    this.model = options.model;
    const loss = options.loss;
    this.loss =
      typeof loss === "string" ? lossSpecOf({ name: loss }) : typeof loss === "function" ? { name: "custom", perSample: loss, curvature: options.lossCurvature } : lossSpecOf(loss);
    if (options.lossCurvature && this.loss.name !== "custom") throw new Error(`gradscope: lossCurvature is for a custom loss; the ${this.loss.name} loss has its own`);
    this.optimizer = optimizerOf(options.optimizer, this.model);
    this.scheduler = options.scheduler && schedulerOf(options.scheduler, this.optimizer);
    this.quantities = quantitiesOf(options, this.loss);
    this.metrics = (options.metrics ?? (this.loss.name === "custom" ? [] : defaultMetricNames(this.loss))).map((m) => (typeof m === "string" ? { name: m } : m));
    checkMetricsFit(
      this.loss,
      this.metrics.map((m) => m.name),
    );
    const batchSize = options.batchSize ?? 32;
    const seed = options.seed ?? 0;
    const { train, validation, test } = options.data;
    this.loaders = {
      train: loaderOf(train, "train", batchSize, true, seed),
      validation: validation && loaderOf(validation, "validation", batchSize, false, seed),
      test: test && loaderOf(test, "test", batchSize, false, seed),
    };
    if (options.dashboard && options.store === false) throw new Error("gradscope: Learner dashboard needs the run store; drop store: false");
    checkModelTakes(this.model, this.loaders.train);
  }

  /** Resumes the run in `directory` from its latest checkpoint: `Learner.resume(dir, options).fit({ epochs })`. */
  static resume(directory: string, options: LearnerOptions): { learner: Learner; fit(fit: Omit<FitOptions, "resume">): Promise<LearnerResult> } {
    const learner = new Learner({ ...options, runsDir: options.runsDir ?? dirname(directory) });
    return { learner, fit: (fit) => learner.fit({ ...fit, resume: directory }) };
  }

  /**
   * The model's outputs for every example of `data` (a DataLoader or arrays), in the data set's
   * order, as `model.predict` computes them: eval mode under `noGrad()`, each module's mode
   * restored. The loader's transforms apply, so pass one without augmentation. Returns a tensor
   * [N, ...] that the caller owns.
   */
  predict(data: LearnerSplit): Tensor {
    const loader = loaderOf(data, "predict", this.options.batchSize ?? 32, false, 0);
    // The data set's own order, whether or not the loader shuffles for training.
    const order = Int32Array.from({ length: loader.dataset.length }, (_, i) => i);
    const outputs: Float32Array[] = [];
    let shape: readonly number[] = [];
    for (let index = 0; index < Math.ceil(order.length / loader.options.batchSize); index++) {
      const batch = loader.batchAt(0, index, order);
      scope(() => {
        const output = this.model.predict(tensor(batch.inputs, [batch.size, ...loader.outputShape]), { batchSize: batch.size });
        shape = output.shape.slice(1);
        outputs.push(output.data.slice());
      });
    }
    const values = new Float32Array(outputs.reduce((total, part) => total + part.length, 0));
    let offset = 0;
    for (const part of outputs) {
      values.set(part, offset);
      offset += part.length;
    }
    return tensor(values, [order.length, ...shape]);
  }

  /** Stops the current fit after the current step, as Ctrl-C: latest.gsckpt is saved and the run ends `interrupted`. */
  requestStop(): void {
    this.run?.interrupt();
  }

  private log(message: string): void {
    const { log } = this.options;
    if (log === true) process.stdout.write(`${message}\n`);
    else if (typeof log === "function") log(message);
  }

  // What the run store and config.yaml record of this run (a Learner's run has no YAML config).
  private config(epochs: number): Record<string, unknown> {
    const { name, ...hyper } = { name: this.optimizer.name, ...this.optimizer.paramGroups[0].hyper };
    return {
      name: this.options.name ?? "learner",
      seed: this.options.seed ?? 0,
      model: { parameters: this.model.parameterCount() },
      data: { train: this.loaders.train.dataset.length, batch_size: this.loaders.train.options.batchSize },
      training: { epochs, loss: this.loss.name, track_every: this.options.trackEvery ?? 1 },
      optimizer: { name, ...hyper },
      quantities: this.quantities.map((q) => q.name),
    };
  }

  private callbacks(directory: string, runId: string, store: RunStore | null, epochs: number, config: unknown): { callbacks: Callback[]; tracker?: QuantityTracker } {
    const callbacks: Callback[] = [new NanGuard(), ...(this.options.callbacks ?? [])];
    if (this.options.log === true) callbacks.push(new ProgressLogger(epochs, this.loaders.train.batchesPerEpoch));
    callbacks.push(new CsvLogger(join(directory, "metrics.csv")), new JsonlLogger(join(directory, "log.jsonl")));
    const recording = store ? storeRecording(store, runId) : null;
    if (recording) callbacks.push(...recording.callbacks);
    const { tensorboard: board } = this.options;
    const tensorboard = board
      ? new TensorBoardLogger({ dir: tensorBoardFolder(directory, board === true ? undefined : board.dir), flushSecs: board === true ? undefined : board.flushSecs, config })
      : undefined;
    if (tensorboard) callbacks.push(tensorboard);
    // Last, so that the checkpoint captures the other callbacks' state after the epoch.
    callbacks.push(new ModelCheckpoint(join(directory, "checkpoints"), config));
    if (this.quantities.length === 0) return { callbacks };
    const tracker = new QuantityTracker(this.quantities, this.model, this.optimizer);
    recording?.recordQuantities(tracker);
    if (tensorboard) tracker.subscribe(tensorboard.logQuantity);
    callbacks.unshift(new QuantityLogger(tracker, join(directory, "quantities.jsonl")));
    return { callbacks, tracker };
  }

  // The trainer of a run and its callbacks; disposing frees the quantities' tracker (the model and
  // optimizer stay the user's).
  private parts(directory: string, runId: string, store: RunStore | null, epochs: number, config: unknown): RunParts {
    const { callbacks, tracker } = this.callbacks(directory, runId, store, epochs, config);
    try {
      const trainer = new Trainer({
        model: this.model,
        optimizer: this.optimizer,
        scheduler: this.scheduler,
        schedulerInterval: this.options.schedulerInterval,
        loss: this.loss,
        epochs,
        metrics: this.metrics,
        trackEvery: this.options.trackEvery,
        callbacks,
        backward: tracker ? (loss, step) => tracker.backward(loss, step) : undefined,
      });
      return { trainer, dispose: () => tracker?.dispose() };
    } catch (error) {
      tracker?.dispose();
      throw error;
    }
  }

  /**
   * Trains for `epochs` (in all: a resumed run continues to that epoch) and records the run;
   * resolves once it ended, with how it ended. A failure to start (a busy dashboard port, a
   * resume that does not fit) rejects and creates or changes nothing.
   */
  async fit(fit: FitOptions): Promise<LearnerResult> {
    if (this.fitting) throw new Error("gradscope: this Learner is already fitting; await its fit first");
    this.fitting = true;
    try {
      return await this.startAndTrain(fit);
    } finally {
      this.fitting = false;
    }
  }

  private async startAndTrain(fit: FitOptions): Promise<LearnerResult> {
    await this.closeDashboard();
    const runsDir = this.options.runsDir ?? "runs";
    const config = this.config(fit.epochs);
    const name = safeRunName(this.options.name ?? "learner");
    const stored = this.options.store === false ? null : { flag: this.options.store, runsDir };
    // The check build's directory is never made: the build only names the files the run would write.
    const { dashboard } = this.options;
    const dashboardOptions = dashboard ? (dashboard === true ? {} : dashboard) : undefined;
    await checkBeforeCreatingStore(stored && storeLocation(stored), fit.resume, () => this.parts(join(runsDir, name), "", null, fit.epochs, config), dashboardOptions);
    const store = stored && openStoreForRuns(stored);
    const run = await startRun({
      name,
      runsDir,
      config,
      store,
      resume: fit.resume,
      dashboard: dashboardOptions,
      resumeHint: (directory) => `Learner.resume("${directory}", options).fit({ epochs })`,
      log: (message) => this.log(message),
      train: this.loaders.train,
      build: (directory, runId) => this.parts(directory, runId, store, fit.epochs, config),
    });
    this.run = run;
    if (run.dashboardUrl) this.log(`dashboard: ${run.dashboardUrl}`);
    try {
      const result = await run.train(this.loaders.train, { validation: this.loaders.validation, test: this.loaders.test, signals: fit.signals });
      const metrics = { ...result.history.at(-1), ...result.test?.logs };
      return { ...result, runId: run.runId, directory: run.directory, metrics, dashboardUrl: run.dashboardUrl };
    } finally {
      this.run = null;
      if (typeof dashboard === "object" && dashboard.keepOpen) this.dashboardRun = run;
      else await run.close();
    }
  }

  /** Closes the dashboard a fit with `dashboard: { keepOpen: true }` left open. */
  async closeDashboard(): Promise<void> {
    const run = this.dashboardRun;
    this.dashboardRun = null;
    await run?.close();
  }
}
