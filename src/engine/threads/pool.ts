import { Worker } from "node:worker_threads";
import { engineMemory } from "../memory.ts";
import type { WasmKernels } from "../wasm.ts";
import { workerSource } from "./workerSource.ts";

/** One thread's share of a parallel kernel call: the kernel export and its arguments. */
export interface KernelCall {
  kernel: keyof WasmKernels;
  args: number[];
}

// The control block, in int32s. Each worker's slot (index 1..) has a cache line of its own so
// that one worker's writes do not invalidate another's line; the header is slot 0.
const layout = {
  pending: 0, // workers still running the current call
  ready: 1, // workers that have instantiated the kernels
  startFailed: 2,
  slotInts: 16,
  // within a slot:
  generation: 0, // bumped by the calling thread to hand the worker a call
  kernel: 1,
  argc: 2,
  failed: 3,
  maxArgs: 24,
};
// Spinning this many times on the control block before sleeping in Atomics.wait answers a call
// that follows soon (the next op of a training step) without a futex wake-up, at the price of a
// few tens of microseconds of a core when none follows.
const SPINS = 20000;
const START_TIMEOUT_MS = 30000;

const kernelNames = Object.keys(engineMemory.kernels).filter((name) => typeof (engineMemory.kernels as unknown as Record<string, unknown>)[name] === "function") as Array<
  keyof WasmKernels
>;
const kernelIndex = new Map(kernelNames.map((name, index) => [name, index]));

/**
 * Worker threads running the engine's kernels on its shared memory. The calling thread hands
 * each worker a call through its slot of a shared control block (Atomics, no messages), runs the
 * first call itself and waits until every worker has counted down. Workers are unref'd: an idle
 * pool never keeps the process alive.
 */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ints: Int32Array;
  private readonly args: Float64Array;

  /** Starts `threads - 1` workers (the calling thread is the first) and waits until they are ready. */
  constructor(readonly threads: number) {
    const control = new SharedArrayBuffer(threads * layout.slotInts * 4);
    const argsBuffer = new SharedArrayBuffer(threads * layout.maxArgs * 8);
    this.ints = new Int32Array(control);
    this.args = new Float64Array(argsBuffer);
    for (let slot = 1; slot < threads; slot++) {
      const workerData = { module: engineMemory.module, memory: engineMemory.memory, control, argsBuffer, slot, names: kernelNames, spins: SPINS, layout };
      // execArgv: [] keeps the parent's loaders (tsx) out of a worker that needs none.
      const worker = new Worker(workerSource, { eval: true, workerData, execArgv: [] });
      worker.unref();
      this.workers.push(worker);
    }
    this.awaitReady();
  }

  // Instantiating rewrites the modules' data segments in the shared memory, so no kernel may run
  // on the calling thread until every worker is past that point.
  private awaitReady(): void {
    const deadline = performance.now() + START_TIMEOUT_MS;
    for (;;) {
      const ready = Atomics.load(this.ints, layout.ready);
      if (Atomics.load(this.ints, layout.startFailed) !== 0) break;
      if (ready === this.workers.length) return;
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(this.ints, layout.ready, ready, left);
    }
    this.close();
    throw new Error(
      `gradscope: could not start ${this.workers.length} worker thread(s) for the engine (set engine.threads, --threads or GRADSCOPE_THREADS to 1 to run without them)`,
    );
  }

  /** Runs calls[0] on the calling thread and calls[i] on worker i, and returns when all are done. */
  run(calls: KernelCall[]): void {
    if (calls.length > this.threads) throw new RangeError(`gradscope: ${calls.length} parallel calls for a pool of ${this.threads} threads`);
    const { ints, args } = this;
    Atomics.store(ints, layout.pending, calls.length - 1);
    for (let slot = 1; slot < calls.length; slot++) {
      const { kernel, args: values } = calls[slot];
      const base = slot * layout.slotInts;
      args.set(values, slot * layout.maxArgs);
      ints[base + layout.kernel] = kernelIndex.get(kernel) as number;
      ints[base + layout.argc] = values.length;
      Atomics.add(ints, base + layout.generation, 1);
      Atomics.notify(ints, base + layout.generation);
    }
    callKernel(calls[0]);
    this.awaitWorkers();
    for (let slot = 1; slot < calls.length; slot++) {
      // A kernel fails the same way on any thread (a trap is deterministic): repeat the call
      // here to throw its own error.
      if (ints[slot * layout.slotInts + layout.failed] !== 0) callKernel(calls[slot]);
    }
  }

  private awaitWorkers(): void {
    const { ints } = this;
    for (let i = 0; i < SPINS && Atomics.load(ints, layout.pending) !== 0; i++);
    for (;;) {
      const pending = Atomics.load(ints, layout.pending);
      if (pending === 0) return;
      Atomics.wait(ints, layout.pending, pending);
    }
  }

  /** Stops the workers. */
  close(): void {
    for (const worker of this.workers) void worker.terminate();
  }
}

function callKernel(call: KernelCall): void {
  (engineMemory.kernels[call.kernel] as (...args: number[]) => void)(...call.args);
}
