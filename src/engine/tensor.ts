import type { CurvatureRules } from "./curvature/rules.ts";
import { engineMemory } from "./memory.ts";
import type { BatchNormRecord } from "./ops/batchnorm.ts";
import type { Conv2dRecord } from "./ops/conv2d.ts";
import type { EmbeddingRecord } from "./ops/embedding.ts";
import type { LayerNormRecord } from "./ops/layernorm.ts";
import type { LinearRecord } from "./ops/linear.ts";

/** Element type of a tensor: float32 for values, int32 for indices and labels. */
export type DType = "float32" | "int32";

/** A node of the autodiff graph: how the tensor it produced was computed, and how to go back. */
export interface GradNode {
  /** Op name, used in error messages and by the per-sample extensions. */
  readonly op: string;
  /** The op's tensor inputs, in the order `backward` returns their gradients. */
  readonly inputs: ReadonlyArray<Tensor | null>;
  /**
   * Gradients of the inputs given the gradient of the output (null where none flows). Where
   * `needed[i]` is false nobody reads input i's gradient, and the op may skip it.
   */
  backward(gradOutput: Tensor, needed?: readonly boolean[]): Array<Tensor | null>;
  /** Present on parameterized ops; the per-sample extensions read it. */
  readonly layer?: LayerRecord;
  /** Second-order rules, on the ops that support Hessian-vector products and Hessian diagonals. */
  readonly curvature?: CurvatureRules;
}

/** The tensors every parameterized op saves for the per-sample extensions (see engine/extensions). */
export interface LayerRecordBase {
  /** The op's input as seen by the parameters (conv2d: the unpadded NCHW input). */
  readonly input: Tensor;
  /** The op's weight parameter; null when it has none (an affine-free norm). */
  readonly weight: Tensor | null;
  /** The op's bias parameter; null when it has none. */
  readonly bias: Tensor | null;
}

/**
 * What a parameterized op saves for the per-sample extensions, one record type per op kind
 * (each defined next to its op), so that a rule reads its op's saved values without casts.
 */
export type LayerRecord = LinearRecord | Conv2dRecord | EmbeddingRecord | LayerNormRecord | BatchNormRecord;

let liveTensors = 0;
const scopeStack: Array<Set<Tensor>> = [];

/**
 * A float32 or int32 tensor, contiguous and row-major, whose data lives in the engine's
 * WebAssembly memory. Free it with `dispose()`, or create it inside `scope()`.
 */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  /** Byte offset of the first element in the engine memory. */
  readonly ptr: number;
  /** Whether gradients flow to (leaf) or through (intermediate) this tensor. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded for autodiff. */
  node: GradNode | null = null;
  /** Optional human-readable name (parameters carry theirs). */
  name: string | undefined;
  private scopeSet: Set<Tensor> | null = null;
  private isDisposed = false;

  constructor(shape: readonly number[], dtype: DType = "float32", what?: string) {
    for (const dim of shape) {
      if (!Number.isInteger(dim) || dim < 0) {
        throw new TypeError(`gradscope: invalid shape [${shape.join(", ")}]${what ? ` for ${what}` : ""}: dimensions must be non-negative integers`);
      }
    }
    this.shape = Object.freeze([...shape]);
    this.size = shape.reduce((a, b) => a * b, 1);
    this.dtype = dtype;
    this.ptr = engineMemory.alloc(this.size * 4, () => `${dtype}[${shape.join(", ")}]${what ? ` for ${what}` : ""}`);
    liveTensors++;
    const current = scopeStack[scopeStack.length - 1];
    if (current) {
      current.add(this);
      this.scopeSet = current;
    }
  }

  /** Index of the first element in `engineMemory.f32` / `engineMemory.i32`. */
  get offset(): number {
    return this.ptr >>> 2;
  }

  /** A live view of the elements (float32 tensors). Invalid after the memory grows. */
  get data(): Float32Array {
    if (this.dtype !== "float32") throw new TypeError(`gradscope: tensor is ${this.dtype}; use .ints`);
    this.assertAlive();
    return engineMemory.f32.subarray(this.offset, this.offset + this.size);
  }

  /** A live view of the elements (int32 tensors). */
  get ints(): Int32Array {
    if (this.dtype !== "int32") throw new TypeError(`gradscope: tensor is ${this.dtype}; use .data`);
    this.assertAlive();
    return engineMemory.i32.subarray(this.offset, this.offset + this.size);
  }

  get rank(): number {
    return this.shape.length;
  }

  get disposed(): boolean {
    return this.isDisposed;
  }

  /** A copy of the elements as a plain array. */
  toArray(): number[] {
    return Array.from(this.dtype === "float32" ? this.data : this.ints);
  }

  /** The single element of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`gradscope: item() needs one element, tensor has shape [${this.shape.join(", ")}]`);
    return this.dtype === "float32" ? this.data[0] : this.ints[0];
  }

  /** Frees the data now. Safe to call twice. */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    engineMemory.free(this.ptr, this.size * 4);
    liveTensors--;
    this.scopeSet?.delete(this);
    this.scopeSet = null;
    this.node = null;
    this.grad?.dispose();
    this.grad = null;
  }

  /** Removes the tensor from its scope so it outlives it. Returns itself. */
  keep(): this {
    this.scopeSet?.delete(this);
    this.scopeSet = null;
    return this;
  }

  assertAlive(): void {
    if (this.isDisposed) throw new Error(`gradscope: use of a disposed tensor${this.name ? ` (${this.name})` : ""} [${this.shape.join(", ")}]`);
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(", ")}]${this.name ? ` ${this.name}` : ""})`;
  }
}

/** Number of tensors allocated and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

/** Opens a scope; tensors created until the matching `endScope` belong to it. */
export function beginScope(): void {
  scopeStack.push(new Set());
}

/** Closes the innermost scope, disposing its tensors except those in `survivors`. */
export function endScope(survivors: Iterable<Tensor>): void {
  const closing = scopeStack.pop();
  if (!closing) throw new Error("gradscope: endScope without beginScope");
  const outer = scopeStack[scopeStack.length - 1];
  for (const survivor of survivors) {
    if (!closing.has(survivor)) continue;
    closing.delete(survivor);
    // A survivor moves to the enclosing scope, like tf.tidy's return values.
    if (outer) {
      outer.add(survivor);
      (survivor as unknown as { scopeSet: Set<Tensor> | null }).scopeSet = outer;
    } else {
      (survivor as unknown as { scopeSet: Set<Tensor> | null }).scopeSet = null;
    }
  }
  for (const tensor of closing) tensor.dispose();
}
