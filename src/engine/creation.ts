import { copyInto, fillWith } from "./kernels/elementwise.ts";
import { type DType, Tensor } from "./tensor.ts";

/** An uninitialized tensor (contents undefined until written). */
export function empty(shape: readonly number[], dtype: DType = "float32", what?: string): Tensor {
  return new Tensor(shape, dtype, what);
}

/** A new tensor with t's shape, dtype and values, outside any autograd graph. */
export function copyOf(t: Tensor): Tensor {
  const out = new Tensor(t.shape, t.dtype);
  copyInto(t, out);
  return out;
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, dtype: DType = "float32"): Tensor {
  const out = new Tensor(shape, dtype);
  fillWith(out, value);
  return out;
}

/** A float32 tensor of zeros. */
export function zeros(shape: readonly number[], dtype: DType = "float32"): Tensor {
  return full(shape, 0, dtype);
}

/** A float32 tensor of ones. */
export function ones(shape: readonly number[]): Tensor {
  return full(shape, 1);
}

/** A tensor holding `values` (row-major) with the given shape (default: 1-D). */
export function tensor(values: ArrayLike<number>, shape: readonly number[] = [values.length], dtype: DType = "float32"): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== values.length) {
    throw new RangeError(`gradscope: tensor() got ${values.length} values for shape [${shape.join(", ")}] (${size} elements)`);
  }
  const out = new Tensor(shape, dtype);
  if (dtype === "int32") out.ints.set(values);
  else out.data.set(values);
  return out;
}

/** A leaf tensor that gradients accumulate into. */
export function parameter(values: ArrayLike<number>, shape: readonly number[], name?: string): Tensor {
  const out = tensor(values, shape);
  out.requiresGrad = true;
  out.name = name;
  return out;
}
