import { record } from "../autograd.ts";
import { elementwiseRules } from "../curvature/rules.ts";
import { runElementwise } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";

/** A pointwise function with its derivatives, which may use the input x or the output y. */
interface Pointwise {
  forward(x: number): number;
  derivative(x: number, y: number): number;
  /** σ''; absent for piecewise-linear functions. */
  second?(x: number, y: number): number;
}

/** gradOut ⊙ σ''(x), the curvature an elementwise op adds (for the second-order rules). */
function curvatureTimes(x: Tensor, y: Tensor, second: (x: number, y: number) => number): (gradOut: Tensor) => Tensor {
  return (gradOut) => {
    const out = new Tensor(x.shape, "float32", "elementwise curvature");
    const heap = engineMemory.f32;
    for (let i = 0; i < x.size; i++) heap[out.offset + i] = heap[gradOut.offset + i] * second(heap[x.offset + i], heap[y.offset + i]);
    return out;
  };
}

// Abramowitz & Stegun 7.1.26 has 1.5e-7 absolute error, below float32 resolution near 1;
// the series is used near 0 where the relative error would otherwise show.
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 0.5) {
    const x2 = x * x;
    return (2 / Math.sqrt(Math.PI)) * x * (1 - x2 / 3 + (x2 * x2) / 10 - (x2 * x2 * x2) / 42 + (x2 * x2 * x2 * x2) / 216 - (x2 * x2 * x2 * x2 * x2) / 1320);
  }
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return x < 0 ? -y : y;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** The logistic function, evaluated without overflow for either sign. */
export const sigmoidOf = (x: number): number => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

function pointwise(op: string, fn: Pointwise, x: Tensor): Tensor {
  if (x.dtype !== "float32") throw new TypeError(`gradscope: ${op} needs a float32 tensor, got ${x.dtype}`);
  const out = new Tensor(x.shape, "float32", op);
  const heap = engineMemory.f32;
  for (let i = 0; i < x.size; i++) heap[out.offset + i] = fn.forward(heap[x.offset + i]);
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", `${op} backward`);
    const h = engineMemory.f32;
    for (let i = 0; i < x.size; i++) h[grad.offset + i] = h[gradOut.offset + i] * fn.derivative(h[x.offset + i], h[out.offset + i]);
    return [grad];
  };
  return record(out, { op, inputs: [x], backward, curvature: elementwiseRules(backward, fn.second && curvatureTimes(x, out, fn.second)) });
}

/** The TypeScript reference of relu, against which the WASM kernel is tested. */
export const referenceRelu = (x: Tensor): Tensor => pointwise("relu", { forward: (v) => Math.max(v, 0), derivative: (v) => (v > 0 ? 1 : 0) }, x);

/** max(x, 0); derivative 0 at 0 (PyTorch's convention). WASM SIMD forward and backward. */
export function relu(x: Tensor): Tensor {
  if (x.dtype !== "float32") throw new TypeError(`gradscope: relu needs a float32 tensor, got ${x.dtype}`);
  const out = new Tensor(x.shape, "float32", "relu");
  runElementwise(x.size, (start, end) => ({ kernel: "reluForward", args: [x.ptr + 4 * start, out.ptr + 4 * start, end - start] }));
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", "relu backward");
    runElementwise(x.size, (start, end) => ({ kernel: "reluBackward", args: [x.ptr + 4 * start, gradOut.ptr + 4 * start, grad.ptr + 4 * start, end - start] }));
    return [grad];
  };
  return record(out, { op: "relu", inputs: [x], backward, curvature: elementwiseRules(backward) });
}

// The op codes of assembly/activations.ts.
const activationCodes = { exp: 0, tanh: 1, sigmoid: 2, leaky_relu: 3, sqrt: 4 } as const;

// σ'' of the WASM activations in terms of the output y (leaky_relu is piecewise linear).
const activationSecondDerivatives: Partial<Record<keyof typeof activationCodes, (x: number, y: number) => number>> = {
  exp: (_, y) => y,
  tanh: (_, y) => -2 * y * (1 - y * y),
  sigmoid: (_, y) => y * (1 - y) * (1 - 2 * y),
  sqrt: (_, y) => -0.25 / (y * y * y),
};

// Elements an activation kernel must give each thread: tanh takes about 5 ns an element on one
// thread (measured, 2^14 in 67 µs; 1.9x on 2 threads from 2^12 on with the workers awake), so
// 2^13 take about 40 µs, which also covers a worker's wake-up; ReLU, 20 times cheaper, has the
// elementwise threshold.
export const MIN_ACTIVATION_ELEMENTS_PER_THREAD = 2 ** 13;

// A pointwise op whose forward and backward run in the WASM activation kernels.
function wasmPointwise(op: keyof typeof activationCodes, x: Tensor, param = 0): Tensor {
  if (x.dtype !== "float32") throw new TypeError(`gradscope: ${op} needs a float32 tensor, got ${x.dtype}`);
  const code = activationCodes[op];
  const out = new Tensor(x.shape, "float32", op);
  runElementwise(
    x.size,
    (start, end) => ({ kernel: "activationForward", args: [code, x.ptr + 4 * start, out.ptr + 4 * start, end - start, param] }),
    MIN_ACTIVATION_ELEMENTS_PER_THREAD,
  );
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", `${op} backward`);
    runElementwise(
      x.size,
      (start, end) => ({
        kernel: "activationBackward",
        args: [code, x.ptr + 4 * start, out.ptr + 4 * start, gradOut.ptr + 4 * start, grad.ptr + 4 * start, end - start, param],
      }),
      MIN_ACTIVATION_ELEMENTS_PER_THREAD,
    );
    return [grad];
  };
  const second = activationSecondDerivatives[op];
  return record(out, { op, inputs: [x], backward, curvature: elementwiseRules(backward, second && curvatureTimes(x, out, second)) });
}

/** TypeScript references of the WASM activations, used by the kernel tests. */
export const referenceActivations = {
  exp: (x: Tensor): Tensor => pointwise("exp", { forward: Math.exp, derivative: (_, y) => y, second: activationSecondDerivatives.exp }, x),
  tanh: (x: Tensor): Tensor => pointwise("tanh", { forward: Math.tanh, derivative: (_, y) => 1 - y * y, second: activationSecondDerivatives.tanh }, x),
  sigmoid: (x: Tensor): Tensor => pointwise("sigmoid", { forward: sigmoidOf, derivative: (_, y) => y * (1 - y), second: activationSecondDerivatives.sigmoid }, x),
  leakyRelu: (x: Tensor, negativeSlope = 0.01): Tensor =>
    pointwise("leaky_relu", { forward: (v) => (v > 0 ? v : negativeSlope * v), derivative: (v) => (v > 0 ? 1 : negativeSlope) }, x),
  sqrt: (x: Tensor): Tensor => pointwise("sqrt", { forward: Math.sqrt, derivative: (_, y) => 0.5 / y, second: activationSecondDerivatives.sqrt }, x),
};

/** x for x > 0, slope·x otherwise; derivative `slope` at 0. WASM SIMD. */
export const leakyRelu = (x: Tensor, negativeSlope = 0.01): Tensor => wasmPointwise("leaky_relu", x, negativeSlope);

/** Hyperbolic tangent. WASM SIMD (a polynomial near 0, 1 − 2/(e^{2|x|} + 1) elsewhere). */
export const tanh = (x: Tensor): Tensor => wasmPointwise("tanh", x);

/** Logistic sigmoid 1/(1 + e^{−x}), saturating cleanly for large |x|. WASM SIMD. */
export const sigmoid = (x: Tensor): Tensor => wasmPointwise("sigmoid", x);

/** GELU, exact erf form (`approximate: "none"`) or the tanh approximation (`"tanh"`). */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none"): Tensor {
  if (approximate === "tanh") {
    // u = √(2/π)(v + 0.044715v³), y = v(1 + tanh u)/2.
    const inner = (v: number) => SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
    const innerSlope = (v: number) => SQRT_2_OVER_PI * (1 + 3 * 0.044715 * v * v);
    return pointwise(
      "gelu_tanh",
      {
        forward: (v) => 0.5 * v * (1 + Math.tanh(inner(v))),
        derivative: (v) => {
          const t = Math.tanh(inner(v));
          return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * innerSlope(v);
        },
        // y'' = (1 − t²)(u' + v(u'' − 2t·u'²)/2) with u'' = 6·0.044715·√(2/π)·v.
        second: (v) => {
          const t = Math.tanh(inner(v));
          const slope = innerSlope(v);
          return (1 - t * t) * (slope + 0.5 * v * (6 * 0.044715 * SQRT_2_OVER_PI * v - 2 * t * slope * slope));
        },
      },
      x,
    );
  }
  return pointwise(
    "gelu",
    {
      forward: (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)),
      derivative: (v) => 0.5 * (1 + erf(v / Math.SQRT2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v),
      second: (v) => INV_SQRT_2PI * Math.exp(-0.5 * v * v) * (2 - v * v),
    },
    x,
  );
}

/** log(1 + exp(beta·x))/beta, linear above `threshold` as in PyTorch. */
export const softplus = (x: Tensor, beta = 1, threshold = 20): Tensor =>
  pointwise(
    "softplus",
    {
      forward: (v) => (v * beta > threshold ? v : Math.log1p(Math.exp(beta * v)) / beta),
      derivative: (v) => (v * beta > threshold ? 1 : sigmoidOf(beta * v)),
      second: (v) => {
        if (v * beta > threshold) return 0;
        const s = sigmoidOf(beta * v);
        return beta * s * (1 - s);
      },
    },
    x,
  );

/** e^x. WASM SIMD (Cephes' expf, about 1 ulp). */
export const exp = (x: Tensor): Tensor => wasmPointwise("exp", x);

/** Natural logarithm. */
export const log = (x: Tensor): Tensor => pointwise("log", { forward: Math.log, derivative: (v) => 1 / v, second: (v) => -1 / (v * v) }, x);

/** Square root. WASM SIMD. */
export const sqrt = (x: Tensor): Tensor => wasmPointwise("sqrt", x);

/** min(max(x, 0), 6); derivative 0 at both kinks (PyTorch's convention). */
export const relu6 = (x: Tensor): Tensor => pointwise("relu6", { forward: (v) => Math.min(Math.max(v, 0), 6), derivative: (v) => (v > 0 && v < 6 ? 1 : 0) }, x);

/** SiLU (swish) x·σ(x). */
export const silu = (x: Tensor): Tensor =>
  pointwise(
    "silu",
    {
      forward: (v) => v * sigmoidOf(v),
      derivative: (v) => {
        const s = sigmoidOf(v);
        return s * (1 + v * (1 - s));
      },
      second: (v) => {
        const s = sigmoidOf(v);
        return s * (1 - s) * (2 + v * (1 - 2 * s));
      },
    },
    x,
  );

/**
 * Hardswish x·relu6(x + 3)/6 (MobileNetV3). Its derivative is 0 for x ≤ −3, x/3 + 1/2 inside
 * and 1 for x ≥ 3, as in PyTorch; the curvature is 1/3 inside (the kinks add none).
 */
export const hardswish = (x: Tensor): Tensor =>
  pointwise(
    "hardswish",
    {
      forward: (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6,
      derivative: (v) => (v <= -3 ? 0 : v < 3 ? v / 3 + 0.5 : 1),
      second: (v) => (v > -3 && v < 3 ? 1 / 3 : 0),
    },
    x,
  );

// α(e^x − 1) for x ≤ 0, x above, times `scale` (ELU has scale 1); the derivative at 0 is the
// left branch's scale·α, as in PyTorch.
function exponentialLinear(op: string, x: Tensor, alpha: number, scale: number): Tensor {
  return pointwise(
    op,
    {
      forward: (v) => scale * (v > 0 ? v : alpha * Math.expm1(v)),
      derivative: (v) => scale * (v > 0 ? 1 : alpha * Math.exp(v)),
      second: (v) => (v > 0 ? 0 : scale * alpha * Math.exp(v)),
    },
    x,
  );
}

/** ELU: x for x > 0, α(e^x − 1) otherwise. */
export const elu = (x: Tensor, alpha = 1): Tensor => exponentialLinear("elu", x, alpha, 1);

// Klambauer et al. 2017, the constants PyTorch uses.
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/** SELU: scale·elu(x, α) with the self-normalizing α ≈ 1.6733 and scale ≈ 1.0507. */
export const selu = (x: Tensor): Tensor => exponentialLinear("selu", x, SELU_ALPHA, SELU_SCALE);

/**
 * Mish x·tanh(softplus(x)). With t = tanh(softplus x), s = σ(x), d = 1 − t²:
 * y' = t + x·d·s and y'' = d·s·(2 − 2x·t·s + x(1 − s)).
 */
export const mish = (x: Tensor): Tensor =>
  pointwise(
    "mish",
    {
      forward: (v) => v * Math.tanh(Math.log1p(Math.exp(v))),
      derivative: (v) => {
        const t = Math.tanh(Math.log1p(Math.exp(v)));
        return t + v * (1 - t * t) * sigmoidOf(v);
      },
      second: (v) => {
        const t = Math.tanh(Math.log1p(Math.exp(v)));
        const s = sigmoidOf(v);
        return (1 - t * t) * s * (2 - 2 * v * t * s + v * (1 - s));
      },
    },
    x,
  );
