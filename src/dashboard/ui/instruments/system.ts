// The training process: throughput, CPU, memory and event-loop delay (the SystemMonitor callback).
import { seriesKey } from "../../../store/seriesKeys.ts";
import { fixed } from "./chartBoard.ts";
import { lineCharts } from "./lineCharts.ts";

/** The system charts (keys: the `system` family). */
export const system = lineCharts([
  {
    id: "system",
    title: "System: throughput and CPU",
    place: "bottom",
    lines: fixed([
      { key: seriesKey.system("steps_per_second"), label: "steps/s" },
      { key: seriesKey.system("cpu_percent"), label: "CPU %", right: true },
    ]),
  },
  {
    id: "memory",
    title: "System: memory and event-loop delay",
    place: "bottom",
    lines: fixed([
      { key: seriesKey.system("rss_mb"), label: "RSS MB" },
      { key: seriesKey.system("event_loop_delay_ms"), label: "loop delay ms (p99)", right: true },
    ]),
  },
]);
