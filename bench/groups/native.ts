// Native BLAS against WASM in the same run, at one thread (issue 22's native floors), and native
// at all threads against native at one: GEMM 1024³ and a DeepOBS fmnist_2c2d plain SGD step, the
// three timed in turn so that all see the host's speed of the moment. Without the addon the group
// is one line saying why.
import { backendChoice, nativeUnavailableReason, setBackend } from "../../src/engine/backend.ts";
import { gemm } from "../../src/engine/kernels/gemm.ts";
import { Tensor } from "../../src/engine/tensor.ts";
import { fmnist2c2d } from "../quantities.ts";
import { type BenchGroup, once } from "../registry.ts";
import { allThreads, atThreads } from "../threadCount.ts";
import { interleavedMedianMs } from "../timing.ts";
import { gradscopeStep } from "../workloads.ts";

// `fn` on `backend`, restoring the choice after.
function onBackend(backend: "wasm" | "native", fn: () => void): () => void {
  return () => {
    const before = backendChoice();
    setBackend(backend);
    try {
      fn();
    } finally {
      setBackend(before);
    }
  };
}

const N = 1024;

// Milliseconds of GEMM N³ on WASM and on native at one thread, and on native at all threads.
const gemmMs = once(() => {
  const [a, b, c] = [new Tensor([N, N]), new Tensor([N, N]), new Tensor([N, N])];
  a.data.fill(0.5);
  b.data.fill(0.25);
  const product = () => gemm({ transA: false, transB: false, m: N, n: N, k: N, alpha: 1, a: a.ptr, lda: N, b: b.ptr, ldb: N, beta: 0, c: c.ptr, ldc: N });
  const [wasm, native, nativeAll] = interleavedMedianMs(
    [atThreads(1, onBackend("wasm", product)), atThreads(1, onBackend("native", product)), atThreads(allThreads, onBackend("native", product))],
    7,
    1,
  );
  for (const t of [a, b, c]) t.dispose();
  return { wasm, native, nativeAll };
});

// Milliseconds of a fmnist_2c2d step (batch 128) on WASM and on native at one thread, and on
// native at all threads.
const stepMs = once(() => {
  const steps = 3;
  const step = gradscopeStep(fmnist2c2d.layers, fmnist2c2d.input, 128);
  const run = () => {
    for (let i = 0; i < steps; i++) step.step();
  };
  const [wasm, native, nativeAll] = interleavedMedianMs(
    [atThreads(1, onBackend("wasm", run)), atThreads(1, onBackend("native", run)), atThreads(allThreads, onBackend("native", run))],
    5,
    1,
  ).map((ms) => ms / steps);
  step.dispose();
  return { wasm, native, nativeAll };
});

const gflops = (ms: number) => (2 * N ** 3) / ms / 1e6;

export const nativeGroup: BenchGroup = {
  name: "native",
  unavailable: nativeUnavailableReason,
  rows: [
    {
      name: `GEMM ${N}^3, native, 1 thread`,
      threads: 1,
      measure: () => {
        const { wasm, native } = gemmMs();
        return { value: gflops(native), unit: "GFLOP/s", ratio: { value: wasm / native, of: "WASM" }, note: `WASM ${gflops(wasm).toFixed(1)} GFLOP/s, timed in turn` };
      },
    },
    {
      name: `GEMM ${N}^3, native, all threads`,
      threads: allThreads,
      measure: () => {
        const { native, nativeAll } = gemmMs();
        return { value: gflops(nativeAll), unit: "GFLOP/s", ratio: { value: native / nativeAll, of: "native 1 thread" } };
      },
    },
    {
      name: "DeepOBS fmnist_2c2d plain SGD step, batch 128, native, 1 thread",
      threads: 1,
      measure: () => {
        const { wasm, native } = stepMs();
        return { value: native, unit: "ms", ratio: { value: wasm / native, of: "WASM" }, note: `WASM ${wasm.toFixed(1)} ms, timed in turn` };
      },
    },
    {
      name: "DeepOBS fmnist_2c2d plain SGD step, batch 128, native, all threads",
      threads: allThreads,
      measure: () => {
        const { native, nativeAll } = stepMs();
        return { value: nativeAll, unit: "ms", ratio: { value: native / nativeAll, of: "native 1 thread" } };
      },
    },
  ],
};
