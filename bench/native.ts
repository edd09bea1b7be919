// Native-backend rows of `npm run bench`: the system BLAS against the WASM kernels in the same run,
// each pair timed in turn at one thread (so both see the host's speed of the moment).

import { availableParallelism } from "node:os";
import { backendChoice, nativeUnavailableReason, setBackend } from "../src/engine/backend.ts";
import { gemm } from "../src/engine/kernels/gemm.ts";
import { Tensor } from "../src/engine/tensor.ts";
import { setThreads, threadCount } from "../src/engine/threads/settings.ts";
import { fmnist2c2d } from "./quantities.ts";
import type { ThreadRow } from "./threads.ts";
import { interleavedMedianMs } from "./timing.ts";
import { gradscopeStep } from "./workloads.ts";

// Runs `fn` on `backend` at `threads` threads, restoring both settings after.
function onBackend(backend: "wasm" | "native", fn: () => void, threads = 1): () => void {
  return () => {
    const [threadsBefore, backendBefore] = [threadCount(), backendChoice()];
    setThreads(threads);
    setBackend(backend);
    try {
      fn();
    } finally {
      setBackend(backendBefore);
      setThreads(threadsBefore);
    }
  };
}

/**
 * GEMM 1024³ and a DeepOBS fmnist_2c2d plain SGD step (batch 128), native against WASM at one
 * thread (the ratio is native's speed over WASM's), and native at `threads` against native at
 * one. Without the addon, one row says why.
 */
export function nativeRows(threads = availableParallelism()): ThreadRow[] {
  const unavailable = nativeUnavailableReason();
  if (unavailable) return [{ name: "native backend", value: "unavailable", unit: "", ratio: unavailable }];
  const format = (x: number, digits = 1) => x.toFixed(digits);
  const rows: ThreadRow[] = [];
  const n = 1024;
  const [a, b, c] = [new Tensor([n, n]), new Tensor([n, n]), new Tensor([n, n])];
  a.data.fill(0.5);
  b.data.fill(0.25);
  const product = () => gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n });
  const [wasmMs, nativeMs, nativeAllMs] = interleavedMedianMs([onBackend("wasm", product), onBackend("native", product), onBackend("native", product, threads)], 7, 1);
  for (const t of [a, b, c]) t.dispose();
  const gflops = (ms: number) => format((2 * n ** 3) / ms / 1e6);
  rows.push({ name: `GEMM ${n}^3, WASM, 1 thread`, value: gflops(wasmMs), unit: "GFLOP/s", ratio: "1.00x" });
  rows.push({ name: `GEMM ${n}^3, native, 1 thread`, value: gflops(nativeMs), unit: "GFLOP/s", ratio: `${format(wasmMs / nativeMs, 2)}x WASM` });
  if (threads > 1) {
    rows.push({ name: `GEMM ${n}^3, native, ${threads} threads`, value: gflops(nativeAllMs), unit: "GFLOP/s", ratio: `${format(nativeMs / nativeAllMs, 2)}x native 1 thread` });
  }
  const steps = 3;
  const ours = gradscopeStep(fmnist2c2d.layers, fmnist2c2d.input, 128);
  const run = () => {
    for (let i = 0; i < steps; i++) ours.step();
  };
  const [wasmStep, nativeStep, nativeAllStep] = interleavedMedianMs([onBackend("wasm", run), onBackend("native", run), onBackend("native", run, threads)], 5, 1).map(
    (ms) => ms / steps,
  );
  ours.dispose();
  rows.push({ name: "DeepOBS fmnist_2c2d plain step, batch 128, WASM, 1 thread", value: format(wasmStep), unit: "ms", ratio: "1.00x" });
  rows.push({ name: "DeepOBS fmnist_2c2d plain step, batch 128, native, 1 thread", value: format(nativeStep), unit: "ms", ratio: `${format(wasmStep / nativeStep, 2)}x WASM` });
  if (threads > 1) {
    const name = `DeepOBS fmnist_2c2d plain step, batch 128, native, ${threads} threads`;
    rows.push({ name, value: format(nativeAllStep), unit: "ms", ratio: `${format(nativeStep / nativeAllStep, 2)}x native 1 thread` });
  }
  return rows;
}
