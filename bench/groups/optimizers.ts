// The optimizer update of the DeepOBS mnist_mlp (784-1000-500-100-10, 1.34 M parameters).
import { tensor } from "../../src/engine/creation.ts";
import type { Tensor } from "../../src/engine/tensor.ts";
import { buildModel } from "../../src/nn/spec.ts";
import { Adam } from "../../src/optim/adam.ts";
import type { Optimizer } from "../../src/optim/optimizer.ts";
import { SGD } from "../../src/optim/sgd.ts";
import { mnistMlp } from "../quantities.ts";
import type { BenchGroup, BenchRow, Measured } from "../registry.ts";
import { medianMs } from "../timing.ts";

// Milliseconds of one update of the optimizer made by `create` on mnist_mlp's parameters, with
// gradients of 1e-3 everywhere.
function updateMs(create: (params: Tensor[]) => Optimizer): Measured {
  const { model } = buildModel({ layers: mnistMlp.layers }, mnistMlp.input, 0);
  const params = model.parameters();
  for (const p of params) p.grad = tensor(new Float32Array(p.size).fill(1e-3), p.shape).keep();
  const optimizer = create(params);
  optimizer.step();
  const ms = medianMs(() => optimizer.step(), 15, 3);
  const note = `${(model.parameterCount() / 1e6).toFixed(2)} M parameters`;
  optimizer.dispose();
  model.dispose();
  return { value: ms, unit: "ms", digits: 3, note };
}

const row = (name: string, create: (params: Tensor[]) => Optimizer): BenchRow => ({ name, threads: 1, measure: () => updateMs(create) });

export const optimizersGroup: BenchGroup = {
  name: "optimizers",
  rows: [
    row("SGD momentum 0.9 update, DeepOBS mnist_mlp, 1 thread", (params) => new SGD(params, { lr: 0.01, momentum: 0.9 })),
    row("Adam update, DeepOBS mnist_mlp, 1 thread", (params) => new Adam(params, { lr: 0.001 })),
  ],
};
