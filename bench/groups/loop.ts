// The Fashion-MNIST MLP example's epoch through the Trainer, at 1 thread and at all threads
// (epochs alternating between the two), and the share of it outside the model's kernels.
import { type LoopEpoch, loopOverhead } from "../loop.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { allThreads, type ThreadRole, threadsOf } from "../threadCount.ts";
import { median } from "../timing.ts";

const epochsEach = 5;

// Two warm-up epochs (one per count), then `epochsEach` at each count, alternating.
const epochs = once(async () => {
  const counts = Array.from({ length: 2 * (epochsEach + 1) }, (_, i) => (i % 2 === 0 ? 1 : allThreads));
  const { epochs, steps } = await loopOverhead(counts);
  const measured = epochs.slice(2);
  const atParity = (parity: number) => measured.filter((_, i) => i % 2 === parity);
  return { steps, "1 thread": atParity(0), "all threads": atParity(1) };
});

const overheadShare = (epoch: LoopEpoch) => (epoch.epochMs - epoch.kernelMs) / epoch.epochMs;

function epochRows(threads: ThreadRole): BenchRow[] {
  const name = "Fashion-MNIST MLP epoch through the Trainer";
  const count = threadsOf(threads);
  return [
    {
      name: `${name}, ${threads}`,
      threads: count,
      measure: async () => {
        const timed = await epochs();
        const ms = median(timed[threads].map((e) => e.epochMs));
        const oneMs = median(timed["1 thread"].map((e) => e.epochMs));
        return {
          value: ms,
          unit: "ms",
          digits: 0,
          ratio: threads === "1 thread" ? undefined : { value: oneMs / ms, of: "1 thread" },
          note: `${timed.steps} steps, median of ${epochsEach} epochs`,
        };
      },
    },
    {
      name: `${name}, share outside forward, loss, backward and the optimizer, ${threads}`,
      threads: count,
      measure: async () => ({ value: 100 * median((await epochs())[threads].map(overheadShare)), unit: "% of the epoch (loop overhead)" }),
    },
  ];
}

export const loopGroup: BenchGroup = { name: "loop", rows: [...epochRows("1 thread"), ...epochRows("all threads")] };
