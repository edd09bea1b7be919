// Line charts (uPlot) with min/max bands, EMA, log toggles and x-axes linked across the page.
import uPlot from "uplot";
import { ema, formatNumber, themeColor, tickLabels, toCsv } from "./format.ts";
import { createPanel, type Panel } from "./panel.ts";
import { attachPanZoom } from "./panZoom.ts";

/** One line: its points, and optionally the min/max of each bucket it was reduced from. */
export interface LineSeries {
  label: string;
  color: string;
  steps: number[];
  values: Array<number | null>;
  min?: Array<number | null>;
  max?: Array<number | null>;
  /** Plot against the right-hand axis. */
  right?: boolean;
  /** Smooth with the page's EMA setting (loss-like series). */
  smooth?: boolean;
  /** Dash pattern (overlaid runs draw their second and later lines dashed). */
  dash?: number[];
}

/** Keeps the x-ranges of all line charts equal: zooming one zooms all (and reloads their data). */
export class XAxisLink {
  readonly charts = new Set<LineChart>();
  range: [number, number] | null = null;
  private propagating = false;

  constructor(private readonly onChange: (range: [number, number] | null) => void) {}

  /** Shows `range` on every chart without reloading their data: a pan or zoom in progress. */
  preview(range: [number, number]): void {
    this.range = range;
    for (const chart of this.charts) chart.applyRange(range);
  }

  /** A user zoomed one chart to `range` (null: all steps). */
  changed(source: LineChart | null, range: [number, number] | null): void {
    if (this.propagating) return;
    this.propagating = true;
    this.range = range;
    for (const chart of this.charts) if (chart !== source) chart.applyRange(range);
    this.propagating = false;
    this.onChange(range);
  }
}

const HEIGHT = 190;

/** The fewest buckets a chart asks the server for, however narrow it is drawn. */
export const MIN_CHART_BUCKETS = 200;

/**
 * A uPlot chart in its own panel. `setSeries` replaces the lines (rebuilding the chart only when
 * their number, names or axes change), so live updates stay cheap; a chart scrolled out of view
 * keeps its lines but redraws only when it comes back (the browser's rendering competes with
 * training for the same cores).
 */
export class LineChart {
  readonly panel: Panel;
  private plot: uPlot | null = null;
  private series: LineSeries[] = [];
  private signature = "";
  private log: boolean;
  private smoothing = 0;
  private readonly resize: ResizeObserver;
  private readonly visibility: IntersectionObserver;
  // The body's width as of the last layout; reading clientWidth after another chart changed the
  // page forces a layout, once per chart while a run's charts are built.
  private bodyWidth = 0;
  private visible = true;
  private stale = false;

  constructor(
    parent: HTMLElement,
    readonly id: string,
    readonly title: string,
    private readonly link: XAxisLink,
    private readonly options: { log?: boolean; rightLabel?: string; yRange?: [number, number]; height?: number } = {},
  ) {
    this.log = options.log ?? false;
    this.panel = createPanel(parent, id, title, { png: () => this.plot?.ctx.canvas ?? null, csv: () => this.csv() });
    this.panel
      .button("log", "logarithmic y-axis", (b) => {
        this.log = !this.log;
        b.classList.toggle("on", this.log);
        this.rebuild();
      })
      .classList.toggle("on", this.log);
    link.charts.add(this);
    // Observing starts with a call for the size the chart was just built at: redrawing then
    // would only repeat the first drawing.
    this.resize = new ResizeObserver(() => {
      this.bodyWidth = this.panel.body.clientWidth;
      if (this.plot && this.plot.width !== this.width()) this.plot.setSize({ width: this.width(), height: this.options.height ?? HEIGHT });
    });
    this.resize.observe(this.panel.body);
    this.visibility = new IntersectionObserver(
      ([entry]) => {
        this.visible = entry.isIntersecting;
        if (this.visible && this.stale) this.draw(true);
      },
      { rootMargin: "200px" },
    );
    this.visibility.observe(this.panel.element);
  }

  /** Replaces the lines. */
  setSeries(series: LineSeries[]): void {
    this.series = series;
    // What the chart holds, for scripts and the browser tests.
    this.panel.element.dataset.points = String(series.reduce((n, s) => n + s.values.filter((v) => v !== null).length, 0));
    this.panel.element.dataset.lastStep = String(Math.max(-1, ...series.map((s) => s.steps[s.steps.length - 1] ?? -1)));
    this.draw(false);
  }

  /** Applies the page's EMA weight to smoothed lines. */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    if (this.series.some((s) => s.smooth)) this.draw(false);
  }

  /** Shows `range` of steps (null: all). */
  applyRange(range: [number, number] | null): void {
    if (!this.plot) return;
    if (range) this.plot.setScale("x", { min: range[0], max: range[1] });
    else this.draw(false);
  }

  // Puts the lines on the canvas: at once when the chart is in view or was never drawn (so a
  // full-page screenshot has every chart), otherwise once it scrolls back into view.
  private draw(reshowing: boolean): void {
    if (!this.visible && this.plot && !reshowing) {
      this.stale = true;
      return;
    }
    this.stale = false;
    const signature = this.series.map((s) => `${s.label}|${s.color}|${s.right ? 1 : 0}|${s.dash ?? ""}`).join(";");
    if (signature !== this.signature || !this.plot) {
      this.signature = signature;
      this.rebuild();
    } else this.plot.setData(this.data(), this.link.range === null);
  }

  /** Removes the chart from the page. */
  destroy(): void {
    this.resize.disconnect();
    this.visibility.disconnect();
    this.plot?.destroy();
    this.link.charts.delete(this);
    this.panel.element.remove();
  }

  /** How many buckets to ask the server for: about one per horizontal pixel. */
  width(): number {
    return Math.max(MIN_CHART_BUCKETS, this.bodyWidth || this.panel.body.clientWidth || 400);
  }

  private data(): uPlot.AlignedData {
    const tables: uPlot.AlignedData[] = this.series.map((s) => {
      const values = s.smooth ? ema(s.values, this.smoothing) : s.values;
      return [s.steps, this.log ? values.map((v) => (v !== null && v > 0 ? v : null)) : values] as uPlot.AlignedData;
    });
    if (tables.length === 0) return [[]];
    return tables.length === 1 ? tables[0] : uPlot.join(tables);
  }

  private rebuild(): void {
    this.plot?.destroy();
    const text = themeColor("--text");
    const grid = themeColor("--grid");
    const axis = (scale: string, side?: number): uPlot.Axis => ({
      scale,
      side,
      stroke: text,
      grid: { stroke: grid, width: 1, show: side === undefined },
      ticks: { stroke: grid },
      size: 56,
      values: (_u, splits) => tickLabels(splits),
    });
    const hasRight = this.series.some((s) => s.right);
    const yScale = (): uPlot.Scale => (this.log ? { distr: 3 } : this.options.yRange ? { range: this.options.yRange } : {});
    const options: uPlot.Options = {
      width: this.width(),
      height: this.options.height ?? HEIGHT,
      scales: { x: { time: false }, y: yScale(), ...(hasRight ? { right: yScale() } : {}) },
      axes: [{ stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } }, axis("y"), ...(hasRight ? [axis("right", 1)] : [])],
      series: [
        { label: "step" },
        ...this.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          dash: s.dash,
          width: 1.5,
          scale: s.right ? "right" : "y",
          spanGaps: true,
          value: (_u: uPlot, v: number | null) => formatNumber(v),
        })),
      ],
      cursor: { sync: { key: "gradscope" }, drag: { x: true, y: false } },
      legend: { live: true },
      hooks: {
        draw: [(u) => this.drawBands(u)],
        // The steps shown, for scripts and the browser tests.
        setScale: [
          (u, key) => {
            if (key === "x") this.panel.element.dataset.xRange = `${Math.round(u.scales.x.min ?? 0)},${Math.round(u.scales.x.max ?? 0)}`;
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            this.link.changed(this, [Math.floor(min), Math.ceil(max)]);
          },
        ],
      },
    };
    this.plot = new uPlot(options, this.data(), this.panel.body);
    if (this.link.range) this.plot.setScale("x", { min: this.link.range[0], max: this.link.range[1] });
    this.plot.over.addEventListener("dblclick", () => this.link.changed(this, null));
    attachPanZoom(
      this.plot,
      (range) => this.link.preview(range),
      (range) => this.link.changed(null, [Math.floor(range[0]), Math.ceil(range[1])]),
    );
  }

  // The min/max of every bucket, drawn as a band behind the line, so that spikes survive
  // downsampling.
  private drawBands(u: uPlot): void {
    const ctx = u.ctx;
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    for (const s of this.series) {
      if (!s.min || !s.max || s.min.every((v, i) => v === s.max?.[i])) continue;
      const scale = s.right ? "right" : "y";
      const top: Array<[number, number]> = [];
      const bottom: Array<[number, number]> = [];
      for (let i = 0; i < s.steps.length; i++) {
        const lo = s.min[i];
        const hi = s.max[i];
        if (lo === null || hi === null || (this.log && lo <= 0)) continue;
        const x = u.valToPos(s.steps[i], "x", true);
        top.push([x, u.valToPos(hi, scale, true)]);
        bottom.push([x, u.valToPos(lo, scale, true)]);
      }
      if (top.length < 2) continue;
      ctx.beginPath();
      ctx.moveTo(top[0][0], top[0][1]);
      for (const [x, y] of top) ctx.lineTo(x, y);
      for (let i = bottom.length - 1; i >= 0; i--) ctx.lineTo(bottom[i][0], bottom[i][1]);
      ctx.closePath();
      ctx.globalAlpha = 0.22;
      ctx.fillStyle = s.color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    ctx.restore();
  }

  private csv(): string {
    const data = this.data();
    return toCsv(
      ["step", ...this.series.map((s) => s.label)],
      data.map((column) => Array.from(column as ArrayLike<number | null>)),
    );
  }
}
