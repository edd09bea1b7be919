import { convOutputSize } from "../engine/ops/im2col.ts";
import { Random } from "../engine/random.ts";
import { ELU, Flatten, GELU, Hardswish, LeakyReLU, LogSoftmax, Mish, ReLU, ReLU6, SELU, Sigmoid, SiLU, Softmax, Softplus, Tanh } from "./activations.ts";
import { architectures, defaultVariant } from "./architectures/index.ts";
import { Concat, Residual, Sequential } from "./containers.ts";
import { initializeTensor, type Nonlinearity, type WeightInit, weightInitTypes } from "./init.ts";
import { AdaptiveAvgPool2d, AvgPool2d, BatchNorm, Conv2d, Dropout, Embedding, LayerNorm, Linear, MaxPool2d } from "./layers.ts";
import type { Module } from "./module.ts";
import { SubsamplePad } from "./subsamplePad.ts";
import { modelSummary } from "./summary.ts";

/**
 * One node of a model spec: a layer (`{"type": "conv2d", "out_channels": 16, ...}`, PyTorch's
 * constructor names; input sizes may be omitted and are inferred) or a container
 * (`sequential`, `residual`, `concat`) holding further nodes. shared/reference's models.json
 * trees are valid specs.
 */
export type LayerSpec = {
  /** The layer or container type, e.g. "conv2d", "sequential"; the other fields are its options. */
  type: string;
} & Record<string, unknown>;

/** How conv2d and linear layers initialize their weights and biases, by name or with options. */
export type InitSpec = WeightInit["type"] | WeightInit;

/**
 * A model: a layer list (with optional default `init` and `bias_init` for its conv2d and linear
 * layers), or a named architecture with its options.
 */
export type ModelSpec =
  | {
      /** The layers, applied in order. */
      layers: LayerSpec[];
      /** The weight init of conv2d and linear layers without their own (default: PyTorch's). */
      init?: InitSpec;
      /** Their bias init: PyTorch's default or zeros (default "default"). */
      bias_init?: "default" | "zeros";
    }
  | ({
      /** A named architecture (e.g. "resnet20", "lenet5"); the other fields are its options. */
      arch: string;
    } & Record<string, unknown>);

type IntPair = number | [number, number];

const activationTypes = ["relu", "relu6", "leaky_relu", "tanh", "sigmoid", "gelu", "silu", "hardswish", "elu", "selu", "mish", "softplus", "softmax", "log_softmax"];
const layerTypes = [
  "linear",
  "conv2d",
  "maxpool2d",
  "avgpool2d",
  "adaptive_avgpool2d",
  "global_avgpool2d",
  "batchnorm1d",
  "batchnorm2d",
  "layernorm",
  "embedding",
  "dropout",
  "flatten",
  "sequential",
  "residual",
  "concat",
  "subsample_pad",
  ...activationTypes,
];

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

/** ' (did you mean "x"?); known: a, b, c' for an unknown name: the end of every "unknown name" error. */
export const hinted = (name: string, known: readonly string[]): string => {
  const hint = closestName(name, known);
  return `${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${known.join(", ")}`;
};

function integer(path: string, spec: LayerSpec, key: string, fallback?: number): number {
  const value = spec[key] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new SpecError(`${path}.${key}`, `expected a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function real(path: string, spec: LayerSpec, key: string, fallback: number): number {
  const value = spec[key] ?? fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new SpecError(`${path}.${key}`, `expected a number, got ${JSON.stringify(value)}`);
  return value;
}

/** A spatial hyper-parameter: one non-negative integer or [h, w]; null means `fallback`. */
function pair(path: string, spec: LayerSpec, key: string, fallback?: [number, number]): [number, number] {
  const value = (spec[key] ?? fallback) as IntPair | undefined;
  const valid = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (valid(value)) return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every(valid)) return [value[0], value[1]];
  throw new SpecError(`${path}.${key}`, value === undefined ? "is required (a number or [h, w])" : `expected a non-negative integer or [h, w], got ${JSON.stringify(value)}`);
}

// PyTorch options gradscope implements only at their default: anything else is refused by name.
function onlyDefault(path: string, spec: LayerSpec, key: string, supported: unknown): void {
  const value = spec[key];
  if (value === undefined || JSON.stringify(value) === JSON.stringify(supported)) return;
  throw new SpecError(`${path}.${key}`, `only ${JSON.stringify(supported)} is supported, got ${JSON.stringify(value)}`);
}

function nodeList(path: string, value: unknown, allowEmpty: boolean): LayerSpec[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) throw new SpecError(path, `expected a ${allowEmpty ? "" : "non-empty "}list of layers`);
  return value as LayerSpec[];
}

const nonlinearities: Nonlinearity[] = ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"];

/** Validates an `init` field: a name, or `{type, mode, nonlinearity, a, gain, std, mean}`. */
function parseInit(path: string, value: unknown): WeightInit {
  const init = (typeof value === "string" ? { type: value } : value) as Record<string, unknown> | null;
  const type = init?.type;
  if (typeof type !== "string" || !(weightInitTypes as readonly string[]).includes(type)) {
    throw new SpecError(path, `unknown weight init ${JSON.stringify(type ?? value)}${hinted(String(type), weightInitTypes)}`);
  }
  const spec = init as LayerSpec;
  if (init?.mode !== undefined && init.mode !== "fan_in" && init.mode !== "fan_out")
    throw new SpecError(`${path}.mode`, `expected "fan_in" or "fan_out", got ${JSON.stringify(init.mode)}`);
  if (init?.nonlinearity !== undefined && !nonlinearities.includes(init.nonlinearity as Nonlinearity)) {
    throw new SpecError(`${path}.nonlinearity`, `unknown nonlinearity ${JSON.stringify(init.nonlinearity)}${hinted(String(init.nonlinearity), nonlinearities)}`);
  }
  if (type === "normal") real(path, spec, "std", Number.NaN);
  for (const key of ["a", "gain", "mean"]) if (init?.[key] !== undefined) real(path, spec, key, 0);
  return init as WeightInit;
}

/** The initialization a subtree inherits from its containers and the model. */
interface Defaults {
  init: WeightInit;
  biasZero: boolean;
}

function inherited(path: string, spec: LayerSpec | ModelSpec, outer: Defaults): Defaults {
  const s = spec as Record<string, unknown>;
  const biasInit = s.bias_init;
  if (biasInit !== undefined && biasInit !== "default" && biasInit !== "zeros")
    throw new SpecError(`${path}.bias_init`, `expected "default" or "zeros", got ${JSON.stringify(biasInit)}`);
  return {
    init: s.init === undefined ? outer.init : parseInit(`${path}.init`, s.init),
    biasZero: biasInit === undefined ? outer.biasZero : biasInit === "zeros",
  };
}

interface BuildContext {
  random: Random;
  defaults: Defaults;
  /** Every layer built so far (not the containers), for the model's summary. */
  layers: Array<{ module: Module; type: string; outputShape: number[] }>;
}

interface Built {
  module: Module;
  shape: number[];
}

// Applies the inherited or own `init` and `bias_init` to a freshly built conv2d or linear layer.
function initialized<M extends Linear | Conv2d>(module: M, defaults: Defaults, random: Random): M {
  initializeTensor(module.weight, defaults.init, random);
  if (defaults.biasZero) module.bias?.data.fill(0);
  return module;
}

function buildLinear(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  const inferred = shape[shape.length - 1];
  const inKey = spec.in_features !== undefined ? "in_features" : "in";
  const inFeatures = integer(path, spec, inKey, inferred);
  if (inFeatures !== inferred) throw new SpecError(`${path}.${inKey}`, `is ${inFeatures} but the incoming features are ${inferred} (input shape [${shape.join(", ")}])`);
  const out = integer(path, spec, spec.out_features !== undefined ? "out_features" : "out");
  const module = new Linear(inFeatures, out, { bias: spec.bias !== false, random: context.random });
  return { module: initialized(module, inherited(path, spec, context.defaults), context.random), shape: [...shape.slice(0, -1), out] };
}

function buildConv2d(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  if (shape.length !== 3) throw new SpecError(path, `conv2d needs a [C, H, W] input, got [${shape.join(", ")}]`);
  onlyDefault(path, spec, "padding_mode", "zeros");
  const inChannels = integer(path, spec, "in_channels", shape[0]);
  if (inChannels !== shape[0]) throw new SpecError(`${path}.in_channels`, `is ${inChannels} but the input has ${shape[0]} channels`);
  const outChannels = integer(path, spec, "out_channels");
  const kernel = pair(path, spec, "kernel_size");
  const stride = pair(path, spec, "stride", [1, 1]);
  const padding = pair(path, spec, "padding", [0, 0]);
  const dilation = pair(path, spec, "dilation", [1, 1]);
  const groups = integer(path, spec, "groups", 1);
  if (groups < 1 || inChannels % groups !== 0 || outChannels % groups !== 0) {
    throw new SpecError(
      `${path}.groups`,
      `is ${groups}; in_channels ${inChannels} and out_channels ${outChannels} must both be divisible by it (groups = in_channels is a depthwise conv)`,
    );
  }
  const outH = convOutputSize(shape[1], kernel[0], stride[0], padding[0], dilation[0]);
  const outW = convOutputSize(shape[2], kernel[1], stride[1], padding[1], dilation[1]);
  if (outH <= 0 || outW <= 0) throw new SpecError(path, `the ${kernel[0]}x${kernel[1]} kernel does not fit the ${shape[1]}x${shape[2]} input`);
  const module = new Conv2d(inChannels, outChannels, kernel, { stride, padding, dilation, groups, bias: spec.bias !== false, random: context.random });
  return { module: initialized(module, inherited(path, spec, context.defaults), context.random), shape: [outChannels, outH, outW] };
}

function buildPooling(spec: LayerSpec, shape: number[], path: string): Built {
  if (shape.length !== 3) throw new SpecError(path, `${spec.type} needs a [C, H, W] input, got [${shape.join(", ")}]`);
  const kernel = pair(path, spec, "kernel_size");
  const stride = spec.stride === null ? kernel : pair(path, spec, "stride", kernel);
  const padding = pair(path, spec, "padding", [0, 0]);
  onlyDefault(path, spec, "ceil_mode", false);
  if (spec.type === "maxpool2d") onlyDefault(path, spec, "dilation", [1, 1]);
  else {
    onlyDefault(path, spec, "count_include_pad", true);
    onlyDefault(path, spec, "divisor_override", null);
  }
  if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) throw new SpecError(`${path}.padding`, `must be at most half the kernel [${kernel.join(", ")}]`);
  const outH = convOutputSize(shape[1], kernel[0], stride[0], padding[0], 1);
  const outW = convOutputSize(shape[2], kernel[1], stride[1], padding[1], 1);
  if (outH <= 0 || outW <= 0) throw new SpecError(path, `the ${kernel[0]}x${kernel[1]} window does not fit the ${shape[1]}x${shape[2]} input`);
  const options = { kernelSize: kernel, stride, padding };
  return { module: spec.type === "maxpool2d" ? new MaxPool2d(options) : new AvgPool2d(options), shape: [shape[0], outH, outW] };
}

function buildAdaptivePooling(spec: LayerSpec, shape: number[], path: string): Built {
  if (shape.length !== 3) throw new SpecError(path, `${spec.type} needs a [C, H, W] input, got [${shape.join(", ")}]`);
  const size = spec.type === "global_avgpool2d" ? ([1, 1] as [number, number]) : pair(path, spec, "output_size");
  if (size[0] < 1 || size[1] < 1 || size[0] > shape[1] || size[1] > shape[2]) {
    throw new SpecError(`${path}.output_size`, `[${size.join(", ")}] must lie between 1 and the ${shape[1]}x${shape[2]} input`);
  }
  return { module: new AdaptiveAvgPool2d(size), shape: [shape[0], ...size] };
}

function buildBatchNorm(spec: LayerSpec, shape: number[], path: string): Built {
  const features = integer(path, spec, "num_features", shape[0]);
  if (features !== shape[0]) throw new SpecError(`${path}.num_features`, `is ${features} but the input has ${shape[0]} channels`);
  onlyDefault(path, spec, "track_running_stats", true);
  const options = { eps: real(path, spec, "eps", 1e-5), momentum: real(path, spec, "momentum", 0.1), affine: spec.affine !== false };
  return { module: new BatchNorm(features, options), shape };
}

function buildFlatten(spec: LayerSpec, shape: number[], path: string): Built {
  // start_dim and end_dim count the batch axis, as in PyTorch; the shapes here do not.
  const rank = shape.length + 1;
  const axis = (key: string, fallback: number): number => {
    const value = spec[key] ?? fallback;
    const normalized = typeof value === "number" && value < 0 ? value + rank : value;
    if (typeof normalized !== "number" || !Number.isInteger(normalized) || normalized < 1 || normalized >= rank) {
      throw new SpecError(`${path}.${key}`, `expected an axis between 1 and ${rank - 1} (or negative from the end), got ${JSON.stringify(value)}`);
    }
    return normalized;
  };
  const start = axis("start_dim", 1);
  const end = axis("end_dim", -1);
  if (end < start) throw new SpecError(path, `end_dim ${end} comes before start_dim ${start}`);
  const merged = shape.slice(start - 1, end).reduce((a, b) => a * b, 1);
  return { module: Flatten(start, end), shape: [...shape.slice(0, start - 1), merged, ...shape.slice(end)] };
}

function buildResidual(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  if (spec.layers !== undefined) throw new SpecError(`${path}.layers`, "a residual takes main (and optionally shortcut and post) instead of layers");
  const inner = { ...context, defaults: inherited(path, spec, context.defaults) };
  const main = buildSequential(nodeList(`${path}.main`, spec.main, false), shape, `${path}.main`, inner);
  const shortcut =
    spec.shortcut === null || spec.shortcut === undefined ? null : buildSequential(nodeList(`${path}.shortcut`, spec.shortcut, true), shape, `${path}.shortcut`, inner);
  const joined = shortcut?.shape ?? shape;
  if (main.shape.join() !== joined.join()) {
    throw new SpecError(
      path,
      `main maps [${shape.join(", ")}] to [${main.shape.join(", ")}] but the ${shortcut ? "shortcut gives" : "identity shortcut keeps"} [${joined.join(", ")}]; give a shortcut that matches (e.g. a strided 1x1 conv2d and a batchnorm2d)`,
    );
  }
  const post = spec.post === undefined ? null : buildSequential(nodeList(`${path}.post`, spec.post, true), main.shape, `${path}.post`, inner);
  const module = new Residual({ main: main.module, shortcut: shortcut?.module, post: post?.module });
  if (spec.zero_init_last_bn === true) module.zeroInitLastBatchNorm();
  return { module, shape: post?.shape ?? main.shape };
}

function buildConcat(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  const dim = integer(path, spec, "dim", 1);
  if (dim < 1 || dim > shape.length) throw new SpecError(`${path}.dim`, `expected an axis between 1 and ${shape.length} (1 is the channels), got ${dim}`);
  if (!Array.isArray(spec.branches) || spec.branches.length === 0)
    throw new SpecError(`${path}.branches`, "expected a non-empty list of branches (each a list of layers; [] is the identity)");
  const inner = { ...context, defaults: inherited(path, spec, context.defaults) };
  const branches = (spec.branches as unknown[]).map((branch, j) => buildSequential(nodeList(`${path}.branches[${j}]`, branch, true), shape, `${path}.branches[${j}]`, inner));
  const axis = dim - 1;
  const first = branches[0].shape;
  branches.forEach((branch, j) => {
    if (branch.shape.length !== first.length || branch.shape.some((d, i) => i !== axis && d !== first[i])) {
      throw new SpecError(`${path}.branches[${j}]`, `gives [${branch.shape.join(", ")}], which does not match branch 0's [${first.join(", ")}] outside axis ${dim}`);
    }
  });
  const out = first.slice();
  out[axis] = branches.reduce((total, branch) => total + branch.shape[axis], 0);
  return {
    module: new Concat(
      branches.map((branch) => branch.module),
      dim,
    ),
    shape: out,
  };
}

function buildSubsamplePad(spec: LayerSpec, shape: number[], path: string): Built {
  if (shape.length !== 3) throw new SpecError(path, `subsample_pad needs a [C, H, W] input, got [${shape.join(", ")}]`);
  const stride = integer(path, spec, "stride", 2);
  const out = integer(path, spec, "out_channels", shape[0]);
  if (stride < 1) throw new SpecError(`${path}.stride`, `expected a positive integer, got ${stride}`);
  if (out < shape[0] || (out - shape[0]) % 2 !== 0) {
    throw new SpecError(`${path}.out_channels`, `is ${out}; expected the input's ${shape[0]} channels plus an even number (the zero channels go half before, half after)`);
  }
  return { module: new SubsamplePad(stride, shape[0], out), shape: [out, Math.ceil(shape[1] / stride), Math.ceil(shape[2] / stride)] };
}

function buildActivation(spec: LayerSpec, path: string): Module | null {
  switch (spec.type) {
    case "relu":
      return ReLU();
    case "relu6":
      return ReLU6();
    case "leaky_relu":
      return LeakyReLU(real(path, spec, "negative_slope", 0.01));
    case "tanh":
      return Tanh();
    case "sigmoid":
      return Sigmoid();
    case "gelu": {
      const approximate = spec.approximate ?? "none";
      if (approximate !== "none" && approximate !== "tanh") throw new SpecError(`${path}.approximate`, `expected "none" (erf) or "tanh", got ${JSON.stringify(approximate)}`);
      return GELU(approximate);
    }
    case "silu":
      return SiLU();
    case "hardswish":
      return Hardswish();
    case "elu":
      return ELU(real(path, spec, "alpha", 1));
    case "selu":
      return SELU();
    case "mish":
      return Mish();
    case "softplus":
      return Softplus(real(path, spec, "beta", 1), real(path, spec, "threshold", 20));
    case "softmax":
      return Softmax();
    case "log_softmax":
      return LogSoftmax();
    default:
      return null;
  }
}

const containerTypes = new Set(["sequential", "residual", "concat"]);

/** Builds one node given the per-sample input shape; returns it with its output shape. */
function buildNode(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  const built = buildAnyNode(spec, shape, path, context);
  if (!containerTypes.has(spec.type)) context.layers.push({ module: built.module, type: spec.type, outputShape: built.shape });
  return built;
}

function buildAnyNode(spec: LayerSpec, shape: number[], path: string, context: BuildContext): Built {
  if (spec === null || typeof spec !== "object") throw new SpecError(path, `expected a layer ({type: ...}), got ${JSON.stringify(spec)}`);
  switch (spec.type) {
    case "linear":
      return buildLinear(spec, shape, path, context);
    case "conv2d":
      return buildConv2d(spec, shape, path, context);
    case "maxpool2d":
    case "avgpool2d":
      return buildPooling(spec, shape, path);
    case "adaptive_avgpool2d":
    case "global_avgpool2d":
      return buildAdaptivePooling(spec, shape, path);
    case "batchnorm1d":
    case "batchnorm2d":
      return buildBatchNorm(spec, shape, path);
    case "layernorm": {
      const normalized = (spec.normalized_shape as number[] | undefined) ?? [shape[shape.length - 1]];
      return { module: new LayerNorm(normalized, { eps: real(path, spec, "eps", 1e-5) }), shape };
    }
    case "embedding": {
      const dim = integer(path, spec, "embedding_dim");
      const module = new Embedding(integer(path, spec, "num_embeddings"), dim, { paddingIndex: (spec.padding_idx as number | null | undefined) ?? null, random: context.random });
      return { module, shape: [...shape, dim] };
    }
    case "dropout":
      return { module: new Dropout(real(path, spec, "p", 0.5), context.random.nextUint32()), shape };
    case "flatten":
      return buildFlatten(spec, shape, path);
    case "sequential": {
      const inner = { ...context, defaults: inherited(path, spec, context.defaults) };
      return buildSequential(nodeList(`${path}.layers`, spec.layers, true), shape, `${path}.layers`, inner);
    }
    case "residual":
      return buildResidual(spec, shape, path, context);
    case "concat":
      return buildConcat(spec, shape, path, context);
    case "subsample_pad":
      return buildSubsamplePad(spec, shape, path);
    default: {
      const activation = buildActivation(spec, path);
      if (activation) return { module: activation, shape };
      throw new SpecError(`${path}.type`, `unknown layer type ${JSON.stringify(spec.type)}${hinted(String(spec.type), layerTypes)}`);
    }
  }
}

function buildSequential(layers: LayerSpec[], inputShape: number[], path: string, context: BuildContext): { module: Sequential; shape: number[] } {
  let shape = inputShape;
  const modules: Module[] = [];
  layers.forEach((spec, index) => {
    const built = buildNode(spec, shape, `${path}[${index}]`, context);
    modules.push(built.module);
    shape = built.shape;
  });
  return { module: new Sequential(modules), shape };
}

/** The names `model.arch` accepts. */
export const architectureNames = ["mlp", ...Object.keys(architectures)];

/**
 * Expands a named architecture into its layer list for inputs of per-sample shape `inputShape`,
 * with its `variant` (see src/nn/architectures) and `classes` (default 10).
 */
export function architectureLayers(spec: { arch: string } & Record<string, unknown>, inputShape: number[]): LayerSpec[] {
  const classes = spec.classes ?? 10;
  if (typeof classes !== "number" || !Number.isInteger(classes) || classes < 1) throw new SpecError("model.classes", `expected a positive integer, got ${JSON.stringify(classes)}`);
  if (spec.arch === "mlp") {
    const hidden = spec.hidden ?? [256, 128];
    // A string's characters would each become a layer ("128": widths "1", "2", "8").
    if (!Array.isArray(hidden) || !hidden.every((width) => Number.isInteger(width) && width > 0))
      throw new SpecError("model.hidden", `expected a list of layer widths (positive integers), got ${JSON.stringify(hidden)}`);
    const activation = (spec.activation as string | undefined) ?? "relu";
    const layers: LayerSpec[] = inputShape.length > 1 ? [{ type: "flatten" }] : [];
    for (const width of hidden) layers.push({ type: "linear", out: width }, { type: activation });
    layers.push({ type: "linear", out: classes });
    return layers;
  }
  const architecture = Object.hasOwn(architectures, spec.arch) ? architectures[spec.arch] : undefined;
  if (!architecture) throw new SpecError("model.arch", `unknown architecture ${JSON.stringify(spec.arch)}${hinted(String(spec.arch), architectureNames)}`);
  const variant = spec.variant ?? defaultVariant(architecture, inputShape);
  if (typeof variant !== "string" || !architecture.variants.includes(variant)) {
    throw new SpecError("model.variant", `${spec.arch} has no variant ${JSON.stringify(variant)}; expected ${architecture.variants.join(" or ")}`);
  }
  return architecture.layers({ variant, classes });
}

// Parameters carry their dotted names, so that engine errors (a batch norm in train mode under
// per-sample statistics) can say which layer they mean.
function named<M extends Module>(model: M): M {
  for (const [name, parameter] of model.namedParameters()) parameter.name = name;
  return model;
}

/**
 * Builds a model from a spec for inputs of per-sample shape `inputShape` (e.g. [1, 28, 28]).
 * The same seed gives the same weights. Parameter names follow PyTorch's for the same tree
 * (`3.main.0.weight`, `0.branches.1.2.weight`).
 */
export function buildModel(spec: ModelSpec, inputShape: number[], seed = 0): { model: Sequential; outputShape: number[] } {
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) throw new SpecError("model", `expected {arch, ...} or {layers: [...]}, got ${JSON.stringify(spec)}`);
  if (!Array.isArray(inputShape) || !inputShape.every((size) => Number.isInteger(size) && size > 0))
    throw new SpecError("buildModel inputShape", `expected one example's shape as positive integers (e.g. [784] or [1, 28, 28]), got ${JSON.stringify(inputShape)}`);
  const random = new Random(seed);
  const layers = "arch" in spec ? architectureLayers(spec as { arch: string }, inputShape) : (spec.layers as LayerSpec[]);
  const defaults = inherited("model", spec, { init: { type: "default" }, biasZero: false });
  const context: BuildContext = { random, defaults, layers: [] };
  const { module, shape } = buildSequential(nodeList("model.layers", layers, false), inputShape, "model.layers", context);
  module.layerSummary = modelSummary(module, inputShape, shape, context.layers);
  return { model: named(module), outputShape: shape };
}

/**
 * Builds one node of a model tree (a layer or a container, as in models.json) as the root
 * module, so that a root `sequential` names its children "0", "1", ... and a root layer has
 * the bare names `weight`, `bias`.
 */
export function buildNetwork(node: LayerSpec, inputShape: number[], seed = 0): { model: Module; outputShape: number[] } {
  const context: BuildContext = { random: new Random(seed), defaults: { init: { type: "default" }, biasZero: false }, layers: [] };
  const { module, shape } = buildNode(node, inputShape, "model", context);
  module.layerSummary = modelSummary(module, inputShape, shape, context.layers);
  return { model: named(module), outputShape: shape };
}
