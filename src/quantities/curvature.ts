import * as z from "zod";
import { extremeEigenvalue } from "../engine/curvature/lanczos.ts";
import type { CurvatureKind, ExtensionRequest } from "../engine/extensions/index.ts";
import { elementSum, quotientSum } from "../engine/kernels/reductions.ts";
import { Random } from "../engine/random.ts";
import type { Tensor } from "../engine/tensor.ts";
import { defineQuantity } from "./definition.ts";
import { ScheduledQuantity, type StepInfo } from "./quantity.ts";
import { every, type StepSchedule } from "./schedule.ts";

const curvatureKinds: readonly CurvatureKind[] = ["diag_h", "diag_ggn_exact", "diag_ggn_mc"];

function checkKind(name: string, kind: string): CurvatureKind {
  if (!curvatureKinds.includes(kind as CurvatureKind)) throw new Error(`gradscope: ${name}: curvature must be one of ${curvatureKinds.join(", ")}, got "${kind}"`);
  return kind as CurvatureKind;
}

// A quantity's state when its random generator is all that changes: the generator's state (a
// spare normal of NaN becomes null in JSON, which Random.setState reads as none).
function randomStateDict(random: Random): { random: number[] } {
  return { random: random.getState() };
}

function loadRandomState(name: string, random: Random, state: unknown): void {
  const values = (state as { random?: unknown } | null)?.random;
  if (!Array.isArray(values) || values.length !== 5 || !values.slice(0, 4).every((v) => Number.isInteger(v))) {
    throw new Error(`gradscope: the checkpoint's ${name} random state ${JSON.stringify(values)} is not the 5 numbers of a generator`);
  }
  random.setState(values.map((v) => (typeof v === "number" ? v : Number.NaN)));
}

/** A quantity built on a curvature diagonal h (BackPACK's DiagHessian or DiagGGN, per Cockpit's `curvature` option). */
abstract class DiagonalCurvatureQuantity extends ScheduledQuantity {
  readonly usesLossCurvature = true;
  readonly curvature: CurvatureKind;
  // Draws the Monte-Carlo samples of diag_ggn_mc.
  private readonly random: Random;

  constructor(schedule: StepSchedule = every(1), curvature = "diag_h", seed = 0) {
    super(schedule);
    this.curvature = checkKind(new.target.name, curvature);
    this.random = new Random(seed);
  }

  request(): ExtensionRequest {
    return { diagonalCurvature: { kind: this.curvature, random: this.random } };
  }

  /** Where the Monte-Carlo samples continue. */
  stateDict(): { random: number[] } {
    return randomStateDict(this.random);
  }

  loadStateDict(state: unknown): void {
    loadRandomState(this.name, this.random, state);
  }

  /** h per parameter tensor, in parameter order. */
  protected diagonals(step: StepInfo): Tensor[] {
    return step.params.map(({ tensor }) => {
      const diagonal = step.stats.get(tensor)?.diagonalCurvature;
      if (!diagonal) throw new Error(`gradscope: ${this.name} needs the curvature diagonal of ${tensor.name ?? "a parameter"}, which was not computed`);
      return diagonal;
    });
  }
}

/** Σ_j h_j per parameter tensor: the trace of each diagonal Hessian block. Config name `hess_trace`. */
export class HessTrace extends DiagonalCurvatureQuantity {
  readonly name = "HessTrace";
  compute(step: StepInfo): number[] {
    return this.diagonals(step).map(elementSum);
  }
}

/** Takeuchi's information criterion from diagonals: M_j = (1/N)Σ_i g_ij², over h_j + ε. */
abstract class TakeuchiQuantity extends DiagonalCurvatureQuantity {
  constructor(
    schedule: StepSchedule = every(1),
    curvature = "diag_h",
    readonly epsilon = 1e-7,
    seed = 0,
  ) {
    super(schedule, curvature, seed);
  }

  request(): ExtensionRequest {
    return { ...super.request(), sumGradSquared: true };
  }

  /** Σ_i g_ij² per parameter tensor (N·M_j). */
  protected squareSums(step: StepInfo): Tensor[] {
    return step.params.map(({ tensor }) => {
      const squares = step.stats.get(tensor)?.sumGradSquared;
      if (!squares) throw new Error(`gradscope: ${this.name} needs sumGradSquared of ${tensor.name ?? "a parameter"}, which was not computed`);
      return squares;
    });
  }
}

/** Σ_j M_j / (h_j + ε). Config name `tic_diag`. */
export class TICDiag extends TakeuchiQuantity {
  readonly name = "TICDiag";
  compute(step: StepInfo): number {
    const diagonals = this.diagonals(step);
    return this.squareSums(step).reduce((total, squares, k) => total + quotientSum(squares, diagonals[k], this.epsilon), 0) / step.batchSize;
  }
}

/** Σ_j M_j / (Σ_j h_j + ε). Config name `tic_trace`. */
export class TICTrace extends TakeuchiQuantity {
  readonly name = "TICTrace";
  compute(step: StepInfo): number {
    const trace = this.diagonals(step).reduce((total, diagonal) => total + elementSum(diagonal), 0);
    return this.squareSums(step).reduce((total, squares) => total + elementSum(squares), 0) / step.batchSize / (trace + this.epsilon);
  }
}

/**
 * The Hessian eigenvalue of largest magnitude (Cockpit's power iteration converges to it), by
 * Lanczos on exact Hessian-vector products of the mean loss. Config name `hess_max_ev`.
 */
export class HessMaxEV extends ScheduledQuantity {
  readonly name = "HessMaxEV";
  readonly usesLossCurvature = true;
  private readonly random: Random;

  constructor(
    schedule: StepSchedule = every(1),
    readonly options: { maxIterations?: number; rtol?: number; atol?: number; seed?: number } = {},
  ) {
    super(schedule);
    this.random = new Random(options.seed ?? 0);
  }

  /** Where the start vectors continue. */
  stateDict(): { random: number[] } {
    return randomStateDict(this.random);
  }

  loadStateDict(state: unknown): void {
    loadRandomState(this.name, this.random, state);
  }

  compute(step: StepInfo): number {
    const shapes = step.params.map(({ tensor }) => tensor.shape);
    const r = extremeEigenvalue((v) => step.hessianVectorProduct(v), shapes, { ...this.options, random: this.random });
    return r.value;
  }
}

const curvatureOption = z
  .enum(curvatureKinds as [CurvatureKind, ...CurvatureKind[]])
  .default("diag_h")
  .describe("the curvature diagonal: the Hessian's (diag_h) or the GGN's, exact or Monte-Carlo");
const seed = z.number().int().min(0).default(0).describe("seeds the quantity's random generator");
const takeuchiOptions = { curvature: curvatureOption, epsilon: z.number().positive().default(1e-7).describe("added to the curvature in the denominator"), seed };

/** The definitions of the quantities above. */
export const curvatureDefinitions = [
  defineQuantity({
    configName: "hess_trace",
    name: "HessTrace",
    description: "the trace of each diagonal Hessian block, per parameter tensor",
    options: { curvature: curvatureOption, seed },
    create: (options, schedule) => new HessTrace(schedule, options.curvature, options.seed),
  }),
  defineQuantity({
    configName: "tic_diag",
    name: "TICDiag",
    description: "Takeuchi's information criterion from the curvature diagonal",
    options: takeuchiOptions,
    create: (options, schedule) => new TICDiag(schedule, options.curvature, options.epsilon, options.seed),
  }),
  defineQuantity({
    configName: "tic_trace",
    name: "TICTrace",
    description: "Takeuchi's information criterion from the curvature trace",
    options: takeuchiOptions,
    create: (options, schedule) => new TICTrace(schedule, options.curvature, options.epsilon, options.seed),
  }),
  defineQuantity({
    configName: "hess_max_ev",
    name: "HessMaxEV",
    description: "the Hessian eigenvalue of largest magnitude (Lanczos on Hessian-vector products)",
    options: {
      max_iterations: z.number().int().positive().default(100).describe("Lanczos iterations at most"),
      rtol: z.number().positive().default(1e-3).describe("stop when the estimate moves by at most atol + rtol·|estimate|"),
      atol: z.number().min(0).default(1e-6),
      seed,
    },
    create: ({ max_iterations, rtol, atol, seed }, schedule) => new HessMaxEV(schedule, { maxIterations: max_iterations, rtol, atol, seed }),
  }),
];
