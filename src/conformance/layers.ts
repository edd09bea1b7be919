import { backward } from "../engine/autograd.ts";
import { parameter, tensor } from "../engine/creation.ts";
import { backwardWithExtensions, type ParameterStatistics } from "../engine/extensions/index.ts";
import { batchNorm } from "../engine/ops/batchnorm.ts";
import { conv2d } from "../engine/ops/conv2d.ts";
import { embedding } from "../engine/ops/embedding.ts";
import { layerNorm } from "../engine/ops/layernorm.ts";
import { linear } from "../engine/ops/linear.ts";
import { avgPool2d, maxPool2d } from "../engine/ops/pool.ts";
import { flatten } from "../engine/ops/shape.ts";
import { logSoftmax, softmax } from "../engine/ops/softmax.ts";
import { gelu, leakyRelu, relu, sigmoid, softplus, tanh } from "../engine/ops/unary.ts";
import { scope } from "../engine/scope.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenValues, toTensor } from "./golden.ts";

/** One case of layers.json (see shared/reference/README.md §2). */
export interface LayerCase {
  name: string;
  op: string;
  hyper: Record<string, unknown>;
  mode?: "train" | "eval";
  input: GoldenTensor;
  params: Record<string, GoldenTensor>;
  buffers_before?: Record<string, GoldenTensor>;
  buffers_after?: Record<string, GoldenTensor>;
  output: GoldenTensor;
  grad_output: GoldenTensor;
  grad_input: GoldenTensor | null;
  grad_params: Record<string, GoldenTensor>;
  per_sample_grad_params?: Record<string, GoldenTensor>;
}

/** The ops layers.json exercises that the engine implements. */
export const supportedLayerOps = new Set([
  "linear",
  "conv2d",
  "maxpool2d",
  "avgpool2d",
  "relu",
  "leaky_relu",
  "tanh",
  "sigmoid",
  "gelu",
  "softplus",
  "softmax",
  "log_softmax",
  "flatten",
  "batchnorm1d",
  "batchnorm2d",
  "layernorm",
  "embedding",
]);

function forward(c: LayerCase, input: Tensor, params: Record<string, Tensor>, buffers: Record<string, Tensor>): Tensor {
  const h = c.hyper as Record<string, never>;
  const weight = params.weight ?? null;
  const bias = params.bias ?? null;
  switch (c.op) {
    case "linear":
      return linear(input, weight, bias);
    case "conv2d":
      return conv2d(input, weight, bias, { stride: h.stride, padding: h.padding, dilation: h.dilation, groups: h.groups });
    case "maxpool2d":
      return maxPool2d(input, { kernelSize: h.kernel_size, stride: h.stride, padding: h.padding });
    case "avgpool2d":
      return avgPool2d(input, { kernelSize: h.kernel_size, stride: h.stride, padding: h.padding });
    case "relu":
      return relu(input);
    case "leaky_relu":
      return leakyRelu(input, h.negative_slope);
    case "tanh":
      return tanh(input);
    case "sigmoid":
      return sigmoid(input);
    case "gelu":
      return gelu(input, h.approximate);
    case "softplus":
      return softplus(input, h.beta, h.threshold);
    case "softmax":
      return softmax(input, h.dim);
    case "log_softmax":
      return logSoftmax(input, h.dim);
    case "flatten":
      return flatten(input, h.start_dim, h.end_dim);
    case "batchnorm1d":
    case "batchnorm2d":
      return batchNorm(input, weight, bias, buffers.running_mean, buffers.running_var, { training: c.mode === "train", momentum: h.momentum, eps: h.eps });
    case "layernorm":
      return layerNorm(input, h.normalized_shape, weight, bias, h.eps);
    case "embedding":
      return embedding(input, weight, h.padding_idx);
    default:
      throw new Error(`gradscope: layers.json op ${c.op} is not covered`);
  }
}

// Expected statistics derived in double from the golden per-sample gradients [N, D].
function expectedStatistics(perSample: GoldenTensor, direction: number[]) {
  const values = goldenValues(perSample);
  const batch = perSample.shape[0];
  const size = values.length / batch;
  const row = (i: number) => values.slice(i * size, (i + 1) * size);
  const dot = (a: number[], b: number[]) => a.reduce((s, v, k) => s + v * b[k], 0);
  const rows = Array.from({ length: batch }, (_, i) => row(i));
  return {
    batchL2: rows.map((r) => dot(r, r)),
    batchDot: rows.flatMap((a) => rows.map((b) => dot(a, b))),
    sumGradSquared: Array.from({ length: size }, (_, j) => rows.reduce((s, r) => s + r[j] * r[j], 0)),
    projections: rows.map((r) => dot(r, direction)),
  };
}

/** Runs one layers.json case and compares every value it records. */
export function runLayerCase(c: LayerCase, tolerance: Tolerance): Comparison[] {
  return scope(() => {
    const comparisons: Comparison[] = [];
    const input = toTensor(c.input);
    if (input.dtype === "float32") input.requiresGrad = true;
    const params: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(c.params)) params[name] = parameter(goldenValues(value), value.shape, name);
    const buffers: Record<string, Tensor> = {};
    for (const [name, value] of Object.entries(c.buffers_before ?? {})) if (name !== "num_batches_tracked") buffers[name] = toTensor(value);
    const output = forward(c, input, params, buffers);
    comparisons.push(compareValues("output", output.data, goldenValues(c.output), tolerance));
    for (const [name, value] of Object.entries(c.buffers_after ?? {})) {
      if (buffers[name]) comparisons.push(compareValues(`buffer ${name}`, buffers[name].data, goldenValues(value), tolerance));
    }
    const gradOutput = toTensor(c.grad_output);
    let statistics: Map<Tensor, ParameterStatistics> | null = null;
    const directions = new Map<Tensor, Tensor>();
    if (c.per_sample_grad_params) {
      for (const [name, value] of Object.entries(c.grad_params)) directions.set(params[name], tensor(goldenValues(value), value.shape));
      statistics = backwardWithExtensions(
        output,
        { individualGradients: true, batchL2: true, batchDot: true, sumGradSquared: true, projections: directions },
        { gradient: gradOutput, perSampleScale: 1 },
      );
    } else {
      backward(output, { gradient: gradOutput });
    }
    if (c.grad_input) comparisons.push(compareValues("grad_input", input.grad?.data ?? [], goldenValues(c.grad_input), tolerance));
    for (const [name, value] of Object.entries(c.grad_params)) {
      comparisons.push(compareValues(`grad ${name}`, params[name].grad?.data ?? [], goldenValues(value), tolerance));
    }
    for (const [name, perSample] of Object.entries(c.per_sample_grad_params ?? {})) {
      const stats = statistics?.get(params[name]) ?? {};
      const expected = expectedStatistics(perSample, goldenValues(c.grad_params[name]));
      comparisons.push(compareValues(`individualGradients ${name}`, stats.individualGradients?.data ?? [], goldenValues(perSample), tolerance));
      comparisons.push(compareValues(`batchL2 ${name}`, stats.batchL2 ?? [], expected.batchL2, tolerance));
      comparisons.push(compareValues(`batchDot ${name}`, stats.batchDot ?? [], expected.batchDot, tolerance));
      comparisons.push(compareValues(`sumGradSquared ${name}`, stats.sumGradSquared?.data ?? [], expected.sumGradSquared, tolerance));
      comparisons.push(compareValues(`projections ${name}`, stats.projections ?? [], expected.projections, tolerance));
    }
    return comparisons;
  });
}
