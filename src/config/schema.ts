import * as z from "zod";
import { transformTypes } from "../data/transforms.ts";
import { backendChoices } from "../engine/backendChoices.ts";
import { metricNames } from "../metrics/registry.ts";
import { architectureNames } from "../nn/spec.ts";
import { optimizerDefaults, optimizerNames, schedulerNames, schedulerOptionNames } from "../optim/registry.ts";
import { entrySchema } from "../quantities/definition.ts";
import { configurations, quantityDefinitions } from "../quantities/registry.ts";
import { lossNames } from "../train/losses.ts";

/** camelCase → snake_case, the spelling config files use. */
export const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const positiveInt = z.number().int().positive();
const fraction = z.number().min(0).lt(1);

// One strict object per optimizer, its options typed after their defaults.
function optimizerSchema(name: string) {
  const shape: Record<string, z.ZodType> = { name: z.literal(name) };
  for (const [key, value] of Object.entries(optimizerDefaults(name))) {
    const type = typeof value === "boolean" ? z.boolean() : Array.isArray(value) ? z.tuple([z.number(), z.number()]) : z.number();
    shape[snake(key)] = type.optional().describe(`default ${JSON.stringify(value)}`);
  }
  return z.strictObject(shape);
}

// Scheduler options are checked by the schedulers themselves (their errors name the field).
function schedulerSchema(name: string) {
  const shape: Record<string, z.ZodType> = {
    name: z.literal(name),
    interval: z.enum(["epoch", "batch"]).optional().describe("when it steps: after each epoch (default) or each optimizer step"),
    monitor: z.string().optional().describe("plateau: the log it watches (default val_loss)"),
  };
  for (const key of schedulerOptionNames(name)) shape[snake(key)] = z.unknown().optional();
  return z.strictObject(shape);
}

const transform = z.looseObject({ type: z.enum(transformTypes as [string, ...string[]]) });
const layer = z.looseObject({ type: z.string() });

/** The `model` section: a named architecture or a layer list. */
export const modelSchema = z.union([
  z.strictObject({
    arch: z.enum(architectureNames as [string, ...string[]]),
    variant: z.string().optional().describe("imagenet or cifar for the image classifiers (default: imagenet from 64x64 inputs up), classic or modern for lenet5"),
    hidden: z.array(positiveInt).optional(),
    activation: z.string().optional(),
    classes: positiveInt.optional(),
  }),
  z.strictObject({
    layers: z.array(layer).min(1),
    init: z.unknown().optional().describe("default weight init of conv2d and linear layers (checked when the model is built)"),
    bias_init: z.enum(["default", "zeros"]).optional(),
  }),
]);

/** The `data` section. */
export const dataSchema = z.strictObject({
  source: z.enum(["fashion-mnist", "fashion-mnist-sample", "idx", "cifar10", "cifar100", "csv", "blobs", "spirals", "regression"]),
  path: z.string().optional().describe("fashion-mnist/idx: the folder; cifar10/cifar100: the folder of the binary release or its .tar.gz (default $GRADSCOPE_DATA); csv: the file"),
  test_path: z.string().optional(),
  label: z.string().optional().describe("csv: the label column (default: the last); cifar100: fine (default, 100 classes) or coarse (20)"),
  classes: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("0: regression targets (csv); default 10 for fashion-mnist and cifar10, 100 (20 coarse) for cifar100, 2 for spirals, 0 without a classification loss"),
  train_images: z.string().default("train-images-idx3-ubyte"),
  train_labels: z.string().default("train-labels-idx1-ubyte"),
  test_images: z.string().default("t10k-images-idx3-ubyte"),
  test_labels: z.string().default("t10k-labels-idx1-ubyte"),
  transpose: z.boolean().default(false).describe("idx: the images are stored transposed, as EMNIST's are"),
  samples: positiveInt.default(1000),
  dims: positiveInt.default(2),
  noise: z.number().min(0).default(0.05),
  std: z.number().positive().default(1),
  validation: fraction.default(0).describe("fraction of the training set held out for validation"),
  test_fraction: fraction.default(0.2).describe("fraction split off as the test set when the source has none"),
  limit: positiveInt.optional().describe("use only the first N training examples (quick runs)"),
  test_limit: positiveInt.optional(),
  batch_size: positiveInt.default(128),
  eval_batch_size: positiveInt.default(1000),
  shuffle: z.boolean().default(true),
  drop_last: z.boolean().default(false),
  transforms: z.array(transform).default([]).describe("applied to every split"),
  augment: z.array(transform).default([]).describe("applied to training batches only, before transforms"),
  prefetch: z
    .union([z.literal("auto"), z.number().int().min(0)])
    .default("auto")
    .describe(
      "training batches prepared ahead on a worker thread (0: on the training thread; auto: 2 when training batches are transformed per batch or hold 65,536 values or more, else 0)",
    ),
});

const metric = z.union([z.enum(metricNames as [string, ...string[]]), z.looseObject({ name: z.enum(metricNames as [string, ...string[]]) })]);

/** The `training` section. */
export const trainingSchema = z.strictObject({
  epochs: positiveInt,
  loss: z.enum(lossNames).default("cross_entropy"),
  label_smoothing: fraction.default(0),
  metrics: z.array(metric).optional().describe("default: [accuracy]; with the mse loss [mae, mse, rmse, r2]"),
  clip_grad_norm: z.number().positive().optional(),
  clip_norm_type: z.union([z.literal(2), z.literal("inf")]).default(2),
  clip_grad_value: z.number().positive().optional(),
  accumulate: positiveInt.default(1).describe("micro-batches per optimizer step"),
  track_every: positiveInt.default(1).describe("optimizer steps between expensive diagnostics"),
  runs_dir: z.string().default("runs"),
});

const monitorMode = z.enum(["min", "max"]);

/** The `callbacks` section. */
export const callbacksSchema = z.strictObject({
  early_stopping: z
    .strictObject({
      monitor: z.string().default("val_loss"),
      mode: monitorMode.default("min"),
      patience: positiveInt.default(5),
      min_delta: z.number().min(0).default(0),
      restore_best_weights: z.boolean().default(false),
    })
    .nullish(),
  checkpoint: z
    .strictObject({
      every: z.number().int().min(0).default(0),
      keep_last: z.number().int().min(0).default(3),
      monitor: z.string().nullish(),
      mode: monitorMode.default("min"),
    })
    .default({ every: 0, keep_last: 3, mode: "min" }),
  nan_guard: z.boolean().default(true),
  progress: z.strictObject({ every: positiveInt.default(100) }).default({ every: 100 }),
});

/** The `loggers` section. */
export const loggersSchema = z.strictObject({
  csv: z.boolean().default(true),
  jsonl: z.strictObject({ every: positiveInt.default(50) }).default({ every: 50 }),
  tensorboard: z
    .union([
      z.boolean(),
      z.strictObject({
        dir: z.string().min(1).optional().describe("default <run dir>/tensorboard; a dir given here gets one subfolder per run, named by its id"),
        flush_secs: z.number().positive().default(2).describe("the longest a logged value waits before it is written to the event file"),
      }),
    ])
    .optional()
    .describe("TensorBoard event files written during training (true: the defaults)"),
});

/** A `quantities` section: a Cockpit configuration name, or quantities mapped to true/false or their schedules and options. */
export type QuantitiesSection = string | Record<string, boolean | Record<string, unknown>>;

/**
 * The `quantities` section's schema, built from the quantities registered now (so a user's
 * registered quantity is accepted): each entry takes its definition's options and the schedule keys.
 */
export function quantitiesSchema(): z.ZodType<QuantitiesSection> {
  const entries = quantityDefinitions().map((definition) => [
    definition.configName,
    z
      .union([z.boolean(), entrySchema(definition)])
      .optional()
      .describe(definition.description),
  ]);
  return z.union([z.enum(Object.keys(configurations)), z.strictObject(Object.fromEntries(entries))]) as unknown as z.ZodType<QuantitiesSection>;
}

// Every section but `quantities`, whose schema follows the registry.
const fixedSections = z.strictObject({
  name: z.string().optional(),
  seed: z.number().int().min(0).default(0),
  model: modelSchema,
  data: dataSchema,
  training: trainingSchema,
  optimizer: z.discriminatedUnion("name", optimizerNames.map((name) => optimizerSchema(name)) as unknown as [z.ZodObject, ...z.ZodObject[]]),
  scheduler: z
    .discriminatedUnion("name", schedulerNames.map((name) => schedulerSchema(name)) as unknown as [z.ZodObject, ...z.ZodObject[]])
    .nullish()
    .describe("null (or absent): a constant lr"),
  callbacks: callbacksSchema.default({ checkpoint: { every: 0, keep_last: 3, mode: "min" }, nan_guard: true, progress: { every: 100 } }),
  loggers: loggersSchema.default({ csv: true, jsonl: { every: 50 } }),
  store: z
    .strictObject({
      enabled: z.boolean().default(true),
      path: z.string().optional().describe("a SQLite file; default: <runs_dir>/gradscope.db"),
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//, "expected a postgres:// or postgresql:// URL")
        .optional()
        .describe(
          "a shared PostgreSQL store, postgres://user@host/db (over path; GRADSCOPE_STORE_URL and --store override it; keep the password in PGPASSWORD or ~/.pgpass, since the config is saved with the run)",
        ),
    })
    .default({ enabled: true }),
  engine: z
    .strictObject({
      threads: positiveInt.optional().describe("threads the kernels run on (default: GRADSCOPE_THREADS, else every core); results are the same bits at any count"),
      backend: z
        .enum(backendChoices)
        .optional()
        .describe("where matrix products run: wasm, native (the system BLAS through the optional addon) or auto, native when it loaded (default: GRADSCOPE_BACKEND, else auto)"),
    })
    .optional(),
});

/** The schema of a whole training config (after `extends` and overrides are merged), with the quantities registered now. */
export function configSchema() {
  const { store, ...sections } = fixedSections.shape;
  return z.strictObject({
    ...sections,
    quantities: quantitiesSchema().nullish().describe("Cockpit diagnostics: economy, business, full, or a map of quantities"),
    store,
  });
}

/** A validated config. */
export type Config = z.infer<ReturnType<typeof configSchema>>;

/**
 * The JSON Schema of config files (`gradscope schema`), for editor completion: the merged
 * config's, plus the file's own `extends`. A file that extends another may leave out the
 * sections that one gives, so the sections are required only of a file without `extends`.
 */
export function configJsonSchema(): Record<string, unknown> {
  const { properties, required, ...schema } = z.toJSONSchema(configSchema(), { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  const extendsField = {
    anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }],
    description: "config files to merge first, in order (paths relative to this file)",
  };
  return {
    title: "gradscope training config",
    ...schema,
    properties: { extends: extendsField, ...(properties as Record<string, unknown>) },
    anyOf: [{ required: ["extends"] }, { required }],
  };
}
