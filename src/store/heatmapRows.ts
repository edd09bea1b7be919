import type { HeatmapRows } from "./runReader.ts";

/**
 * A heatmap over steps from the stored histograms of each bucket (step, edges and counts as
 * JSON), as both readers fetch them in their own SQL; a 2-D histogram's key is refused.
 */
export function heatmapFrom(key: string, rows: ReadonlyArray<readonly [step: number, edgesJson: string, countsJson: string]>): HeatmapRows {
  const out: HeatmapRows = { steps: [], ranges: [], counts: [] };
  for (const [step, edgesJson, countsJson] of rows) {
    const edges = JSON.parse(edgesJson) as unknown[];
    if (Array.isArray(edges[0])) throw new RangeError(`${key} is a 2-D histogram; a heatmap over steps needs a 1-D one`);
    out.steps.push(step);
    out.ranges.push([edges[0] as number, edges[edges.length - 1] as number]);
    out.counts.push(JSON.parse(countsJson));
  }
  return out;
}
