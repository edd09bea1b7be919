import type { Batch, Dataset, DatasetRecipe } from "./dataset.ts";

// byte → float32 pixel in [0, 1]: the same values as v / 255 computed per pixel.
const PIXEL_VALUES = Float32Array.from({ length: 256 }, (_, v) => v / 255);

/**
 * Images kept as their bytes (a quarter of float32's memory: CIFAR-10's training set is 150 MiB
 * instead of 600 MiB) in shared memory, so that a prefetch worker reads them without a copy;
 * batches hold floats in [0, 1].
 */
export class PixelDataset implements Dataset {
  readonly length: number;
  readonly targetShape: readonly number[] = [];
  private readonly imageSize: number;

  constructor(
    readonly pixels: Uint8Array,
    readonly labels: Int32Array,
    readonly inputShape: readonly number[],
    readonly classes: number,
    readonly description: string,
  ) {
    this.imageSize = inputShape.reduce((a, b) => a * b, 1);
    this.length = labels.length;
    if (pixels.length !== this.length * this.imageSize) {
      throw new RangeError(`gradscope: ${description}: ${pixels.length} pixel bytes do not make ${this.length} images of [${inputShape.join(", ")}]`);
    }
    for (const label of labels) if (label < 0 || label >= classes) throw new RangeError(`gradscope: ${description}: label ${label} is outside [0, ${classes})`);
  }

  batch(indices: ArrayLike<number>, into?: Float32Array): Batch {
    const size = indices.length;
    const inputs = into ?? new Float32Array(size * this.imageSize);
    const targets = new Int32Array(size);
    for (let b = 0; b < size; b++) {
      const start = indices[b] * this.imageSize;
      const offset = b * this.imageSize;
      for (let i = 0; i < this.imageSize; i++) inputs[offset + i] = PIXEL_VALUES[this.pixels[start + i]];
      targets[b] = this.labels[indices[b]];
    }
    return { inputs, targets, size };
  }

  recipe(): DatasetRecipe {
    return { kind: "pixels", pixels: this.pixels, labels: this.labels, inputShape: [...this.inputShape], classes: this.classes, description: this.description };
  }
}

/** Zeroed bytes in shared memory, which worker threads see without a copy. */
export function sharedBytes(length: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(length));
}
