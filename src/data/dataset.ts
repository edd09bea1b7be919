import { closestName } from "../nn/spec.ts";

/** A batch as plain arrays: inputs [B, ...inputShape] and integer labels or float targets. */
export interface Batch {
  inputs: Float32Array;
  /** Class labels (classification) or regression targets [B, ...targetShape]. */
  targets: Int32Array | Float32Array;
  size: number;
}

/**
 * A data set held in memory: `length` examples of `inputShape`, with class labels
 * (`classes` > 0) or float regression targets of `targetShape`.
 */
export interface Dataset {
  readonly length: number;
  readonly inputShape: readonly number[];
  /** Number of classes; 0 for regression. */
  readonly classes: number;
  readonly targetShape: readonly number[];
  /** A human-readable origin for messages ("fashion-mnist train (/usr/share/...)"). */
  readonly description: string;
  /** Copies examples `indices` into a batch; the inputs go into `into` when given (it must fit them). */
  batch(indices: ArrayLike<number>, into?: Float32Array): Batch;
}

/** Examples in flat typed arrays. */
export class ArrayDataset implements Dataset {
  readonly length: number;
  private readonly inputSize: number;
  private readonly targetSize: number;

  constructor(
    readonly inputs: Float32Array,
    readonly targets: Int32Array | Float32Array,
    readonly inputShape: readonly number[],
    readonly classes: number,
    readonly description: string,
    readonly targetShape: readonly number[] = [],
  ) {
    this.inputSize = inputShape.reduce((a, b) => a * b, 1);
    this.targetSize = targetShape.reduce((a, b) => a * b, 1);
    this.length = inputs.length / this.inputSize;
    if (!Number.isInteger(this.length) || targets.length !== this.length * this.targetSize) {
      throw new RangeError(`gradscope: ${description}: ${inputs.length} input values and ${targets.length} targets do not make whole examples of [${inputShape.join(", ")}]`);
    }
    if (classes > 0) {
      for (const label of targets) {
        if (!Number.isInteger(label) || label < 0 || label >= classes) throw new RangeError(`gradscope: ${description}: label ${label} is outside [0, ${classes})`);
      }
    }
  }

  batch(indices: ArrayLike<number>, into?: Float32Array): Batch {
    const size = indices.length;
    const inputs = into ?? new Float32Array(size * this.inputSize);
    const targets = this.classes > 0 ? new Int32Array(size * this.targetSize) : new Float32Array(size * this.targetSize);
    for (let b = 0; b < size; b++) {
      const i = indices[b];
      inputs.set(this.inputs.subarray(i * this.inputSize, (i + 1) * this.inputSize), b * this.inputSize);
      // One label per example is the common case: no view to allocate for it.
      if (this.targetSize === 1) targets[b] = this.targets[i];
      else targets.set(this.targets.subarray(i * this.targetSize, (i + 1) * this.targetSize), b * this.targetSize);
    }
    return { inputs, targets, size };
  }
}

/** A view of some examples of another data set, in the given order. */
export class Subset implements Dataset {
  constructor(
    readonly source: Dataset,
    readonly indices: Int32Array,
    readonly description: string,
  ) {}

  get length(): number {
    return this.indices.length;
  }

  get inputShape(): readonly number[] {
    return this.source.inputShape;
  }

  get classes(): number {
    return this.source.classes;
  }

  get targetShape(): readonly number[] {
    return this.source.targetShape;
  }

  batch(indices: ArrayLike<number>, into?: Float32Array): Batch {
    return this.source.batch(
      Array.from(indices, (i) => this.indices[i]),
      into,
    );
  }
}

/** Checks a name against a list, with a "did you mean" in the error. */
export function checkName(kind: string, name: string, known: readonly string[]): void {
  if (known.includes(name)) return;
  const hint = closestName(name, known);
  throw new Error(`gradscope: unknown ${kind} "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${known.join(", ")}`);
}
