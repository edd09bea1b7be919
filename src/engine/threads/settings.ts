import { availableParallelism } from "node:os";
import { engineMemory } from "../memory.ts";
import { type BackgroundCall, type BackgroundTicket, callKernel, type KernelCall, ThreadPool, withWorkspace } from "./pool.ts";

let chosen: number | undefined;
let pool: ThreadPool | undefined;

function parseThreads(value: unknown, source: string): number {
  const count = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof count !== "number" || !Number.isInteger(count) || count < 1) {
    throw new RangeError(`gradscope: ${source} must be a whole number of threads >= 1, got ${JSON.stringify(value)}`);
  }
  return count;
}

/**
 * The number of threads the engine's kernels run on: set by `setThreads`, else the environment
 * variable GRADSCOPE_THREADS, else `os.availableParallelism()`.
 */
export function threadCount(): number {
  if (chosen === undefined) {
    const fromEnvironment = process.env.GRADSCOPE_THREADS;
    chosen = fromEnvironment === undefined || fromEnvironment === "" ? availableParallelism() : parseThreads(fromEnvironment, "GRADSCOPE_THREADS");
  }
  return chosen;
}

/**
 * Sets the number of threads the engine's kernels run on (1: the calling thread only, no
 * workers). Results are bit-identical at any count; only speed changes.
 */
export function setThreads(count: number): void {
  chosen = parseThreads(count, "setThreads(count)");
}

/**
 * Runs the calls on the engine's threads, each on whichever claims it first, and returns when
 * all are done. Workers start at the first call that needs them; a pool started for more
 * threads serves fewer, so changing the count back and forth does not restart workers.
 */
export function runParallel(calls: KernelCall[]): void {
  const threads = threadCount();
  poolOf(threads).run(calls, threads);
}

function poolOf(threads: number): ThreadPool {
  if (!pool || pool.threads < threads) {
    pool?.close();
    pool = new ThreadPool(threads);
  }
  return pool;
}

/**
 * Starts the calls on the engine's worker threads, to run while the calling thread goes on
 * (ThreadPool.post), and returns their ticket; or runs them now on one thread (null). Their
 * outputs may be read, and their inputs and outputs freed, only after `awaitBackground`.
 */
export function runInBackground(calls: BackgroundCall[], workspaceBytes: number): BackgroundTicket | null {
  const threads = threadCount();
  if (threads === 1) {
    for (const call of calls) callKernel(withWorkspace(call, engineMemory.workspace(workspaceBytes)));
    return null;
  }
  return poolOf(threads).post(calls, workspaceBytes, threads);
}

/** Returns when the calls of `ticket` (null: calls `runInBackground` ran at once) are done. */
export function awaitBackground(ticket: BackgroundTicket | null): void {
  ticket?.pool.join(ticket);
}

/** Returns when every call started by `runInBackground` is done (at once when none is running). */
export function awaitAllBackground(): void {
  pool?.join();
}

/**
 * Runs `part(start, end)`'s call for each range, in parallel when there are several, on the
 * calling thread alone when there is one.
 */
export function runRanges(ranges: ReadonlyArray<[start: number, end: number]>, part: (start: number, end: number, thread: number) => KernelCall): void {
  const calls = ranges.map(([start, end], thread) => part(start, end, thread));
  if (calls.length === 1) callKernel(calls[0]);
  else if (calls.length > 1) runParallel(calls);
}
