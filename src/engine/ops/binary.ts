import { record } from "../autograd.ts";
import { linearRules, zerosLike } from "../curvature/rules.ts";
import { binaryPeriodic } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import { broadcastShapes, shapeString, sizeOf, stridesOf } from "../shapes.ts";
import { Tensor } from "../tensor.ts";
import { sum } from "./reduce.ts";
import { reshape } from "./shape.ts";

/** The elementwise binary ops. */
export type BinaryOp = "add" | "sub" | "mul" | "div";

const apply: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
};

// Strides of `shape` read as if broadcast to `outShape` (0 along broadcast axes).
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((dim, axis) => (axis < offset || shape[axis - offset] !== dim ? 0 : strides[axis - offset]));
}

/** The op codes of the binaryPeriodic kernel. */
export const binaryOpCodes: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };

// How b repeats along a same-sized a: b[⌊i / inner⌋ mod period] is the b of element i when b is
// a scalar, the same shape, or broadcast along leading and trailing axes only (a bias row, a
// per-channel [C, 1, 1] against NCHW, a per-row [N, 1]); null otherwise.
function repetitionOf(a: Tensor, b: Tensor, outShape: number[]): { period: number; inner: number } | null {
  const n = sizeOf(outShape);
  if (a.size !== n) return null;
  if (b.size === n || b.size === 1) return { period: b.size, inner: 1 };
  let start = 0;
  while (start < b.rank && b.shape[start] === 1) start++;
  let end = b.rank;
  while (end > start && b.shape[end - 1] === 1) end--;
  const trailing = b.rank - end;
  const offset = outShape.length - trailing - (end - start);
  if (offset < 0) return null;
  for (let axis = start; axis < end; axis++) if (b.shape[axis] !== outShape[offset + axis - start]) return null;
  return { period: b.size, inner: sizeOf(outShape.slice(outShape.length - trailing)) };
}

/**
 * a ∘ b broadcast to `outShape`, outside autodiff (ops that record their own backward use it):
 * WASM SIMD for the periodic cases, strided TypeScript otherwise.
 */
export function computeBinary(op: BinaryOp, a: Tensor, b: Tensor, outShape: number[]): Tensor {
  const repetition = repetitionOf(a, b, outShape);
  if (repetition === null || sizeOf(outShape) === 0) return referenceBinary(op, a, b, outShape);
  const out = new Tensor(outShape, "float32", op);
  binaryPeriodic(binaryOpCodes[op], a.ptr, b.ptr, out.ptr, out.size, repetition.period, repetition.inner);
  return out;
}

/** The TypeScript reference of every binary op and broadcast (tests compare the kernel with it). */
export function referenceBinary(op: BinaryOp, a: Tensor, b: Tensor, outShape: number[]): Tensor {
  const out = new Tensor(outShape, "float32", op);
  const heap = engineMemory.f32;
  const fn = apply[op];
  const o = out.offset;
  const ao = a.offset;
  const bo = b.offset;
  const n = out.size;
  const aStrides = broadcastStrides(a.shape, outShape);
  const bStrides = broadcastStrides(b.shape, outShape);
  const rank = outShape.length;
  const index = new Array<number>(rank).fill(0);
  let ai = ao;
  let bi = bo;
  for (let i = 0; i < n; i++) {
    heap[o + i] = fn(heap[ai], heap[bi]);
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      ai += aStrides[axis];
      bi += bStrides[axis];
      if (index[axis] < outShape[axis]) break;
      ai -= aStrides[axis] * outShape[axis];
      bi -= bStrides[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return out;
}

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumToShape(gradient: Tensor, shape: readonly number[]): Tensor {
  if (gradient.size === sizeOf(shape) && gradient.rank === shape.length) return gradient;
  const offset = gradient.rank - shape.length;
  const axes: number[] = [];
  for (let axis = 0; axis < gradient.rank; axis++) {
    if (axis < offset || shape[axis - offset] === 1) axes.push(axis);
  }
  const reduced = sum(gradient, axes, true);
  const result = reshape(reduced, shape);
  reduced.dispose();
  return result;
}

function binary(op: BinaryOp, a: Tensor, bIn: Tensor | number): Tensor {
  const b = typeof bIn === "number" ? scalarTensor(bIn) : bIn;
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new TypeError(`gradscope: ${op} needs float32 tensors, got ${a.dtype}${shapeString(a.shape)} and ${b.dtype}${shapeString(b.shape)}`);
  }
  const outShape = broadcastShapes(op, a.shape, b.shape);
  const out = computeBinary(op, a, b, outShape);
  const backward = (gradOut: Tensor): Array<Tensor | null> => {
    switch (op) {
      case "add":
        return [a.requiresGrad ? sumToShape(gradOut, a.shape) : null, b.requiresGrad ? sumToShape(gradOut, b.shape) : null];
      case "sub":
        return [a.requiresGrad ? sumToShape(gradOut, a.shape) : null, b.requiresGrad ? reduceOwned(negate(gradOut), b.shape) : null];
      case "mul":
        return [
          a.requiresGrad ? reduceOwned(computeBinary("mul", gradOut, b, gradOut.shape.slice()), a.shape) : null,
          b.requiresGrad ? reduceOwned(computeBinary("mul", gradOut, a, gradOut.shape.slice()), b.shape) : null,
        ];
      case "div": {
        const gradA = a.requiresGrad ? reduceOwned(computeBinary("div", gradOut, b, gradOut.shape.slice()), a.shape) : null;
        let gradB: Tensor | null = null;
        if (b.requiresGrad) {
          // d(a/b)/db = -(a/b)/b = -out/b
          const quotient = computeBinary("div", out, b, out.shape.slice());
          const scaled = computeBinary("mul", quotient, gradOut, out.shape.slice());
          quotient.dispose();
          const negated = negate(scaled);
          scaled.dispose();
          gradB = reduceOwned(negated, b.shape);
        }
        return [gradA, gradB];
      }
    }
  };
  // add and sub are linear in both operands; mul and div have no second-order rules yet.
  const linear = op === "add" || op === "sub";
  const applyToTangents = ([ta, tb]: ReadonlyArray<Tensor | null>): Tensor => {
    const zeroA = ta ? null : zerosLike(a, "zero tangent");
    const zeroB = tb ? null : zerosLike(b, "zero tangent");
    const result = computeBinary(op, ta ?? (zeroA as Tensor), tb ?? (zeroB as Tensor), outShape);
    zeroA?.dispose();
    zeroB?.dispose();
    return result;
  };
  const recorded = record(out, { op, inputs: [a, b], backward, curvature: linear ? linearRules(applyToTangents, backward) : undefined });
  // A scalar made from a number is owned here unless the graph holds on to it.
  if (b !== bIn && !recorded.node) b.dispose();
  return recorded;
}

function negate(x: Tensor): Tensor {
  const minusOne = scalarTensor(-1);
  const out = computeBinary("mul", x, minusOne, x.shape.slice());
  minusOne.dispose();
  return out;
}

// sumToShape for a temporary the caller owns: frees it when a reduced copy was made.
function reduceOwned(temporary: Tensor, shape: readonly number[]): Tensor {
  const reduced = sumToShape(temporary, shape);
  if (reduced !== temporary) temporary.dispose();
  return reduced;
}

function scalarTensor(value: number): Tensor {
  const out = new Tensor([], "float32", "scalar");
  out.data[0] = value;
  return out;
}

/** a + b with NumPy broadcasting. */
export const add = (a: Tensor, b: Tensor | number): Tensor => binary("add", a, b);
/** a − b with NumPy broadcasting. */
export const sub = (a: Tensor, b: Tensor | number): Tensor => binary("sub", a, b);
/** a · b (elementwise) with NumPy broadcasting. */
export const mul = (a: Tensor, b: Tensor | number): Tensor => binary("mul", a, b);
/** a / b (elementwise) with NumPy broadcasting. */
export const div = (a: Tensor, b: Tensor | number): Tensor => binary("div", a, b);
