import assert from "node:assert/strict";
import { test } from "node:test";
import { ArrayDataset, createTransform, DataLoader, randomCrop, type Transform } from "../src/data/index.ts";
import { symmetricBeta } from "../src/data/mixing.ts";
import { Random } from "../src/engine/random.ts";

// A seed whose generator's first draws satisfy `accept` (so a test knows which offsets a transform drew).
function seedWhere(accept: (random: Random) => boolean): number {
  for (let seed = 0; ; seed++) if (accept(new Random(seed))) return seed;
}

const ramp = (length: number) => Float32Array.from({ length }, (_, i) => i);
const apply = (t: Transform, inputs: Float32Array, batch: number, shape: number[], seed: number, targets?: Float32Array) =>
  t.apply(inputs, batch, shape, new Random(seed), targets);

test("random_crop pads with each padding mode as torchvision does", () => {
  // A 3×3 image 0..8 shifted by (−2, −2): output pixel (0, 0) reads padded position (−2, −2).
  const seed = seedWhere((r) => r.integer(5) === 0 && r.integer(5) === 0);
  const corner = (mode: "constant" | "edge" | "reflect" | "symmetric") => apply(randomCrop(2, mode, 9), ramp(9), 1, [1, 3, 3], seed);
  assert.deepEqual([...corner("constant")], [9, 9, 9, 9, 9, 9, 9, 9, 0]);
  assert.deepEqual([...corner("edge")], [0, 0, 0, 0, 0, 0, 0, 0, 0]);
  // reflect: d c b | a b c d, so −2 → 2; symmetric: b a | a b, so −2 → 1 and −1 → 0.
  assert.deepEqual([...corner("reflect")], [8, 7, 6, 5, 4, 3, 2, 1, 0]);
  assert.deepEqual([...corner("symmetric")], [4, 3, 3, 1, 0, 0, 1, 0, 0]);
  assert.throws(() => createTransform({ type: "random_crop", padding_mode: "wrap" }), /padding_mode must be one of constant, edge, reflect, symmetric, got wrap/);
  assert.throws(() => createTransform({ type: "random_crop", paddng: 4 }), /transform random_crop has no option "paddng"; its options: padding, padding_mode, fill/);
});

test("random_flip mirrors left-right or top-bottom", () => {
  const flip = (axis: string) => [...apply(createTransform({ type: "random_flip", p: 1, axis }), ramp(12), 2, [1, 2, 3], 0)];
  assert.deepEqual(flip("horizontal"), [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
  assert.deepEqual(flip("vertical"), [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]);
  assert.deepEqual([...apply(createTransform({ type: "random_flip", p: 0, axis: "vertical" }), ramp(12), 2, [1, 2, 3], 0)], [...ramp(12)]);
});

test("random_affine shifts by the drawn translation, rotates about the centre, and is the identity at zero", () => {
  const image = ramp(2 * 25);
  const identity = createTransform({ type: "random_affine", degrees: 0 });
  assert.deepEqual([...apply(identity, image.slice(), 2, [2, 5, 5], 3)], [...image]);
  // Nearest-neighbour shift: the draws are angle, x shift, y shift, zoom.
  const seed = 4;
  const draws = new Random(seed);
  draws.uniform();
  const dx = Math.round((-0.4 + 0.8 * draws.uniform()) * 5);
  const dy = Math.round((-0.4 + 0.8 * draws.uniform()) * 5);
  const shifted = apply(createTransform({ type: "random_affine", translate: [0.4, 0.4], interpolation: "nearest", fill: -1 }), image.slice(0, 25), 1, [1, 5, 5], seed);
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      const [sy, sx] = [y - dy, x - dx];
      assert.equal(shifted[y * 5 + x], sy >= 0 && sy < 5 && sx >= 0 && sx < 5 ? sy * 5 + sx : -1, `pixel (${y}, ${x}) of a shift by (${dy}, ${dx})`);
    }
  }
  // A spot 2 pixels right of the centre lands at the centre + 2·(cos θ, sin θ), θ the drawn angle
  // (image coordinates, y pointing down); the bilinear blur keeps its centroid there.
  const spot = new Float32Array(49);
  spot[3 * 7 + 5] = 1;
  const rotated = apply(createTransform({ type: "random_rotation", degrees: 90 }), spot, 1, [1, 7, 7], 9);
  const angle = ((-90 + 180 * new Random(9).uniform()) * Math.PI) / 180;
  const total = rotated.reduce((a, b) => a + b, 0);
  const centroid = [0, 1].map((axis) => rotated.reduce((s, v, i) => s + v * (axis === 0 ? i % 7 : Math.floor(i / 7)), 0) / total);
  assert.ok(Math.abs(centroid[0] - (3 + 2 * Math.cos(angle))) < 0.35 && Math.abs(centroid[1] - (3 + 2 * Math.sin(angle))) < 0.35, `centroid ${centroid}, angle ${angle}`);
  assert.throws(() => createTransform({ type: "random_rotation", translate: [0.1, 0.1] }), /transform random_rotation has no option "translate"/);
});

test("color_jitter scales brightness by the drawn factor, keeps a contrast change's mean, and leaves gray pixels' saturation", () => {
  const image = Float32Array.from({ length: 3 * 4 }, (_, i) => 0.2 + 0.05 * i);
  const brightness = apply(createTransform({ type: "color_jitter", brightness: 0.5 }), image.slice(), 1, [3, 2, 2], 6);
  const factor = 0.5 + new Random(6).uniform();
  assert.deepEqual(
    [...brightness],
    [...image].map((v) => Math.fround(Math.min(1, v * factor))),
  );
  const contrast = apply(createTransform({ type: "color_jitter", contrast: 0.5 }), Float32Array.from([0.4, 0.5, 0.6, 0.5]), 1, [1, 2, 2], 2);
  const f = 0.5 + new Random(2).uniform();
  assert.deepEqual(
    [...contrast],
    [0.4, 0.5, 0.6, 0.5].map((v) => Math.fround(f * Math.fround(v) + (1 - f) * 0.5)),
  );
  const gray = Float32Array.from([0.3, 0.7, 0.3, 0.7, 0.3, 0.7]);
  assert.deepEqual([...apply(createTransform({ type: "color_jitter", saturation: 0.9 }), gray.slice(), 1, [3, 1, 2], 1)], [...gray]);
});

// The erased pixels of each channel as a set of positions, and whether all channels agree.
function erased(out: Float32Array, channels: number, plane: number, value: number): number[] {
  const positions = [...out.subarray(0, plane).keys()].filter((i) => out[i] === value);
  for (let c = 1; c < channels; c++)
    assert.deepEqual(
      [...out.subarray(c * plane, (c + 1) * plane).keys()].filter((i) => out[c * plane + i] === value),
      positions,
    );
  return positions;
}

function assertRectangle(positions: number[], width: number): { rows: number; columns: number } {
  const ys = positions.map((i) => Math.floor(i / width));
  const xs = positions.map((i) => i % width);
  const rows = Math.max(...ys) - Math.min(...ys) + 1;
  const columns = Math.max(...xs) - Math.min(...xs) + 1;
  assert.equal(positions.length, rows * columns, "the erased pixels form a rectangle");
  return { rows, columns };
}

test("random_erasing blanks one rectangle of 2–33% of the image in every channel; cutout a clipped square", () => {
  for (let seed = 0; seed < 20; seed++) {
    const out = apply(
      createTransform({ type: "random_erasing", p: 1, value: -1 }),
      Float32Array.from({ length: 2 * 256 }, () => 0.5),
      1,
      [2, 16, 16],
      seed,
    );
    const positions = erased(out, 2, 256, -1);
    assertRectangle(positions, 16);
    assert.ok(positions.length >= 1 && positions.length <= 0.4 * 256, `seed ${seed}: ${positions.length} pixels`);
    const cut = apply(
      createTransform({ type: "cutout", size: 6 }),
      Float32Array.from({ length: 3 * 100 }, () => 0.5),
      1,
      [3, 10, 10],
      seed,
    );
    const square = assertRectangle(erased(cut, 3, 100, 0), 10);
    assert.ok(square.rows <= 6 && square.columns <= 6 && square.rows >= 3 && square.columns >= 3, `seed ${seed}: ${square.rows}×${square.columns}`);
  }
  assert.deepEqual([...apply(createTransform({ type: "random_erasing", p: 0 }), ramp(8), 2, [1, 2, 2], 0)], [...ramp(8)]);
});

// Four 1×4×4 images, image b filled with b + 1, labels b, as one-hot targets.
function mixBatch(): { inputs: Float32Array; targets: Float32Array } {
  const inputs = Float32Array.from({ length: 4 * 16 }, (_, i) => Math.floor(i / 16) + 1);
  const targets = new Float32Array(16);
  for (let b = 0; b < 4; b++) targets[b * 4 + b] = 1;
  return { inputs, targets };
}

test("mixup blends each example with its partner by the same λ as its targets", () => {
  for (let seed = 0; seed < 10; seed++) {
    const { inputs, targets } = mixBatch();
    const out = apply(createTransform({ type: "mixup", alpha: 0.4 }), inputs, 4, [1, 4, 4], seed, targets);
    for (let b = 0; b < 4; b++) {
      const row = [...targets.subarray(b * 4, b * 4 + 4)];
      assert.ok(Math.abs(row.reduce((s, v) => s + v, 0) - 1) < 1e-6, "targets sum to 1");
      // The pixel value is Σ_c t_c·(c + 1): image c holds c + 1.
      const expected = row.reduce((s, t, c) => s + t * (c + 1), 0);
      for (let i = 0; i < 16; i++) assert.ok(Math.abs(out[b * 16 + i] - expected) < 1e-5, `seed ${seed} example ${b}: ${out[b * 16 + i]} vs ${expected}`);
    }
  }
});

test("cutmix pastes the partner's box and weighs the targets by the area each image keeps", () => {
  let pasted = 0;
  for (let seed = 0; seed < 10; seed++) {
    const { inputs, targets } = mixBatch();
    const out = apply(createTransform({ type: "cutmix" }), inputs, 4, [1, 4, 4], seed, targets);
    for (let b = 0; b < 4; b++) {
      const pixels = [...out.subarray(b * 16, (b + 1) * 16)];
      for (let c = 0; c < 4; c++) {
        const share = pixels.filter((v) => v === c + 1).length / 16;
        assert.ok(Math.abs(targets[b * 4 + c] - share) < 1e-6, `seed ${seed} example ${b} class ${c}: target ${targets[b * 4 + c]}, pixel share ${share}`);
      }
      if (pixels.some((v) => v !== b + 1)) pasted++;
    }
  }
  assert.ok(pasted > 0, "some boxes were pasted");
});

test("Beta(α, α) draws have mean 1/2 and variance 1/(4(2α + 1))", () => {
  for (const alpha of [0.2, 1, 3]) {
    const random = new Random(17);
    const draws = Array.from({ length: 20000 }, () => symmetricBeta(alpha, random));
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
    const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / draws.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `α ${alpha}: mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / (4 * (2 * alpha + 1))) < 0.01, `α ${alpha}: variance ${variance}`);
  }
});

test("a loader with mixup yields class probabilities; mixup on regression targets is refused", () => {
  const dataset = new ArrayDataset(ramp(6 * 4), Int32Array.from([0, 1, 2, 0, 1, 2]), [1, 2, 2], 3, "tiny");
  const loader = new DataLoader(dataset, { batchSize: 3, transforms: [createTransform({ type: "mixup" })] });
  const [batch] = loader.batches(0);
  assert.equal(batch.targets.length, 9);
  assert.ok(batch.targets instanceof Float32Array);
  const regression = new ArrayDataset(ramp(4), Float32Array.from([0.5, 1.5]), [2], 0, "regression set");
  assert.throws(
    () => new DataLoader(regression, { batchSize: 2, transforms: [createTransform({ type: "mixup" })] }),
    /transform mixup blends class labels, but regression set has regression targets/,
  );
});
