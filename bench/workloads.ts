import { backward, noGrad } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { backwardWithExtensions, type ExtensionRequest } from "../src/engine/extensions/index.ts";
import { mul } from "../src/engine/ops/binary.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
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
 * A closure running one forward and backward pass of gradscope's BatchNorm2d (train mode) or
 * LayerNorm on a fixed input, the loss being Σ y·r for a fixed random r.
 */
export function gradscopeNormalizationStep(kind: keyof typeof normalizationShapes): { step: () => void; dispose: () => void } {
  const shape = [...normalizationShapes[kind]];
  const { model } = buildModel({ layers: [{ type: kind }] }, shape.slice(1), 0);
  const x = tensor(randomBatch(shape, 1, 2).inputs, shape).keep();
  const r = tensor(randomBatch(shape, 1, 3).inputs, shape).keep();
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
