// Cockpit's 2-D histogram of gradient elements against parameter values, at the newest step.
import { seriesKey } from "../../../store/seriesKeys.ts";
import type { HistogramAtStep } from "../../api.ts";
import { drawHistogram2d } from "../canvas.ts";
import { api } from "../client.ts";
import { toCsv } from "../format.ts";
import { canvasInstrument } from "./canvasInstrument.ts";

const KEY = seriesKey.quantity("GradHist2d");

/** The primary run's newest 2-D gradient histogram, with its marginals (key: the GradHist2d quantity). */
export const histogram2d = canvasInstrument<HistogramAtStep>({
  key: KEY,
  kind: "histograms",
  place: "gradients",
  id: "hist-2d",
  title: "Gradient vs parameter histogram",
  fetch: (runId) => api.histogram(runId, KEY),
  draw: drawHistogram2d,
  csv: (h) => {
    const [xEdges, yEdges] = h.edges as number[][];
    return toCsv(
      ["x_lo", ...yEdges.slice(0, -1).map((y) => `y_${y}`)],
      [xEdges.slice(0, -1), ...yEdges.slice(0, -1).map((_, iy) => (h.counts as number[][]).map((row) => row[iy]))],
    );
  },
});
