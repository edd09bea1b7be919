// The share of a training epoch spent waiting for batches, with and without the prefetch worker,
// while the training thread does a fixed amount of compute per step (busy-waiting, as a model's
// forward and backward pass would keep the core busy).
//
//   node --import tsx scripts/prefetch-wait.ts [--compute-ms 20] [--steps N] [--prefetch 0,2]
//
// Workloads: Fashion-MNIST (the Debian package's, else the bundled sample) and a CIFAR-shaped set
// of 50000 random 3×32×32 images, each with random crop (padding 4) + horizontal flip + normalize
// at batch 128. On a shared machine other processes take cores too: run it more than once.

import type { Dataset } from "../src/data/dataset.ts";
import { DataLoader } from "../src/data/loader.ts";
import { PixelDataset, sharedBytes } from "../src/data/pixels.ts";
import { loadSource } from "../src/data/sources.ts";
import { createTransform } from "../src/data/transforms.ts";
import { Random } from "../src/engine/random.ts";

const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
};
const computeMs = option("compute-ms", 20);
const maxSteps = option("steps", Number.POSITIVE_INFINITY);
const depths = process.argv.includes("--prefetch") ? process.argv[process.argv.indexOf("--prefetch") + 1].split(",").map(Number) : [0, 2];

function cifarShaped(): Dataset {
  const random = new Random(1);
  const pixels = sharedBytes(50000 * 3072);
  for (let i = 0; i < pixels.length; i++) pixels[i] = random.nextUint32() & 255;
  return new PixelDataset(
    pixels,
    Int32Array.from({ length: 50000 }, (_, i) => i % 10),
    [3, 32, 32],
    10,
    "CIFAR-shaped random images",
  );
}

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

function measure(dataset: Dataset, prefetch: number): { steps: number; waitMs: number; firstMs: number; totalMs: number } {
  const transforms = [{ type: "random_crop", padding: 4 }, { type: "random_flip" }, { type: "normalize", mean: 0.5, std: 0.25 }].map(createTransform);
  const loader = new DataLoader(dataset, { batchSize: 128, shuffle: true, seed: 1, transforms, prefetch });
  const tensor = new Float32Array(128 * dataset.inputShape.reduce((a, b) => a * b, 1));
  const batches = loader.batches(0, 0, (size) => tensor.subarray(0, size * (tensor.length / 128)));
  let [steps, waitMs, firstMs] = [0, 0, 0];
  const started = performance.now();
  while (steps < maxSteps) {
    const asked = performance.now();
    const next = batches.next();
    const waited = performance.now() - asked;
    if (next.done) break;
    if (steps === 0) firstMs = waited;
    else waitMs += waited;
    steps++;
    busy(computeMs);
  }
  batches.return(undefined);
  const totalMs = performance.now() - started - firstMs;
  void loader.close();
  return { steps, waitMs, firstMs, totalMs };
}

const fashion = loadSource({ source: "fashion-mnist" }, 0).train;
for (const [name, dataset] of [
  [`Fashion-MNIST (${fashion.length} images)`, fashion],
  ["CIFAR-shaped (50000 images)", cifarShaped()],
] as const) {
  for (const prefetch of depths) {
    const r = measure(dataset, prefetch);
    console.log(
      `${name}, prefetch ${prefetch}: ${r.steps} steps of ${computeMs} ms compute; waited ${r.waitMs.toFixed(0)} ms of ${r.totalMs.toFixed(0)} ms ` +
        `(${((100 * r.waitMs) / r.totalMs).toFixed(2)}% of the epoch after the first batch, which took ${r.firstMs.toFixed(0)} ms)`,
    );
  }
}
