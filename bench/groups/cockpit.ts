// Cockpit's configurations on the DeepOBS problems, per step, as ratios to the plain SGD step
// timed in turn with them: every configuration at every tracking interval on 1 thread, and
// economy and business at every step on all threads.
import { deepobsProblems, overheadRatio, quantityOverhead, type TrainingProblem, trackingIntervals } from "../quantities.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { allThreads, atThreads, type ThreadRole, threadsOf } from "../threadCount.ts";

const oneThreadConfigurations = ["economy", "business", "full"];
const allThreadsConfigurations = ["economy", "business"];

function problemRows(problem: TrainingProblem): BenchRow[] {
  const oneThread = once(() => atThreads(1, quantityOverhead)(problem, oneThreadConfigurations));
  const everyThread = once(() => atThreads(allThreads, quantityOverhead)(problem, allThreadsConfigurations, { duePairs: false }));
  const row = (configuration: string, every: number, threads: ThreadRole): BenchRow => ({
    name: `DeepOBS ${problem.name} ${configuration}, tracked every ${every === 1 ? "step" : `${every} steps`}, ${threads}`,
    threads: threadsOf(threads),
    measure: () => {
      const timings = threads === "1 thread" ? oneThread() : everyThread();
      const ratio = overheadRatio(timings, configuration, every);
      return { value: ratio * timings.plainMs, unit: "ms/step", ratio: { value: ratio, of: "the plain SGD step" }, note: `plain ${timings.plainMs.toFixed(1)} ms, batch 128` };
    },
  });
  return [
    ...oneThreadConfigurations.flatMap((configuration) => trackingIntervals.map((every) => row(configuration, every, "1 thread"))),
    ...allThreadsConfigurations.map((configuration) => row(configuration, 1, "all threads")),
  ];
}

export const cockpitGroup: BenchGroup = { name: "cockpit", rows: deepobsProblems.flatMap(problemRows) };
