import { backward } from "../engine/autograd.ts";
import { HessianVectorProducts } from "../engine/curvature/hvp.ts";
import { backwardWithExtensions, type ExtensionRequest, perSampleLosses } from "../engine/extensions/index.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { Module } from "../nn/module.ts";
import { type Quantity, type QuantityValue, type StepInfo, squaredNorm } from "./quantity.ts";

/** Merges the requests of the due quantities; histogram specs must agree. */
export function mergeRequests(requests: ExtensionRequest[]): ExtensionRequest {
  const merged: ExtensionRequest = {};
  for (const r of requests) {
    if (r.batchL2) merged.batchL2 = true;
    if (r.batchDot) merged.batchDot = true;
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
 * Runs Cockpit-style quantities during training. As the Trainer's `backward` hook it computes,
 * in one backward pass, the gradient plus the union of the per-sample statistics that the
 * quantities due at this step need (nothing extra when none is due), then computes them.
 * Results are kept by step in `outputs`; two-step quantities land under the earlier step.
 */
export class QuantityTracker {
  readonly outputs = new Map<number, Record<string, QuantityValue>>();
  private initial: Float32Array[];
  private previous: StepInfo | null = null;
  /** Called with (step, name, value) as each result is ready, e.g. to store it. */
  onValue: ((step: number, name: string, value: QuantityValue) => void) | null = null;

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
    }
    this.initial = model.parameters().map((p) => p.data.slice());
  }

  /** θ_0 (what Distance measures from), for checkpoints. */
  stateDict(): { initial: Float32Array[] } {
    return { initial: this.initial.map((v) => v.slice()) };
  }

  /** Restores θ_0 after a resume; two-step values of the step before the interruption are lost. */
  loadStateDict(state: { initial: Float32Array[] }): void {
    this.initial = state.initial.map((v) => v.slice());
  }

  /** The quantities due at `step`. */
  due(step: number): Quantity[] {
    return this.quantities.filter((q) => q.schedule(step));
  }

  private record(step: number, name: string, value: QuantityValue | undefined): void {
    if (value === undefined) return;
    let entry = this.outputs.get(step);
    if (!entry) {
      entry = {};
      this.outputs.set(step, entry);
    }
    entry[name] = value;
    this.onValue?.(step, name, value);
  }

  /** Backpropagates `loss` (a mean of per-sample losses) and computes the quantities due at `step`. */
  backward(loss: Tensor, step: number): void {
    const due = this.due(step);
    // Two-step quantities due at the previous step complete now.
    const completing = this.quantities.filter((q) => q.computeAcross && step > 0 && q.schedule(step - 1) && this.previous?.step === step - 1);
    if (due.length === 0 && completing.length === 0) {
      backward(loss);
      this.previous = null;
      return;
    }
    const params = this.model.namedParameters().map(([name, tensor]) => ({ name, tensor }));
    const asking = [...new Set([...due, ...completing])];
    const optimizer = { name: this.optimizer.name, hyper: { ...(this.optimizer.paramGroups[0]?.hyper as Record<string, unknown>) } };
    const request = mergeRequests(asking.flatMap((q) => (q.request ? [q.request({ step, params, optimizer })] : [])));
    const stats = backwardWithExtensions(loss, request);
    for (const direction of request.projections?.values() ?? []) direction.dispose();
    const perSample = perSampleLosses(loss);
    if (!perSample) throw new Error("gradscope: quantities need the loss as the mean of a per-sample loss vector (e.g. mean(crossEntropy(...)))");
    // θ_t and g are copied only if a quantity reads them (1.3 M parameters take milliseconds).
    let values: Float32Array[] | null = null;
    let grads: Float32Array[] | null = null;
    let gradSquaredNorms: number[] | null = null;
    const info: StepInfo = {
      step,
      batchSize: perSample.shape[0],
      loss: loss.item(),
      individualLosses: Float64Array.from(perSample.data),
      params,
      get values() {
        values ??= params.map(({ tensor }) => tensor.data.slice());
        return values;
      },
      get grads() {
        grads ??= params.map(({ tensor }) => tensor.grad?.data.slice() ?? new Float32Array(tensor.size));
        return grads;
      },
      get gradSquaredNorms() {
        gradSquaredNorms ??= params.map(({ tensor }) => (tensor.grad ? squaredNorm(tensor.grad.data) : 0));
        return gradSquaredNorms;
      },
      initial: this.initial,
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
    }
    // Keep this step for two-step quantities due now; they complete at step + 1, after the
    // optimizer has changed the parameters, so the copies are made now.
    this.previous = due.some((q) => q.computeAcross) ? info : null;
    if (this.previous) void [info.values, info.grads, info.gradSquaredNorms];
  }
}
