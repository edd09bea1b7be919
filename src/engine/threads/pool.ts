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
  pending: 0, // calls handed to workers that have not finished
  ready: 1, // workers that have instantiated the kernels
  startFailed: 2,
  slotInts: 16,
  // within a slot:
  generation: 0, // bumped by the calling thread to hand the worker a call
  kernel: 1,
  argc: 2,
  failed: 3,
  claim: 4, // 0 while a call is unclaimed; the worker or the calling thread sets 1 to run it
  maxArgs: 24,
};
// Spinning this long on the control block before sleeping in Atomics.wait answers a call that
// follows soon (the next op of a training step) without a futex wake-up, at the price of a
// tenth of a millisecond of a core when none follows. Timed, not counted: one Atomics.load costs
// 1 to 40 ns depending on whether V8 has optimized the loop yet.
const SPIN_MS = 0.1;
const START_TIMEOUT_MS = 30000;

const kernelNames = Object.keys(engineMemory.kernels).filter((name) => typeof (engineMemory.kernels as unknown as Record<string, unknown>)[name] === "function") as Array<
  keyof WasmKernels
>;
const kernelIndex = new Map(kernelNames.map((name, index) => [name, index]));

/**
 * Worker threads running the engine's kernels on its shared memory. The calling thread hands
 * each worker a call through its slot of a shared control block (Atomics, no messages), runs the
 * first call itself, then any call no worker has claimed yet, and waits until every claimed
 * call has counted down. Workers are unref'd: an idle pool never keeps the process alive.
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
      const workerData = { module: engineMemory.module, memory: engineMemory.memory, control, argsBuffer, slot, names: kernelNames, spinMs: SPIN_MS, layout };
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
    for (const { kernel, args: values } of calls) {
      if (values.length > layout.maxArgs) throw new RangeError(`gradscope: ${kernel} takes ${values.length} arguments; a worker's slot holds ${layout.maxArgs}`);
    }
    const { ints, args } = this;
    Atomics.store(ints, layout.pending, calls.length - 1);
    for (let slot = 1; slot < calls.length; slot++) {
      const { kernel, args: values } = calls[slot];
      const base = slot * layout.slotInts;
      args.set(values, slot * layout.maxArgs);
      ints[base + layout.kernel] = kernelIndex.get(kernel) as number;
      ints[base + layout.argc] = values.length;
      ints[base + layout.failed] = 0;
      Atomics.store(ints, base + layout.claim, 0);
      Atomics.add(ints, base + layout.generation, 1);
      Atomics.notify(ints, base + layout.generation);
    }
    // A failing call must not return before the workers are done with this round's slots.
    let failure: unknown;
    try {
      callKernel(calls[0]);
      // A worker the OS has not scheduled yet (a busy machine) would hold up the join: its call
      // is run here instead. Parts write disjoint outputs with their own workspaces and compute
      // them the same way on any thread, so who runs a part never changes a bit.
      for (let slot = 1; slot < calls.length; slot++) {
        if (Atomics.compareExchange(ints, slot * layout.slotInts + layout.claim, 0, 1) !== 0) continue;
        Atomics.sub(ints, layout.pending, 1);
        callKernel(calls[slot]);
      }
    } catch (error) {
      failure = error;
      for (let slot = 1; slot < calls.length; slot++) {
        if (Atomics.compareExchange(ints, slot * layout.slotInts + layout.claim, 0, 1) === 0) Atomics.sub(ints, layout.pending, 1);
      }
    }
    this.awaitWorkers();
    if (failure !== undefined) throw failure;
    for (let slot = 1; slot < calls.length; slot++) {
      // A kernel fails the same way on any thread (a trap is deterministic): repeat the call
      // here to throw its own error.
      if (ints[slot * layout.slotInts + layout.failed] !== 0) callKernel(calls[slot]);
    }
  }

  private awaitWorkers(): void {
    const { ints } = this;
    const spinUntil = performance.now() + SPIN_MS;
    while (Atomics.load(ints, layout.pending) !== 0 && performance.now() < spinUntil);
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

/** Runs one call on the calling thread. */
export function callKernel(call: KernelCall): void {
  (engineMemory.kernels[call.kernel] as (...args: number[]) => void)(...call.args);
}
