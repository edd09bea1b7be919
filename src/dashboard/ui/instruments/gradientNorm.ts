// Cockpit's gradient norm, or the trainer's when the GradNorm quantity is not logged.
import { seriesKey } from "../../../store/seriesKeys.ts";
import { lineCharts } from "./lineCharts.ts";

const QUANTITY = seriesKey.quantity("GradNorm");
const TRAINER = seriesKey.train("grad_norm");

/** The gradient norm (keys: the GradNorm quantity's per-parameter norms, else the trainer's `grad_norm`). */
export const gradientNorm = lineCharts(
  [
    {
      id: "grad-norm",
      title: "Gradient norm",
      place: "step-size",
      lines: (keys) => (keys.lists.includes(QUANTITY) ? [{ key: QUANTITY, label: "‖g‖", total: "rss" }] : [{ key: TRAINER, label: "‖g‖" }]),
    },
  ],
  [QUANTITY, TRAINER],
);
