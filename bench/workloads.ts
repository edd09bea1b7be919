import { backward, noGrad } from "../src/engine/autograd.ts";
import { copyOf, tensor } from "../src/engine/creation.ts";
import { convGramBatchDot, convGramBatchL2 } from "../src/engine/extensions/convClosedForms.ts";
import { backwardWithExtensions, type ExtensionRequest, type ParameterStatistics } from "../src/engine/extensions/index.ts";
import { individualGradients } from "../src/engine/extensions/individualGradients.ts";
import { computeLayer } from "../src/engine/extensions/layerStatistics.ts";
import { gram, rowSquaredNorms } from "../src/engine/extensions/linearClosedForms.ts";
import { mul } from "../src/engine/ops/binary.ts";
import type { Conv2dRecord } from "../src/engine/ops/conv2d.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import type { LayerSpec } from "../src/nn/spec.ts";
import { buildModel } from "../src/nn/spec.ts";
import { SGD } from "../src/optim/sgd.ts";

/** The two benchmark models of the engine issue, as specs shared with the peer. */
export const mlpSpec: LayerSpec[] = [{ type: "linear", out: 256 }, { type: "relu" }, { type: "linear", out: 128 }, { type: "relu" }, { type: "linear", out: 10 }];
export const cnnSpec: LayerSpec[] = [
  { type: "conv2d", out_channels: 16, kernel_size: 3, padding: 1 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 2 },
  { type: "conv2d", out_channels: 32, kernel_size: 3, padding: 1 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 2 },
  { type: "flatten" },
  { type: "linear", out: 10 },
];

/** A random batch of inputs and labels. */
export function randomBatch(shape: number[], classes: number, seed: number): { inputs: Float32Array; labels: Int32Array } {
  const random = new Random(seed);
  const inputs = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.normal());
  const labels = Int32Array.from({ length: shape[0] }, () => random.integer(classes));
  return { inputs, labels };
}

/** A closure running one SGD training step of gradscope on a fixed batch. */
export function gradscopeStep(spec: LayerSpec[], inputShape: number[], batchSize: number, extensions?: ExtensionRequest): { step: () => void; dispose: () => void } {
  const { model } = buildModel({ layers: spec }, inputShape, 0);
  const batch = randomBatch([batchSize, ...inputShape], 10, 1);
  const optimizer = new SGD(model.parameters(), { lr: 0.01 });
  const step = () =>
    scope(() => {
      optimizer.zeroGrad();
      const x = tensor(batch.inputs, [batchSize, ...inputShape]);
      const y = tensor(batch.labels, [batchSize], "int32");
      const loss = mean(crossEntropy(model.forward(x), y));
      if (extensions) backwardWithExtensions(loss, extensions);
      else backward(loss);
      noGrad(() => optimizer.step());
    });
  return {
    step,
    dispose: () => {
      optimizer.zeroGrad();
      optimizer.dispose();
      model.dispose();
    },
  };
}

/** The normalization layers' benchmark inputs: batch norm over NCHW and layer norm over rows. */
export const normalizationShapes = { batchnorm2d: [128, 32, 16, 16], layernorm: [128, 512] } as const;

/**
 * A closure running one forward and backward pass (train mode) of a model of `layers` on a fixed
 * input of shape `shape` (batch first), differentiated for the input and every parameter, the
 * loss being Σ y·r for a fixed random r.
 */
export function layerForwardBackward(layers: LayerSpec[], shape: number[]): { step: () => void; dispose: () => void } {
  const { model, outputShape } = buildModel({ layers }, shape.slice(1), 0);
  const x = tensor(randomBatch(shape, 1, 2).inputs, shape).keep();
  const outputs = [shape[0], ...outputShape];
  const r = tensor(randomBatch(outputs, 1, 3).inputs, outputs).keep();
  x.requiresGrad = true;
  model.train();
  const step = () =>
    scope(() => {
      backward(sum(mul(model.forward(x), r)));
      model.zeroGrad();
      x.grad?.dispose();
      x.grad = null;
    });
  return {
    step,
    dispose: () => {
      for (const t of [x, r]) t.dispose();
      model.dispose();
    },
  };
}

/** A conv layer's record and its output gradient from one training step, kept for timing. */
interface CapturedConv {
  layer: Conv2dRecord;
  gradOut: Tensor;
}

/**
 * The weight statistics batchL2 + batchDot of a model's conv layers, by each route, on the
 * inputs and output gradients of one step on a random batch (ReLU and max-pooling leave them as
 * sparse as in training): `table` as backwardWithExtensions picks per layer, `materialized` from
 * the per-sample gradients, `gram` by the Grams of unfolded inputs and output gradients.
 */
export function convStatisticRoutes(
  spec: LayerSpec[],
  inputShape: number[],
  batchSize: number,
): { table: () => void; materialized: () => void; gram: () => void; gramBatchL2: () => void; materializedBatchL2: () => void; dispose: () => void } {
  const { model } = buildModel({ layers: spec }, inputShape, 0);
  const batch = randomBatch([batchSize, ...inputShape], 10, 1);
  const captured: CapturedConv[] = [];
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(batch.inputs, [batchSize, ...inputShape])), tensor(batch.labels, [batchSize], "int32")));
    backward(loss, {
      onLayer: (layer, gradOut) => {
        if (layer.kind === "conv2d") captured.push({ layer: { ...layer, input: copyOf(layer.input).keep(), bias: null }, gradOut: copyOf(gradOut).keep() });
      },
    });
  });
  const scale = batchSize;
  const weightOnly = (run: (c: CapturedConv) => void) => () => {
    for (const c of captured) run(c);
  };
  const materializedStatistics = (withDot: boolean) =>
    weightOnly((c) => {
      const [{ gradients }] = individualGradients(c.layer, c.gradOut, scale);
      if (withDot) gram(gradients, batchSize);
      rowSquaredNorms(gradients, batchSize, gradients.size / batchSize);
      gradients.dispose();
    });
  return {
    table: weightOnly((c) => computeLayer(c.layer, c.gradOut, scale, { batchL2: true, batchDot: true }, new Map<Tensor, ParameterStatistics>())),
    materialized: materializedStatistics(true),
    gram: weightOnly((c) => {
      convGramBatchDot(c.layer, c.gradOut, scale);
      convGramBatchL2(c.layer, c.gradOut, scale);
    }),
    gramBatchL2: weightOnly((c) => convGramBatchL2(c.layer, c.gradOut, scale)),
    materializedBatchL2: materializedStatistics(false),
    dispose: () => {
      for (const c of captured) for (const t of [c.layer.input, c.gradOut]) t.dispose();
      model.dispose();
    },
  };
}
