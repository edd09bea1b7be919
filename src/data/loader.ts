import { Random } from "../engine/random.ts";
import { ArrayDataset, type Dataset } from "./dataset.ts";
import { Prefetcher } from "./prefetch.ts";
import { permutation } from "./split.ts";
import type { Transform } from "./transforms.ts";

/** DataLoader options. */
export interface LoaderOptions {
  /** Examples per batch (the last one of an epoch may hold fewer, unless `dropLast`). */
  batchSize: number;
  /** A new order of the examples each epoch, seeded by (seed, epoch); else the data set's order. */
  shuffle: boolean;
  /** Leaves out an epoch's last batch when it would hold fewer than `batchSize` examples. */
  dropLast: boolean;
  /** Seeds the per-epoch order and the augmentations. */
  seed: number;
  /** Applied in order to each batch's inputs (augmentations, normalization, flattening). */
  transforms: Transform[];
  /**
   * Batches prepared ahead on a worker thread (0: on the caller's thread, when asked for). The
   * batches are the same either way; the data set needs a `recipe` and the transforms a `spec`.
   */
  prefetch: number;
}

/**
 * One batch of a loader: inputs [size, ...shape] after the transforms, and the targets: labels,
 * regression targets, or class probabilities [size, classes] when a transform mixes examples.
 */
export interface LoaderBatch {
  /** The batch's position in its epoch, from 0. */
  index: number;
  /** Examples in the batch. */
  size: number;
  /** The inputs after the transforms, [size, ...outputShape] row-major. */
  inputs: Float32Array;
  /** Class labels [size] (int32), regression targets, or class probabilities [size, classes] (float32). */
  targets: Int32Array | Float32Array;
}

// A 32-bit seed for (seed, a, b): the order of epoch a, or the augmentation of batch b in epoch a.
function mixSeed(seed: number, a: number, b = 0): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(a + 1, 0x9e3779b9) ^ Math.imul(b + 1, 0x85ebca6b)) >>> 0;
}

/**
 * Batches of a data set. With shuffling, each epoch's order is a permutation seeded by (seed,
 * epoch), so epochs differ, runs repeat, and a resumed run can restart in the middle of an
 * epoch at `startBatch` with exactly the batches it would have seen. Augmentations draw from a
 * generator seeded by (seed, epoch, batch) for the same reason.
 */
export class DataLoader {
  readonly options: LoaderOptions;
  readonly outputShape: readonly number[];
  /** True when a transform mixes examples (MixUp, CutMix): the targets are then class probabilities. */
  readonly softTargets: boolean;
  private prefetcher: Prefetcher | null = null;

  constructor(
    readonly dataset: Dataset,
    options: Partial<LoaderOptions> & { batchSize: number },
  ) {
    if (typeof dataset !== "object" || dataset === null || typeof dataset.length !== "number")
      throw new TypeError(`gradscope: DataLoader(dataset): expected a Dataset (e.g. fashionMnistSample().train or an ArrayDataset), got ${String(dataset)}`);
    this.options = { shuffle: false, dropLast: false, seed: 0, transforms: [], prefetch: 0, ...options };
    if (!Number.isInteger(this.options.batchSize) || this.options.batchSize < 1) {
      throw new RangeError(
        `gradscope: batch_size must be a positive integer, got ${typeof this.options.batchSize === "string" ? JSON.stringify(this.options.batchSize) : this.options.batchSize}`,
      );
    }
    if (!Number.isInteger(this.options.prefetch) || this.options.prefetch < 0) throw new RangeError(`gradscope: prefetch must be an integer >= 0, got ${this.options.prefetch}`);
    if (dataset.length === 0) throw new RangeError(`gradscope: ${dataset.description} is empty`);
    // Every epoch would be empty: training "completed" having taken no step.
    if (this.options.dropLast && dataset.length < this.options.batchSize)
      throw new RangeError(
        `gradscope: with drop_last, the ${dataset.length} examples of ${dataset.description} make no full batch of ${this.options.batchSize}: an epoch would train nothing`,
      );
    this.outputShape = this.options.transforms.reduce<readonly number[]>((shape, t, i) => {
      try {
        return t.outputShape(shape);
      } catch (error) {
        // An image transform after flatten is a matter of order; on data without images, of choice.
        const flattened = this.options.transforms.slice(0, i).some((before) => before.name === "flatten");
        throw flattened ? new RangeError(`${(error as Error).message} (put it before flatten)`) : error;
      }
    }, dataset.inputShape);
    const mixing = this.options.transforms.find((t) => t.mixesTargets);
    if (mixing && (dataset.classes === 0 || dataset.targetShape.length > 0)) {
      throw new RangeError(`gradscope: transform ${mixing.name} blends class labels, but ${dataset.description} has regression targets`);
    }
    this.softTargets = mixing !== undefined;
  }

  /** Values per example of a batch's targets: the classes with soft targets, else the data set's. */
  get targetSize(): number {
    return this.softTargets ? this.dataset.classes : this.dataset.targetShape.reduce((a, b) => a * b, 1);
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    const { batchSize, dropLast } = this.options;
    return dropLast ? Math.floor(this.dataset.length / batchSize) : Math.ceil(this.dataset.length / batchSize);
  }

  /** The example order of an epoch. */
  order(epoch: number): Int32Array {
    if (!this.options.shuffle) return Int32Array.from({ length: this.dataset.length }, (_, i) => i);
    return permutation(this.dataset.length, new Random(mixSeed(this.options.seed, epoch)));
  }

  /**
   * The batches of `epoch` from `startBatch` on. With `into`, each batch's inputs are written
   * into the array it returns for the batch size (e.g. a tensor's view of engine memory), which
   * saves a copy and an allocation per batch. With `prefetch` > 0 they come from a worker thread;
   * one pass runs at a time (a new call ends the previous one).
   */
  batches(epoch: number, startBatch = 0, into?: (size: number) => Float32Array): Generator<LoaderBatch> {
    if (this.options.prefetch === 0) return this.batchesHere(epoch, startBatch, into);
    this.prefetcher ??= new Prefetcher(this);
    return this.prefetcher.batches(epoch, startBatch, into);
  }

  private *batchesHere(epoch: number, startBatch: number, into?: (size: number) => Float32Array): Generator<LoaderBatch> {
    const order = this.order(epoch);
    for (let index = startBatch; index < this.batchesPerEpoch; index++) yield this.batchAt(epoch, index, order, into);
  }

  /**
   * Batch `index` of `epoch`, given the epoch's `order`: a function of (seed, epoch, index)
   * alone, which is what lets a worker thread or a resumed run compute the same batch.
   */
  batchAt(epoch: number, index: number, order: Int32Array, into?: (size: number) => Float32Array): LoaderBatch {
    const { batchSize, transforms, seed } = this.options;
    const indices = order.subarray(index * batchSize, Math.min((index + 1) * batchSize, order.length));
    const target = into?.(indices.length);
    const raw = this.dataset.batch(indices, target);
    const random = new Random(mixSeed(seed, epoch, index));
    const soft = this.softTargets ? oneHot(raw.targets as Int32Array, this.dataset.classes) : undefined;
    let shape = this.dataset.inputShape;
    let inputs = raw.inputs;
    for (const t of transforms) {
      inputs = t.apply(inputs, raw.size, shape, random, soft);
      shape = t.outputShape(shape);
    }
    if (target && inputs !== target) target.set(inputs);
    return { index, size: raw.size, inputs: target ?? inputs, targets: soft ?? raw.targets };
  }

  /** Ends the prefetch worker, if one runs (it does not keep the process alive in any case). */
  close(): Promise<void> {
    const prefetcher = this.prefetcher;
    this.prefetcher = null;
    return prefetcher ? prefetcher.close() : Promise.resolve();
  }
}

function oneHot(labels: Int32Array, classes: number): Float32Array {
  const rows = new Float32Array(labels.length * classes);
  for (let b = 0; b < labels.length; b++) rows[b * classes + labels[b]] = 1;
  return rows;
}

/**
 * A copy of `dataset` with deterministic transforms (normalize, flatten) applied once, so that
 * loaders need not redo them every epoch. Throws if a transform is random.
 */
export function applyTransformsOnce(dataset: Dataset, transforms: Transform[]): ArrayDataset {
  const random = transforms.find((t) => !t.deterministic);
  if (random) throw new Error(`gradscope: transform ${random.name} is random and cannot be applied ahead of time`);
  const outputShape = transforms.reduce<readonly number[]>((shape, t) => t.outputShape(shape), dataset.inputShape);
  const size = outputShape.reduce((a, b) => a * b, 1);
  // In shared memory from the start, so that a prefetch worker can read it without a copy.
  const inputSize = dataset.inputShape.reduce((a, b) => a * b, 1);
  const all = dataset.batch(
    Int32Array.from({ length: dataset.length }, (_, i) => i),
    new Float32Array(new SharedArrayBuffer(4 * dataset.length * inputSize)),
  );
  let inputs = all.inputs;
  let shape = dataset.inputShape;
  for (const t of transforms) {
    inputs = t.apply(inputs, dataset.length, shape, new Random(0));
    shape = t.outputShape(shape);
  }
  if (inputs.length !== dataset.length * size) throw new Error(`gradscope: transforms changed ${dataset.description} to ${inputs.length} values`);
  return new ArrayDataset(inputs, all.targets, outputShape, dataset.classes, dataset.description, dataset.targetShape);
}
