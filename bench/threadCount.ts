import { availableParallelism } from "node:os";
import { setThreads, threadCount } from "../src/engine/threads/settings.ts";
import { type BenchRow, once } from "./registry.ts";
import { interleavedMedianMs } from "./timing.ts";

/** "All threads" in the rows' names: one per core the OS offers this process. */
export const allThreads = availableParallelism();

/**
 * The two thread counts a row can run at, as its name says them. Rows are named by role, not
 * count, so that their names stay the same on any machine (and distinct on a one-core one).
 */
export type ThreadRole = "1 thread" | "all threads";

/** The engine's thread count for `role`. */
export const threadsOf = (role: ThreadRole): number => (role === "1 thread" ? 1 : allThreads);

/** `fn` wrapped to run with the engine at `threads` threads, restoring the count after. */
export function atThreads<A extends unknown[], R>(threads: number, fn: (...args: A) => R): (...args: A) => R {
  return (...args: A) => {
    const before = threadCount();
    setThreads(threads);
    try {
      return fn(...args);
    } finally {
      setThreads(before);
    }
  };
}

/** A workload timed at 1 thread and at all threads in turn (see interleavedMedianMs). */
export interface ThreadPairWorkload {
  /** The rows' names without the thread suffix. */
  name: string;
  unit: string;
  digits?: number;
  /** Builds the workload: one timed call (`run`), its value from the call's milliseconds, and the cleanup. */
  setup: () => { run: () => void; value: (ms: number) => number; dispose: () => void; note?: string };
  /** Timed rounds (7 unless said). */
  rounds?: number;
}

/**
 * The rows "<name>, 1 thread" and "<name>, all threads", measured together; the second's ratio
 * is its speed-up over the first (1-thread time / all-threads time).
 */
export function threadPairRows(workload: ThreadPairWorkload): BenchRow[] {
  const timed = once(() => {
    const { run, value, dispose, note } = workload.setup();
    const [oneMs, allMs] = interleavedMedianMs([atThreads(1, run), atThreads(allThreads, run)], workload.rounds ?? 7, 1);
    dispose();
    return { oneMs, allMs, value, note };
  });
  const { unit, digits } = workload;
  return [
    {
      name: `${workload.name}, 1 thread`,
      threads: 1,
      measure: () => {
        const { oneMs, value, note } = timed();
        return { value: value(oneMs), unit, digits, note };
      },
    },
    {
      name: `${workload.name}, all threads`,
      threads: allThreads,
      measure: () => {
        const { oneMs, allMs, value, note } = timed();
        return { value: value(allMs), unit, digits, ratio: { value: oneMs / allMs, of: "1 thread" }, note };
      },
    },
  ];
}
