import { PixelDataset } from "./pixels.ts";

/** A batch as plain arrays: inputs [B, ...inputShape] and integer labels or float targets. */
export interface Batch {
  /** The inputs, [B, ...inputShape] row-major. */
  inputs: Float32Array;
  /** Class labels (classification) or regression targets [B, ...targetShape]. */
  targets: Int32Array | Float32Array;
  /** B, the number of examples in the batch (the last one of an epoch may be smaller). */
  size: number;
}

/**
 * A data set held in memory: `length` examples of `inputShape`, with class labels
 * (`classes` > 0) or float regression targets of `targetShape`.
 */
export interface Dataset {
  /** Number of examples. */
  readonly length: number;
  /** Shape of one example's input, e.g. [1, 28, 28]. */
  readonly inputShape: readonly number[];
  /** Number of classes; 0 for regression. */
  readonly classes: number;
  /** Shape of one example's target: [] for a class label or a scalar target, [k] for k targets. */
  readonly targetShape: readonly number[];
  /** A human-readable origin for messages ("fashion-mnist train (/usr/share/...)"). */
  readonly description: string;
  /** Copies examples `indices` into a batch; the inputs go into `into` when given (it must fit them). */
  batch(indices: ArrayLike<number>, into?: Float32Array): Batch;
  /**
   * How a worker thread rebuilds this data set over the same shared memory (the prefetch
   * worker does); undefined, or no such method, for data sets only the loader's thread can read.
   */
  recipe?(): DatasetRecipe | undefined;
}

/** A data set as plain, structured-cloneable data whose large arrays live in shared memory. */
export type DatasetRecipe =
  | {
      /** An ArrayDataset. */
      kind: "arrays";
      /** All inputs, [length, ...inputShape], in shared memory. */
      inputs: Float32Array;
      /** All labels or targets, in shared memory. */
      targets: Int32Array | Float32Array;
      /** As `Dataset.inputShape`. */
      inputShape: number[];
      /** As `Dataset.classes` (0 for regression). */
      classes: number;
      /** As `Dataset.description`. */
      description: string;
      /** As `Dataset.targetShape`. */
      targetShape: number[];
    }
  | {
      /** A PixelDataset: images kept as bytes, scaled to [0, 1] per batch. */
      kind: "pixels";
      /** All images as bytes, [length, ...inputShape], in shared memory. */
      pixels: Uint8Array;
      /** All class labels, in shared memory. */
      labels: Int32Array;
      /** As `Dataset.inputShape`. */
      inputShape: number[];
      /** As `Dataset.classes`. */
      classes: number;
      /** As `Dataset.description`. */
      description: string;
    }
  | {
      /** A subset (a split) of another data set. */
      kind: "subset";
      /** The recipe of the data set it selects from. */
      source: DatasetRecipe;
      /** The indices it keeps, in its order. */
      indices: Int32Array;
      /** As `Dataset.description`. */
      description: string;
    };

/** The data set a recipe describes (in a worker thread: over the sender's shared memory). */
export function datasetFromRecipe(recipe: DatasetRecipe): Dataset {
  switch (recipe.kind) {
    case "arrays":
      return new ArrayDataset(recipe.inputs, recipe.targets, recipe.inputShape, recipe.classes, recipe.description, recipe.targetShape);
    case "pixels":
      return new PixelDataset(recipe.pixels, recipe.labels, recipe.inputShape, recipe.classes, recipe.description);
    case "subset":
      return new Subset(datasetFromRecipe(recipe.source), recipe.indices, recipe.description);
  }
}

// A copy of `array` in shared memory (the array itself if it is there already).
function inSharedMemory<T extends Float32Array | Int32Array>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.byteLength));
  copy.set(array);
  return copy;
}

/** Examples in flat typed arrays. */
export class ArrayDataset implements Dataset {
  readonly length: number;
  private readonly inputSize: number;
  private readonly targetSize: number;

  constructor(
    private examples: Float32Array,
    private labels: Int32Array | Float32Array,
    readonly inputShape: readonly number[],
    readonly classes: number,
    readonly description: string,
    readonly targetShape: readonly number[] = [],
  ) {
    this.inputSize = inputShape.reduce((a, b) => a * b, 1);
    this.targetSize = targetShape.reduce((a, b) => a * b, 1);
    this.length = examples.length / this.inputSize;
    if (!Number.isInteger(this.length) || labels.length !== this.length * this.targetSize) {
      throw new RangeError(`gradscope: ${description}: ${examples.length} input values and ${labels.length} targets do not make whole examples of [${inputShape.join(", ")}]`);
    }
    if (classes > 0) {
      for (const label of labels) {
        if (!Number.isInteger(label) || label < 0 || label >= classes) throw new RangeError(`gradscope: ${description}: label ${label} is outside [0, ${classes})`);
      }
    }
  }

  /** The inputs of all examples, [length, ...inputShape]. */
  get inputs(): Float32Array {
    return this.examples;
  }

  /** The targets of all examples, [length, ...targetShape]. */
  get targets(): Int32Array | Float32Array {
    return this.labels;
  }

  /** Moves the arrays into shared memory (once), so that a worker reads them without a copy. */
  recipe(): DatasetRecipe {
    this.examples = inSharedMemory(this.examples);
    this.labels = inSharedMemory(this.labels);
    return {
      kind: "arrays",
      inputs: this.examples,
      targets: this.labels,
      inputShape: [...this.inputShape],
      classes: this.classes,
      description: this.description,
      targetShape: [...this.targetShape],
    };
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

  recipe(): DatasetRecipe | undefined {
    const source = this.source.recipe?.();
    return source && { kind: "subset", source, indices: this.indices, description: this.description };
  }
}
