import { record } from "../autograd.ts";
import { gemm } from "../kernels/gemm.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

/** Which operands of `matmul` are read transposed. */
export interface MatmulOptions {
  /** Read the first operand transposed (default false). */
  transA?: boolean;
  /** Read the second operand transposed (default false). */
  transB?: boolean;
}

/** C = op(A)·op(B) into a new tensor, no graph recorded. */
export function matmulRaw(a: Tensor, b: Tensor, transA: boolean, transB: boolean, what = "matmul"): Tensor {
  if (a.rank !== 2 || b.rank !== 2) throw new RangeError(`gradscope: ${what} needs 2-D operands, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  const [m, ka] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) {
    throw new RangeError(`gradscope: ${what}: inner dimensions differ: ${shapeString(a.shape)}${transA ? "ᵀ" : ""} · ${shapeString(b.shape)}${transB ? "ᵀ" : ""}`);
  }
  const out = new Tensor([m, n], "float32", what);
  gemm({ transA, transB, m, n, k: ka, alpha: 1, a: a.ptr, lda: a.shape[1], b: b.ptr, ldb: b.shape[1], beta: 0, c: out.ptr, ldc: n });
  return out;
}

/** Matrix product op(A)·op(B) of 2-D tensors, with autodiff. */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  const transA = options.transA ?? false;
  const transB = options.transB ?? false;
  const out = matmulRaw(a, b, transA, transB);
  return record(out, {
    op: "matmul",
    inputs: [a, b],
    backward: (gradOut) => {
      // C = A B:  dA = dC Bᵀ, dB = Aᵀ dC; the transposed cases follow by symmetry.
      const gradA = !a.requiresGrad ? null : transA ? matmulRaw(b, gradOut, transB, true) : matmulRaw(gradOut, b, false, !transB);
      const gradB = !b.requiresGrad ? null : transB ? matmulRaw(gradOut, a, true, transA) : matmulRaw(a, gradOut, !transA, false);
      return [gradA, gradB];
    },
  });
}
