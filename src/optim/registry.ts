import type { Tensor } from "../engine/tensor.ts";
import { closestName, hinted } from "../nn/spec.ts";
import { Adagrad, adagradDefaults } from "./adagrad.ts";
import { Adam, AdamW, adamDefaults } from "./adam.ts";
import { LARS, larsDefaults } from "./lars.ts";
import { NAdam, nadamDefaults } from "./nadam.ts";
import type { BaseHyper, Optimizer } from "./optimizer.ts";
import { RAdam, radamDefaults } from "./radam.ts";
import { RMSprop, rmspropDefaults } from "./rmsprop.ts";
import { ChainedScheduler, SequentialLR } from "./schedulers/compose.ts";
import { CosineAnnealingLR, CosineAnnealingWarmRestarts } from "./schedulers/cosine.ts";
import { ExponentialLR, LinearLR, MultiStepLR, PolynomialLR, StepLR } from "./schedulers/decay.ts";
import { OneCycleLR, oneCycleDefaults } from "./schedulers/oneCycle.ts";
import { plateauDefaults, ReduceLROnPlateau } from "./schedulers/plateau.ts";
import type { LRScheduler, Schedule } from "./schedulers/scheduler.ts";
import { SGD, sgdDefaults } from "./sgd.ts";

/** Options as a config file writes them: snake_case (or camelCase) keys. */
export type Options = Record<string, unknown>;

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

// Converts keys to camelCase and rejects any not in `known`, naming the owner and a close match.
function normalize(owner: string, options: Options, known: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const name = camel(key);
    if (!known.includes(name)) {
      const hint = closestName(name, known);
      throw new Error(
        `gradscope: ${owner}: unknown option "${key}"${hint ? ` (did you mean "${hint.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}"?)` : ""}; known: ${known.join(", ")}`,
      );
    }
    out[name] = value;
  }
  return out;
}

function unknownName(kind: string, name: string, known: readonly string[]): never {
  throw new Error(`gradscope: unknown ${kind} "${name}"${hinted(name, known)}`);
}

const optimizerFactories = {
  sgd: [sgdDefaults, (p: Tensor[], o: Options) => new SGD(p, o)],
  adam: [adamDefaults, (p: Tensor[], o: Options) => new Adam(p, o)],
  adamw: [adamDefaults, (p: Tensor[], o: Options) => new AdamW(p, o)],
  rmsprop: [rmspropDefaults, (p: Tensor[], o: Options) => new RMSprop(p, o)],
  adagrad: [adagradDefaults, (p: Tensor[], o: Options) => new Adagrad(p, o)],
  nadam: [nadamDefaults, (p: Tensor[], o: Options) => new NAdam(p, o)],
  radam: [radamDefaults, (p: Tensor[], o: Options) => new RAdam(p, o)],
  lars: [larsDefaults, (p: Tensor[], o: Options) => new LARS(p, o)],
} as const satisfies Record<string, readonly [object, (p: Tensor[], o: Options) => Optimizer<BaseHyper>]>;

/** The optimizer config names. */
export const optimizerNames = Object.keys(optimizerFactories);

/** Each optimizer's options with their defaults (camelCase keys), for schemas and docs. */
export function optimizerDefaults(name: string): Record<string, unknown> {
  return { ...optimizerFactories[name as keyof typeof optimizerFactories][0] };
}

/** Builds an optimizer from its config name and options (e.g. `adam`, `{ lr: 0.001, weight_decay: 0 }`). */
export function createOptimizer(name: string, params: Tensor[], options: Options = {}): Optimizer<BaseHyper> {
  const entry = optimizerFactories[name as keyof typeof optimizerFactories];
  if (!entry) unknownName("optimizer", name, optimizerNames);
  const [defaults, build] = entry;
  const upper = name === "adamw" ? "AdamW" : name;
  return build(params, normalize(`optimizer ${upper}`, options, Object.keys(defaults)));
}

type SchedulerFactory = (optimizer: Optimizer<BaseHyper>, o: Record<string, unknown>) => Schedule;

const num = (o: Record<string, unknown>, key: string, fallback?: number) => (o[key] ?? fallback) as number;

const schedulerFactories: Record<string, { known: string[]; build: SchedulerFactory }> = {
  step: { known: ["stepSize", "gamma"], build: (opt, o) => new StepLR(opt, num(o, "stepSize"), num(o, "gamma", 0.1)) },
  multistep: { known: ["milestones", "gamma"], build: (opt, o) => new MultiStepLR(opt, o.milestones as number[], num(o, "gamma", 0.1)) },
  exponential: { known: ["gamma"], build: (opt, o) => new ExponentialLR(opt, num(o, "gamma")) },
  cosine: { known: ["tMax", "etaMin"], build: (opt, o) => new CosineAnnealingLR(opt, num(o, "tMax"), num(o, "etaMin", 0)) },
  cosine_restarts: { known: ["t0", "tMult", "etaMin"], build: (opt, o) => new CosineAnnealingWarmRestarts(opt, num(o, "t0"), num(o, "tMult", 1), num(o, "etaMin", 0)) },
  linear: {
    known: ["startFactor", "endFactor", "totalIters"],
    build: (opt, o) => new LinearLR(opt, num(o, "startFactor", 1 / 3), num(o, "endFactor", 1), num(o, "totalIters", 5)),
  },
  polynomial: { known: ["totalIters", "power"], build: (opt, o) => new PolynomialLR(opt, num(o, "totalIters", 5), num(o, "power", 1)) },
  one_cycle: {
    known: ["maxLr", "totalSteps", ...Object.keys(oneCycleDefaults)],
    build: (opt, o) => new OneCycleLR(opt, o as unknown as ConstructorParameters<typeof OneCycleLR>[1]),
  },
  plateau: { known: Object.keys(plateauDefaults), build: (opt, o) => new ReduceLROnPlateau(opt, o) },
  sequential: {
    known: ["schedulers", "milestones"],
    build: (opt, o) => new SequentialLR(opt, subSchedulers(opt, o.schedulers) as LRScheduler[], o.milestones as number[]),
  },
  chained: { known: ["schedulers"], build: (opt, o) => new ChainedScheduler(subSchedulers(opt, o.schedulers)) },
};

/** The scheduler config names. */
export const schedulerNames = Object.keys(schedulerFactories);

/** Each scheduler's option names (camelCase), for schemas and docs. */
export function schedulerOptionNames(name: string): string[] {
  return [...schedulerFactories[name].known];
}

function subSchedulers(optimizer: Optimizer<BaseHyper>, specs: unknown): Schedule[] {
  if (!Array.isArray(specs)) throw new Error(`gradscope: scheduler "schedulers" must be a list of { name, ...options }, got ${JSON.stringify(specs)}`);
  return specs.map((spec: Options) => {
    const { name, ...options } = spec;
    return createScheduler(String(name), optimizer, options);
  });
}

/**
 * Builds an LR scheduler from its config name and options, e.g. `cosine`, `{ t_max: 100 }`, or
 * `sequential`, `{ schedulers: [{ name: linear, start_factor: 0.01, total_iters: 5 }, { name: cosine, t_max: 95 }], milestones: [5] }`.
 */
export function createScheduler(name: string, optimizer: Optimizer<BaseHyper>, options: Options = {}): Schedule {
  const entry = schedulerFactories[name];
  if (!entry) unknownName("scheduler", name, schedulerNames);
  return entry.build(optimizer, normalize(`scheduler ${name}`, options, entry.known));
}
