import { basename, dirname, extname, resolve } from "node:path";
import * as z from "zod";
import { describeIssue, unionFormsErrorMap } from "../config/issues.ts";
import { ConfigError, type ConfigSource, type LoadedConfig, loadConfig, readYamlFile } from "../config/load.ts";
import { type ConfigPath, pathString } from "../config/path.ts";
import { closestName } from "../nn/spec.ts";
import { configurationMap, quantityDefinitions } from "../quantities/registry.ts";

/** The longest `heartbeat_timeout` a sweep may set, in seconds. */
export const MAX_HEARTBEAT_TIMEOUT = 3600;

/** How a range parameter is drawn: evenly, evenly in log space, whole numbers, or multiples of `q`. */
export const distributions = ["uniform", "log_uniform", "int_uniform", "q_uniform"] as const;

/** The search methods. */
export const methods = ["grid", "random", "tpe"] as const;

const valuesParameter = z.strictObject({ values: z.array(z.unknown()).min(1) });

const rangeParameter = z
  .strictObject({
    min: z.number(),
    max: z.number(),
    distribution: z.enum(distributions).default("uniform"),
    q: z.number().positive().optional().describe("q_uniform: the step between values"),
  })
  .superRefine((range, context) => {
    const problem = (message: string, path: string) => context.addIssue({ code: "custom", message, path: [path] });
    if (!(range.min < range.max)) problem(`min must be less than max (got min ${range.min}, max ${range.max})`, "max");
    if (range.distribution === "log_uniform" && range.min <= 0) problem(`log_uniform needs min > 0 (got ${range.min})`, "min");
    if (range.distribution === "int_uniform" && !(Number.isInteger(range.min) && Number.isInteger(range.max)))
      problem(`int_uniform needs whole-number bounds (got min ${range.min}, max ${range.max})`, "min");
    if (range.distribution === "q_uniform" && range.q === undefined) problem("q_uniform needs q, the step between values", "distribution");
    if (range.distribution !== "q_uniform" && range.q !== undefined) problem(`q applies to distribution q_uniform only (this one is ${range.distribution})`, "q");
  });

/** A parameter: a list of values, or a range with a distribution. */
const parameterSchema = z.union([valuesParameter, rangeParameter]);

// Names a rule's `quantity` may take: the config names of the registered quantities.
const quantityNames = () => quantityDefinitions().map((d) => d.configName);

const ruleSchema = z
  .strictObject({
    quantity: z.string().optional().describe("a quantity's config name (alpha, grad_norm, ...), as the base config's quantities compute it"),
    metric: z.string().optional().describe("a training log: train_loss, train_grad_norm (every step), or an epoch log (loss, val_loss, val_accuracy, ...)"),
    above: z.number().optional(),
    below: z.number().optional(),
    for_steps: z.number().int().positive().default(1).describe("above/below: the bound is crossed at every value over this many steps"),
    diverges: z
      .strictObject({ factor: z.number().gt(1), window: z.number().int().positive().default(10) })
      .optional()
      .describe("the mean of the last `window` values exceeds `factor` times the mean of the first `window`"),
    nan: z.literal(true).optional().describe("a value is NaN or infinite"),
  })
  .superRefine((rule, context) => {
    if ((rule.quantity === undefined) === (rule.metric === undefined))
      context.addIssue({ code: "custom", message: "a rule watches one quantity or one metric: give quantity or metric", path: [] });
    const conditions = (["above", "below", "diverges", "nan"] as const).filter((key) => rule[key] !== undefined);
    if (conditions.length !== 1)
      context.addIssue({
        code: "custom",
        message: `a rule has one condition: above, below, diverges or nan (got ${conditions.length ? conditions.join(", ") : "none"})`,
        path: [],
      });
    if (rule.quantity !== undefined && !quantityNames().includes(rule.quantity)) {
      const hint = closestName(rule.quantity, quantityNames());
      context.addIssue({ code: "custom", message: `unknown quantity "${rule.quantity}"${hint ? ` (did you mean "${hint}"?)` : ""}; see gradscope quantities`, path: ["quantity"] });
    }
  });

const ashaSchema = z.strictObject({
  min_epochs: z.number().int().positive().default(1).describe("the first rung"),
  reduction_factor: z.number().int().min(2).default(3).describe("rungs at min_epochs·rf^k; a trial continues past a rung when in the top 1/rf there"),
  max_epochs: z.number().int().positive().optional().describe("no rung at or after it (default: the base's training.epochs)"),
  metric: z.string().optional().describe("the epoch log compared at rungs (default: the sweep's metric)"),
});

/** The schema of a sweep file. */
export const sweepSchema = z.strictObject({
  name: z.string().optional().describe("default: the sweep file's base name"),
  base: z.union([z.string(), z.record(z.string(), z.unknown())]).describe("a config file (relative to the sweep file), or an inline config (which may `extends` files)"),
  method: z.enum(methods),
  parameters: z.record(z.string(), parameterSchema).refine((p) => Object.keys(p).length > 0, "name at least one parameter"),
  metric: z.strictObject({ name: z.string(), goal: z.enum(["minimize", "maximize"]) }),
  budget: z.strictObject({ trials: z.number().int().positive() }).optional().describe("required for random and tpe; grid runs every combination (or the first `trials`)"),
  seed: z.number().int().min(0).default(0),
  tpe: z
    .strictObject({
      startup_trials: z.number().int().min(1).default(10).describe("random trials before the model is used"),
      gamma: z.number().gt(0).lt(1).default(0.25).describe("the fraction of finished trials that forms the good group"),
      candidates: z.number().int().positive().default(24).describe("draws from the good density scored per suggestion"),
    })
    .default({ startup_trials: 10, gamma: 0.25, candidates: 24 }),
  early_stopping: z
    .strictObject({
      asha: ashaSchema.optional(),
      rules: z.array(ruleSchema).default([]),
    })
    .default({ rules: [] }),
  retries: z.number().int().min(0).default(2).describe("how often a trial whose worker died is resumed from its checkpoint"),
  heartbeat_timeout: z
    .number()
    .min(1)
    // An hour is more than any pause of a live worker; beyond it a dead worker's trial would wait
    // too long (and Node's timers, and the queue's 23 h job expiry, set limits further on).
    .max(MAX_HEARTBEAT_TIMEOUT, { message: `expected at most ${MAX_HEARTBEAT_TIMEOUT} seconds (an hour)` })
    .default(30)
    .describe("seconds without a heartbeat after which a `gradscope worker`'s trial is handed to another worker (it heartbeats every sixth of that)"),
});

/** A validated sweep file. */
export type SweepSpec = z.infer<typeof sweepSchema>;
/** One parameter of a sweep. */
export type ParameterSpec = z.infer<typeof parameterSchema>;
/** One diagnostic early-stopping rule. */
export type RuleSpec = z.infer<typeof ruleSchema>;
/** The successive-halving settings. */
export type AshaSpec = z.infer<typeof ashaSchema>;

/** A loaded sweep file: its spec, its base config, and where its fields were written. */
export interface LoadedSweep {
  /** The sweep file's path. */
  file: string;
  /** The sweep's name: its `name` field, else the file's name without its extension. */
  name: string;
  /** The sweep file, validated, defaults filled in. */
  spec: SweepSpec;
  /** Where the base config is read from (a file, or the sweep file's `base` section). */
  base: ConfigSource;
  /** The base config, validated. */
  baseConfig: LoadedConfig;
  /** "file:line:col" in the sweep file where the value at `path` was written. */
  locate(path: ConfigPath): string;
}

/** The `key.path=value` overrides that turn the base config into a trial's (values as JSON, which YAML reads). */
export const parameterOverrides = (params: Record<string, unknown>) => Object.entries(params).map(([path, value]) => `${path}=${JSON.stringify(value)}`);

/** A first value of each parameter, to check that the parameters fit the base config. */
function firstValues(spec: SweepSpec): Record<string, unknown> {
  return Object.fromEntries(Object.entries(spec.parameters).map(([path, p]) => [path, "values" in p ? p.values[0] : p.min]));
}

// The quantities a config's `quantities` section computes, by config name.
function enabledQuantities(section: unknown): string[] {
  if (typeof section === "string") return Object.keys(configurationMap(section));
  if (!section || typeof section !== "object") return [];
  return Object.entries(section).flatMap(([name, value]) => (value === false ? [] : [name]));
}

/**
 * Loads and validates a sweep file: its schema, its base config, that every parameter's first
 * value makes a valid config, that the rules' quantities are computed and that the metric can
 * be logged. Every error is a ConfigError naming file:line:col and the field.
 */
export function loadSweep(file: string): LoadedSweep {
  const { content, locate } = readYamlFile(file);
  const result = sweepSchema.safeParse(content, { error: unionFormsErrorMap });
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, sweepSchema, content, locate)).join("\n"));
  const spec = result.data;
  const where = (path: ConfigPath, message: string) => new ConfigError(`${locate(path)}: ${pathString(path)}: ${message}`);
  if (spec.method !== "grid" && spec.budget === undefined) throw where(["method"], `${spec.method} search needs budget: {trials: N}`);
  if (spec.method === "grid") {
    for (const [path, p] of Object.entries(spec.parameters))
      if (!("values" in p) && p.distribution !== "int_uniform") throw where(["parameters", path], "grid search needs values (or an int_uniform range) for every parameter");
  }
  const base: ConfigSource = typeof spec.base === "string" ? resolve(dirname(file), spec.base) : { file, section: ["base"] };
  const baseConfig = loadConfig([base]);
  if (!baseConfig.config.store.enabled) throw where(["base"], "a sweep records its trials in the run store: the base config cannot set store.enabled: false");
  // Each parameter alone, to blame the one that does not fit, then all of them together.
  const first = firstValues(spec);
  for (const [path, value] of [...Object.entries(first).map(([k, v]) => [k, { [k]: v }] as const), ["parameters", first] as const]) {
    try {
      loadConfig([base], parameterOverrides(value));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const at: ConfigPath = path === "parameters" ? ["parameters"] : ["parameters", path];
      const problem = error.message.replace(/^command-line override "[^"]*": /gm, "");
      throw new ConfigError(`${locate(at, true)}: ${pathString(at)}: the base config does not take ${parameterOverrides(value).join(" ")}: ${problem}`);
    }
  }
  const epochs = baseConfig.config.training.epochs;
  const hasValidation = baseConfig.config.data.validation > 0;
  if (spec.metric.name.startsWith("val_") && !hasValidation) throw where(["metric", "name"], `"${spec.metric.name}" needs a validation set: set data.validation > 0 in the base`);
  const asha = spec.early_stopping.asha;
  if (asha) {
    const metric = asha.metric ?? spec.metric.name;
    if (metric.startsWith("test_"))
      throw where(["early_stopping", "asha"], `rungs compare an epoch log, and "${metric}" is known only at the end: give asha.metric (e.g. val_loss)`);
    if (asha.min_epochs >= (asha.max_epochs ?? epochs))
      throw where(["early_stopping", "asha", "min_epochs"], `the first rung (epoch ${asha.min_epochs}) must come before the last epoch (${asha.max_epochs ?? epochs})`);
  }
  const computed = enabledQuantities(baseConfig.raw.quantities);
  for (const [i, rule] of spec.early_stopping.rules.entries()) {
    if (rule.quantity !== undefined && !computed.includes(rule.quantity))
      throw where(["early_stopping", "rules", i, "quantity"], `the base config does not compute "${rule.quantity}": add it to its quantities section`);
  }
  return { file, name: spec.name ?? basename(file, extname(file)), spec, base, baseConfig, locate };
}
