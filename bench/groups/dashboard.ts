// The dashboard with a large store and while training streams into it (Debian's Chromium).
import { existsSync } from "node:fs";
import { dashboardAtScale, throughputWithDashboard } from "../dashboard.ts";
import { type BenchGroup, type BenchRow, type Measured, once } from "../registry.ts";
import { allThreads } from "../threadCount.ts";
import { median, quantile } from "../timing.ts";

const atScale = once(dashboardAtScale);
const throughput = once(() => throughputWithDashboard());

const spread = (values: number[]) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const deviation = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return `mean ${mean.toFixed(3)} ± ${(deviation / Math.sqrt(values.length)).toFixed(3)} (standard error) over ${values.length}, quartiles ${quantile(values, 0.25).toFixed(3)}–${quantile(values, 0.75).toFixed(3)}`;
};

// The dashboard's rows leave the engine alone; the training they watch is a child process at its
// default threads (all).
const row = (name: string, measure: () => Promise<Measured>): BenchRow => ({ name, threads: allThreads, measure });
const store = "5 runs × 20 quantities × 100 k steps in the store";

export const dashboardGroup: BenchGroup = {
  name: "dashboard",
  unavailable: () => (existsSync("/usr/bin/chromium") ? null : "needs Debian's Chromium at /usr/bin/chromium"),
  rows: [
    row(`dashboard first render of a run, ${store}`, async () => ({ value: median((await atScale()).firstRenderMs), unit: "ms", digits: 0, note: "median of 3 loads" })),
    // The first load meets a server and a page that have run nothing yet: what a user opening the
    // printed address sees.
    row(`dashboard first render of a run, the first load after the server started (cold), ${store}`, async () => ({
      value: (await atScale()).firstRenderMs[0],
      unit: "ms",
      digits: 0,
    })),
    row("dashboard longest frame while 20 values per step stream in at 50 steps/s", async () => {
      const { longestFrameMs, longTasks } = await atScale();
      return { value: longestFrameMs, unit: "ms", note: `${longTasks} tasks > 100 ms` };
    }),
    row("Fashion-MNIST MLP (SGD + economy) steps/s with the dashboard streaming in Chromium, against the same page frozen", async () => {
      const { streaming } = await throughput();
      return { value: median(streaming), unit: "x steps/s of the frozen windows (median)", digits: 3, note: spread(streaming) };
    }),
    row("Fashion-MNIST MLP steps/s in control windows, the page frozen in them too (the host's drift left over)", async () => {
      const { control } = await throughput();
      return { value: median(control), unit: "x steps/s of the frozen windows (median)", digits: 3, note: spread(control) };
    }),
    // What a frozen page still costs (its stream stays connected) shows in the trainer's waits for
    // a CPU, which, unlike step rates, the host's drift does not blur.
    ...(["none", "frozen", "streaming"] as const).map((kind) =>
      row(`Fashion-MNIST MLP trainer's wait for a CPU, ${kind === "none" ? "no page open" : `page ${kind}`} (median of 1 s windows)`, async () => {
        const { waitShare } = await throughput();
        return {
          value: 100 * waitShare[kind],
          unit: "% of the time",
          digits: 2,
          note: kind === "frozen" ? `${((1 - waitShare.frozen) / (1 - waitShare.none)).toFixed(3)}x throughput from the frozen page's waits` : undefined,
        };
      }),
    ),
  ],
};
