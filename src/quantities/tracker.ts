import { backward } from "../engine/autograd.ts";
import { copyOf, tensor, zeros } from "../engine/creation.ts";
import { HessianVectorProducts } from "../engine/curvature/hvp.ts";
import { backwardWithExtensions, coupledLayers, type ExtensionRequest, perSampleLosses } from "../engine/extensions/index.ts";
import { squaredNorm } from "../engine/kernels/reductions.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Module } from "../nn/module.ts";
import { type EarlierStepRead, hasParts, type Quantity, type QuantityParts, type QuantityValue, type StepInfo } from "./quantity.ts";

// A kept engine copy of each tensor, for values that must outlive the optimizer's step.
const keptCopies = (tensors: Tensor[]): Tensor[] => tensors.map((t) => copyOf(t).keep());

// Kept engine tensors shaped like the parameters, from a checkpoint's arrays.
const keptTensors = (arrays: Float32Array[], params: StepInfo["params"]): Tensor[] => arrays.map((v, k) => tensor(v, params[k].tensor.shape).keep());

const everyEarlierStepRead: readonly EarlierStepRead[] = ["values", "grads"];

/** How a step's copies of θ_t and g and its ‖g_k‖² are made, each on its first read. */
interface CopySources {
  values: () => Tensor[];
  grads: () => Tensor[];
  gradSquaredNorms: () => number[];
}

/**
 * A step's θ_t and g as kept engine copies, and its ‖g_k‖², each made on first read. When the
 * step is kept for two-step quantities, `keep` makes what they read of it and closes the rest to
 * them: the optimizer's step changes what it would copy, and a checkpoint carries only what was
 * kept. Copies made before stay alive (a quantity may hold them) until `dispose`.
 */
class StepCopies {
  private valueTensors?: Tensor[];
  private gradTensors?: Tensor[];
  private norms?: number[];

  constructor(
    private readonly step: number,
    private readonly sources: CopySources,
    private readable: ReadonlySet<EarlierStepRead> = new Set(everyEarlierStepRead),
  ) {}

  private check(read: EarlierStepRead): void {
    if (this.readable.has(read)) return;
    const what = read === "values" ? "θ_t" : "gradient";
    throw new Error(`gradscope: step ${this.step}'s ${what} was not kept for the next step: a two-step quantity that reads it there lists "${read}" in readsEarlierStep`);
  }

  get values(): Tensor[] {
    this.check("values");
    this.valueTensors ??= this.sources.values();
    return this.valueTensors;
  }

  get grads(): Tensor[] {
    this.check("grads");
    this.gradTensors ??= this.sources.grads();
    return this.gradTensors;
  }

  get gradSquaredNorms(): number[] {
    this.check("grads");
    this.norms ??= this.sources.gradSquaredNorms();
    return this.norms;
  }

  /** Makes the copies `reads` names, now that the optimizer is about to step, and closes the others. */
  keep(reads: ReadonlySet<EarlierStepRead>): void {
    this.readable = reads;
    if (reads.has("values")) void this.values;
    if (reads.has("grads")) void [this.grads, this.gradSquaredNorms];
  }

  /** Whether a quantity that reads `reads` of this step can read them. */
  keeps(reads: readonly EarlierStepRead[]): boolean {
    return reads.every((read) => this.readable.has(read));
  }

  /** What a checkpoint carries of the kept copies. */
  state(): Pick<PendingStepState, "values" | "grads" | "gradSquaredNorms"> {
    return {
      ...(this.readable.has("values") && { values: this.values.map((t) => t.data.slice()) }),
      ...(this.readable.has("grads") && { grads: this.grads.map((t) => t.data.slice()), gradSquaredNorms: [...this.gradSquaredNorms] }),
    };
  }

  dispose(): void {
    for (const t of [...(this.valueTensors ?? []), ...(this.gradTensors ?? [])]) t.dispose();
  }
}

/** Merges the requests of the due quantities; histogram specs must agree. */
export function mergeRequests(requests: ExtensionRequest[]): ExtensionRequest {
  const merged: ExtensionRequest = {};
  for (const r of requests) {
    if (r.batchL2) merged.batchL2 = true;
    if (r.batchDot) merged.batchDot = true;
    if (r.meanProjections) merged.meanProjections = true;
    if (r.batchMaxAbs) merged.batchMaxAbs = true;
    if (r.sumGradSquared) merged.sumGradSquared = true;
    if (r.individualGradients) merged.individualGradients = true;
    if (r.deferredProjections) merged.deferredProjections = true;
    if (r.projections) {
      const directions = new Map(merged.projections ?? []);
      for (const [param, direction] of r.projections) {
        if (directions.has(param)) throw new Error(`gradscope: two quantities ask for projections of ${param.name ?? "a parameter"} in one step`);
        directions.set(param, direction);
      }
      merged.projections = directions;
    }
    if (r.diagonalCurvature) {
      const existing = merged.diagonalCurvature;
      if (existing && existing.kind !== r.diagonalCurvature.kind) {
        throw new Error(`gradscope: two quantities ask for different curvature diagonals (${existing.kind}, ${r.diagonalCurvature.kind}) in one step`);
      }
      merged.diagonalCurvature ??= r.diagonalCurvature;
    }
    for (const key of ["hist1d", "hist2d"] as const) {
      const spec = r[key];
      if (!spec) continue;
      const existing = merged[key];
      if (existing && JSON.stringify(existing) !== JSON.stringify(spec)) throw new Error(`gradscope: two quantities ask for different ${key} bins/ranges in one step`);
      (merged as Record<string, unknown>)[key] = spec;
    }
  }
  return merged;
}

/**
 * Keeps every value `tracker` publishes from now on in memory, by step then name: for short
 * runs, notebooks and tests. It grows with the run; a long run's values belong in the run store.
 */
export function collectQuantityValues(tracker: QuantityTracker): Map<number, Record<string, QuantityValue>> {
  const byStep = new Map<number, Record<string, QuantityValue>>();
  tracker.subscribe((step, name, value) => {
    const entry = byStep.get(step) ?? {};
    entry[name] = value;
    byStep.set(step, entry);
  });
  return byStep;
}

/**
 * The step whose two-step quantities complete at the next one, as a checkpoint written after its
 * optimizer step carries it: its scalars, and the θ_t and g the quantities read of it.
 */
export interface PendingStepState {
  /** As `StepInfo.step`. */
  step: number;
  /** As `StepInfo.batchSize`. */
  batchSize: number;
  /** As `StepInfo.loss`. */
  loss: number;
  /** As `StepInfo.individualLosses`. */
  individualLosses: number[];
  /** As `StepInfo.optimizer`. */
  optimizer: {
    /** The optimizer's name. */
    name: string;
    /** Its first group's hyperparameters at that step. */
    hyper: Record<string, unknown>;
  };
  /** θ_t per parameter; absent when no pending quantity reads it. */
  values?: Float32Array[];
  /** g per parameter; absent when no pending quantity reads it. */
  grads?: Float32Array[];
  /** ‖g_k‖² per parameter; absent when `grads` is. */
  gradSquaredNorms?: number[];
}

/** What a tracker saves in a checkpoint. */
export interface TrackerState {
  /** θ_0 per parameter (Distance measures from it). */
  initial: Float32Array[];
  /** By quantity name, the states of the quantities that keep one. */
  quantities?: Record<string, unknown>;
  /** The step two-step quantities still need (absent in checkpoints from before it was kept, or when none is pending). */
  pending?: PendingStepState;
}

/**
 * Receives each quantity value as it is computed: the step it belongs to (two-step quantities
 * arrive one step late, under the earlier step), the quantity's name (`<name>/<part>` for parts)
 * and the value.
 */
export type QuantitySubscriber = (step: number, name: string, value: QuantityValue) => void;

/**
 * Runs Cockpit-style quantities during training. As the Trainer's `backward` hook it computes,
 * in one backward pass, the gradient plus the union of the per-sample statistics that the
 * quantities due at this step need (nothing extra when none is due), then computes them.
 * It keeps no values: each goes to the subscribers (`subscribe`), so a run of any length holds
 * its memory flat; two-step quantities are published under the earlier step.
 */
export class QuantityTracker {
  // θ_0 in engine memory, where Distance's kernel reads it.
  private readonly initial: Tensor[];
  // The step two-step quantities complete at the next one, with the copies they read of it.
  private previous: { info: StepInfo; copies: StepCopies } | null = null;
  private readonly subscribers = new Set<QuantitySubscriber>();
  // Quantities already reported as skipped (one warning each per run).
  private readonly warned = new Set<string>();
  /**
   * Reports the quantities that cannot be computed for this model, at the step that found them:
   * one message for all those one cause skips, naming each quantity once per run. A Node process
   * warning by default; `gradscope train` writes it as a line on stderr, and a run that records
   * into the store also stores it as a "warning" event.
   */
  warn: (message: string, step: number) => void = (message) => process.emitWarning(message);

  constructor(
    readonly quantities: Quantity[],
    readonly model: Module,
    /** The optimizer (or its name and parameter groups): CABS and EarlyStopping read them. */
    readonly optimizer: { readonly name: string; readonly paramGroups: ReadonlyArray<{ hyper: object }> },
  ) {
    const names = new Set<string>();
    for (const q of quantities) {
      if (names.has(q.name)) throw new Error(`gradscope: quantity ${q.name} is configured twice`);
      names.add(q.name);
      q.checkOptimizer?.({ name: optimizer.name, hyper: optimizer.paramGroups[0].hyper as Record<string, unknown> });
    }
    this.initial = keptCopies(model.parameters());
  }

  /**
   * Calls `subscriber` with every value computed from now on, in the order subscribed (the run
   * store's logger, the JSONL logger, your own); returns the function that unsubscribes it.
   */
  subscribe(subscriber: QuantitySubscriber): () => void {
    // A wrapper per subscription, so that the same function subscribed twice is called twice
    // and each unsubscribe removes its own.
    const entry: QuantitySubscriber = (step, name, value) => subscriber(step, name, value);
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  /**
   * θ_0 (what Distance measures from), each quantity's own state and the step two-step
   * quantities still need, for checkpoints (written after that step's optimizer step).
   */
  stateDict(): TrackerState {
    const quantities: Record<string, unknown> = {};
    for (const q of this.quantities) if (q.stateDict) quantities[q.name] = q.stateDict();
    const state: TrackerState = { initial: this.initial.map((t) => t.data.slice()), quantities };
    if (this.previous) {
      const { info, copies } = this.previous;
      state.pending = {
        step: info.step,
        batchSize: info.batchSize,
        loss: info.loss,
        individualLosses: Array.from(info.individualLosses),
        optimizer: structuredClone(info.optimizer),
        ...copies.state(),
      };
    }
    return state;
  }

  /**
   * Restores θ_0, the quantities' states and the pending step after a resume, so that two-step
   * quantities complete the step before the resume point. A checkpoint written before
   * quantities kept state restores θ_0 alone, one written before the pending step was kept
   * loses the two-step values of that one step.
   */
  loadStateDict(state: TrackerState): void {
    const sizes = (arrays: Float32Array[]) => `${arrays.length} parameter tensors of sizes [${arrays.map((v) => v.length).join(", ")}]`;
    const fits = (arrays: Float32Array[]) => arrays.length === this.initial.length && arrays.every((v, k) => v.length === this.initial[k].size);
    const modelSizes = `[${this.initial.map((t) => t.size).join(", ")}]`;
    if (!fits(state.initial)) throw new Error(`gradscope: the checkpoint's θ_0 has ${sizes(state.initial)}, the model ${modelSizes}`);
    const pending = state.pending;
    for (const [field, arrays] of [
      ["θ_t", pending?.values],
      ["gradient", pending?.grads],
    ] as const) {
      if (arrays && !fits(arrays)) throw new Error(`gradscope: the checkpoint's pending step ${pending?.step} has a ${field} of ${sizes(arrays)}, the model ${modelSizes}`);
    }
    if (pending && pending.individualLosses.length !== pending.batchSize) {
      throw new Error(`gradscope: the checkpoint's pending step ${pending.step} has ${pending.individualLosses.length} per-sample losses for a batch of ${pending.batchSize}`);
    }
    for (const q of this.quantities) {
      const saved = state.quantities?.[q.name];
      if (saved !== undefined) q.loadStateDict?.(saved);
    }
    state.initial.forEach((v, k) => {
      this.initial[k].data.set(v);
    });
    this.release();
    if (pending) this.previous = this.restoredStep(pending);
  }

  // A pending step as a checkpoint carried it: its engine copies are made on first read.
  private restoredStep(pending: PendingStepState): { info: StepInfo; copies: StepCopies } {
    const params = this.model.namedParameters().map(([name, tensor]) => ({ name, tensor }));
    const { values, grads, gradSquaredNorms } = pending;
    const kept = new Set<EarlierStepRead>([...(values ? (["values"] as const) : []), ...(grads && gradSquaredNorms ? (["grads"] as const) : [])]);
    const copies = new StepCopies(
      pending.step,
      { values: () => keptTensors(values ?? [], params), grads: () => keptTensors(grads ?? [], params), gradSquaredNorms: () => [...(gradSquaredNorms ?? [])] },
      kept,
    );
    const info = this.stepInfo(
      {
        step: pending.step,
        batchSize: pending.batchSize,
        loss: pending.loss,
        individualLosses: Float64Array.from(pending.individualLosses),
        optimizer: pending.optimizer,
        params,
        stats: new Map(),
      },
      copies,
      () => {
        throw new Error("gradscope: hessianVectorProduct is only available while the step's quantities are computed");
      },
    );
    return { info, copies };
  }

  /** Frees θ_0 and the kept step's copies in the engine. */
  dispose(): void {
    this.release();
    for (const t of this.initial) t.dispose();
  }

  private release(): void {
    this.previous?.copies.dispose();
    this.previous = null;
  }

  // A step's info: its own fields, and θ_t, g and θ_0 as copies made on first read.
  private stepInfo(
    fields: Pick<StepInfo, "step" | "batchSize" | "loss" | "individualLosses" | "params" | "stats" | "optimizer">,
    copies: StepCopies,
    hessianVectorProduct: StepInfo["hessianVectorProduct"],
  ): StepInfo {
    let values: Float32Array[] | null = null;
    let grads: Float32Array[] | null = null;
    let initial: Float32Array[] | null = null;
    return {
      ...fields,
      get valueTensors() {
        return copies.values;
      },
      get gradTensors() {
        return copies.grads;
      },
      // Out of the engine only for quantities that loop over plain arrays.
      get values() {
        values ??= copies.values.map((t) => t.data.slice());
        return values;
      },
      get grads() {
        grads ??= copies.grads.map((t) => t.data.slice());
        return grads;
      },
      get gradSquaredNorms() {
        return copies.gradSquaredNorms;
      },
      initialTensors: this.initial,
      get initial() {
        initial ??= this.initialTensors.map((t) => t.data.slice());
        return initial;
      },
      hessianVectorProduct,
    };
  }

  // The two-step quantities that complete the kept step, due at `step`: after a resume, those
  // whose reads the checkpoint carried (not one the resumed config added). A method, not a
  // closure in backward, whose context the step's info keeps alive.
  private completing(step: number): Quantity[] {
    const copies = this.previous?.copies;
    return this.quantities.filter((q) => q.computeAcross && q.schedule(step) && copies?.keeps(q.readsEarlierStep ?? everyEarlierStepRead));
  }

  /** The quantities due at `step`. */
  due(step: number): Quantity[] {
    return this.quantities.filter((q) => q.schedule(step));
  }

  private record(step: number, name: string, value: QuantityValue | QuantityParts | undefined): void {
    if (value === undefined) return;
    if (hasParts(value)) {
      this.record(step, name, value.total);
      for (const [part, partValue] of Object.entries(value.parts)) this.record(step, `${name}/${part}`, partValue);
      return;
    }
    for (const subscriber of this.subscribers) subscriber(step, name, value);
  }

  // Completes the previous step's two-step quantities and computes the due ones. (A method of
  // its own: a local holding the previous step in `backward` would join the closure context
  // that info's getters keep, chaining every step's info to the one before.)
  private computeQuantities(
    due: Quantity[],
    completing: Quantity[],
    previous: StepInfo | null,
    info: StepInfo,
    guarded: (q: Quantity, compute: () => QuantityValue | QuantityParts | undefined) => QuantityValue | QuantityParts | undefined,
  ): void {
    if (previous)
      for (const q of completing)
        this.record(
          previous.step,
          q.name,
          guarded(q, () => q.computeAcross?.(previous, info)),
        );
    for (const q of due)
      if (q.compute)
        this.record(
          info.step,
          q.name,
          guarded(q, () => q.compute?.(info)),
        );
  }

  /** Backpropagates `loss` (a mean of per-sample losses) and computes the quantities due at `step`. */
  backward(loss: Tensor, step: number): void {
    const due = this.due(step);
    const previous = this.previous?.info.step === step - 1 ? this.previous.info : null;
    // Two-step quantities due at the previous step complete now.
    const completing = previous ? this.completing(step - 1) : [];
    if (due.length === 0 && completing.length === 0) {
      backward(loss);
      this.release();
      return;
    }
    const params = this.model.namedParameters().map(([name, tensor]) => ({ name, tensor }));
    const asking = [...new Set([...due, ...completing])];
    const optimizer = { name: this.optimizer.name, hyper: { ...(this.optimizer.paramGroups[0]?.hyper as Record<string, unknown>) } };
    const requests = new Map(asking.flatMap((q) => (q.request ? [[q, q.request({ step, params, optimizer })] as const] : [])));
    // Through a train-mode batch norm per-sample statistics are not defined: the quantities
    // that ask the engine for any (or whose curvature meets the batch norm) are skipped, saying
    // so once by name, and the others run.
    const coupled = coupledLayers(loss);
    const skipped = new Set<Quantity>();
    const skip = (names: Quantity[], reason: string): undefined => {
      for (const q of names) skipped.add(q);
      const unreported = names.map((q) => q.name).filter((name) => !this.warned.has(name));
      if (unreported.length > 0) this.warn(`gradscope: ${unreported.join(", ")} ${unreported.length > 1 ? "are" : "is"} skipped: ${reason}`, step);
      for (const name of unreported) this.warned.add(name);
      return undefined;
    };
    if (coupled.length > 0) {
      // One warning for all of them: the layers are the same for each (a ResNet has 19).
      const perSample = [...requests].filter(([, r]) => Object.values(r).some((v) => v !== undefined && v !== false)).map(([q]) => q);
      if (perSample.length > 0)
        skip(perSample, `per-sample gradients are not defined through batch norm in train mode (${coupled.length > 1 ? "layers" : "layer"} ${coupled.join(", ")})`);
    }
    const request = mergeRequests(asking.flatMap((q) => (skipped.has(q) ? [] : (requests.get(q) ?? []))));
    const guarded = (q: Quantity, compute: () => QuantityValue | QuantityParts | undefined): QuantityValue | QuantityParts | undefined => {
      if (skipped.has(q)) return undefined;
      if (coupled.length === 0) return compute();
      try {
        return compute();
      } catch (error) {
        if (!(error as Error).message.includes('"batchnorm"')) throw error;
        return skip([q], (error as Error).message.replace(/^gradscope: /, ""));
      }
    };
    const stats = backwardWithExtensions(loss, request);
    const perSample = perSampleLosses(loss);
    if (!perSample) throw new Error("gradscope: quantities need the loss as the mean of a per-sample loss vector (e.g. mean(crossEntropy(...)))");
    // θ_t and g are copied only if a quantity reads them.
    const tensors = params.map(({ tensor }) => tensor);
    const copies = new StepCopies(step, {
      values: () => keptCopies(tensors),
      grads: () => keptCopies(tensors.map((t) => t.grad ?? zeros(t.shape))),
      gradSquaredNorms: () => tensors.map((t) => (t.grad ? squaredNorm(t.grad) : 0)),
    });
    let graphAlive = true;
    let products = null as HessianVectorProducts | null;
    const info = this.stepInfo(
      { step, batchSize: perSample.shape[0], loss: loss.item(), individualLosses: Float64Array.from(perSample.data), params, stats, optimizer },
      copies,
      (directions) => {
        if (!graphAlive) throw new Error("gradscope: hessianVectorProduct is only available while the step's quantities are computed");
        products ??= new HessianVectorProducts(loss, tensors);
        return products.multiply(directions);
      },
    );
    this.computeQuantities(due, previous ? completing : [], previous, info, guarded);
    graphAlive = false;
    products?.dispose();
    for (const s of stats.values()) {
      s.sumGradSquared?.dispose();
      s.individualGradients?.dispose();
      s.diagonalCurvature?.dispose();
    }
    // Keep this step for two-step quantities due now; they complete at step + 1, after the
    // optimizer has changed the parameters, so what they read of it is copied now.
    this.release();
    const across = due.filter((q) => q.computeAcross);
    if (across.length === 0) {
      copies.dispose();
      return;
    }
    copies.keep(new Set(across.flatMap((q) => q.readsEarlierStep ?? everyEarlierStepRead)));
    this.previous = { info, copies };
  }
}
