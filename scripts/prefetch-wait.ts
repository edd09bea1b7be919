// The share of a training epoch spent waiting for batches, with and without the prefetch worker,
// while the training thread does a fixed amount of compute per step (busy-waiting, as a model's
// forward and backward pass would keep the core busy).
//
//   node --import tsx scripts/prefetch-wait.ts [--compute-ms 20] [--steps N] [--prefetch 0,2]
//   node --experimental-wasm-relaxed-simd --import tsx scripts/prefetch-wait.ts --model 3c3d --steps 30
//
// Workloads: Fashion-MNIST (the Debian package's, else the bundled sample) and a CIFAR-shaped set
// of 50000 random 3×32×32 images, each with random crop (padding 4) + horizontal flip + normalize
// at batch 128. With --model, the steps are real training steps of that architecture (Trainer.fit
// on the CIFAR-shaped set) instead of busy-waiting. On a shared machine other processes take
// cores too: run it more than once.

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

// Times every request for a batch that `fit` makes of the loader.
function timedBatches(loader: DataLoader, timing: { waitMs: number; firstMs: number; steps: number }): void {
  const batches = loader.batches.bind(loader);
  loader.batches = (...args) => {
    const inner = batches(...args);
    return (function* () {
      for (;;) {
        const asked = performance.now();
        const next = inner.next();
        const waited = performance.now() - asked;
        if (next.done) return;
        if (timing.steps === 0) timing.firstMs = waited;
        else timing.waitMs += waited;
        timing.steps++;
        yield next.value;
      }
    })();
  };
}

async function measureTraining(arch: string, dataset: Dataset, prefetch: number): Promise<{ steps: number; waitMs: number; firstMs: number; totalMs: number }> {
  const { buildModel } = await import("../src/nn/spec.ts");
  const { createOptimizer } = await import("../src/optim/registry.ts");
  const { Subset } = await import("../src/data/dataset.ts");
  const { Trainer } = await import("../src/train/trainer.ts");
  const steps = Number.isFinite(maxSteps) ? maxSteps : 30;
  const part = new Subset(
    dataset,
    Int32Array.from({ length: steps * 128 }, (_, i) => i),
    "first examples",
  );
  const transforms = [{ type: "random_crop", padding: 4 }, { type: "random_flip" }, { type: "normalize", mean: 0.5, std: 0.25 }].map(createTransform);
  const loader = new DataLoader(part, { batchSize: 128, shuffle: true, seed: 1, transforms, prefetch });
  const { model } = buildModel({ arch: arch as "3c3d" }, [3, 32, 32], 0);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.01, momentum: 0.9 });
  const trainer = new Trainer({ model, optimizer, loss: { name: "cross_entropy" }, epochs: 1 });
  const timing = { waitMs: 0, firstMs: 0, steps: 0 };
  timedBatches(loader, timing);
  const started = performance.now();
  await trainer.fit(loader);
  const totalMs = performance.now() - started - timing.firstMs;
  await loader.close();
  optimizer.dispose();
  model.dispose();
  return { ...timing, totalMs };
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

function report(name: string, prefetch: number, work: string, r: { steps: number; waitMs: number; firstMs: number; totalMs: number }): void {
  console.log(
    `${name}, prefetch ${prefetch}: ${r.steps} steps of ${work}; waited ${r.waitMs.toFixed(0)} ms of ${r.totalMs.toFixed(0)} ms ` +
      `(${((100 * r.waitMs) / r.totalMs).toFixed(2)}% of the epoch after the first batch, which took ${r.firstMs.toFixed(0)} ms)`,
  );
}

const model = process.argv.includes("--model") ? process.argv[process.argv.indexOf("--model") + 1] : undefined;
if (model) {
  const cifar = cifarShaped();
  for (const prefetch of depths) report("CIFAR-shaped", prefetch, `${model} training`, await measureTraining(model, cifar, prefetch));
} else {
  const fashion = loadSource({ source: "fashion-mnist" }, 0).train;
  for (const [name, dataset] of [
    [`Fashion-MNIST (${fashion.length} images)`, fashion],
    ["CIFAR-shaped (50000 images)", cifarShaped()],
  ] as const) {
    for (const prefetch of depths) report(name, prefetch, `${computeMs} ms compute`, measure(dataset, prefetch));
  }
}
