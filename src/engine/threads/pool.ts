import { Worker } from "node:worker_threads";
import { engineMemory } from "../memory.ts";
import type { WasmKernels } from "../wasm.ts";
import { workerSource } from "./workerSource.ts";

/** One share of a parallel kernel call: the kernel export and its arguments. */
export interface KernelCall {
  kernel: keyof WasmKernels;
  args: number[];
}

/**
 * A kernel call run in the background: as a KernelCall, but the argument at `workspaceArg`
 * is filled in with a workspace of the thread that runs it (the background's own, apart from the
 * areas of round calls, which may run at the same time).
 */
export interface BackgroundCall extends KernelCall {
  workspaceArg: number;
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
  // Background calls, numbered as a round's calls are, posted between joins: [backgroundBase,
  // backgroundEnd) since the last join, claimed by raising backgroundClaimed. A thread takes one
  // only when no round call is left to claim.
  backgroundClaimed: 64,
  backgroundBase: 65,
  backgroundEnd: 66,
  backgroundPending: 80, // posted and not finished
  backgroundWorkspace: 96, // then one int32 per thread: its workspace for background calls
  headerInts: 96,
  maxArgs: 24,
  // An entry, in int32s:
  entryInts: 4,
  kernel: 0,
  argc: 1,
  state: 2, // 0 while waiting or running, 1 done, 2 failed
  workspaceArg: 3, // background calls: the argument the running thread's workspace goes to
};
// A round holds at least this many calls (more on a pool of more threads): ops split into at most
// one part per thread.
const MIN_CALLS = 64;
// Background calls posted between two joins; a post that would pass it joins first.
const BACKGROUND_CALLS = 64;
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
  backgroundCalls: SharedArrayBuffer;
  backgroundArgs: SharedArrayBuffer;
}

/**
 * Worker threads running the engine's kernels on its shared memory, through a shared control
 * block (Atomics, no messages). A round of calls is claimed call by call, by the calling thread
 * and the workers alike, so a thread that comes late takes fewer. Background calls, posted
 * without waiting, fill the workers' time between rounds until the calling thread joins them.
 * Workers are unref'd: an idle pool never keeps the process alive.
 */
export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ints: Int32Array;
  private readonly calls: Int32Array;
  private readonly callArgs: Float64Array;
  private readonly callCapacity: number;
  private readonly backgroundCalls: Int32Array;
  private readonly backgroundArgs: Float64Array;
  private readonly posted: BackgroundCall[] = [];
  private backgroundWorkspaceBytes = 0;

  /** Starts `threads - 1` workers (the calling thread is the first) and waits until they are ready. */
  constructor(readonly threads: number) {
    this.callCapacity = Math.max(MIN_CALLS, threads);
    const buffers: PoolBuffers = {
      control: new SharedArrayBuffer((layout.headerInts + threads) * 4),
      calls: new SharedArrayBuffer(this.callCapacity * layout.entryInts * 4),
      callArgs: new SharedArrayBuffer(this.callCapacity * layout.maxArgs * 8),
      backgroundCalls: new SharedArrayBuffer(BACKGROUND_CALLS * layout.entryInts * 4),
      backgroundArgs: new SharedArrayBuffer(BACKGROUND_CALLS * layout.maxArgs * 8),
    };
    this.ints = new Int32Array(buffers.control);
    this.calls = new Int32Array(buffers.calls);
    this.callArgs = new Float64Array(buffers.callArgs);
    this.backgroundCalls = new Int32Array(buffers.backgroundCalls);
    this.backgroundArgs = new Float64Array(buffers.backgroundArgs);
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

  /**
   * Posts calls to run in the background, on whichever thread is free first, and returns at
   * once; their outputs may be read, and their inputs and outputs freed, only after `join`.
   * Each gets a workspace of `workspaceBytes` of the thread that runs it.
   */
  post(calls: BackgroundCall[], workspaceBytes: number): void {
    const { ints } = this;
    if (this.posted.length + calls.length > BACKGROUND_CALLS || workspaceBytes > this.backgroundWorkspaceBytes) this.join();
    if (calls.length > BACKGROUND_CALLS) throw new RangeError(`gradscope: ${calls.length} background calls; a post holds ${BACKGROUND_CALLS}`);
    if (workspaceBytes > this.backgroundWorkspaceBytes) {
      // Nothing runs in the background now (joined above), so the areas may move.
      for (let slot = 0; slot < this.threads; slot++) ints[layout.backgroundWorkspace + slot] = engineMemory.backgroundWorkspace(workspaceBytes, slot);
      this.backgroundWorkspaceBytes = workspaceBytes;
    }
    const end = Atomics.load(ints, layout.backgroundEnd);
    const first = (end - Atomics.load(ints, layout.backgroundBase)) | 0;
    for (const [index, call] of calls.entries()) {
      writeEntry(this.backgroundCalls, this.backgroundArgs, first + index, call);
      this.backgroundCalls[(first + index) * layout.entryInts + layout.workspaceArg] = call.workspaceArg;
      this.posted.push(call);
    }
    // Pending before the end: a call claimed as soon as the end moves is already counted.
    Atomics.add(ints, layout.backgroundPending, calls.length);
    Atomics.store(ints, layout.backgroundEnd, (end + calls.length) | 0);
    this.wakeWorkers();
  }

  /**
   * Returns when every posted background call is done, running those no worker has taken yet
   * on the calling thread; throws the error of a call that failed.
   */
  join(): void {
    if (this.posted.length === 0) return;
    const { ints } = this;
    const workspace = ints[layout.backgroundWorkspace];
    let failure: unknown;
    for (let index = this.claimBackground(); index >= 0; index = this.claimBackground()) {
      if (failure === undefined) {
        try {
          callKernel(withWorkspace(this.posted[index], workspace));
        } catch (error) {
          failure = error;
        }
      }
      Atomics.sub(ints, layout.backgroundPending, 1);
    }
    awaitZero(ints, layout.backgroundPending);
    const posted = this.posted.splice(0);
    Atomics.store(ints, layout.backgroundBase, Atomics.load(ints, layout.backgroundEnd));
    if (failure !== undefined) throw failure;
    for (const [index, call] of posted.entries()) {
      if (this.backgroundCalls[index * layout.entryInts + layout.state] !== 2) continue;
      callKernel(withWorkspace(call, workspace));
      throw new Error(`gradscope: kernel ${call.kernel} failed on a worker thread but not on the calling thread`);
    }
  }

  // Claims the round's next call, or -1: its index in the round.
  private claimCall(): number {
    return claimNext(this.ints, layout.callClaimed, layout.callEnd, layout.callBase);
  }

  private claimBackground(): number {
    return claimNext(this.ints, layout.backgroundClaimed, layout.backgroundEnd, layout.backgroundBase);
  }

  /** Stops the workers (after the background calls they run). */
  close(): void {
    if (Atomics.load(this.ints, layout.ready) === this.workers.length) this.join();
    for (const worker of this.workers) void worker.terminate();
  }

  private write(at: number, call: KernelCall): void {
    writeEntry(this.calls, this.callArgs, at, call);
  }

  private wakeWorkers(): void {
    Atomics.add(this.ints, layout.generation, 1);
    Atomics.notify(this.ints, layout.generation);
  }

  private awaitWorkers(): void {
    awaitZero(this.ints, layout.pending);
  }
}

// Claims the next call numbered in [base, end) by raising `claimed`, or -1: its index from base.
function claimNext(ints: Int32Array, claimedAt: number, endAt: number, baseAt: number): number {
  for (;;) {
    const claimed = Atomics.load(ints, claimedAt);
    if (((Atomics.load(ints, endAt) - claimed) | 0) <= 0) return -1;
    if (Atomics.compareExchange(ints, claimedAt, claimed, (claimed + 1) | 0) === claimed) return (claimed - Atomics.load(ints, baseAt)) | 0;
  }
}

// Spins briefly, then sleeps, until the counter at `at` is zero (the threads that bring it
// there notify it).
function awaitZero(ints: Int32Array, at: number): void {
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ints, at) !== 0 && performance.now() < spinUntil);
  for (;;) {
    const pending = Atomics.load(ints, at);
    if (pending === 0) return;
    Atomics.wait(ints, at, pending);
  }
}

function writeEntry(entries: Int32Array, argTable: Float64Array, at: number, { kernel, args: values }: KernelCall): void {
  if (values.length > layout.maxArgs) throw new RangeError(`gradscope: ${kernel} takes ${values.length} arguments; an entry holds ${layout.maxArgs}`);
  argTable.set(values, at * layout.maxArgs);
  const entry = at * layout.entryInts;
  entries[entry + layout.kernel] = kernelIndex.get(kernel) as number;
  entries[entry + layout.argc] = values.length;
  Atomics.store(entries, entry + layout.state, 0);
}

/** A background call as a plain one, its workspace argument set to `workspace`. */
export function withWorkspace(call: BackgroundCall, workspace: number): KernelCall {
  const args = call.args.slice();
  args[call.workspaceArg] = workspace;
  return { kernel: call.kernel, args };
}

/** Runs one call on the calling thread. */
export function callKernel(call: KernelCall): void {
  (engineMemory.kernels[call.kernel] as (...args: number[]) => void)(...call.args);
}
