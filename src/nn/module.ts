import { noGrad } from "../engine/autograd.ts";
import { copyOf } from "../engine/creation.ts";
import { slice } from "../engine/ops/shape.ts";
import { scope } from "../engine/scope.ts";
import { shapeString } from "../engine/shapes.ts";
import { Tensor } from "../engine/tensor.ts";
import type { ModelSummary } from "./summary.ts";

/** A serialized tensor of a state dict. */
export interface StateEntry {
  /** The tensor's shape. */
  shape: number[];
  /** Its values, row-major. */
  data: number[];
}

/** Parameters and buffers by their dotted names (`0.weight`, `2.running_mean`, ...). */
export type StateDict = Record<string, StateEntry>;

/** Options of `Module.predict`. */
export interface PredictOptions {
  /**
   * Examples per forward pass (default 256): bounds the memory that a large input's
   * activations take. In eval mode each example's output does not depend on its batch.
   */
  batchSize?: number;
}

/**
 * Base class of layers and models. Subclasses register parameters, buffers and children in
 * their constructor; names follow PyTorch's `named_parameters()` so golden data and
 * checkpoints line up.
 */
export abstract class Module {
  /** Train mode (dropout active, batch norm uses batch statistics). */
  training = true;
  /** The layer table of a model built from a spec, which knows its input shape; see `summary`. */
  layerSummary: ModelSummary | null = null;
  private readonly parameterSlots = new Map<string, Tensor | null>();
  private readonly bufferSlots = new Map<string, Tensor>();
  private readonly childSlots = new Map<string, Module>();

  /** Computes the module's output. */
  abstract forward(input: Tensor): Tensor;

  protected registerParameter(name: string, value: Tensor | null): Tensor | null {
    if (value) {
      value.requiresGrad = true;
      value.keep();
    }
    this.parameterSlots.set(name, value);
    return value;
  }

  protected registerBuffer(name: string, value: Tensor): Tensor {
    this.bufferSlots.set(name, value.keep());
    return value;
  }

  protected registerChild<M extends Module>(name: string, child: M): M {
    this.childSlots.set(name, child);
    return child;
  }

  /** Direct children with their names. */
  children(): Array<[string, Module]> {
    return [...this.childSlots];
  }

  /** This module and every descendant with dotted names ("" for this one), depth first. */
  namedModules(prefix = ""): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix.replace(/\.$/, ""), this]];
    for (const [name, child] of this.childSlots) out.push(...child.namedModules(`${prefix}${name}.`));
    return out;
  }

  /** All parameters with dotted names, depth first in registration order. */
  namedParameters(prefix = ""): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [name, value] of this.parameterSlots) if (value) out.push([prefix + name, value]);
    for (const [name, child] of this.childSlots) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** All parameters, in `namedParameters` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, value]) => value);
  }

  /** All buffers (running statistics) with dotted names. */
  namedBuffers(prefix = ""): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    for (const [name, value] of this.bufferSlots) out.push([prefix + name, value]);
    for (const [name, child] of this.childSlots) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** Total number of parameter scalars. */
  parameterCount(): number {
    return this.parameters().reduce((total, p) => total + p.size, 0);
  }

  /**
   * Every layer with its output shape, parameters and multiply-adds per example, and the
   * totals (Keras's `model.summary()`, torchinfo); `summaryText` prints it as a table. Only a
   * model built from a spec (`buildModel`, a config's `model`) has one.
   */
  summary(): ModelSummary {
    if (!this.layerSummary) throw new Error("gradscope: summary: this module was not built from a model spec (buildModel), so its input shape is unknown");
    return this.layerSummary;
  }

  /** Sets train mode on this module and every descendant. */
  train(mode = true): this {
    this.training = mode;
    for (const [, child] of this.childSlots) child.train(mode);
    return this;
  }

  /** Sets eval mode (same as `train(false)`). */
  eval(): this {
    return this.train(false);
  }

  /**
   * The outputs for `inputs` [N, ...]: forward passes in eval mode without recording the
   * autodiff graph, `batchSize` examples at a time. Every module's train/eval mode is restored
   * afterwards. Returns a new tensor [N, ...output] that the caller owns (dispose it, or call
   * predict inside `scope()`); intermediate tensors are freed.
   */
  predict(inputs: Tensor, options: PredictOptions = {}): Tensor {
    const batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`gradscope: predict: batchSize must be a positive integer, got ${typeof batchSize === "string" ? JSON.stringify(batchSize) : batchSize}`);
    if (inputs.rank === 0) throw new RangeError("gradscope: predict: inputs need a batch dimension [N, ...], got a scalar");
    const modes = this.namedModules().map(([, module]) => [module, module.training] as const);
    this.eval();
    try {
      return noGrad(() => this.predictInBatches(inputs, batchSize));
    } finally {
      for (const [module, training] of modes) module.training = training;
    }
  }

  private predictInBatches(inputs: Tensor, batchSize: number): Tensor {
    const count = inputs.shape[0];
    const exampleShape = inputs.shape.slice(1);
    const forwardBatch = (start: number): Tensor => {
      const size = Math.min(batchSize, count - start);
      const batch = size === count ? inputs : slice(inputs, [start, ...exampleShape.map(() => 0)], [size, ...exampleShape]);
      const output = this.forward(batch);
      if (output.shape[0] !== size) throw new RangeError(`gradscope: predict: the model returned ${shapeString(output.shape)} for ${size} examples; expected [${size}, ...]`);
      // A model that passes its input through (an empty Sequential) must still hand back a tensor of its own.
      return output === inputs ? copyOf(output) : output;
    };
    const first = scope(() => forwardBatch(0));
    if (first.shape[0] === count) return first;
    const outputs = new Tensor([count, ...first.shape.slice(1)], first.dtype, "predictions");
    const exampleSize = first.size / first.shape[0];
    try {
      outputs.data.set(first.data);
      for (let start = batchSize; start < count; start += batchSize) {
        scope(() => outputs.data.set(forwardBatch(start).data, start * exampleSize));
      }
    } catch (error) {
      outputs.dispose();
      throw error;
    } finally {
      first.dispose();
    }
    return outputs;
  }

  /** Clears the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** A copy of every parameter and buffer. */
  stateDict(): StateDict {
    const state: StateDict = {};
    for (const [name, value] of [...this.namedParameters(), ...this.namedBuffers()]) {
      state[name] = { shape: [...value.shape], data: value.toArray() };
    }
    return state;
  }

  /** Loads a state dict; every name must exist with the same shape (strict, like PyTorch). */
  loadStateDict(state: StateDict): void {
    const targets = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const missing = [...targets.keys()].filter((name) => !(name in state));
    const unexpected = Object.keys(state).filter((name) => !targets.has(name));
    if (missing.length > 0 || unexpected.length > 0) {
      throw new Error(`gradscope: loadStateDict: missing keys [${missing.join(", ")}], unexpected keys [${unexpected.join(", ")}]`);
    }
    for (const [name, target] of targets) {
      const entry = state[name];
      if (entry.shape.length !== target.rank || entry.shape.some((d, i) => d !== target.shape[i]) || entry.data.length !== target.size) {
        throw new Error(`gradscope: loadStateDict: ${name} has shape ${shapeString(entry.shape)}, the model expects ${shapeString(target.shape)}`);
      }
      if (target.dtype === "int32") target.ints.set(entry.data);
      else target.data.set(entry.data);
    }
  }

  /** Frees every parameter, gradient and buffer. */
  dispose(): void {
    for (const [, value] of [...this.namedParameters(), ...this.namedBuffers()]) value.dispose();
  }
}
