// Cockpit's distance from the initial parameters and size of each update.
import { seriesKey } from "../../../store/seriesKeys.ts";
import { fixed } from "./chartBoard.ts";
import { lineCharts } from "./lineCharts.ts";

/** Distance and update size (keys: the Distance and UpdateSize quantities, per-parameter lists shown as their norm). */
export const distance = lineCharts([
  {
    id: "distance",
    title: "Distance from init / update size",
    place: "step-size",
    lines: fixed([
      { key: seriesKey.quantity("Distance"), label: "distance", total: "rss" },
      { key: seriesKey.quantity("UpdateSize"), label: "update size", total: "rss", right: true },
    ]),
  },
]);
