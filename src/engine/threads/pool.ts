import { Worker } from "node:worker_threads";
import { engineMemory } from "../memory.ts";
import type { WasmKernels } from "../wasm.ts";
import { workerSource } from "./workerSource.ts";

/** One share of a parallel kernel call: the kernel export and its arguments. */
export interface KernelCall {
  kernel: keyof WasmKernels;
  args: number[];
}

/** Which background calls a `ThreadPool.post` posted: their numbers [first, end). */
export interface BackgroundTicket {
  readonly pool: ThreadPool;
  readonly first: number;
  readonly end: number;
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
  // Background calls, numbered as a round's calls are: [backgroundBase, backgroundEnd) posted
  // since the last join of all, claimed by raising backgroundClaimed; each entry's state says
  // when it is done. A thread takes one only when no round call is left to claim.
  backgroundClaimed: 64,
  backgroundBase: 65,
  backgroundEnd: 66,
  backgroundWorkspace: 96, // then one int32 per thread: its workspace for background calls
  headerInts: 96,
  maxArgs: 24,
  // An entry, in int32s:
  entryInts: 4,
  kernel: 0,
  argc: 1,
  state: 2, // 0 while waiting or running, 1 done, 2 failed (3 failed and reported: background calls)
  workspaceArg: 3, // background calls: the argument the running thread's workspace goes to
};
// A round holds at least this many calls (more on a pool of more threads): ops split into at most
// one part per thread.
const MIN_CALLS = 64;
// Background calls posted between two joins, at least (as many as a round holds: a kernel split
// one part per thread is posted whole); a post that would pass them joins first.
const MIN_BACKGROUND_CALLS = 64;
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
  private readonly backgroundCapacity: number;
  private readonly backgroundCalls: Int32Array;
  private readonly backgroundArgs: Float64Array;
  private readonly posted: BackgroundCall[] = [];
  // Failed background calls whose tickets were not joined when the table started over, by number.
  private carried: Array<{ number: number; call: BackgroundCall }> = [];
  private backgroundWorkspaceBytes = 0;

  /** Starts `threads - 1` workers (the calling thread is the first) and waits until they are ready. */
  constructor(readonly threads: number) {
    this.callCapacity = Math.max(MIN_CALLS, threads);
    this.backgroundCapacity = Math.max(MIN_BACKGROUND_CALLS, threads);
    const buffers: PoolBuffers = {
      control: new SharedArrayBuffer((layout.headerInts + threads) * 4),
      calls: new SharedArrayBuffer(this.callCapacity * layout.entryInts * 4),
      callArgs: new SharedArrayBuffer(this.callCapacity * layout.maxArgs * 8),
      backgroundCalls: new SharedArrayBuffer(this.backgroundCapacity * layout.entryInts * 4),
      backgroundArgs: new SharedArrayBuffer(this.backgroundCapacity * layout.maxArgs * 8),
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
   * Posts calls to run in the background, on whichever of the first `threads` threads is free
   * first, and returns at once with their ticket; their outputs may be read, and their inputs and
   * outputs freed, only after `join` (of the ticket, or of all). Each gets a workspace of
   * `workspaceBytes` of the thread that runs it.
   */
  post(calls: BackgroundCall[], workspaceBytes: number, threads = this.threads): BackgroundTicket {
    const { ints } = this;
    // No round runs now (rounds return before the caller goes on), so the count is the post's.
    Atomics.store(ints, layout.active, threads);
    if (this.posted.length + calls.length > this.backgroundCapacity || workspaceBytes > this.backgroundWorkspaceBytes) this.settle(undefined, false);
    if (calls.length > this.backgroundCapacity) throw new RangeError(`gradscope: ${calls.length} background calls; a post holds ${this.backgroundCapacity}`);
    if (workspaceBytes > this.backgroundWorkspaceBytes) {
      // Nothing runs in the background now (settled above), so the areas may move.
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
    Atomics.store(ints, layout.backgroundEnd, (end + calls.length) | 0);
    this.wakeWorkers();
    return { pool: this, first: end, end: (end + calls.length) | 0 };
  }

  /**
   * Returns when the background calls of `ticket` (default: every one posted) are done, running
   * on the calling thread those no worker has taken yet (and the ones posted before them); throws
   * the error of a call of the ticket that failed, once. Joining all lets the call table start over.
   */
  join(ticket?: BackgroundTicket): void {
    this.settle(ticket, true);
  }

  // `join`, which with `report` false throws nothing: each failure is left for its own ticket's
  // join (kept in `carried` when the table starts over). `post` and `close` wait this way: a
  // failure there is of a ticket that its caller joins later, and reading its outputs then must throw.
  private settle(ticket: BackgroundTicket | undefined, report: boolean): void {
    const { ints } = this;
    const base = Atomics.load(ints, layout.backgroundBase);
    // Calls numbered before the base were done by an earlier join of all: [first, joined) are
    // the table's entries this join waits for, [reportFrom, joined) those whose failures it reports.
    const end = ticket ? ticket.end : Atomics.load(ints, layout.backgroundEnd);
    const joined = Math.max(0, (end - base) | 0);
    const first = ticket ? Math.min(joined, Math.max(0, (ticket.first - base) | 0)) : 0;
    const reportFrom = report ? first : joined;
    let failure: unknown;
    let failedOnWorker = report ? this.takeCarried(ticket) : undefined;
    while (((end - Atomics.load(ints, layout.backgroundClaimed)) | 0) > 0) {
      const index = this.claimBackground();
      if (index < 0) break;
      const state = index * layout.entryInts + layout.state;
      try {
        callKernel(withWorkspace(this.posted[index], ints[layout.backgroundWorkspace]));
        this.backgroundCalls[state] = 1;
      } catch (error) {
        if (index >= reportFrom && index < joined) {
          // Reported here, so not again by a later join.
          this.backgroundCalls[state] = 3;
          failure ??= error;
        } else {
          // Another ticket's call (posted before this one, or claimed past its end while a worker
          // raced): failed as on a worker, for that ticket's join to report, whose caller would
          // otherwise read outputs that were never written.
          this.backgroundCalls[state] = 2;
        }
      }
    }
    for (let index = first; index < joined; index++) awaitNonZero(this.backgroundCalls, index * layout.entryInts + layout.state);
    try {
      for (let index = reportFrom; index < joined; index++) {
        const state = index * layout.entryInts + layout.state;
        if (this.backgroundCalls[state] !== 2) continue;
        this.backgroundCalls[state] = 3;
        failedOnWorker ??= this.posted[index];
      }
      if (failure !== undefined) throw failure;
      if (failedOnWorker) {
        // A kernel fails the same way on any thread (a trap is deterministic): repeat the call
        // here to throw its own error.
        callKernel(withWorkspace(failedOnWorker, ints[layout.backgroundWorkspace]));
        throw new Error(`gradscope: kernel ${failedOnWorker.kernel} failed on a worker thread but not on the calling thread`);
      }
    } finally {
      if (!ticket) {
        for (let index = 0; index < joined; index++) {
          if (this.backgroundCalls[index * layout.entryInts + layout.state] === 2) this.carried.push({ number: (base + index) | 0, call: this.posted[index] });
        }
        this.posted.length = 0;
        Atomics.store(ints, layout.backgroundBase, end);
      }
    }
  }

  // The first carried failure of `ticket`'s calls (of any call without one), carried no longer.
  private takeCarried(ticket: BackgroundTicket | undefined): BackgroundCall | undefined {
    const ofTicket = ({ number }: { number: number }) => !ticket || (((number - ticket.first) | 0) >= 0 && ((ticket.end - number) | 0) > 0);
    const taken = this.carried.find(ofTicket);
    this.carried = this.carried.filter((entry) => !ofTicket(entry));
    return taken?.call;
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
    if (Atomics.load(this.ints, layout.ready) === this.workers.length) this.settle(undefined, false);
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

// Spins briefly, then sleeps, until the background entry's state at `at` is not 0 (the worker
// that finishes it notifies it).
function awaitNonZero(entries: Int32Array, at: number): void {
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(entries, at) === 0 && performance.now() < spinUntil);
  while (Atomics.load(entries, at) === 0) Atomics.wait(entries, at, 0);
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
