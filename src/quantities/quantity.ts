import type { ExtensionRequest, ParameterStatistics } from "../engine/extensions/index.ts";
import type { Tensor } from "../engine/tensor.ts";
import { every, type StepSchedule } from "./schedule.ts";

/** A histogram as quantities store it: counts and bin edges (2-D: hist[ix][iy], two edge lists). */
export interface HistogramValue {
  /** The counts per bin; 2-D: hist[ix][iy]. */
  hist: number[] | number[][];
  /** The bins' edges (one more than bins); 2-D: [x edges, y edges]. */
  edges: number[] | number[][];
}

/** What a quantity produces for one step: a scalar, one value per parameter tensor, or a histogram. */
export type QuantityValue = number | number[] | HistogramValue;

/**
 * Several values of one quantity at a step: `total` is recorded under the quantity's name and
 * each part under `<name>/<part>` (GradHist1d's per-parameter histograms), so that loggers and
 * the store see ordinary values.
 */
export interface QuantityParts {
  /** The value recorded under the quantity's name. */
  total: QuantityValue;
  /** The values recorded under `<name>/<part>`, by part (e.g. a parameter's name). */
  parts: Record<string, QuantityValue>;
}

/** Whether a quantity's result carries parts. */
export function hasParts(value: QuantityValue | QuantityParts): value is QuantityParts {
  return typeof value === "object" && !Array.isArray(value) && "parts" in value;
}

/** Everything a quantity may read at step t (θ_t and batch t, after the backward pass). */
export interface StepInfo {
  /** t, the training step (0-based, counting optimizer steps). */
  step: number;
  /** N, the number of samples in the batch. */
  batchSize: number;
  /** L_t, the mean loss. */
  loss: number;
  /** ℓ_i, the per-sample losses. */
  individualLosses: Float64Array;
  /** The parameters θ_t in order, with their names. */
  params: Array<{
    /** The parameter's dotted name, e.g. "0.weight". */
    name: string;
    /** The live parameter (its `.grad` holds g). */
    tensor: Tensor;
  }>;
  /** θ_t per parameter (copies, so they survive the optimizer step). */
  values: Float32Array[];
  /** The batch gradient g = ∇L per parameter (copies). */
  grads: Float32Array[];
  /**
   * θ_t and g per parameter as copies in engine memory, for kernels (no JavaScript copy); they
   * live until the tracker drops this step, after the next step's quantities.
   */
  valueTensors: Tensor[];
  /** g per parameter in engine memory, as `valueTensors`. */
  gradTensors: Tensor[];
  /** ‖g_k‖² per parameter tensor, summed in float64 (computed once per step). */
  gradSquaredNorms: number[];
  /** θ_0 per parameter, as an array copy and in engine memory. */
  initial: Float32Array[];
  /** θ_0 per parameter in engine memory (kept for the whole run). */
  initialTensors: Tensor[];
  /** The per-sample statistics the due quantities asked for, per parameter tensor. */
  stats: Map<Tensor, ParameterStatistics>;
  /** The optimizer's name and first group's hyperparameters (lr, momentum, ...). */
  optimizer: {
    /** As `Optimizer.name`, e.g. "SGD". */
    name: string;
    /** A copy of the first group's hyperparameters at this step (lr as scheduled). */
    hyper: Record<string, unknown>;
  };
  /**
   * Exact H·v of the mean loss at θ_t, one engine tensor per parameter in and out (the products
   * are new tensors in the caller's scope). Only while `compute` of this step runs: the graph is
   * freed afterwards.
   */
  hessianVectorProduct(directions: readonly Tensor[]): Tensor[];
}

/** What of a step a two-step quantity may read at the next step: θ_t or g. */
export type EarlierStepRead = "values" | "grads";

/** What a quantity may use to decide its request, before the backward pass of `step`. */
export interface RequestContext {
  /** The step whose backward pass the request is for. */
  step: number;
  /** The parameters θ_step, in order. */
  params: Array<{
    /** The parameter's dotted name, e.g. "0.weight". */
    name: string;
    /** The live parameter. */
    tensor: Tensor;
  }>;
  /** The optimizer's name and first group's hyperparameters. */
  optimizer: {
    /** As `Optimizer.name`, e.g. "SGD". */
    name: string;
    /** A copy of the first group's hyperparameters. */
    hyper: Record<string, unknown>;
  };
}

/**
 * A Cockpit-style quantity. It declares the per-sample statistics it needs for a due step; the
 * tracker merges the requests of all due quantities into one backward pass and then calls
 * `compute`. Quantities that span two steps (UpdateSize, Alpha) implement `computeAcross`,
 * called at step t+1 with both steps' info; their value is stored under step t.
 */
export interface Quantity {
  /** The name results are stored under (Cockpit's class name, e.g. `NormTest`). */
  readonly name: string;
  /** The steps at which it is computed (e.g. every 10th). */
  readonly schedule: StepSchedule;
  /**
   * True when the quantity reads the loss's second derivative (curvature diagonals,
   * Hessian-vector products): a custom loss must then come with its curvature factor.
   */
  readonly usesLossCurvature?: boolean;
  /**
   * The extensions needed at `context.step` (merged with the other quantities'); asked when the
   * quantity is due, and for two-step quantities also at the step after a due one.
   */
  request?(context: RequestContext): ExtensionRequest;
  /** Its value at `step.step`, after the backward pass; undefined records nothing. Absent for two-step quantities. */
  compute?(step: StepInfo): QuantityValue | QuantityParts | undefined;
  /** Throws, naming the quantity, if it cannot work with this optimizer: checked before training starts. */
  checkOptimizer?(optimizer: StepInfo["optimizer"]): void;
  /**
   * Called at step t+1 with step t's info (`previous`) and this step's; the value is stored under
   * step t. Of `previous` it may read the scalars (step, batchSize, loss, individualLosses,
   * optimizer), the parameters (as they are now), θ_0, and what `readsEarlierStep` lists; the
   * rest of step t (its statistics, Hessian-vector products) is gone, so a quantity keeps what it
   * needs of it itself, and carries it through checkpoints in `stateDict`.
   */
  computeAcross?(previous: StepInfo, current: StepInfo): QuantityValue | undefined;
  /**
   * What `computeAcross` reads of the earlier step's θ_t (`"values"`: values, valueTensors) and
   * g (`"grads"`: grads, gradTensors, gradSquaredNorms). The tracker copies these before the
   * optimizer changes them and carries them through checkpoints, so that a resumed run completes
   * the step before its resume point; reading anything else of the earlier step then fails.
   * When unset, both.
   */
  readonly readsEarlierStep?: ReadonlyArray<EarlierStepRead>;
  /**
   * What the quantity changes as training runs (adapted histogram ranges, random generators, a
   * two-step quantity's pending start), as plain JSON data and Float32Arrays (which checkpoints
   * store exactly), so that a resumed run computes what the uninterrupted one would.
   */
  stateDict?(): unknown;
  /** Restores `stateDict()`; throws, naming the quantity, if the state does not fit. */
  loadStateDict?(state: unknown): void;
}

type SummableStatistic = "batchL2" | "batchDot" | "meanProjections";

// Sums already formed for a step's statistics, shared by the quantities that read them.
const sums = new WeakMap<StepInfo["stats"], Map<SummableStatistic, Float64Array>>();

/**
 * Σ over all parameter tensors of one per-parameter statistic (e.g. batchL2), elementwise;
 * formed once per step, so callers must not modify it.
 */
export function summedStatistic(step: StepInfo, key: SummableStatistic): Float64Array {
  const known = sums.get(step.stats) ?? new Map<SummableStatistic, Float64Array>();
  sums.set(step.stats, known);
  const cached = known.get(key);
  if (cached) return cached;
  let total: Float64Array | null = null;
  for (const { tensor } of step.params) {
    const value = step.stats.get(tensor)?.[key];
    if (!value) throw new Error(`gradscope: quantity needs ${key} for ${tensor.name ?? "a parameter"}, which was not computed`);
    if (!total) total = Float64Array.from(value);
    else for (let i = 0; i < value.length; i++) total[i] += value[i];
  }
  const result = total ?? new Float64Array(0);
  known.set(key, result);
  return result;
}

/** A quantity due on `schedule` (every step by default); subclasses name it and compute it. */
export abstract class ScheduledQuantity implements Quantity {
  abstract readonly name: string;
  constructor(readonly schedule: StepSchedule = every(1)) {}
}

/** A scheduled quantity with Cockpit's stabilizing ε in a denominator. */
export abstract class StabilizedQuantity extends ScheduledQuantity {
  constructor(
    schedule: StepSchedule = every(1),
    readonly epsilon = 1e-5,
  ) {
    super(schedule);
  }
}
