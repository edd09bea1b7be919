import { Random } from "../engine/random.ts";
import { ArrayDataset } from "./dataset.ts";

// Room for `samples` generated examples of `width` values each. More than one typed array holds
// failed as "Invalid typed array length" with no hint of the option at fault.
function generatedValues(samples: number, width: number): Float32Array {
  try {
    return new Float32Array(samples * width);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeError(`gradscope: data.samples: ${samples} examples of ${width} values each do not fit in one array (${error.message}); expected fewer samples`);
  }
}

/**
 * Gaussian blobs: `classes` centres drawn in [−5, 5]^dims from `seed`, points with standard
 * deviation `std`. The points continue the centres' generator, or draw from `pointsSeed` when
 * given: a test set passes the training set's `seed` (the same centres) and its own `pointsSeed`.
 */
export function blobs(samples: number, classes: number, dims: number, std: number, seed: number, pointsSeed?: number): ArrayDataset {
  if (!Number.isInteger(classes) || classes < 1) throw new RangeError(`gradscope: blobs: classes must be a positive integer (one centre per class), got ${classes}`);
  const random = new Random(seed);
  const centres = Array.from({ length: classes * dims }, () => 10 * random.uniform() - 5);
  const points = pointsSeed === undefined ? random : new Random(pointsSeed);
  const inputs = generatedValues(samples, dims);
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) {
    const label = i % classes;
    labels[i] = label;
    for (let d = 0; d < dims; d++) inputs[i * dims + d] = centres[label * dims + d] + std * points.normal();
  }
  return new ArrayDataset(inputs, labels, [dims], classes, `blobs (${samples} points, seed ${pointsSeed ?? seed})`);
}

/** Two interleaved spirals in the plane (labels 0 and 1), with Gaussian noise. */
export function spirals(samples: number, noise: number, seed: number): ArrayDataset {
  const random = new Random(seed);
  const inputs = generatedValues(samples, 2);
  const labels = new Int32Array(samples);
  for (let i = 0; i < samples; i++) {
    const label = i % 2;
    const t = 0.5 + 3.5 * random.uniform();
    const angle = 2 * t + label * Math.PI;
    inputs[2 * i] = 0.5 * t * Math.cos(angle) + noise * random.normal();
    inputs[2 * i + 1] = 0.5 * t * Math.sin(angle) + noise * random.normal();
    labels[i] = label;
  }
  return new ArrayDataset(inputs, labels, [2], 2, `spirals (${samples} points, seed ${seed})`);
}

/** Regression of y = Σ_d sin(x_d) + noise·N(0, 1) with x uniform in [−π, π]^dims. */
export function regression(samples: number, dims: number, noise: number, seed: number): ArrayDataset {
  const random = new Random(seed);
  const inputs = generatedValues(samples, dims);
  const targets = new Float32Array(samples);
  for (let i = 0; i < samples; i++) {
    let y = 0;
    for (let d = 0; d < dims; d++) {
      const x = Math.PI * (2 * random.uniform() - 1);
      inputs[i * dims + d] = x;
      y += Math.sin(x);
    }
    targets[i] = y + noise * random.normal();
  }
  return new ArrayDataset(inputs, targets, [dims], 0, `regression (${samples} points, seed ${seed})`, [1]);
}
