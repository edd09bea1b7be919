// Cockpit's hyperparameter panel: the learning rate, and every hyperparameter a schedule moves.
import { SERIES_PREFIXES, seriesKey, seriesName } from "../../../store/seriesKeys.ts";
import { lineCharts } from "./lineCharts.ts";

/**
 * The hyperparameters (keys: the trainer's `lr`, and the `hyper` family on the right axis; the
 * epoch's `lr` repeats the trainer's and is not drawn).
 */
export const hyperparameters = lineCharts(
  [
    {
      id: "hyperparameters",
      title: "Hyperparameters",
      place: "bottom",
      lines: (keys) => [
        { key: seriesKey.train("lr"), label: "lr" },
        ...keys.scalars.filter((key) => key.startsWith(SERIES_PREFIXES.hyper)).map((key) => ({ key, label: seriesName(key), right: true })),
      ],
    },
  ],
  [seriesKey.epoch("lr")],
);
