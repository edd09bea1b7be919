// The page's first module (index.html lists it before main.js): while the rest of the modules
// load, it asks for the run list, the runs the page will show and the shown run's alpha
// distribution (a round trip each on a cold page, and the one answer that takes the server a scan
// of every step), so that main.js finds the answers waiting.
import type { RunSummary } from "../api.ts";
import { prefetchFirstLoad } from "./client.ts";

/** The runs picked in the address (#run=ID&compare=ID,ID), so a reload or a shared link shows the same view. */
export function addressedRuns(): { primary: string | null; compared: Set<string> } {
  const hash = new URLSearchParams(location.hash.slice(1));
  return { primary: hash.get("run"), compared: new Set((hash.get("compare") ?? "").split(",").filter(Boolean)) };
}

/** The run to show: the one asked for if it exists, else the first running one, else the first. */
export function primaryRun(runs: RunSummary[], wanted: string | null): string | null {
  if (runs.some((r) => r.id === wanted)) return wanted;
  return (runs.find((r) => r.status === "running") ?? runs[0])?.id ?? null;
}

function prefetchPrimary(id: string): void {
  prefetchFirstLoad.run(id);
  prefetchFirstLoad.alphaDistribution(id);
}

const { primary, compared } = addressedRuns();
if (primary) prefetchPrimary(primary);
for (const id of compared) prefetchFirstLoad.run(id);
prefetchFirstLoad.runs().then(
  ({ runs }) => {
    const shown = primaryRun(runs, primary);
    if (shown && shown !== primary) prefetchPrimary(shown);
  },
  () => undefined,
);
