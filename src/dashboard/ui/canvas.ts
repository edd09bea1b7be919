// Drawing on canvas for the instruments: a sharp surface, and the gradient histograms that
// several instruments draw (1-D, 2-D with marginals, and 1-D over time as a heatmap).
import type { HeatmapRows, HistogramAtStep } from "../api.ts";
import { formatNumber, ramp, themeColor } from "./format.ts";

interface Surface {
  ctx: CanvasRenderingContext2D;
  width: number;
  height: number;
}

/** Sizes the canvas to its CSS width at `height` CSS pixels, sharp on high-DPI screens. */
export function surface(canvas: HTMLCanvasElement, height: number): Surface {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(200, canvas.clientWidth || canvas.parentElement?.clientWidth || 400);
  canvas.style.height = `${height}px`;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = themeColor("--panel");
  ctx.fillRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, width, height };
}

/** Maps [lo, hi] onto [a, b] linearly. */
export const scale = (lo: number, hi: number, a: number, b: number) => (v: number) => a + ((v - lo) / (hi - lo)) * (b - a);

/** Strokes a line from (x0, y0) to (x1, y1). */
export function line(ctx: CanvasRenderingContext2D, x0: number, y0: number, x1: number, y1: number): void {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

const logScale = (most: number) => (c: number) => (c > 0 ? Math.log1p(c) / Math.log1p(most) : 0);

// Colored cells are painted as one path per color step (64 along the ramp): a handful of fills
// instead of a fillStyle change and a fill per cell, which made the heatmap the page's most
// expensive drawing.
const COLOR_STEPS = 64;
type Cell = [x: number, y: number, width: number, height: number, level: number];

function paintCells(ctx: CanvasRenderingContext2D, cells: Cell[]): void {
  const paths = new Map<number, Path2D>();
  for (const [x, y, w, h, level] of cells) {
    const step = Math.round(Math.min(1, Math.max(0, level)) * (COLOR_STEPS - 1));
    let path = paths.get(step);
    if (!path) {
      path = new Path2D();
      paths.set(step, path);
    }
    path.rect(x, y, w, h);
  }
  for (const [step, path] of paths) {
    ctx.fillStyle = ramp(step / (COLOR_STEPS - 1));
    ctx.fill(path);
  }
}

/** A 1-D histogram on a log count axis (the GradHist1d instrument). */
export function drawHistogram1d(canvas: HTMLCanvasElement, h: HistogramAtStep, label: string): void {
  const { ctx, width, height } = surface(canvas, 200);
  const edges = h.edges as number[];
  const counts = h.counts as number[];
  const pad = { left: 10, right: 10, top: 18, bottom: 30 };
  const x = scale(edges[0], edges[edges.length - 1], pad.left, width - pad.right);
  const most = Math.max(1, ...counts);
  const level = logScale(most);
  const y = scale(0, 1, height - pad.bottom, pad.top);
  ctx.fillStyle = themeColor("--primary");
  counts.forEach((c, i) => {
    const top = y(level(c));
    ctx.fillRect(x(edges[i]), top, Math.max(1, x(edges[i + 1]) - x(edges[i]) - 0.5), y(0) - top);
  });
  ctx.strokeStyle = themeColor("--grid");
  line(ctx, pad.left, y(0), width - pad.right, y(0));
  ctx.fillStyle = themeColor("--text");
  ctx.textAlign = "center";
  for (const v of [edges[0], (edges[0] + edges[edges.length - 1]) / 2, edges[edges.length - 1]]) ctx.fillText(formatNumber(v), x(v), height - pad.bottom + 13);
  ctx.fillText(label, width / 2, height - 3);
  ctx.textAlign = "left";
  ctx.fillStyle = themeColor("--muted");
  ctx.fillText(`step ${h.step} · log count, max ${formatNumber(most)}`, pad.left, 12);
}

/**
 * The 2-D histogram of gradient elements (x) against parameter values (y) on a log color scale,
 * with both marginal histograms.
 */
export function drawHistogram2d(canvas: HTMLCanvasElement, h: HistogramAtStep): void {
  const { ctx, width, height } = surface(canvas, 260);
  const [xEdges, yEdges] = h.edges as number[][];
  const counts = h.counts as number[][];
  const margin = 40;
  const pad = { left: 44, right: 8 + margin, top: 16 + margin, bottom: 30 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const nx = counts.length;
  const ny = counts[0]?.length ?? 0;
  const most = Math.max(1, ...counts.map((row) => Math.max(...row)));
  const level = logScale(most);
  const cellW = plotW / nx;
  const cellH = plotH / ny;
  ctx.fillStyle = themeColor("--bg");
  ctx.fillRect(pad.left, pad.top, plotW, plotH);
  const cells: Cell[] = [];
  for (let ix = 0; ix < nx; ix++) {
    for (let iy = 0; iy < ny; iy++) {
      if (counts[ix][iy] > 0) cells.push([pad.left + ix * cellW, pad.top + (ny - 1 - iy) * cellH, Math.ceil(cellW), Math.ceil(cellH), level(counts[ix][iy])]);
    }
  }
  paintCells(ctx, cells);
  const xMarginal = counts.map((row) => row.reduce((s, c) => s + c, 0));
  const yMarginal = Array.from({ length: ny }, (_, iy) => counts.reduce((s, row) => s + row[iy], 0));
  ctx.fillStyle = themeColor("--primary");
  const xLevel = logScale(Math.max(1, ...xMarginal));
  xMarginal.forEach((c, ix) => {
    const barHeight = xLevel(c) * (margin - 6);
    ctx.fillRect(pad.left + ix * cellW, pad.top - 4 - barHeight, Math.max(1, cellW - 1), barHeight);
  });
  const yLevel = logScale(Math.max(1, ...yMarginal));
  yMarginal.forEach((c, iy) => {
    ctx.fillRect(pad.left + plotW + 4, pad.top + (ny - 1 - iy) * cellH, yLevel(c) * (margin - 6), Math.max(1, cellH - 1));
  });
  ctx.fillStyle = themeColor("--text");
  ctx.textAlign = "center";
  ctx.fillText(formatNumber(xEdges[0]), pad.left, height - pad.bottom + 13);
  ctx.fillText(formatNumber(xEdges[nx]), pad.left + plotW, height - pad.bottom + 13);
  ctx.fillText("gradient element", pad.left + plotW / 2, height - 3);
  ctx.textAlign = "right";
  ctx.fillText(formatNumber(yEdges[ny]), pad.left - 4, pad.top + 8);
  ctx.fillText(formatNumber(yEdges[0]), pad.left - 4, pad.top + plotH);
  ctx.save();
  ctx.translate(12, pad.top + plotH / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText("parameter value", 0, 0);
  ctx.restore();
  ctx.textAlign = "left";
  ctx.fillStyle = themeColor("--muted");
  ctx.fillText(`step ${h.step}`, 4, 12);
}

/**
 * 1-D histograms over time: one column per row of `rows` (steps left to right), bins bottom to
 * top over the union of the rows' ranges, log count as color; `marker` outlines the column of
 * the step the slider picked. Returns the column's step under an x position, for clicks.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, rows: HeatmapRows, marker?: number): (x: number) => number | undefined {
  const { ctx, width, height } = surface(canvas, 200);
  const pad = { left: 44, right: 8, top: 8, bottom: 26 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  if (rows.steps.length === 0) return () => undefined;
  const lo = Math.min(...rows.ranges.map((r) => r[0]));
  const hi = Math.max(...rows.ranges.map((r) => r[1]));
  const y = scale(lo, hi, pad.top + plotH, pad.top);
  const most = Math.max(1, ...rows.counts.map((c) => Math.max(...c)));
  const level = logScale(most);
  const columnW = plotW / rows.steps.length;
  const cells: Cell[] = [];
  rows.counts.forEach((counts, column) => {
    const [rlo, rhi] = rows.ranges[column];
    const binH = (rhi - rlo) / counts.length;
    counts.forEach((c, bin) => {
      if (c <= 0) return;
      const top = y(rlo + (bin + 1) * binH);
      cells.push([pad.left + column * columnW, top, Math.ceil(columnW), Math.ceil(y(rlo + bin * binH) - top), level(c)]);
    });
  });
  paintCells(ctx, cells);
  const markerColumn = marker === undefined ? -1 : rows.steps.findIndex((s) => s >= marker);
  if (markerColumn >= 0) {
    ctx.strokeStyle = themeColor("--primary");
    ctx.lineWidth = 2;
    ctx.strokeRect(pad.left + markerColumn * columnW, pad.top, Math.max(2, columnW), plotH);
    ctx.lineWidth = 1;
  }
  ctx.fillStyle = themeColor("--text");
  ctx.textAlign = "right";
  ctx.fillText(formatNumber(hi), pad.left - 4, pad.top + 8);
  ctx.fillText(formatNumber(lo), pad.left - 4, pad.top + plotH);
  ctx.textAlign = "center";
  ctx.fillText(`step ${rows.steps[0]}`, pad.left + 30, height - 10);
  ctx.fillText(`step ${rows.steps[rows.steps.length - 1]}`, width - pad.right - 30, height - 10);
  return (px: number) => rows.steps[Math.min(rows.steps.length - 1, Math.max(0, Math.floor((px - pad.left) / columnW)))];
}
