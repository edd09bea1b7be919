import { backward } from "../engine/autograd.ts";
import { copyOf, zeros } from "../engine/creation.ts";
import { HessianVectorProducts } from "../engine/curvature/hvp.ts";
import { backwardWithExtensions, type ExtensionRequest, perSampleLosses } from "../engine/extensions/index.ts";
import { squaredNorm } from "../engine/kernels/reductions.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Module } from "../nn/module.ts";
import { hasParts, type Quantity, type QuantityParts, type QuantityValue, type StepInfo } from "./quantity.ts";

// A kept engine copy of each tensor, for values that must outlive the optimizer's step.
const keptCopies = (tensors: Tensor[]): Tensor[] => tensors.map((t) => copyOf(t).keep());

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

/** What a tracker saves in a checkpoint. */
export interface TrackerState {
  initial: Float32Array[];
  /** By quantity name, the states of the quantities that keep one. */
  quantities?: Record<string, unknown>;
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
  private previous: StepInfo | null = null;
  // The engine copies each step's info made, freed when the tracker drops the step.
  private readonly copiesOf = new Map<StepInfo, Tensor[]>();
  private readonly subscribers = new Set<QuantitySubscriber>();

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

  /** θ_0 (what Distance measures from) and each quantity's own state, for checkpoints. */
  stateDict(): TrackerState {
    const quantities: Record<string, unknown> = {};
    for (const q of this.quantities) if (q.stateDict) quantities[q.name] = q.stateDict();
    return { initial: this.initial.map((t) => t.data.slice()), quantities };
  }

  /**
   * Restores θ_0 and the quantities' states after a resume (a checkpoint written before
   * quantities kept state restores θ_0 alone); two-step values of the step before the
   * interruption are lost.
   */
  loadStateDict(state: TrackerState): void {
    if (state.initial.length !== this.initial.length || state.initial.some((v, k) => v.length !== this.initial[k].size)) {
      throw new Error(
        `gradscope: the checkpoint's θ_0 has ${state.initial.length} parameter tensors of sizes [${state.initial.map((v) => v.length).join(", ")}], the model [${this.initial.map((t) => t.size).join(", ")}]`,
      );
    }
    for (const q of this.quantities) {
      const saved = state.quantities?.[q.name];
      if (saved !== undefined) q.loadStateDict?.(saved);
    }
    state.initial.forEach((v, k) => {
      this.initial[k].data.set(v);
    });
  }

  /** Frees θ_0 and the kept step's copies in the engine. */
  dispose(): void {
    this.release(this.previous);
    this.previous = null;
    for (const t of this.initial) t.dispose();
  }

  private release(info: StepInfo | null): void {
    if (!info) return;
    for (const t of this.copiesOf.get(info) ?? []) t.dispose();
    this.copiesOf.delete(info);
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

  /** Backpropagates `loss` (a mean of per-sample losses) and computes the quantities due at `step`. */
  backward(loss: Tensor, step: number): void {
    const due = this.due(step);
    // Two-step quantities due at the previous step complete now.
    const completing = this.quantities.filter((q) => q.computeAcross && step > 0 && q.schedule(step - 1) && this.previous?.step === step - 1);
    if (due.length === 0 && completing.length === 0) {
      backward(loss);
      this.release(this.previous);
      this.previous = null;
      return;
    }
    const params = this.model.namedParameters().map(([name, tensor]) => ({ name, tensor }));
    const asking = [...new Set([...due, ...completing])];
    const optimizer = { name: this.optimizer.name, hyper: { ...(this.optimizer.paramGroups[0]?.hyper as Record<string, unknown>) } };
    const request = mergeRequests(asking.flatMap((q) => (q.request ? [q.request({ step, params, optimizer })] : [])));
    const stats = backwardWithExtensions(loss, request);
    const perSample = perSampleLosses(loss);
    if (!perSample) throw new Error("gradscope: quantities need the loss as the mean of a per-sample loss vector (e.g. mean(crossEntropy(...)))");
    // θ_t and g are copied only if a quantity reads them: into the engine for kernels, and out
    // of it only for quantities that loop over plain arrays.
    const tensors = params.map(({ tensor }) => tensor);
    const copies = this.copiesOf;
    let valueTensors: Tensor[] | null = null;
    let gradTensors: Tensor[] | null = null;
    let values: Float32Array[] | null = null;
    let grads: Float32Array[] | null = null;
    let initial: Float32Array[] | null = null;
    let gradSquaredNorms: number[] | null = null;
    const info: StepInfo = {
      step,
      batchSize: perSample.shape[0],
      loss: loss.item(),
      individualLosses: Float64Array.from(perSample.data),
      params,
      get valueTensors() {
        if (!valueTensors) {
          valueTensors = keptCopies(tensors);
          copies.set(info, [...(copies.get(info) ?? []), ...valueTensors]);
        }
        return valueTensors;
      },
      get gradTensors() {
        if (!gradTensors) {
          gradTensors = keptCopies(tensors.map((t) => t.grad ?? zeros(t.shape)));
          copies.set(info, [...(copies.get(info) ?? []), ...gradTensors]);
        }
        return gradTensors;
      },
      get values() {
        values ??= info.valueTensors.map((t) => t.data.slice());
        return values;
      },
      get grads() {
        grads ??= info.gradTensors.map((t) => t.data.slice());
        return grads;
      },
      get gradSquaredNorms() {
        gradSquaredNorms ??= tensors.map((t) => (t.grad ? squaredNorm(t.grad) : 0));
        return gradSquaredNorms;
      },
      initialTensors: this.initial,
      get initial() {
        initial ??= this.initialTensors.map((t) => t.data.slice());
        return initial;
      },
      stats,
      optimizer,
      hessianVectorProduct: (directions) => {
        if (!graphAlive) throw new Error("gradscope: hessianVectorProduct is only available while the step's quantities are computed");
        products ??= new HessianVectorProducts(
          loss,
          params.map(({ tensor }) => tensor),
        );
        return products.multiply(directions);
      },
    };
    let graphAlive = true;
    let products = null as HessianVectorProducts | null;
    if (this.previous) for (const q of completing) this.record(this.previous.step, q.name, q.computeAcross?.(this.previous, info));
    for (const q of due) if (q.compute) this.record(step, q.name, q.compute(info));
    graphAlive = false;
    products?.dispose();
    for (const s of stats.values()) {
      s.sumGradSquared?.dispose();
      s.individualGradients?.dispose();
      s.diagonalCurvature?.dispose();
    }
    // Keep this step for two-step quantities due now; they complete at step + 1, after the
    // optimizer has changed the parameters, so the copies are made now.
    this.release(this.previous);
    this.previous = due.some((q) => q.computeAcross) ? info : null;
    if (this.previous) void [info.valueTensors, info.gradTensors, info.gradSquaredNorms];
    else this.release(info);
  }
}
