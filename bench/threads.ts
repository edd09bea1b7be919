// Thread-scaling rows of `npm run bench`: each workload timed at one thread and at all threads in
// turn (so both see the host's speed of the moment), and the pool's fork/join cost.

import { availableParallelism } from "node:os";
import { gemm } from "../src/engine/kernels/gemm.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { Tensor } from "../src/engine/tensor.ts";
import { runParallel, setThreads, threadCount } from "../src/engine/threads/settings.ts";
import { interleavedMedianMs } from "./timing.ts";
import { cnnSpec, gradscopeStep, mlpSpec } from "./workloads.ts";

/** A bench row: name, value, unit, ratio. */
export interface ThreadRow {
  name: string;
  value: string;
  unit: string;
  ratio: string;
}

// Runs `fn` with the engine at `threads` threads, restoring the count after.
function atThreads(threads: number, fn: () => void): () => void {
  return () => {
    const before = threadCount();
    setThreads(threads);
    try {
      fn();
    } finally {
      setThreads(before);
    }
  };
}

/**
 * Microseconds a parallel call costs beyond its parts: `threads` axpy parts of 8192 elements
 * (a few microseconds each, in cache) run in parallel, against one such part on this thread.
 * A part the calling thread had to run itself because its worker was slow to claim it shows up
 * here as its whole duration.
 */
export function forkJoinMicroseconds(threads: number, calls = 2000): number {
  const length = 8192;
  const x = new Tensor([threads * length]);
  const y = new Tensor([threads * length]);
  x.data.fill(1e-7);
  const part = (index: number) => ({ kernel: "axpy" as const, args: [length, 1, x.ptr + 4 * index * length, y.ptr + 4 * index * length] });
  const parts = Array.from({ length: threads }, (_, index) => part(index));
  const axpy = engineMemory.kernels.axpy;
  const repeat = (fn: () => void) => () => {
    for (let i = 0; i < calls; i++) fn();
  };
  const [parallelMs, oneMs] = interleavedMedianMs(
    [
      atThreads(
        threads,
        repeat(() => runParallel(parts)),
      ),
      repeat(() => axpy(length, 1, x.ptr, y.ptr)),
    ],
    5,
    1,
  );
  x.dispose();
  y.dispose();
  return (1000 * (parallelMs - oneMs)) / calls;
}

/**
 * The cores the host gives this process at the moment: `threads` independent 256³ GEMMs run at
 * once (one per thread) against one of them alone, as (threads × alone) / together. On a shared
 * host this is what the speedups below must be read against.
 */
export function coresAvailable(threads: number): number {
  const n = 256;
  const a = new Tensor([n, n]);
  const c = new Tensor([threads * n, n]);
  a.data.fill(0.5);
  const work = engineMemory.kernels.gemmWorkspaceBytes();
  const product = (thread: number) => ({
    kernel: "gemm" as const,
    args: [0, 0, n, n, n, 1, a.ptr, n, a.ptr, n, 0, c.ptr + 4 * thread * n * n, n, engineMemory.workspace(work, thread)],
  });
  const together = Array.from({ length: threads }, (_, thread) => product(thread));
  const alone = together[0].args;
  const [togetherMs, aloneMs] = interleavedMedianMs(
    [atThreads(threads, () => runParallel(together)), () => (engineMemory.kernels.gemm as (...args: number[]) => void)(...alone)],
    9,
    2,
  );
  a.dispose();
  c.dispose();
  return (threads * aloneMs) / togetherMs;
}

/** The rows: fork/join, GEMM 1024³, the MLP and CNN training steps, at 1 and at all threads. */
export function threadRows(report: (row: ThreadRow) => void, threads = availableParallelism()): void {
  const format = (x: number, digits = 1) => x.toFixed(digits);
  if (threads > 1) {
    report({ name: `cores available to ${threads} threads (independent GEMMs at once vs alone)`, value: format(coresAvailable(threads), 2), unit: "cores", ratio: "" });
    report({ name: `fork/join cost of a call, ${threads} threads`, value: format(forkJoinMicroseconds(threads), 1), unit: "µs", ratio: "" });
  }
  const n = 1024;
  const [a, b, c] = [new Tensor([n, n]), new Tensor([n, n]), new Tensor([n, n])];
  a.data.fill(0.5);
  b.data.fill(0.25);
  const product = () => gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n });
  const [oneMs, allMs] = interleavedMedianMs([atThreads(1, product), atThreads(threads, product)], 7, 1);
  for (const t of [a, b, c]) t.dispose();
  const gflops = (ms: number) => format((2 * n ** 3) / ms / 1e6);
  report({ name: `GEMM ${n}^3, 1 thread`, value: gflops(oneMs), unit: "GFLOP/s", ratio: "1.00x" });
  report({ name: `GEMM ${n}^3, ${threads} threads`, value: gflops(allMs), unit: "GFLOP/s", ratio: `${format(oneMs / allMs, 2)}x 1 thread` });
  for (const w of [
    { name: "MLP 784-256-128-10 step, batch 128", spec: mlpSpec, input: [784], batch: 128, steps: 20 },
    { name: "CNN 2x(conv3x3-relu-pool)-fc10 step, batch 64", spec: cnnSpec, input: [1, 28, 28], batch: 64, steps: 5 },
  ]) {
    const ours = gradscopeStep(w.spec, w.input, w.batch);
    const steps = () => {
      for (let i = 0; i < w.steps; i++) ours.step();
    };
    const [one, all] = interleavedMedianMs([atThreads(1, steps), atThreads(threads, steps)], 7, 1).map((ms) => ms / w.steps);
    ours.dispose();
    report({ name: `${w.name}, 1 thread`, value: format(1000 / one), unit: "steps/s", ratio: "1.00x" });
    report({ name: `${w.name}, ${threads} threads`, value: format(1000 / all), unit: "steps/s", ratio: `${format(one / all, 2)}x 1 thread` });
  }
}
