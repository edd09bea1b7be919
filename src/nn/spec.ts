import { convOutputSize } from "../engine/ops/im2col.ts";
import { Random } from "../engine/random.ts";
import { Flatten, GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Softplus, Tanh } from "./activations.ts";
import { Residual, Sequential } from "./containers.ts";
import { AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, LayerNorm, Linear, MaxPool2d } from "./layers.ts";
import type { Module } from "./module.ts";

/**
 * One layer of a model spec. Field names follow shared/reference's quantities.json
 * (`{"type": "linear", "in": 20, "out": 16}`); input sizes may be omitted and are inferred.
 */
export type LayerSpec = { type: string } & Record<string, unknown>;

/** A model: a layer list, or a named architecture with its options. */
export type ModelSpec = { layers: LayerSpec[] } | ({ arch: string } & Record<string, unknown>);

type IntPair = number | [number, number];

const pairOf = (value: IntPair | undefined, fallback: number): [number, number] =>
  value === undefined ? [fallback, fallback] : typeof value === "number" ? [value, value] : value;

const activationTypes = ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "softplus", "softmax", "log_softmax"];
const layerTypes = ["linear", "conv2d", "maxpool2d", "avgpool2d", "batchnorm1d", "batchnorm2d", "layernorm", "embedding", "dropout", "flatten", "residual", ...activationTypes];

/** The closest known name by edit distance, for "did you mean" hints. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0];
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const current = row[j];
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = current;
      }
    }
    return row[b.length];
  };
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, name.length / 3) ? best : undefined;
}

class SpecError extends Error {
  constructor(path: string, message: string) {
    super(`gradscope: ${path}: ${message}`);
  }
}

function integer(path: string, spec: LayerSpec, key: string, fallback?: number): number {
  const value = spec[key] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new SpecError(`${path}.${key}`, `expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Builds one layer given the per-sample input shape; returns it with its output shape. */
function buildLayer(spec: LayerSpec, shape: number[], path: string, random: Random): { module: Module; shape: number[] } {
  const type = spec.type;
  switch (type) {
    case "linear": {
      const inferred = shape[shape.length - 1];
      const inFeatures = integer(path, spec, "in", inferred);
      if (inFeatures !== inferred) throw new SpecError(`${path}.in`, `is ${inFeatures} but the incoming features are ${inferred} (input shape [${shape.join(", ")}])`);
      const out = integer(path, spec, "out");
      return { module: new Linear(inFeatures, out, { bias: spec.bias !== false, random }), shape: [...shape.slice(0, -1), out] };
    }
    case "conv2d": {
      if (shape.length !== 3) throw new SpecError(path, `conv2d needs a [C, H, W] input, got [${shape.join(", ")}]`);
      const inChannels = integer(path, spec, "in_channels", shape[0]);
      if (inChannels !== shape[0]) throw new SpecError(`${path}.in_channels`, `is ${inChannels} but the input has ${shape[0]} channels`);
      const outChannels = integer(path, spec, "out_channels");
      const kernel = pairOf(spec.kernel_size as IntPair, Number.NaN);
      const stride = pairOf(spec.stride as IntPair, 1);
      const padding = pairOf(spec.padding as IntPair, 0);
      const dilation = pairOf(spec.dilation as IntPair, 1);
      if (kernel.some(Number.isNaN)) throw new SpecError(`${path}.kernel_size`, "is required (a number or [h, w])");
      const outH = convOutputSize(shape[1], kernel[0], stride[0], padding[0], dilation[0]);
      const outW = convOutputSize(shape[2], kernel[1], stride[1], padding[1], dilation[1]);
      if (outH <= 0 || outW <= 0) throw new SpecError(path, `the ${kernel[0]}x${kernel[1]} kernel does not fit the ${shape[1]}x${shape[2]} input`);
      const module = new Conv2d(inChannels, outChannels, kernel, { stride, padding, dilation, groups: integer(path, spec, "groups", 1), bias: spec.bias !== false, random });
      return { module, shape: [outChannels, outH, outW] };
    }
    case "maxpool2d":
    case "avgpool2d": {
      const kernel = pairOf(spec.kernel_size as IntPair, Number.NaN);
      if (kernel.some(Number.isNaN)) throw new SpecError(`${path}.kernel_size`, "is required");
      const stride = pairOf(spec.stride as IntPair, kernel[0]);
      const padding = pairOf(spec.padding as IntPair, 0);
      const options = { kernelSize: kernel, stride, padding };
      const outShape = [shape[0], convOutputSize(shape[1], kernel[0], stride[0], padding[0], 1), convOutputSize(shape[2], kernel[1], stride[1], padding[1], 1)];
      return { module: type === "maxpool2d" ? new MaxPool2d(options) : new AvgPool2d(options), shape: outShape };
    }
    case "batchnorm1d":
    case "batchnorm2d": {
      const features = integer(path, spec, "num_features", shape[0]);
      return { module: new BatchNorm(features, { eps: spec.eps as number | undefined, momentum: spec.momentum as number | undefined }), shape };
    }
    case "layernorm": {
      const normalized = (spec.normalized_shape as number[] | undefined) ?? [shape[shape.length - 1]];
      return { module: new LayerNorm(normalized, { eps: spec.eps as number | undefined }), shape };
    }
    case "embedding": {
      const dim = integer(path, spec, "embedding_dim");
      const module = new Embedding(integer(path, spec, "num_embeddings"), dim, { paddingIndex: (spec.padding_idx as number | null | undefined) ?? null, random });
      return { module, shape: [...shape, dim] };
    }
    case "dropout":
      return { module: new Dropout((spec.p as number | undefined) ?? 0.5, random.nextUint32()), shape };
    case "flatten": {
      const start = ((spec.start_dim as number | undefined) ?? 1) - 1;
      const flat = shape.slice(start).reduce((a, b) => a * b, 1);
      return { module: Flatten(), shape: [...shape.slice(0, start), flat] };
    }
    case "residual": {
      const body = buildSequential(spec.layers as LayerSpec[], shape, `${path}.layers`, random);
      if (body.shape.join() !== shape.join()) throw new SpecError(path, `residual body maps [${shape.join(", ")}] to [${body.shape.join(", ")}]; it must keep the shape`);
      return { module: new Residual(body.module), shape };
    }
    case "relu":
      return { module: ReLU(), shape };
    case "leaky_relu":
      return { module: LeakyReLU((spec.negative_slope as number | undefined) ?? 0.01), shape };
    case "tanh":
      return { module: Tanh(), shape };
    case "sigmoid":
      return { module: Sigmoid(), shape };
    case "gelu":
      return { module: GELU((spec.approximate as "none" | "tanh" | undefined) ?? "none"), shape };
    case "softplus":
      return { module: Softplus((spec.beta as number | undefined) ?? 1, (spec.threshold as number | undefined) ?? 20), shape };
    case "softmax":
      return { module: Softmax(), shape };
    case "log_softmax":
      return { module: LogSoftmax(), shape };
    default: {
      const hint = closestName(String(type), layerTypes);
      throw new SpecError(`${path}.type`, `unknown layer type ${JSON.stringify(type)}${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${layerTypes.join(", ")}`);
    }
  }
}

function buildSequential(layers: LayerSpec[], inputShape: number[], path: string, random: Random): { module: Sequential; shape: number[] } {
  if (!Array.isArray(layers) || layers.length === 0) throw new SpecError(path, "expected a non-empty list of layers");
  let shape = inputShape;
  const modules: Module[] = [];
  layers.forEach((spec, index) => {
    const built = buildLayer(spec, shape, `${path}[${index}]`, random);
    modules.push(built.module);
    shape = built.shape;
  });
  return { module: new Sequential(modules), shape };
}

/** Expands a named architecture into its layer list (DeepOBS definitions for 2c2d and 3c3d). */
export function architectureLayers(spec: { arch: string } & Record<string, unknown>, inputShape: number[]): LayerSpec[] {
  const classes = (spec.classes as number | undefined) ?? 10;
  switch (spec.arch) {
    case "mlp": {
      const hidden = (spec.hidden as number[] | undefined) ?? [256, 128];
      const activation = (spec.activation as string | undefined) ?? "relu";
      const layers: LayerSpec[] = inputShape.length > 1 ? [{ type: "flatten" }] : [];
      for (const width of hidden) layers.push({ type: "linear", out: width }, { type: activation });
      layers.push({ type: "linear", out: classes });
      return layers;
    }
    case "lenet5":
      return [
        { type: "conv2d", out_channels: 6, kernel_size: 5, padding: 2 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 2 },
        { type: "conv2d", out_channels: 16, kernel_size: 5 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 2 },
        { type: "flatten" },
        { type: "linear", out: 120 },
        { type: "relu" },
        { type: "linear", out: 84 },
        { type: "relu" },
        { type: "linear", out: classes },
      ];
    case "2c2d":
      return [
        { type: "conv2d", out_channels: 32, kernel_size: 5, padding: 2 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 2 },
        { type: "conv2d", out_channels: 64, kernel_size: 5, padding: 2 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 2 },
        { type: "flatten" },
        { type: "linear", out: 1024 },
        { type: "relu" },
        { type: "linear", out: classes },
      ];
    case "3c3d":
      return [
        { type: "conv2d", out_channels: 64, kernel_size: 5 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
        { type: "conv2d", out_channels: 96, kernel_size: 3 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
        { type: "conv2d", out_channels: 128, kernel_size: 3, padding: 1 },
        { type: "relu" },
        { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
        { type: "flatten" },
        { type: "linear", out: 512 },
        { type: "relu" },
        { type: "linear", out: 256 },
        { type: "relu" },
        { type: "linear", out: classes },
      ];
    default: {
      const hint = closestName(spec.arch, ["mlp", "lenet5", "2c2d", "3c3d"]);
      throw new SpecError("model.arch", `unknown architecture ${JSON.stringify(spec.arch)}${hint ? ` (did you mean "${hint}"?)` : ""}; known: mlp, lenet5, 2c2d, 3c3d`);
    }
  }
}

/**
 * Builds a model from a spec for inputs of per-sample shape `inputShape` (e.g. [1, 28, 28]).
 * The same seed gives the same weights.
 */
export function buildModel(spec: ModelSpec, inputShape: number[], seed = 0): { model: Sequential; outputShape: number[] } {
  const random = new Random(seed);
  const layers = "arch" in spec ? architectureLayers(spec as { arch: string }, inputShape) : (spec.layers as LayerSpec[]);
  const { module, shape } = buildSequential(layers, inputShape, "model.layers", random);
  return { model: module, outputShape: shape };
}
