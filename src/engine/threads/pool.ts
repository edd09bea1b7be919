import { Worker } from "node:worker_threads";
import { engineMemory } from "../memory.ts";
import type { WasmKernels } from "../wasm.ts";
import { workerSource } from "./workerSource.ts";

/** One share of a parallel kernel call: the kernel export and its arguments. */
export interface KernelCall {
  kernel: keyof WasmKernels;
  args: number[];
}

// The shared control block, in int32s, then the table of a round's calls with their arguments
// in a float64 table beside it. Fields that different threads write often have cache lines (16
// int32s) of their own, so that a worker spinning on the generation does not slow the calling
// thread's writes of the others.
const layout = {
  ready: 0, // workers that have instantiated the kernels
  startFailed: 1,
  generation: 16, // bumped whenever a round is posted; sleeping workers wait on it
  active: 17, // the threads that take calls now (workers of higher slots stay idle)
  // Calls are numbered across rounds and never renumbered: a round's calls are numbers
  // [callBase, callEnd), claimed by raising callClaimed, so a thread that read a number of an
  // earlier round can never claim it again. (Int32 arithmetic wraps; numbers are compared by
  // their difference.)
  callClaimed: 32,
  callBase: 33,
  callEnd: 34,
  pending: 48, // calls of the round in progress that have not finished
  headerInts: 64,
  maxArgs: 24,
  // An entry, in int32s:
  entryInts: 4,
  kernel: 0,
  argc: 1,
  state: 2, // 0 while waiting or running, 1 done, 2 failed
};
// A round holds at least this many calls (more on a pool of more threads): ops split into at most
// one part per thread.
const MIN_CALLS = 64;
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

/** The shared buffers of a pool, as the workers receive them. */
interface PoolBuffers {
  control: SharedArrayBuffer;
  calls: SharedArrayBuffer;
  callArgs: SharedArrayBuffer;
}

/**
 * Worker threads running the engine's kernels on its shared memory, through a shared control
 * block (Atomics, no messages). A round of calls is claimed call by call, by the calling thread
 * and the workers alike, so a thread that comes late takes fewer. Workers are unref'd: an idle
 * pool never keeps the process alive.
 */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ints: Int32Array;
  private readonly calls: Int32Array;
  private readonly callArgs: Float64Array;
  private readonly callCapacity: number;

  /** Starts `threads - 1` workers (the calling thread is the first) and waits until they are ready. */
  constructor(readonly threads: number) {
    this.callCapacity = Math.max(MIN_CALLS, threads);
    const buffers: PoolBuffers = {
      control: new SharedArrayBuffer(layout.headerInts * 4),
      calls: new SharedArrayBuffer(this.callCapacity * layout.entryInts * 4),
      callArgs: new SharedArrayBuffer(this.callCapacity * layout.maxArgs * 8),
    };
    this.ints = new Int32Array(buffers.control);
    this.calls = new Int32Array(buffers.calls);
    this.callArgs = new Float64Array(buffers.callArgs);
    for (let slot = 1; slot < threads; slot++) {
      const workerData = { module: engineMemory.module, memory: engineMemory.memory, buffers, slot, names: kernelNames, spinMs: SPIN_MS, layout };
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

  /**
   * Runs the calls, each on whichever of the first `threads` threads claims it first (the
   * calling thread claims too), and returns when all are done. Calls write disjoint outputs with
   * workspaces of their own and compute them the same way on any thread, so who runs a call never
   * changes a bit.
   */
  run(calls: KernelCall[], threads = this.threads): void {
    if (calls.length > this.callCapacity) throw new RangeError(`gradscope: ${calls.length} parallel calls; a round holds ${this.callCapacity}`);
    const { ints } = this;
    Atomics.store(ints, layout.active, threads);
    // Every call of the last round is claimed and done, so the next number starts this round.
    const base = Atomics.load(ints, layout.callClaimed);
    for (const [index, call] of calls.entries()) this.write(index, call);
    Atomics.store(ints, layout.pending, calls.length);
    // The base before the end: a thread that sees the new end sees the new base too.
    Atomics.store(ints, layout.callBase, base);
    Atomics.store(ints, layout.callEnd, (base + calls.length) | 0);
    this.wakeWorkers();
    // A failing call must not return before the workers are done with this round's entries.
    let failure: unknown;
    for (let index = this.claimCall(); index >= 0; index = this.claimCall()) {
      if (failure === undefined) {
        try {
          callKernel(calls[index]);
        } catch (error) {
          failure = error;
        }
      }
      Atomics.sub(ints, layout.pending, 1);
    }
    this.awaitWorkers();
    if (failure !== undefined) throw failure;
    for (let index = 0; index < calls.length; index++) {
      if (this.calls[index * layout.entryInts + layout.state] !== 2) continue;
      // A kernel fails the same way on any thread (a trap is deterministic): repeat the call
      // here to throw its own error. Should it not fail here, its outputs are still unknown.
      callKernel(calls[index]);
      throw new Error(`gradscope: kernel ${calls[index].kernel} failed on a worker thread but not on the calling thread`);
    }
  }

  // Claims the round's next call, or -1: its index in the round.
  private claimCall(): number {
    const { ints } = this;
    for (;;) {
      const claimed = Atomics.load(ints, layout.callClaimed);
      if (((Atomics.load(ints, layout.callEnd) - claimed) | 0) <= 0) return -1;
      if (Atomics.compareExchange(ints, layout.callClaimed, claimed, (claimed + 1) | 0) === claimed) return (claimed - Atomics.load(ints, layout.callBase)) | 0;
    }
  }

  /** Stops the workers. */
  close(): void {
    for (const worker of this.workers) void worker.terminate();
  }

  private write(at: number, { kernel, args: values }: KernelCall): void {
    if (values.length > layout.maxArgs) throw new RangeError(`gradscope: ${kernel} takes ${values.length} arguments; an entry holds ${layout.maxArgs}`);
    this.callArgs.set(values, at * layout.maxArgs);
    const entry = at * layout.entryInts;
    this.calls[entry + layout.kernel] = kernelIndex.get(kernel) as number;
    this.calls[entry + layout.argc] = values.length;
    Atomics.store(this.calls, entry + layout.state, 0);
  }

  private wakeWorkers(): void {
    Atomics.add(this.ints, layout.generation, 1);
    Atomics.notify(this.ints, layout.generation);
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
}

/** Runs one call on the calling thread. */
export function callKernel(call: KernelCall): void {
  (engineMemory.kernels[call.kernel] as (...args: number[]) => void)(...call.args);
}
