// The gradient noise scale B_simple (McCandlish et al. 2018), per step and smoothed.
import { seriesKey } from "../../../store/seriesKeys.ts";
import { fixed } from "./chartBoard.ts";
import { lineCharts } from "./lineCharts.ts";

/** The noise scale (keys: the GradientNoiseScale quantity and its `smoothed` part). */
export const noiseScale = lineCharts([
  {
    // Not log-scaled: the per-step estimate is often negative (see GradientNoiseScale).
    id: "noise-scale",
    title: "Gradient noise scale B_simple",
    place: "gradients",
    lines: fixed([
      { key: seriesKey.quantity("GradientNoiseScale"), label: "per step" },
      { key: seriesKey.quantity("GradientNoiseScale", "smoothed"), label: "smoothed (EMA)" },
    ]),
  },
]);
