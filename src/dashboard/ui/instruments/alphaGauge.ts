// Cockpit's alpha gauge: where along each step the loss landed, as a local step length α.
import type { ValueDistribution } from "../../api.ts";
import { line, scale, surface } from "../canvas.ts";
import { ALPHA_KEY, api } from "../client.ts";
import { formatNumber, themeColor, toCsv } from "../format.ts";
import { canvasInstrument } from "./canvasInstrument.ts";

/**
 * The alpha gauge: the unit parabola of the local step length α ∈ [-1.5, 1.5] (α = 0 lands in
 * the minimum of the noise-free quadratic along the step, ±1 on the height it started from),
 * with histograms of all α and of the last 10 % (values outside are counted at the edges, and an
 * arrow says there are some).
 */
function drawAlphaGauge(canvas: HTMLCanvasElement, d: ValueDistribution): void {
  const { ctx, width, height } = surface(canvas, 220);
  const pad = { left: 36, right: 10, top: 22, bottom: 28 };
  const x = scale(d.lo, d.hi, pad.left, width - pad.right);
  const y = scale(0, 1.75, height - pad.bottom, pad.top);
  ctx.strokeStyle = themeColor("--grid");
  ctx.lineWidth = 1.5;
  for (const v of [-1, 0, 1]) line(ctx, x(v), y(0), x(v), y(1.75));
  line(ctx, x(d.lo), y(0), x(d.hi), y(0));
  ctx.lineWidth = 0.5;
  line(ctx, x(d.lo), y(1), x(d.hi), y(1));
  const binWidth = (width - pad.left - pad.right) / d.all.length;
  const bars = (counts: number[], color: string, alpha: number) => {
    const most = Math.max(1, ...counts);
    ctx.globalAlpha = alpha;
    ctx.fillStyle = color;
    counts.forEach((c, i) => {
      const top = y((c / most) * 1.5);
      ctx.fillRect(pad.left + i * binWidth, top, Math.max(1, binWidth - 1), y(0) - top);
    });
    ctx.globalAlpha = 1;
  };
  bars(d.all, themeColor("--muted"), 0.5);
  bars(d.last, themeColor("--primary"), 0.85);
  ctx.strokeStyle = themeColor("--secondary");
  ctx.lineWidth = 2;
  ctx.beginPath();
  for (let i = 0; i <= 100; i++) {
    const a = d.lo + ((d.hi - d.lo) * i) / 100;
    if (i === 0) ctx.moveTo(x(a), y(Math.min(1.75, a * a)));
    else ctx.lineTo(x(a), y(Math.min(1.75, a * a)));
  }
  ctx.stroke();
  ctx.fillStyle = themeColor("--text");
  ctx.textAlign = "center";
  for (const v of [-1.5, -1, -0.5, 0, 0.5, 1, 1.5]) ctx.fillText(String(v), x(v), height - pad.bottom + 14);
  ctx.fillText("local step length α", (pad.left + width - pad.right) / 2, height - 3);
  ctx.textAlign = "left";
  ctx.fillStyle = themeColor("--muted");
  ctx.fillText(`all (μ=${formatNumber(d.meanAll)}, n=${d.count})`, pad.left + 4, 12);
  ctx.fillStyle = themeColor("--primary");
  ctx.fillText(`last 10 % (μ=${formatNumber(d.meanLast)})`, pad.left + 170, 12);
  const arrow = (at: number, direction: number) => {
    ctx.beginPath();
    ctx.moveTo(at, y(0.3) - 6);
    ctx.lineTo(at + direction * 8, y(0.3));
    ctx.lineTo(at, y(0.3) + 6);
    ctx.fill();
  };
  if (d.above) arrow(width - pad.right - 9, 1);
  if (d.below) arrow(pad.left + 9, -1);
}

/** The alpha gauge of the primary run: the distribution of α over all steps and the last 10 % (key: the Alpha quantity). */
export const alphaGauge = canvasInstrument<ValueDistribution>({
  key: ALPHA_KEY,
  kind: "scalars",
  place: "step-size",
  id: "alpha",
  title: "Alpha: local step length",
  fetch: (runId) => api.alphaDistribution(runId),
  draw: drawAlphaGauge,
  csv: (a) => {
    const binLo = a.all.map((_, i) => a.lo + (i * (a.hi - a.lo)) / a.all.length);
    return toCsv(["bin_lo", "all", "last_10_percent"], [binLo, a.all, a.last]);
  },
});
