import { Worker } from "node:worker_threads";
import { engineMemory } from "../memory.ts";
import type { WasmKernels } from "../wasm.ts";
import { workerSource } from "./workerSource.ts";

/** One share of a parallel kernel call: the kernel export and its arguments. */
export interface KernelCall {
  kernel: keyof WasmKernels;
  args: number[];
}

// The shared control block, in int32s, then two tables of entries (a round's calls, and the
// ring of background tasks) with their arguments in float64 tables beside them. Fields that
// different threads write often have cache lines (16 int32s) of their own, so that a worker
// spinning on the generation does not slow the calling thread's writes of the others.
const layout = {
  ready: 0, // workers that have instantiated the kernels
  startFailed: 1,
  generation: 16, // bumped whenever calls or tasks are posted; sleeping workers wait on it
  active: 17, // the threads that take calls and tasks now (workers of higher slots stay idle)
  // Calls are numbered across rounds and never renumbered: a round's calls are numbers
  // [callBase, callEnd), claimed by raising callClaimed, so a thread that read a number of an
  // earlier round can never claim it again. (Int32 arithmetic wraps; numbers are compared by
  // their difference.)
  callClaimed: 32,
  callBase: 33,
  callEnd: 34,
  pending: 48, // calls of the round in progress that have not finished
  backgroundHead: 64, // background tasks claimed so far (the next to claim)
  backgroundTail: 65, // background tasks posted so far
  headerInts: 80,
  // The ring of background tasks: task t lives at entry t % backgroundCapacity.
  backgroundCapacity: 64,
  maxArgs: 24,
  // An entry, in int32s:
  entryInts: 4,
  kernel: 0,
  argc: 1,
  state: 2, // 0 while waiting or running, 1 done, 2 failed
  workArg: 3, // the argument the running thread replaces with its background workspace, or -1
};
// A round holds at least this many calls (more on a pool of more threads): ops split into at most
// one part per thread.
const MIN_CALLS = 64;
// Spinning this long on the control block before sleeping in Atomics.wait answers a call that
// follows soon (the next op of a training step) without a futex wake-up, at the price of a
// tenth of a millisecond of a core when none follows. Timed, not counted: one Atomics.load costs
// 1 to 40 ns depending on whether V8 has optimized the loop yet.
const SPIN_MS = 0.1;
// Background workspaces are engine workspaces from this index on, one per thread.
const BACKGROUND_WORKSPACE = 1024;
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
  tasks: SharedArrayBuffer;
  taskArgs: SharedArrayBuffer;
  workspaces: SharedArrayBuffer;
}

/**
 * Worker threads running the engine's kernels on its shared memory, through a shared control
 * block (Atomics, no messages). A round of calls is claimed call by call, by the calling thread
 * and the workers alike, so a thread that comes late takes fewer; between rounds, idle workers
 * take background tasks, posted in advance for work needed only later. Workers are unref'd: an
 * idle pool never keeps the process alive.
 */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ints: Int32Array;
  private readonly calls: Int32Array;
  private readonly callArgs: Float64Array;
  private readonly tasks: Int32Array;
  private readonly taskArgs: Float64Array;
  // Each thread's workspace for background tasks (index 0: the calling thread's), byte offsets.
  private readonly backgroundWorkspaces: Float64Array;
  private backgroundWorkspaceBytes = 0;
  // Background tasks before this one are known to be done.
  private joined = 0;
  // The errors of failed background tasks by number, until their owner joins them.
  private readonly taskFailures = new Map<number, unknown>();
  private readonly callCapacity: number;

  /** Starts `threads - 1` workers (the calling thread is the first) and waits until they are ready. */
  constructor(readonly threads: number) {
    this.callCapacity = Math.max(MIN_CALLS, threads);
    const buffers: PoolBuffers = {
      control: new SharedArrayBuffer(layout.headerInts * 4),
      calls: new SharedArrayBuffer(this.callCapacity * layout.entryInts * 4),
      callArgs: new SharedArrayBuffer(this.callCapacity * layout.maxArgs * 8),
      tasks: new SharedArrayBuffer(layout.backgroundCapacity * layout.entryInts * 4),
      taskArgs: new SharedArrayBuffer(layout.backgroundCapacity * layout.maxArgs * 8),
      workspaces: new SharedArrayBuffer(threads * 8),
    };
    this.ints = new Int32Array(buffers.control);
    this.calls = new Int32Array(buffers.calls);
    this.callArgs = new Float64Array(buffers.callArgs);
    this.tasks = new Int32Array(buffers.tasks);
    this.taskArgs = new Float64Array(buffers.taskArgs);
    this.backgroundWorkspaces = new Float64Array(buffers.workspaces);
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
    for (const [index, call] of calls.entries()) this.write(this.calls, this.callArgs, index, call, -1);
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

  /**
   * Posts calls as background tasks, which idle workers take between rounds of `run` (and
   * `join` runs whatever is left on the calling thread), and returns the number of tasks posted
   * so far: `join` the posted range before reading their outputs. Until then their inputs and
   * outputs must stay allocated and unchanged. A task's argument `workArg` (when >= 0) is
   * replaced by the running thread's own workspace of `workspaceBytes`, so that no two tasks, nor
   * a task and a call of `run`, ever share one. Workers past the first `threads` take none once
   * they have seen the count.
   */
  post(calls: KernelCall[], workArg = -1, workspaceBytes = 0, threads = this.threads): number {
    const { ints } = this;
    for (const { kernel, args } of calls) {
      if (args.length > layout.maxArgs) throw new RangeError(`gradscope: ${kernel} takes ${args.length} arguments; an entry holds ${layout.maxArgs}`);
    }
    Atomics.store(ints, layout.active, threads);
    if (workspaceBytes > this.backgroundWorkspaceBytes) {
      // Moving the workspaces waits for every task that may be using them.
      this.waitFor(Atomics.load(ints, layout.backgroundTail));
      for (let thread = 0; thread < this.threads; thread++) this.backgroundWorkspaces[thread] = engineMemory.workspace(workspaceBytes, BACKGROUND_WORKSPACE + thread);
      this.backgroundWorkspaceBytes = workspaceBytes;
    }
    let tail = Atomics.load(ints, layout.backgroundTail);
    for (const call of calls) {
      // The ring's entry is free once the task posted a ring ago is done.
      if (tail >= layout.backgroundCapacity) this.waitFor(tail - layout.backgroundCapacity + 1);
      this.write(this.tasks, this.taskArgs, tail % layout.backgroundCapacity, call, workArg);
      Atomics.store(ints, layout.backgroundTail, ++tail);
    }
    this.wakeWorkers();
    return tail;
  }

  /**
   * Returns when the background tasks [start, end) are done (and every one before them),
   * running any not yet taken; throws the first error among them.
   */
  join(start: number, end: number): void {
    this.waitFor(end);
    let failure: unknown;
    for (let task = start; task < end; task++) {
      if (!this.taskFailures.has(task)) continue;
      failure ??= this.taskFailures.get(task);
      this.taskFailures.delete(task);
    }
    if (failure !== undefined) throw failure;
  }

  // Waits for the tasks before `end`, keeping the errors of failed ones for their owners' joins.
  private waitFor(end: number): void {
    const { tasks } = this;
    for (let task = this.claimTask(end); task >= 0; task = this.claimTask(end)) this.runTask(task);
    for (let task = this.joined; task < end; task++) {
      const state = (task % layout.backgroundCapacity) * layout.entryInts + layout.state;
      while (Atomics.load(tasks, state) === 0) Atomics.wait(tasks, state, 0);
      if (tasks[state] !== 2 || this.taskFailures.has(task)) continue;
      // As in run: a task that failed on a worker is repeated here to keep its own error.
      this.runTask(task);
      if (!this.taskFailures.has(task)) this.taskFailures.set(task, new Error("gradscope: a background task failed on a worker thread but not on the calling thread"));
    }
    this.joined = Math.max(this.joined, end);
  }

  private claimTask(end: number): number {
    const { ints } = this;
    for (;;) {
      const head = Atomics.load(ints, layout.backgroundHead);
      if (head >= Math.min(end, Atomics.load(ints, layout.backgroundTail))) return -1;
      if (Atomics.compareExchange(ints, layout.backgroundHead, head, head + 1) === head) return head;
    }
  }

  /** Stops the workers, once every background task is done. */
  close(): void {
    this.waitFor(Atomics.load(this.ints, layout.backgroundTail));
    for (const worker of this.workers) void worker.terminate();
  }

  private write(entries: Int32Array, args: Float64Array, at: number, { kernel, args: values }: KernelCall, workArg: number): void {
    if (values.length > layout.maxArgs) throw new RangeError(`gradscope: ${kernel} takes ${values.length} arguments; an entry holds ${layout.maxArgs}`);
    args.set(values, at * layout.maxArgs);
    const entry = at * layout.entryInts;
    entries[entry + layout.kernel] = kernelIndex.get(kernel) as number;
    entries[entry + layout.argc] = values.length;
    entries[entry + layout.workArg] = workArg;
    Atomics.store(entries, entry + layout.state, 0);
  }

  // Runs a task on the calling thread, keeping its error for its owner's join.
  private runTask(task: number): void {
    const at = task % layout.backgroundCapacity;
    const entry = at * layout.entryInts;
    const values = Array.from(this.taskArgs.subarray(at * layout.maxArgs, at * layout.maxArgs + this.tasks[entry + layout.argc]));
    const workArg = this.tasks[entry + layout.workArg];
    if (workArg >= 0) values[workArg] = this.backgroundWorkspaces[0];
    let state = 1;
    try {
      callKernel({ kernel: kernelNames[this.tasks[entry + layout.kernel]], args: values });
    } catch (error) {
      this.taskFailures.set(task, error);
      state = 2;
    }
    Atomics.store(this.tasks, entry + layout.state, state);
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
