import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayDataset, createTransform, DataLoader, type LoaderBatch, normalize, splitDataset } from "../src/data/index.ts";
import { Random } from "../src/engine/random.ts";

// 60 random 3×8×8 images in [0, 1] of 4 classes.
function images(): ArrayDataset {
  const random = new Random(3);
  const inputs = Float32Array.from({ length: 60 * 3 * 64 }, () => random.uniform());
  const labels = Int32Array.from({ length: 60 }, (_, i) => i % 4);
  return new ArrayDataset(inputs, labels, [3, 8, 8], 4, "test images");
}

const augment = [
  { type: "random_crop", padding: 2, padding_mode: "reflect" },
  { type: "random_flip" },
  { type: "color_jitter", brightness: 0.3, contrast: 0.3, saturation: 0.3 },
  { type: "cutout", size: 4 },
  { type: "mixup", alpha: 0.4 },
].map(createTransform);

const snapshot = (batches: Iterable<LoaderBatch>) => [...batches].map((b) => ({ index: b.index, inputs: [...b.inputs], targets: [...b.targets] }));

function loader(prefetch: number, dataset = splitDataset(images(), 0.25, 1)[0]): DataLoader {
  return new DataLoader(dataset, { batchSize: 8, shuffle: true, seed: 11, transforms: [...augment, normalize(0.5, 0.25)], prefetch });
}

test("a prefetching loader yields the same batches as one without prefetch, epoch after epoch", async () => {
  const here = loader(0);
  const ahead = loader(2);
  try {
    for (const epoch of [0, 1]) {
      const expected = snapshot(here.batches(epoch));
      assert.equal(expected.length, 6);
      assert.deepEqual(snapshot(ahead.batches(epoch)), expected, `epoch ${epoch}`);
    }
    // MixUp made the targets class probabilities [B, 4].
    const [first] = here.batches(0);
    assert.equal(first.targets.length, 8 * 4);
    assert.ok(first.targets instanceof Float32Array);
  } finally {
    await ahead.close();
  }
});

test("a pass left mid-epoch and resumed at its next batch gets exactly the remaining batches, with prefetch", async () => {
  const expected = snapshot(loader(0).batches(1));
  const ahead = loader(3);
  try {
    const seen: ReturnType<typeof snapshot> = [];
    for (const batch of ahead.batches(1)) {
      seen.push(...snapshot([batch]));
      if (batch.index === 2) break; // an interrupted run: the worker has batches 3.. in hand
    }
    const resumed = loader(2);
    try {
      seen.push(...snapshot(resumed.batches(1, 3)));
    } finally {
      await resumed.close();
    }
    assert.deepEqual(seen, expected);
    // The same loader starts a new pass after the cancelled one.
    assert.deepEqual(snapshot(ahead.batches(1, 4)), expected.slice(4));
  } finally {
    await ahead.close();
  }
});

test("inputs go into the caller's array, as on the loader's own thread", async () => {
  const ahead = loader(1);
  const buffer = new Float32Array(8 * 3 * 64);
  try {
    const [batch] = ahead.batches(0, 0, (size) => buffer.subarray(0, size * 3 * 64));
    assert.equal(batch.inputs.buffer, buffer.buffer);
    assert.deepEqual([...batch.inputs], snapshot(loader(0).batches(0))[0].inputs);
  } finally {
    await ahead.close();
  }
});

test("prefetch refuses transforms it cannot rebuild in the worker, naming them", () => {
  const custom = { name: "my_noise", deterministic: false, outputShape: (s: readonly number[]) => [...s], apply: (x: Float32Array) => x };
  const ahead = new DataLoader(images(), { batchSize: 8, transforms: [custom], prefetch: 2 });
  assert.throws(() => ahead.batches(0).next(), /transform my_noise has none \(use prefetch: 0\)/);
});

test("an error in the worker reaches the loader with its message", async () => {
  // Reflect padding deeper than the image is found when the worker applies the crop.
  const dataset = images();
  const ahead = new DataLoader(dataset, { batchSize: 8, transforms: [createTransform({ type: "random_crop", padding: 9, padding_mode: "reflect" })], prefetch: 2 });
  try {
    assert.throws(
      () => [...ahead.batches(0)],
      /the prefetch worker failed: RangeError: gradscope: transform random_crop: padding 9 is larger than reflect padding allows for 8×8 images \(at most 7\)/,
    );
  } finally {
    await ahead.close();
  }
});
