import { join } from "node:path";
import { type CifarLabel, cifarClasses } from "../data/cifar.ts";
import type { Dataset } from "../data/dataset.ts";
import { Subset } from "../data/dataset.ts";
import { applyTransformsOnce, DataLoader } from "../data/loader.ts";
import { loadSource, type SourceSpec } from "../data/sources.ts";
import { splitDataset } from "../data/split.ts";
import { createTransform, type TransformSpec } from "../data/transforms.ts";
import { chooseBackend } from "../engine/backend.ts";
import { sizeOf } from "../engine/shapes.ts";
import type { Tensor } from "../engine/tensor.ts";
import { setThreads } from "../engine/threads/settings.ts";
import type { Module } from "../nn/module.ts";
import { buildModel, type ModelSpec } from "../nn/spec.ts";
import type { BaseHyper, Optimizer } from "../optim/optimizer.ts";
import { createOptimizer, createScheduler, optimizerDefaults, optimizerNames, schedulerNames, schedulerOptionNames } from "../optim/registry.ts";
import type { Schedule } from "../optim/schedulers/scheduler.ts";
import { createQuantities } from "../quantities/registry.ts";
import { QuantityTracker } from "../quantities/tracker.ts";
import type { RunStore } from "../store/runStore.ts";
import type { Callback } from "../train/callback.ts";
import { EarlyStopping } from "../train/callbacks/earlyStopping.ts";
import { CsvLogger, JsonlLogger } from "../train/callbacks/loggers.ts";
import { ModelCheckpoint } from "../train/callbacks/modelCheckpoint.ts";
import { NanGuard } from "../train/callbacks/nanGuard.ts";
import { ProgressLogger } from "../train/callbacks/progress.ts";
import { QuantityLogger } from "../train/callbacks/quantityLogger.ts";
import { storeRecording } from "../train/callbacks/storeRecording.ts";
import { TensorBoardLogger, tensorBoardFolder } from "../train/callbacks/tensorboardLogger.ts";
import { folderProblem } from "../train/files.ts";
import { checkMetricsFit, defaultMetricNames } from "../train/losses.ts";
import { type MetricSpec, Trainer } from "../train/trainer.ts";
import { ConfigError, type LoadedConfig } from "./load.ts";
import { type ConfigPath, pathString } from "./path.ts";
import { type Config, snake } from "./schema.ts";

/** The data loaders of a run. */
export interface RunData {
  /** The training batches (shuffled and augmented as the config says). */
  train: DataLoader;
  /** The held-out split (`data.validation` > 0); absent otherwise. */
  validation?: DataLoader;
  /** The test set: the source's own, or `data.test_fraction` split off the training data. */
  test: DataLoader;
  /** Number of classes; 0 for regression. */
  classes: number;
  /** Messages for the user (e.g. a fallback data set). */
  notices: string[];
}

/** Everything `gradscope train` runs. */
export interface TrainingSetup {
  /** The validated config, defaults filled in. */
  config: Config;
  /** Its data loaders. */
  data: RunData;
  /** The model built from `model`. */
  model: Module;
  /** The optimizer over the model's parameters. */
  optimizer: Optimizer<BaseHyper>;
  /** The LR scheduler; absent without a `scheduler` section. */
  scheduler?: Schedule;
  /** The trainer with the config's loss, metrics and callbacks. */
  trainer: Trainer;
  /** The quantity tracker, when the config has a `quantities` section. */
  tracker?: QuantityTracker;
}

// The optimizers and schedulers check their options under their camelCase names; the config
// spells them in snake_case, and so must the messages.
const camelOptionNames = new Set([...optimizerNames.flatMap((name) => Object.keys(optimizerDefaults(name))), ...schedulerNames.flatMap(schedulerOptionNames)]);
const yamlNames = (message: string) => message.replace(/\b[a-z]+[A-Z0-9]\w*\b/g, (word) => (camelOptionNames.has(word) ? snake(word) : word));

// Runs `build`, turning its error into a ConfigError located at the config field it names.
function located<T>(loaded: LoadedConfig, section: ConfigPath, build: () => T, fieldOf: (message: string) => ConfigPath = () => []): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const message = yamlNames((error as Error).message.replace(/^gradscope: /, ""));
    const path = [...section, ...fieldOf(message)];
    const field = pathString(path);
    throw new ConfigError(`${loaded.locate(path)}: ${message.startsWith(`${field}:`) ? message : `${field}: ${message}`}`);
  }
}

// "Adam: betas[0] must be ..." or 'unknown option "x"' -> the field path.
function hyperField(message: string): ConfigPath {
  const option = /unknown option "([^"]+)"/.exec(message);
  if (option) return [option[1]];
  const field = /: (\w+)(?:\[(\d+)\])? must be/.exec(message);
  if (!field) return [];
  return field[2] === undefined ? [field[1]] : [field[1], Number(field[2])];
}

function limited(dataset: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= dataset.length) return dataset;
  return new Subset(
    dataset,
    Int32Array.from({ length: limit }, (_, i) => i),
    `${dataset.description} (first ${limit})`,
  );
}

// The classes a source defines itself (undefined: the config must say).
function defaultClasses(source: Config["data"]["source"], label: string | undefined): number | undefined {
  if (source === "cifar10" || source === "cifar100") return cifarClasses(source, label as CifarLabel | undefined);
  return source === "fashion-mnist" || source === "fashion-mnist-sample" ? 10 : source === "spirals" ? 2 : undefined;
}

// `data.prefetch: auto`: a worker thread pays where a training batch takes real work to make:
// per-batch transforms, or a gather of many values (Fashion-MNIST's 128 × 784: the loop's
// overhead 3.9% of an epoch with the worker, 4.6% without). A small batch of in-memory examples
// is made faster than it is handed over, and the worker's start and each pass's handover cost
// every run (a 30-epoch spirals run: 1.5 s with the worker, 0.8 s without).
const PREFETCH_FROM_VALUES = 65_536;
const autoPrefetch = (perBatchTransforms: number, valuesPerBatch: number) => (perBatchTransforms > 0 || valuesPerBatch >= PREFETCH_FROM_VALUES ? 2 : 0);

/** Loads the data section into loaders: train (with augmentation), validation and test. */
export function buildData(loaded: LoadedConfig): RunData {
  const { data, training, seed } = loaded.config;
  const classes = data.classes ?? defaultClasses(data.source, data.label) ?? (training.loss === "cross_entropy" ? undefined : 0);
  if (classes === undefined) throw new ConfigError(`${loaded.locate(["data", "classes"])}: data.classes: required for source ${data.source} with a classification loss`);
  if (classes === 0 && training.loss === "cross_entropy") {
    throw new ConfigError(
      `${loaded.locate(["data", "classes"])}: data.classes: 0 means regression targets, which the cross_entropy loss cannot train; use classes >= 2, or loss: mse`,
    );
  }
  if ((data.source === "idx" || data.source === "csv") && data.path === undefined)
    throw new ConfigError(`${loaded.locate(["data", "source"])}: data.path: required for source ${data.source}`);
  const spec = { ...data, classes } as unknown as SourceSpec;
  const source = located(
    loaded,
    ["data"],
    () => loadSource(spec, seed),
    (m) => {
      const field = /^data\.(\w+):/.exec(m);
      if (field) return [field[1]];
      if (m.includes(" has no column ")) return ["label"];
      return m.includes(data.test_path ?? "\u0000") ? ["test_path"] : ["path"];
    },
  );
  let train = limited(source.train, data.limit);
  let test = source.test;
  if (!test) [train, test] = splitDataset(train, data.test_fraction, seed + 1, ["train", "test"]);
  test = limited(test, data.test_limit);
  let validation: Dataset | undefined;
  if (data.validation > 0) [train, validation] = splitDataset(train, data.validation, seed + 2);
  const transforms = located(loaded, ["data", "transforms"], () => data.transforms.map((t) => createTransform(t as TransformSpec)));
  // data.transforms reach validation and test batches too: a random one there would score the
  // model on altered images, which is what data.augment (training only) is for.
  const random = transforms.findIndex((t) => !t.deterministic);
  if (random >= 0) {
    const t = transforms[random];
    const why = t.mixesTargets ? "blends examples and their labels, which only training batches may do" : "is random, and data.transforms apply to validation and test batches too";
    throw new ConfigError(`${loaded.locate(["data", "transforms", random])}: data.transforms[${random}]: ${t.name} ${why}; put it in data.augment`);
  }
  const augment = located(loaded, ["data", "augment"], () => data.augment.map((t) => createTransform(t as TransformSpec)));
  // Without augmentation every split sees the same deterministic transforms: apply them once.
  const ahead = augment.length === 0 && transforms.length > 0 && transforms.every((t) => t.deterministic);
  if (ahead) {
    train = applyTransformsOnce(train, transforms);
    test = applyTransformsOnce(test, transforms);
    if (validation) validation = applyTransformsOnce(validation, transforms);
  }
  const perBatch = ahead ? [] : transforms;
  const trainTransforms = [...augment, ...perBatch];
  const evalLoader = (dataset: Dataset) => new DataLoader(dataset, { batchSize: data.eval_batch_size, transforms: perBatch });
  return {
    train: located(
      loaded,
      ["data"],
      () =>
        new DataLoader(train, {
          batchSize: data.batch_size,
          shuffle: data.shuffle,
          dropLast: data.drop_last,
          seed,
          transforms: trainTransforms,
          prefetch: data.prefetch === "auto" ? autoPrefetch(trainTransforms.length, data.batch_size * sizeOf(train.inputShape)) : data.prefetch,
        }),
      (message) => (message.startsWith("with drop_last") ? ["drop_last"] : []),
    ),
    validation: validation ? evalLoader(validation) : undefined,
    test: evalLoader(test),
    classes,
    notices: source.notice ? [source.notice] : [],
  };
}

// The listed metrics, or the loss's defaults; a metric that does not fit the loss is located in the config.
function metricSpecs(loaded: LoadedConfig): MetricSpec[] {
  const { training } = loaded.config;
  const loss = { name: training.loss };
  const specs = (training.metrics ?? defaultMetricNames(loss)).map((m) => {
    if (typeof m === "string") return { name: m };
    const { name, ...options } = m as { name: string } & Record<string, unknown>;
    return { name, options };
  });
  for (const [i, spec] of specs.entries()) located(loaded, ["training", "metrics", i], () => checkMetricsFit(loss, [spec.name]));
  return specs;
}

// The `loggers.tensorboard` section's logger.
function tensorBoardLogger(loaded: LoadedConfig, runDirectory: string): TensorBoardLogger {
  const section = loaded.config.loggers.tensorboard;
  const options: { dir?: string; flush_secs?: number } = typeof section === "object" ? section : {};
  const path: ConfigPath = ["loggers", "tensorboard", ...(options.dir === undefined ? [] : ["dir"])];
  const dir = tensorBoardFolder(runDirectory, options.dir);
  const problem = folderProblem(dir);
  if (problem) throw new ConfigError(`${loaded.locate(path)}: ${pathString(path)}: cannot hold event files in ${dir}: ${problem}`);
  return new TensorBoardLogger({ dir, flushSecs: options.flush_secs, config: loaded.raw });
}

/**
 * Builds model, optimizer, scheduler, callbacks and trainer from a loaded config. Errors that
 * the builders raise are located at the config field they concern. `runDirectory` receives the
 * checkpoints and logs.
 */
export function buildTraining(loaded: LoadedConfig, data: RunData, runDirectory: string, progress?: NodeJS.WriteStream, store?: { store: RunStore; runId: string }): TrainingSetup {
  const { config } = loaded;
  if (config.engine?.threads !== undefined) setThreads(config.engine.threads);
  const backend = config.engine?.backend;
  if (backend !== undefined) located(loaded, ["engine", "backend"], () => chooseBackend(backend, "engine.backend"));
  const modelPath = (message: string): ConfigPath => {
    const match = /^model\.([\w.[\]]+):/.exec(message);
    return match
      ? match[1]
          .split(/\.|\[|\]/)
          .filter(Boolean)
          .map((p) => (/^\d+$/.test(p) ? Number(p) : p))
      : [];
  };
  const { model, outputShape } = located(loaded, ["model"], () => buildModel(config.model as ModelSpec, [...data.train.outputShape], config.seed), modelPath);
  if (config.training.loss === "cross_entropy" && (outputShape.length !== 1 || outputShape[0] !== data.classes)) {
    model.dispose();
    throw new ConfigError(`${loaded.locate(["model"])}: model: its output is [${outputShape.join(", ")}] per example, but the data has ${data.classes} classes`);
  }
  // mse and bce_with_logits compare the output with the targets value for value: a mismatch
  // (an arch's default 10 outputs on regression data) would otherwise fail at the first step,
  // after the run was created, with a tensor-shape error. The loader's targets, which MixUp and
  // CutMix make class probabilities ([classes] per example), not the data set's labels.
  const targetValues = data.train.targetSize;
  const outputValues = outputShape.reduce((a, b) => a * b, 1);
  if (config.training.loss !== "cross_entropy" && outputValues !== targetValues) {
    model.dispose();
    throw new ConfigError(
      `${loaded.locate(["model"])}: model: its output is [${outputShape.join(", ")}] per example, but the ${config.training.loss} loss compares it with the data's ${targetValues} target value${targetValues === 1 ? "" : "s"} per example; give the model ${targetValues} output${targetValues === 1 ? "" : "s"} (model.classes: ${targetValues} for a named architecture)`,
    );
  }
  const { name: optimizerName, ...optimizerOptions } = config.optimizer as { name: string } & Record<string, unknown>;
  const optimizer = located(loaded, ["optimizer"], () => createOptimizer(optimizerName, model.parameters(), optimizerOptions), hyperField);
  let scheduler: Schedule | undefined;
  let interval: "epoch" | "batch" = "epoch";
  let monitor: string | undefined;
  if (config.scheduler) {
    const { name, interval: every, monitor: watched, ...options } = config.scheduler as { name: string; interval?: "epoch" | "batch"; monitor?: string } & Record<string, unknown>;
    scheduler = located(loaded, ["scheduler"], () => createScheduler(name, optimizer, options), hyperField);
    interval = every ?? (name === "one_cycle" ? "batch" : "epoch");
    monitor = watched;
  }
  const { callbacks: c, loggers, training } = config;
  const monitors: Array<[ConfigPath, string | null | undefined]> = [
    [["callbacks", "checkpoint", "monitor"], c.checkpoint.monitor],
    [["callbacks", "early_stopping", "monitor"], c.early_stopping?.monitor],
    [["scheduler", "monitor"], monitor],
  ];
  for (const [path, watched] of monitors) {
    if (watched?.startsWith("val_") && !data.validation) {
      throw new ConfigError(`${loaded.locate(path)}: ${path.join(".")}: "${watched}" needs a validation set (data.validation > 0)`);
    }
  }
  const callbacks: Callback[] = [];
  if (c.nan_guard) callbacks.push(new NanGuard());
  if (c.early_stopping) {
    const e = c.early_stopping;
    callbacks.push(new EarlyStopping({ monitor: e.monitor, mode: e.mode, patience: e.patience, minDelta: e.min_delta, restoreBestWeights: e.restore_best_weights }));
  }
  if (progress) callbacks.push(new ProgressLogger(training.epochs, data.train.batchesPerEpoch, c.progress.every, progress));
  if (loggers.csv) callbacks.push(new CsvLogger(join(runDirectory, "metrics.csv")));
  callbacks.push(new JsonlLogger(join(runDirectory, "log.jsonl"), loggers.jsonl.every));
  const recording = store ? storeRecording(store.store, store.runId) : undefined;
  if (recording) callbacks.push(...recording.callbacks);
  const tensorboard = loggers.tensorboard ? tensorBoardLogger(loaded, runDirectory) : undefined;
  if (tensorboard) callbacks.push(tensorboard);
  // Last, so that the checkpoint captures the other callbacks' state after the epoch.
  callbacks.push(
    new ModelCheckpoint(join(runDirectory, "checkpoints"), loaded.raw, {
      every: c.checkpoint.every,
      keepLast: c.checkpoint.keep_last,
      monitor: c.checkpoint.monitor ?? undefined,
      mode: c.checkpoint.mode,
    }),
  );
  let backward: ((loss: Tensor, step: number) => void) | undefined;
  let tracker: QuantityTracker | undefined;
  if (config.quantities) {
    const section = config.quantities;
    const quantities = located(loaded, ["quantities"], () => createQuantities(section, training.track_every));
    const created = new QuantityTracker(quantities, model, optimizer);
    tracker = created;
    backward = (loss, step) => created.backward(loss, step);
    // A plain line on stderr: a process warning would add "(node:PID) Warning:" and Node's
    // "(Use `node --trace-warnings ...`)" hint, which say nothing to a user of the CLI.
    created.warn = (message) => process.stderr.write(`${message}\n`);
    recording?.recordQuantities(created);
    if (tensorboard) created.subscribe(tensorboard.logQuantity);
    callbacks.unshift(new QuantityLogger(created, join(runDirectory, "quantities.jsonl")));
  }
  const trainer = new Trainer({
    backward,
    model,
    optimizer,
    scheduler,
    schedulerInterval: interval,
    schedulerMonitor: monitor,
    loss: { name: training.loss, labelSmoothing: training.label_smoothing },
    epochs: training.epochs,
    metrics: metricSpecs(loaded),
    clipGradNorm: training.clip_grad_norm,
    clipNormType: training.clip_norm_type,
    clipGradValue: training.clip_grad_value,
    accumulate: training.accumulate,
    trackEvery: training.track_every,
    callbacks,
  });
  return { config, data, model, optimizer, scheduler, trainer, tracker };
}
