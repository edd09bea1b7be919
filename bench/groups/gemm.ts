// GEMM on one thread against the multiply-add ceiling: the share of the most float work one
// WASM thread can do, which on a host whose clock moves says more than the GFLOP/s.
import { gemm } from "../../src/engine/kernels/gemm.ts";
import { engineMemory } from "../../src/engine/memory.ts";
import { Tensor } from "../../src/engine/tensor.ts";
import { instantiateKernels } from "../../src/engine/wasm.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { interleavedMedianMs } from "../timing.ts";

// The plain-SIMD build on the same memory, for its own GEMM figure, when the relaxed one runs.
const plainKernels = once(() => instantiateKernels(engineMemory.memory, "simd").kernels);
const relaxed = engineMemory.flavor === "relaxed-simd";

// GFLOP/s of GEMM n³ (and of the plain-SIMD build's GEMM) and of the multiply-add ceiling doing
// the same float work, timed in turn so that all see the host's speed of the moment.
function gemmAgainstCeiling(n: number): { gemm: number; plain: number | null; ceiling: number } {
  const a = new Tensor([n, n]);
  const b = new Tensor([n, n]);
  const c = new Tensor([n, n]);
  a.data.fill(0.5);
  b.data.fill(0.25);
  const flops = 2 * n ** 3;
  const roundFlops = 12 * 4 * 2; // twelve four-lane multiply-adds
  const rounds = Math.round(flops / roundFlops);
  const plain = relaxed ? plainKernels() : null;
  const [gemmMs, ceilingMs, plainMs] = interleavedMedianMs(
    [
      () => gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n }),
      () => engineMemory.kernels.multiplyAddCeiling(rounds, 1),
      ...(plain ? [() => plain.gemm(0, 0, n, n, n, 1, a.ptr, n, b.ptr, n, 0, c.ptr, n, engineMemory.workspace(plain.gemmWorkspaceBytes()))] : []),
    ],
    7,
    1,
  );
  for (const t of [a, b, c]) t.dispose();
  return { gemm: flops / gemmMs / 1e6, plain: plainMs === undefined ? null : flops / plainMs / 1e6, ceiling: (rounds * roundFlops) / ceilingMs / 1e6 };
}

function ceilingRows(n: number): BenchRow[] {
  const timed = once(() => gemmAgainstCeiling(n));
  const rows: BenchRow[] = [
    {
      name: `GEMM ${n}^3 against the multiply-add ceiling, 1 thread`,
      threads: 1,
      measure: () => {
        const { gemm, ceiling } = timed();
        return {
          value: gemm,
          unit: "GFLOP/s",
          ratio: { value: gemm / ceiling, of: "the multiply-add ceiling", percent: true },
          note: `ceiling ${ceiling.toFixed(1)} GFLOP/s, timed in turn`,
        };
      },
    },
  ];
  // Without relaxed SIMD the engine's own build is the plain one, measured by the row above.
  if (relaxed) {
    rows.push({
      name: `GEMM ${n}^3, plain SIMD build, 1 thread`,
      threads: 1,
      measure: () => {
        const { plain, ceiling } = timed();
        return { value: plain as number, unit: "GFLOP/s", ratio: { value: (plain as number) / ceiling, of: "the multiply-add ceiling", percent: true } };
      },
    });
  }
  return rows;
}

export const gemmGroup: BenchGroup = { name: "gemm", rows: [...ceilingRows(512), ...ceilingRows(1024)] };
