// The view of the shown runs: Cockpit's three columns of instruments, the hyperparameter and
// performance panels, per-layer charts and a generic chart for every other quantity; loaded
// through the API, then kept current from the live stream.
import type { BucketedSeries, Changes, HeatmapRows, HistogramAtStep, ListSeries, RunResponse, RunSummary, ValueDistribution } from "../api.ts";
import { ALPHA_KEY, api, background, sendScalarBatches, type Window } from "./client.ts";
import { seriesColor, toCsv } from "./format.ts";
import { drawAlphaGauge, drawGradientTests, drawHeatmap, drawHistogram1d, drawHistogram2d } from "./instruments.ts";
import { LineChart, type LineSeries, MIN_CHART_BUCKETS, XAxisLink } from "./lineChart.ts";
import { appendEntry, appendPoint } from "./liveSeries.ts";
import { createPanel, type Panel } from "./panel.ts";

type Keys = RunResponse["keys"];
type Place = "step-size" | "gradients" | "curvature" | "bottom" | "layers" | "other";

/** A line of a chart: a scalar key, or a per-parameter list reduced to one total. */
interface LineSpec {
  key: string;
  label: string;
  /** How a list's per-parameter values make the total (norms: root of the sum of squares). */
  total?: "rss" | "sum";
  right?: boolean;
  smooth?: boolean;
  /** A list shown one line per parameter (the per-layer views). */
  perParameter?: boolean;
}

interface ChartSpec {
  id: string;
  title: string;
  place: Place;
  lines: (keys: Keys) => LineSpec[];
  log?: boolean;
  yRange?: [number, number];
}

const Q = "quantities/";
const fixed = (lines: LineSpec[]) => () => lines;

const chartSpecs: ChartSpec[] = [
  {
    id: "distance",
    title: "Distance from init / update size",
    place: "step-size",
    lines: fixed([
      { key: `${Q}Distance`, label: "distance", total: "rss" },
      { key: `${Q}UpdateSize`, label: "update size", total: "rss", right: true },
    ]),
  },
  {
    id: "grad-norm",
    title: "Gradient norm",
    place: "step-size",
    lines: (keys) => (keys.lists.includes(`${Q}GradNorm`) ? [{ key: `${Q}GradNorm`, label: "‖g‖", total: "rss" }] : [{ key: "train/grad_norm", label: "‖g‖" }]),
  },
  {
    id: "gradient-tests-history",
    title: "Gradient tests over steps",
    place: "gradients",
    log: true,
    lines: fixed([
      { key: `${Q}NormTest`, label: "norm" },
      { key: `${Q}InnerTest`, label: "inner" },
      { key: `${Q}OrthoTest`, label: "ortho" },
    ]),
  },
  {
    // Not log-scaled: the per-step estimate is often negative (see GradientNoiseScale).
    id: "noise-scale",
    title: "Gradient noise scale B_simple",
    place: "gradients",
    lines: fixed([
      { key: `${Q}GradientNoiseScale`, label: "per step" },
      { key: `${Q}GradientNoiseScale/smoothed`, label: "smoothed (EMA)" },
    ]),
  },
  { id: "max-ev", title: "Top Hessian eigenvalue", place: "curvature", log: true, lines: fixed([{ key: `${Q}HessMaxEV`, label: "λ_max" }]) },
  { id: "trace", title: "Hessian trace", place: "curvature", lines: fixed([{ key: `${Q}HessTrace`, label: "tr H", total: "sum" }]) },
  {
    id: "tic",
    title: "Takeuchi information criterion",
    place: "curvature",
    lines: fixed([
      { key: `${Q}TICDiag`, label: "TIC (diagonal)" },
      { key: `${Q}TICTrace`, label: "TIC (trace)" },
    ]),
  },
  {
    id: "hyperparameters",
    title: "Hyperparameters",
    place: "bottom",
    lines: (keys) => [{ key: "train/lr", label: "lr" }, ...keys.scalars.filter((k) => k.startsWith("hyper/")).map((k) => ({ key: k, label: k.slice(6), right: true }))],
  },
  {
    id: "loss",
    title: "Loss",
    place: "bottom",
    lines: fixed([
      { key: "train/loss", label: "mini-batch", smooth: true },
      { key: "epoch/loss", label: "train (epoch)" },
      { key: "epoch/val_loss", label: "validation" },
    ]),
  },
  {
    id: "accuracy",
    title: "Accuracy",
    place: "bottom",
    yRange: [0, 1],
    lines: fixed([
      { key: "epoch/accuracy", label: "train" },
      { key: "epoch/val_accuracy", label: "validation" },
    ]),
  },
  {
    id: "system",
    title: "System: throughput and CPU",
    place: "bottom",
    lines: fixed([
      { key: "system/steps_per_second", label: "steps/s" },
      { key: "system/cpu_percent", label: "CPU %", right: true },
    ]),
  },
  {
    id: "memory",
    title: "System: memory and event-loop delay",
    place: "bottom",
    lines: fixed([
      { key: "system/rss_mb", label: "RSS MB" },
      { key: "system/event_loop_delay_ms", label: "loop delay ms (p99)", right: true },
    ]),
  },
];

// Keys the instruments above (or the canvases) show, or that are bookkeeping.
const claimed = new Set([
  ...chartSpecs.flatMap((spec) => spec.lines({ scalars: [], lists: [`${Q}GradNorm`], histograms: [] }).map((l) => l.key)),
  "train/grad_norm",
  // Cockpit's Loss quantity is the mini-batch loss the loss panel shows every step.
  `${Q}Loss`,
  ALPHA_KEY,
  `${Q}GradHist1d`,
  `${Q}GradHist2d`,
  "epoch/epoch",
  "epoch/epoch_seconds",
  "epoch/lr",
]);

// GradHist1d's per-parameter histograms (option per_parameter): `${LAYER_HISTOGRAM}<parameter>`.
const LAYER_HISTOGRAM = `${Q}GradHist1d/`;

const cacheKey = (run: string, key: string) => `${run}\t${key}`;
const histogramCsv = (h: HistogramAtStep) => toCsv(["bin_lo", "bin_hi", "count"], [(h.edges as number[]).slice(0, -1), (h.edges as number[]).slice(1), h.counts as number[]]);
const has = (keys: Keys, line: LineSpec) => (line.total || line.perParameter ? keys.lists : keys.scalars).includes(line.key);
const total = (values: number[], how: "rss" | "sum") => (how === "sum" ? values.reduce((s, v) => s + v, 0) : Math.sqrt(values.reduce((s, v) => s + v * v, 0)));

interface Canvas {
  panel: Panel;
  canvas: HTMLCanvasElement;
  draw: () => void;
}

function canvasPanel(parent: HTMLElement, id: string, title: string, csv: () => string): Canvas {
  let canvas: HTMLCanvasElement | null = null;
  const panel = createPanel(parent, id, title, { png: () => canvas, csv });
  canvas = document.createElement("canvas");
  canvas.className = "instrument";
  panel.body.append(canvas);
  return { panel, canvas, draw: () => {} };
}

/** Runs one action at most every `ms`, the last request winning. */
function throttle(ms: number, action: () => void): () => void {
  let timer: number | null = null;
  let last = 0;
  return () => {
    if (timer !== null) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = window.setTimeout(() => {
      timer = null;
      last = performance.now();
      action();
    }, wait);
  };
}

/** Everything shown for the primary run and the runs overlaid on it. */
export class CockpitView {
  private runs: RunSummary[] = [];
  private keys = new Map<string, Keys>();
  private readonly charts = new Map<string, { chart: LineChart; spec: ChartSpec }>();
  private readonly canvases = new Map<string, Canvas>();
  private readonly scalars = new Map<string, BucketedSeries>();
  private readonly lists = new Map<string, ListSeries>();
  private readonly dirty = new Set<string>();
  private readonly reloading = new Set<string>();
  private readonly link: XAxisLink;
  private smoothing = 0;
  private frame = 0;
  private generation = 0;
  private histogram: { steps: number[]; following: boolean; shown?: HistogramAtStep; heatmap?: HeatmapRows; slider?: HTMLInputElement; label?: HTMLElement } = {
    steps: [],
    following: true,
  };
  private hist2d?: HistogramAtStep;
  private alpha?: ValueDistribution;
  private readonly otherHistograms = new Map<string, HistogramAtStep>();
  /** Per-parameter gradient histograms by key, at the step the 1-D histogram shows. */
  private readonly layerHistograms = new Map<string, HistogramAtStep | undefined>();
  // The last step asked for, a new object per request (for another run, the same step is a new request).
  private layerWanted: { step: number } | null = null;
  private layerLoading = false;
  private readonly refreshAlpha = throttle(1000, () => background(this.loadAlpha()));
  private readonly refreshHistograms = throttle(1000, () => background(this.loadHistograms()));
  private readonly refreshHeatmap = throttle(3000, () => background(this.loadHeatmap()));
  private readonly relayout = throttle(2000, () => this.onNewKeys());

  /** @param onNewKeys called when a shown run logs a key the view has no place for yet. */
  constructor(
    private readonly root: {
      columns: Record<"step-size" | "gradients" | "curvature", HTMLElement>;
      bottom: HTMLElement;
      layers: HTMLElement;
      other: HTMLElement;
      cockpit: HTMLElement;
    },
    private readonly onNewKeys: () => void,
  ) {
    this.link = new XAxisLink(() => background(this.reloadAll()));
    window.addEventListener(
      "resize",
      throttle(200, () => this.redrawCanvases()),
    );
  }

  /** Shows `primary` (all instruments) with `compared` runs overlaid on its line charts. */
  async show(primary: RunSummary, compared: RunSummary[]): Promise<void> {
    const generation = ++this.generation;
    const runs = [primary, ...compared];
    const responses = await Promise.all(runs.map((r) => api.run(r.id)));
    if (generation !== this.generation) return;
    this.clear();
    this.runs = responses.map((r) => r.run);
    for (const r of responses) this.keys.set(r.run.id, r.keys);
    const primaryKeys = responses[0].keys;
    const anyHas = (line: LineSpec) => this.runs.some((run) => has(this.keys.get(run.id) as Keys, line));
    const places: Record<Place, HTMLElement> = { ...this.root.columns, bottom: this.root.bottom, layers: this.root.layers, other: this.root.other };
    const addChart = (spec: ChartSpec) => {
      if (!this.runs.some((run) => spec.lines(this.keys.get(run.id) as Keys).some(anyHas))) return;
      const chart = new LineChart(places[spec.place], spec.id, spec.title, this.link, { log: spec.log, yRange: spec.yRange });
      this.charts.set(spec.id, { chart, spec });
    };
    const scalar = (key: string) => primaryKeys.scalars.includes(key);
    if (scalar(ALPHA_KEY)) this.addAlphaGauge(places["step-size"]);
    for (const spec of chartSpecs.filter((s) => s.place === "step-size")) addChart(spec);
    if ([`${Q}NormTest`, `${Q}InnerTest`, `${Q}OrthoTest`].some(scalar)) this.addGradientTestsGauge(places.gradients);
    for (const spec of chartSpecs.filter((s) => s.place === "gradients")) addChart(spec);
    if (primaryKeys.histograms.includes(`${Q}GradHist1d`)) this.addHistogramViews(places.gradients, `${Q}GradHist1d`);
    if (primaryKeys.histograms.includes(`${Q}GradHist2d`)) this.addHistogram2d(places.gradients);
    for (const spec of chartSpecs.filter((s) => s.place === "curvature" || s.place === "bottom")) addChart(spec);
    for (const key of primaryKeys.lists) {
      const name = key.replace(Q, "");
      addChart({ id: `layers-${name}`, title: `${name} per parameter`, place: "layers", log: true, lines: fixed([{ key, label: name, perParameter: true }]) });
    }
    for (const key of primaryKeys.scalars.filter((k) => !claimed.has(k) && !k.startsWith("hyper/"))) {
      addChart({ id: `other-${key}`, title: key, place: "other", lines: fixed([{ key, label: key.replace(/^\w+\//, "") }]) });
    }
    if (this.canvases.has("hist-1d")) {
      // In the model's order, as the per-parameter lines are (the store lists keys sorted).
      const order = (key: string) => {
        const index = primary.parameters?.indexOf(key.slice(LAYER_HISTOGRAM.length)) ?? -1;
        return index < 0 ? Number.MAX_SAFE_INTEGER : index;
      };
      const layerKeys = primaryKeys.histograms.filter((k) => k.startsWith(LAYER_HISTOGRAM)).sort((a, b) => order(a) - order(b));
      for (const key of layerKeys) this.addLayerHistogram(places.layers, key);
    }
    for (const key of primaryKeys.histograms.filter((k) => !claimed.has(k) && !this.layerHistograms.has(k))) this.addOtherHistogram(places.other, key);
    for (const [place, element] of Object.entries(places)) element.hidden = element.querySelector(".panel") === null && place !== "bottom";
    this.root.cockpit.hidden = Object.values(this.root.columns).every((c) => c.hidden);
    const charts = this.reloadAll();
    // The line charts' series first: the page draws them while the server computes the rest.
    sendScalarBatches();
    await Promise.all([charts, this.loadAlpha(), this.loadHistograms(), this.loadHeatmap()]);
    if (generation === this.generation) this.redrawCanvases();
  }

  /** Applies what the live stream brought. */
  apply(changes: Changes): void {
    const shown = new Set(this.runs.map((r) => r.id));
    const primary = this.runs[0]?.id;
    const changed = new Set<string>();
    let unknown = false;
    let alpha = false;
    let tests = false;
    const buckets = Math.max(MIN_CHART_BUCKETS, ...[...this.charts.values()].map(({ chart }) => chart.width()));
    for (const [run, key, step, value] of changes.scalars) {
      if (!shown.has(run)) continue;
      alpha ||= run === primary && key === ALPHA_KEY;
      tests ||= run === primary && /^quantities\/\w+Test$/.test(key);
      const series = this.scalars.get(cacheKey(run, key));
      if (series) {
        appendPoint(series, step, value, buckets);
        changed.add(key);
      } else if (!this.keys.get(run)?.scalars.includes(key)) unknown = true;
    }
    for (const [run, key, step, values] of changes.lists) {
      if (!shown.has(run)) continue;
      const series = this.lists.get(cacheKey(run, key));
      if (series) {
        appendEntry(series, step, values, buckets);
        changed.add(key);
      } else if (!this.keys.get(run)?.lists.includes(key)) unknown = true;
    }
    for (const [run, key, step] of changes.histograms) {
      if (run !== primary) continue;
      if (!this.keys.get(run)?.histograms.includes(key)) unknown = true;
      if (key === `${Q}GradHist1d`) {
        this.histogram.steps.push(step);
        this.updateSlider();
        this.refreshHeatmap();
      }
      this.refreshHistograms();
    }
    if (unknown) this.relayout();
    // One redraw per batch of rows, however many points it brought.
    if (alpha) this.refreshAlpha();
    if (tests) this.canvases.get("gradient-tests")?.draw();
    this.markDirty(changed);
  }

  /** Sets the EMA weight of smoothed lines. */
  setSmoothing(weight: number): void {
    this.smoothing = weight;
    for (const { chart } of this.charts.values()) chart.setSmoothing(weight);
  }

  /** Shows all steps again. */
  resetZoom(): void {
    this.link.changed(null, null);
  }

  private clear(): void {
    for (const { chart } of this.charts.values()) chart.destroy();
    for (const c of this.canvases.values()) c.panel.element.remove();
    this.charts.clear();
    this.canvases.clear();
    this.scalars.clear();
    this.lists.clear();
    this.keys.clear();
    this.otherHistograms.clear();
    this.layerHistograms.clear();
    this.histogram = { steps: [], following: true };
    this.hist2d = undefined;
    this.alpha = undefined;
  }

  private markDirty(keys: ReadonlySet<string>): void {
    if (keys.size === 0) return;
    for (const [id, { spec }] of this.charts) {
      if (this.runs.some((run) => spec.lines(this.keys.get(run.id) as Keys).some((l) => keys.has(l.key)))) this.dirty.add(id);
    }
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flushDirty());
  }

  private flushDirty(): void {
    this.frame = 0;
    for (const id of this.dirty) {
      const entry = this.charts.get(id);
      if (!entry) continue;
      const series = this.compose(entry.spec);
      // Live points arrive one per step; past a few per pixel, reload the reduced series instead.
      const longest = Math.max(0, ...series.map((s) => s.steps.length));
      if (this.link.range === null && longest > 4 * entry.chart.width()) {
        if (!this.reloading.has(id)) background(this.reloadChart(id));
      } else entry.chart.setSeries(series);
    }
    this.dirty.clear();
  }

  private window(chart: LineChart): Window {
    const range = this.link.range;
    return { from: range?.[0], to: range?.[1], buckets: chart.width() };
  }

  private async reloadAll(): Promise<void> {
    await Promise.all([...this.charts.keys()].map((id) => this.reloadChart(id)));
  }

  private async reloadChart(id: string): Promise<void> {
    const entry = this.charts.get(id);
    if (!entry) return;
    this.reloading.add(id);
    try {
      await this.loadChart(entry);
    } finally {
      this.reloading.delete(id);
    }
  }

  private async loadChart(entry: { chart: LineChart; spec: ChartSpec }): Promise<void> {
    const generation = this.generation;
    const window = this.window(entry.chart);
    const loads: Array<Promise<void>> = [];
    for (const run of this.runs) {
      const keys = this.keys.get(run.id) as Keys;
      for (const line of entry.spec.lines(keys)) {
        if (!has(keys, line)) continue;
        const target = cacheKey(run.id, line.key);
        if (line.total || line.perParameter) loads.push(api.lists(run.id, line.key, window).then((s) => void this.lists.set(target, s)));
        else loads.push(api.scalars(run.id, line.key, window).then((s) => void this.scalars.set(target, s)));
      }
    }
    await Promise.all(loads);
    if (generation !== this.generation) return;
    entry.chart.setSeries(this.compose(entry.spec));
    entry.chart.setSmoothing(this.smoothing);
  }

  // The chart's lines for every shown run: colored by line for one run, by run when overlaid
  // (later lines dashed).
  private compose(spec: ChartSpec): LineSeries[] {
    const out: LineSeries[] = [];
    const overlay = this.runs.length > 1;
    this.runs.forEach((run, r) => {
      const keys = this.keys.get(run.id) as Keys;
      spec.lines(keys).forEach((line, l) => {
        if (!has(keys, line)) return;
        const base = { right: line.right, smooth: line.smooth, dash: overlay && l > 0 ? [6, 4] : undefined };
        const label = overlay ? `${run.id} · ${line.label}` : line.label;
        if (line.perParameter) {
          if (r > 0) return;
          const series = this.lists.get(cacheKey(run.id, line.key));
          const width = series?.values[0]?.length ?? 0;
          for (let p = 0; p < width; p++) {
            const values = series?.values.map((v) => v[p] ?? null) ?? [];
            out.push({ ...base, label: run.parameters?.[p] ?? `parameter ${p}`, color: seriesColor(p), steps: series?.steps ?? [], values });
          }
          return;
        }
        const color = seriesColor(overlay ? r : l);
        if (line.total) {
          const series = this.lists.get(cacheKey(run.id, line.key));
          const how = line.total;
          out.push({ ...base, label, color, steps: series?.steps ?? [], values: series?.values.map((v) => total(v, how)) ?? [] });
          return;
        }
        const series = this.scalars.get(cacheKey(run.id, line.key));
        out.push({ ...base, label, color, steps: series?.steps ?? [], values: series?.last ?? [], min: series?.min, max: series?.max });
      });
    });
    return out;
  }

  private addAlphaGauge(parent: HTMLElement): void {
    const c = canvasPanel(parent, "alpha", "Alpha: local step length", () => {
      const a = this.alpha;
      if (!a) return "";
      const binLo = a.all.map((_, i) => a.lo + (i * (a.hi - a.lo)) / a.all.length);
      return toCsv(["bin_lo", "all", "last_10_percent"], [binLo, a.all, a.last]);
    });
    c.draw = () => this.alpha && drawAlphaGauge(c.canvas, this.alpha);
    this.canvases.set("alpha", c);
  }

  private async loadAlpha(): Promise<void> {
    const primary = this.runs[0];
    if (!primary || !this.canvases.has("alpha")) return;
    const generation = this.generation;
    const alpha = await api.alphaDistribution(primary.id);
    if (generation !== this.generation) return;
    this.alpha = alpha;
    this.canvases.get("alpha")?.draw();
  }

  private latest(key: string): { value: number | null; step?: number } {
    const series = this.scalars.get(cacheKey(this.runs[0]?.id ?? "", key));
    const n = series?.steps.length ?? 0;
    return n ? { value: (series as BucketedSeries).last[n - 1], step: (series as BucketedSeries).steps[n - 1] } : { value: null };
  }

  private addGradientTestsGauge(parent: HTMLElement): void {
    const keys = ["NormTest", "InnerTest", "OrthoTest"].map((k) => `${Q}${k}`);
    const c = canvasPanel(parent, "gradient-tests", "Gradient tests", () => {
      const series = keys.map((k) => this.scalars.get(cacheKey(this.runs[0]?.id ?? "", k)));
      return toCsv(["step", "norm", "inner", "ortho"], [series[0]?.steps ?? [], ...series.map((s) => s?.last ?? [])]);
    });
    c.draw = () => {
      const [norm, inner, ortho] = keys.map((k) => this.latest(k));
      drawGradientTests(c.canvas, { norm: norm.value, inner: inner.value, ortho: ortho.value, step: norm.step ?? inner.step ?? ortho.step });
    };
    this.canvases.set("gradient-tests", c);
  }

  private addHistogramViews(parent: HTMLElement, key: string): void {
    const label = "gradient element";
    const hist = canvasPanel(parent, "hist-1d", "Gradient histogram", () => (this.histogram.shown ? histogramCsv(this.histogram.shown) : ""));
    hist.draw = () => this.histogram.shown && drawHistogram1d(hist.canvas, this.histogram.shown, label);
    const slider = document.createElement("div");
    slider.className = "slider";
    const input = document.createElement("input");
    input.type = "range";
    input.id = "hist-step";
    input.min = "0";
    input.step = "1";
    const text = document.createElement("span");
    slider.append("step", input, text);
    hist.panel.body.append(slider);
    input.addEventListener("input", () => {
      this.histogram.following = Number(input.value) === this.histogram.steps.length - 1;
      background(this.loadHistogramAt(key, this.histogram.steps[Number(input.value)]));
    });
    this.histogram.slider = input;
    this.histogram.label = text;
    this.canvases.set("hist-1d", hist);

    const heat = canvasPanel(parent, "hist-heatmap", "Gradient histogram over steps", () => {
      const h = this.histogram.heatmap;
      return h
        ? toCsv(
            ["step", "lo", "hi", ...(h.counts[0] ?? []).map((_, i) => `bin${i}`)],
            [h.steps, h.ranges.map((r) => r[0]), h.ranges.map((r) => r[1]), ...(h.counts[0] ?? []).map((_, i) => h.counts.map((c) => c[i]))],
          )
        : "";
    });
    let stepAt: (x: number) => number | undefined = () => undefined;
    heat.draw = () => {
      if (this.histogram.heatmap) stepAt = drawHeatmap(heat.canvas, this.histogram.heatmap, this.histogram.shown?.step);
    };
    heat.canvas.title = "click a column to show its histogram";
    heat.canvas.addEventListener("click", (event) => {
      const step = stepAt(event.offsetX);
      if (step === undefined) return;
      const index = this.histogram.steps.findLastIndex((s) => s <= step);
      input.value = String(Math.max(0, index));
      input.dispatchEvent(new Event("input"));
    });
    this.canvases.set("hist-heatmap", heat);
  }

  private updateSlider(): void {
    const { slider, steps, following } = this.histogram;
    if (!slider) return;
    slider.max = String(Math.max(0, steps.length - 1));
    if (following) slider.value = slider.max;
  }

  private async loadHistogramAt(key: string, step: number | undefined): Promise<void> {
    const primary = this.runs[0];
    if (!primary) return;
    const generation = this.generation;
    const shown = await api.histogram(primary.id, key, step);
    // A view shown meanwhile (another run, a theme change) has its own histograms.
    if (generation !== this.generation) return;
    this.histogram.shown = shown;
    if (this.histogram.label) this.histogram.label.textContent = String(shown.step);
    this.canvases.get("hist-1d")?.draw();
    this.canvases.get("hist-heatmap")?.draw();
    await this.loadLayerHistograms(shown.step);
  }

  // The per-parameter histograms at the step the 1-D histogram shows. A dragged slider asks for
  // many steps: while one load runs, only the last step asked for waits, and is loaded next.
  private async loadLayerHistograms(step: number): Promise<void> {
    this.layerWanted = { step };
    if (this.layerLoading) return;
    this.layerLoading = true;
    try {
      let loaded: { step: number } | null = null;
      while (this.layerWanted !== loaded && this.layerWanted) {
        loaded = this.layerWanted;
        await this.loadLayerHistogramsAt(loaded.step);
      }
    } finally {
      this.layerLoading = false;
    }
  }

  private async loadLayerHistogramsAt(step: number): Promise<void> {
    const primary = this.runs[0];
    if (!primary) return;
    const generation = this.generation;
    const keys = [...this.layerHistograms.keys()];
    if (keys.length === 0) return;
    const found = await api.histograms(primary.id, keys, step);
    if (generation !== this.generation) return;
    for (const key of keys) {
      this.layerHistograms.set(key, found[key]);
      this.canvases.get(`layer-${key}`)?.draw();
    }
  }

  private async loadHistograms(): Promise<void> {
    const primary = this.runs[0];
    if (!primary) return;
    const generation = this.generation;
    const current = () => generation === this.generation;
    const loads: Array<Promise<void>> = [];
    if (this.canvases.has("hist-1d")) {
      if (this.histogram.steps.length === 0) {
        loads.push(
          api.histogramSteps(primary.id, `${Q}GradHist1d`).then((steps) => {
            if (!current()) return;
            this.histogram.steps = steps;
            this.updateSlider();
          }),
        );
      }
      if (this.histogram.following) loads.push(this.loadHistogramAt(`${Q}GradHist1d`, undefined));
    }
    if (this.canvases.has("hist-2d")) {
      loads.push(
        api.histogram(primary.id, `${Q}GradHist2d`).then((h) => {
          if (!current()) return;
          this.hist2d = h;
          this.canvases.get("hist-2d")?.draw();
        }),
      );
    }
    for (const key of this.otherHistograms.keys()) {
      loads.push(
        api.histogram(primary.id, key).then((h) => {
          if (!current()) return;
          this.otherHistograms.set(key, h);
          this.canvases.get(`other-${key}`)?.draw();
        }),
      );
    }
    await Promise.all(loads);
    if (current()) this.updateSlider();
  }

  private async loadHeatmap(): Promise<void> {
    const primary = this.runs[0];
    const heat = this.canvases.get("hist-heatmap");
    if (!primary || !heat) return;
    const generation = this.generation;
    const heatmap = await api.heatmap(primary.id, `${Q}GradHist1d`, { buckets: Math.max(100, Math.floor(heat.canvas.clientWidth / 2)) });
    if (generation !== this.generation) return;
    this.histogram.heatmap = heatmap;
    heat.draw();
  }

  private addHistogram2d(parent: HTMLElement): void {
    const c = canvasPanel(parent, "hist-2d", "Gradient vs parameter histogram", () => {
      const h = this.hist2d;
      if (!h) return "";
      const [xEdges, yEdges] = h.edges as number[][];
      return toCsv(
        ["x_lo", ...yEdges.slice(0, -1).map((y) => `y_${y}`)],
        [xEdges.slice(0, -1), ...yEdges.slice(0, -1).map((_, iy) => (h.counts as number[][]).map((row) => row[iy]))],
      );
    });
    c.draw = () => this.hist2d && drawHistogram2d(c.canvas, this.hist2d);
    this.canvases.set("hist-2d", c);
  }

  private addLayerHistogram(parent: HTMLElement, key: string): void {
    const name = key.slice(LAYER_HISTOGRAM.length);
    this.layerHistograms.set(key, undefined);
    const c = canvasPanel(parent, `layer-${key}`, `${name} gradient histogram`, () => {
      const h = this.layerHistograms.get(key);
      return h ? histogramCsv(h) : "";
    });
    c.draw = () => {
      const h = this.layerHistograms.get(key);
      if (h) drawHistogram1d(c.canvas, h, `${name} gradient element`);
    };
    this.canvases.set(`layer-${key}`, c);
  }

  private addOtherHistogram(parent: HTMLElement, key: string): void {
    this.otherHistograms.set(key, { step: 0, edges: [], counts: [] });
    const c = canvasPanel(parent, `other-${key}`, key, () => JSON.stringify(this.otherHistograms.get(key)));
    c.draw = () => {
      const h = this.otherHistograms.get(key);
      if (!h || h.counts.length === 0) return;
      if (Array.isArray(h.counts[0])) drawHistogram2d(c.canvas, h);
      else drawHistogram1d(c.canvas, h, key);
    };
    this.canvases.set(`other-${key}`, c);
  }

  private redrawCanvases(): void {
    for (const c of this.canvases.values()) c.draw();
  }
}
