// Thread scaling: each threaded workload at 1 thread and at all threads, timed in turn (so both
// see the host's speed of the moment), and what the pool itself costs.
import { gemm } from "../../src/engine/kernels/gemm.ts";
import { engineMemory } from "../../src/engine/memory.ts";
import { Tensor } from "../../src/engine/tensor.ts";
import { runParallel } from "../../src/engine/threads/settings.ts";
import type { LayerSpec } from "../../src/nn/spec.ts";
import { fmnist2c2d, mnistMlp } from "../quantities.ts";
import type { BenchGroup } from "../registry.ts";
import { allThreads, atThreads, threadPairRows } from "../threadCount.ts";
import { interleavedMedianMs } from "../timing.ts";
import { cnnSpec, gradscopeStep, mlpSpec } from "../workloads.ts";

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

/** GEMM n³ at 1 thread and at all threads, in GFLOP/s. */
function gemmPair(n: number) {
  return threadPairRows({
    name: `GEMM ${n}^3`,
    unit: "GFLOP/s",
    setup: () => {
      const [a, b, c] = [new Tensor([n, n]), new Tensor([n, n]), new Tensor([n, n])];
      a.data.fill(0.5);
      b.data.fill(0.25);
      return {
        run: () => gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n }),
        value: (ms) => (2 * n ** 3) / ms / 1e6,
        dispose: () => {
          for (const t of [a, b, c]) t.dispose();
        },
      };
    },
  });
}

/** A plain SGD training step at 1 thread and at all threads, in steps/s; `steps` steps per timing. */
function stepPair(name: string, spec: LayerSpec[], input: number[], batch: number, steps: number) {
  return threadPairRows({
    name,
    unit: "steps/s",
    setup: () => {
      const ours = gradscopeStep(spec, input, batch);
      return {
        run: () => {
          for (let i = 0; i < steps; i++) ours.step();
        },
        value: (ms) => (1000 * steps) / ms,
        dispose: ours.dispose,
      };
    },
  });
}

export const threadsGroup: BenchGroup = {
  name: "threads",
  rows: [
    {
      name: "cores available to all threads (independent GEMMs at once vs alone)",
      threads: allThreads,
      measure: () => ({ value: coresAvailable(allThreads), unit: "cores", digits: 2 }),
    },
    {
      name: "fork/join cost of a call, all threads",
      threads: allThreads,
      // With one thread there are no workers: a parallel call is a plain call.
      measure: () => ({ value: allThreads > 1 ? forkJoinMicroseconds(allThreads) : 0, unit: "µs" }),
    },
    ...gemmPair(1024),
    ...stepPair("MLP 784-256-128-10 step, batch 128", mlpSpec, [784], 128, 20),
    ...stepPair("CNN 2x(conv3x3-relu-pool)-fc10 step, batch 64", cnnSpec, [1, 28, 28], 64, 5),
    ...stepPair("DeepOBS mnist_mlp plain SGD step, batch 128", mnistMlp.layers, mnistMlp.input, 128, 4),
    ...stepPair("DeepOBS fmnist_2c2d plain SGD step, batch 128", fmnist2c2d.layers, fmnist2c2d.input, 128, 1),
  ],
};
