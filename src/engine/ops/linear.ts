import { noGrad, record, wantedGradients } from "../autograd.ts";
import { bilinearRules } from "../curvature/rules.ts";
import { gemm } from "../kernels/gemm.ts";
import { shapeString } from "../shapes.ts";
import { type LayerRecordBase, Tensor } from "../tensor.ts";
import { addBias, type BiasLayout, biasGradient } from "./bias.ts";

/** A linear layer as the per-sample extensions see it: its input [N, ..., in] suffices. */
export interface LinearRecord extends LayerRecordBase {
  /** The op kind the rules dispatch on. */
  readonly kind: "linear";
}

const biasLayoutOf = (x: Tensor, outFeatures: number): BiasLayout => ({ batch: x.size / x.shape[x.rank - 1], channels: outFeatures, positions: 1, channelsLast: true });

/** The gradients [∂x, ∂W, ∂b] of ⟨gradOut, x Wᵀ + b⟩ that `wants` asks for. */
function linearVjp(x: Tensor, weight: Tensor, gradOut: Tensor, wants: { x: boolean; weight: boolean; bias: boolean }): Array<Tensor | null> {
  const [outFeatures, inFeatures] = weight.shape;
  const rows = x.size / inFeatures;
  let gradX: Tensor | null = null;
  if (wants.x) {
    gradX = new Tensor(x.shape, "float32", "linear input gradient");
    gemm({
      transA: false,
      transB: false,
      m: rows,
      n: inFeatures,
      k: outFeatures,
      alpha: 1,
      a: gradOut.ptr,
      lda: outFeatures,
      b: weight.ptr,
      ldb: inFeatures,
      beta: 0,
      c: gradX.ptr,
      ldc: inFeatures,
    });
  }
  let gradW: Tensor | null = null;
  if (wants.weight) {
    gradW = new Tensor(weight.shape, "float32", "linear weight gradient");
    gemm({
      transA: true,
      transB: false,
      m: outFeatures,
      n: inFeatures,
      k: rows,
      alpha: 1,
      a: gradOut.ptr,
      lda: outFeatures,
      b: x.ptr,
      ldb: inFeatures,
      beta: 0,
      c: gradW.ptr,
      ldc: inFeatures,
    });
  }
  const gradB = wants.bias ? biasGradient(gradOut, biasLayoutOf(x, outFeatures)) : null;
  return [gradX, gradW, gradB];
}

/**
 * y = x Wᵀ + b with PyTorch's layout: x [N, *, in], weight [out, in], bias [out] or null.
 * Recorded as a parameterized layer, so the per-sample extensions see it.
 */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const inFeatures = weight.shape[1];
  const outFeatures = weight.shape[0];
  if (weight.rank !== 2 || x.rank < 2 || x.shape[x.rank - 1] !== inFeatures || (bias && (bias.rank !== 1 || bias.shape[0] !== outFeatures))) {
    throw new RangeError(
      `gradscope: linear: input ${shapeString(x.shape)}, weight ${shapeString(weight.shape)}, bias ${bias ? shapeString(bias.shape) : "none"}: expected input [N, *, ${inFeatures}] and bias [${outFeatures}]`,
    );
  }
  const rows = x.size / inFeatures;
  const out = new Tensor([...x.shape.slice(0, -1), outFeatures], "float32", "linear");
  gemm({
    transA: false,
    transB: true,
    m: rows,
    n: outFeatures,
    k: inFeatures,
    alpha: 1,
    a: x.ptr,
    lda: inFeatures,
    b: weight.ptr,
    ldb: inFeatures,
    beta: 0,
    c: out.ptr,
    ldc: outFeatures,
  });
  if (bias) addBias(out, bias, biasLayoutOf(x, outFeatures));
  return record(out, {
    op: "linear",
    inputs: [x, weight, bias],
    layer: { kind: "linear", input: x, weight, bias },
    backward: (gradOut, needed) => {
      const [wantsX, wantsWeight, wantsBias] = wantedGradients([x, weight, bias], needed);
      return linearVjp(x, weight, gradOut, { x: wantsX, weight: wantsWeight, bias: wantsBias });
    },
    curvature: bilinearRules({ x, weight, bias }, (dx, w, b) => noGrad(() => linear(dx, w, b)), linearVjp),
  });
}
