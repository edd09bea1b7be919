// A sweep's trials as parallel coordinates: one vertical axis per parameter and one for the
// metric, one polyline per trial, coloured by its metric (the best brightest). Trials stopped
// early are dashed in the muted colour; those without a metric (running, failed) end at the last
// parameter axis.
import type { TrialSummary } from "../api.ts";
import { line, surface } from "./canvas.ts";
import { formatNumber, ramp, themeColor } from "./format.ts";

/** How one parameter was searched (the sweep file's entry), as far as the axis needs it. */
export interface ParameterSpec {
  values?: unknown[];
  min?: number;
  max?: number;
  distribution?: string;
}

interface Axis {
  title: string;
  /** Where a value sits on the axis, 0 (bottom) to 1 (top); null when the trial has none. */
  position(value: unknown): number | null;
  /** The labels at the bottom and top. */
  ends: [string, string];
}

const key = (value: unknown) => JSON.stringify(value);

// A parameter's axis: categories evenly spaced (its `values`, in the file's order), or a linear or
// logarithmic scale over the values tried (logarithmic where the search was log-uniform).
function parameterAxis(title: string, spec: ParameterSpec | undefined, values: unknown[]): Axis {
  const numeric = values.length > 0 && values.every((v) => typeof v === "number" && Number.isFinite(v));
  if (!numeric || spec?.values) {
    const categories = [...new Set([...(spec?.values ?? []), ...values].map(key))];
    const at = (v: unknown) => {
      const i = categories.indexOf(key(v));
      return i < 0 ? null : categories.length === 1 ? 0.5 : i / (categories.length - 1);
    };
    return { title, position: at, ends: [categories[0] ?? "", categories.at(-1) ?? ""] };
  }
  const numbers = values as number[];
  const log = spec?.distribution === "log_uniform" && numbers.every((v) => v > 0);
  const f = log ? Math.log : (v: number) => v;
  const lo = Math.min(...numbers, spec?.min ?? Number.POSITIVE_INFINITY);
  const hi = Math.max(...numbers, spec?.max ?? Number.NEGATIVE_INFINITY);
  const position = (v: unknown) => (typeof v !== "number" ? null : hi === lo ? 0.5 : (f(v) - f(lo)) / (f(hi) - f(lo)));
  return { title, position, ends: [formatNumber(lo), formatNumber(hi)] };
}

/**
 * Draws the trials on `canvas`; `goal` says whether a smaller or larger metric is better.
 * Returns the number of trials drawn.
 */
export function drawParallelCoordinates(
  canvas: HTMLCanvasElement,
  trials: TrialSummary[],
  parameters: Record<string, ParameterSpec>,
  metric: { name: string; goal: "minimize" | "maximize" },
  best: number | null,
): number {
  const names = [...new Set([...Object.keys(parameters), ...trials.flatMap((t) => Object.keys(t.params))])];
  const axes = names.map((name) =>
    parameterAxis(
      name,
      parameters[name],
      trials.map((t) => t.params[name]),
    ),
  );
  const metrics = trials.flatMap((t) => (t.metric === null ? [] : [t.metric]));
  const [lo, hi] = [Math.min(...metrics), Math.max(...metrics)];
  const metricAt = (v: unknown) => (typeof v !== "number" ? null : hi === lo ? 0.5 : (v - lo) / (hi - lo));
  axes.push({ title: metric.name, position: metricAt, ends: metrics.length ? [formatNumber(lo), formatNumber(hi)] : ["", ""] });

  const { ctx, width, height } = surface(canvas, 260);
  const [top, bottom, side] = [28, height - 22, 48];
  const x = (i: number) => side + (axes.length === 1 ? 0 : (i * (width - 2 * side)) / (axes.length - 1));
  const y = (p: number) => bottom - p * (bottom - top);
  // Better metrics towards 1, for the colour.
  const quality = (m: number) => {
    const t = metricAt(m) ?? 0.5;
    return metric.goal === "maximize" ? t : 1 - t;
  };

  // Drawn worst first, so the good trials lie on top; the best last of all.
  const order = [...trials].sort((a, b) =>
    a.number === best ? 1 : b.number === best ? -1 : (a.metric === null ? -1 : quality(a.metric)) - (b.metric === null ? -1 : quality(b.metric)),
  );
  let drawn = 0;
  for (const trial of order) {
    const values = [...names.map((name) => trial.params[name]), trial.metric];
    const stopped = trial.status === "stopped";
    ctx.setLineDash(stopped || trial.metric === null ? [4, 3] : []);
    ctx.strokeStyle = stopped || trial.metric === null ? themeColor("--muted") : ramp(0.15 + 0.85 * quality(trial.metric));
    ctx.lineWidth = trial.number === best ? 3 : 1.3;
    ctx.beginPath();
    let started = false;
    values.forEach((value, i) => {
      const p = axes[i].position(value);
      if (p === null) return;
      if (started) ctx.lineTo(x(i), y(p));
      else ctx.moveTo(x(i), y(p));
      started = true;
    });
    if (started) {
      ctx.stroke();
      drawn++;
    }
  }
  ctx.setLineDash([]);
  ctx.lineWidth = 1;
  ctx.strokeStyle = themeColor("--border");
  ctx.fillStyle = themeColor("--text");
  ctx.textAlign = "center";
  axes.forEach((axis, i) => {
    line(ctx, x(i), top, x(i), bottom);
    ctx.fillText(axis.title, x(i), 12);
    ctx.fillStyle = themeColor("--muted");
    ctx.fillText(axis.ends[1], x(i), top - 4);
    ctx.fillText(axis.ends[0], x(i), bottom + 14);
    ctx.fillStyle = themeColor("--text");
  });
  return drawn;
}
