// Cockpit's CURVATURE column: the top Hessian eigenvalue, the Hessian trace and the TIC.
import { seriesKey } from "../../../store/seriesKeys.ts";
import { fixed } from "./chartBoard.ts";
import { lineCharts } from "./lineCharts.ts";

const quantity = seriesKey.quantity;

/** The curvature charts (keys: the HessMaxEV, HessTrace, TICDiag and TICTrace quantities). */
export const curvature = lineCharts([
  { id: "max-ev", title: "Top Hessian eigenvalue", place: "curvature", log: true, lines: fixed([{ key: quantity("HessMaxEV"), label: "λ_max" }]) },
  { id: "trace", title: "Hessian trace", place: "curvature", lines: fixed([{ key: quantity("HessTrace"), label: "tr H", total: "sum" }]) },
  {
    id: "tic",
    title: "Takeuchi information criterion",
    place: "curvature",
    lines: fixed([
      { key: quantity("TICDiag"), label: "TIC (diagonal)" },
      { key: quantity("TICTrace"), label: "TIC (trace)" },
    ]),
  },
]);
