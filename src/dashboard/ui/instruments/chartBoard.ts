// The line charts of every instrument, kept together: their series are loaded in one batch per
// run and window, reloaded together when any chart is zoomed (their x-axes are linked), and
// extended from the live stream once per batch of rows, one redraw per frame.
import type { BucketedSeries, Changes, ListSeries } from "../../api.ts";
import { api, background, type Window } from "../client.ts";
import { seriesColor } from "../format.ts";
import { LineChart, type LineSeries, MIN_CHART_BUCKETS, XAxisLink } from "../lineChart.ts";
import { appendEntry, appendPoint } from "../liveSeries.ts";
import type { Keys, Place, Shown } from "./instrument.ts";

/** A line of a chart: a scalar key, or a per-parameter list reduced to one total. */
export interface LineSpec {
  key: string;
  label: string;
  /** How a list's per-parameter values make the total (norms: root of the sum of squares). */
  total?: "rss" | "sum";
  right?: boolean;
  smooth?: boolean;
  /** A list shown one line per parameter (the per-layer views). */
  perParameter?: boolean;
}

/** A line chart: its panel's id and title, where it goes, and its lines for a run's keys. */
export interface ChartSpec {
  id: string;
  title: string;
  place: Place;
  lines: (keys: Keys) => LineSpec[];
  log?: boolean;
  yRange?: [number, number];
}

/** Lines that do not depend on what a run logged. */
export const fixed = (lines: LineSpec[]) => () => lines;

const cacheKey = (run: string, key: string) => `${run}\t${key}`;
const has = (keys: Keys, line: LineSpec) => (line.total || line.perParameter ? keys.lists : keys.scalars).includes(line.key);
const total = (values: number[], how: "rss" | "sum") => (how === "sum" ? values.reduce((s, v) => s + v, 0) : Math.sqrt(values.reduce((s, v) => s + v * v, 0)));

type Runs = Pick<Shown, "runs" | "keysOf" | "current">;

/** The page's line charts, whichever instrument added them. */
export class ChartBoard {
  private shown: Runs = { runs: [], keysOf: () => ({ scalars: [], lists: [], histograms: [] }), current: () => false };
  private readonly charts = new Map<string, { chart: LineChart; spec: ChartSpec }>();
  private readonly scalars = new Map<string, BucketedSeries>();
  private readonly lists = new Map<string, ListSeries>();
  private readonly dirty = new Set<string>();
  private readonly reloading = new Set<string>();
  private readonly link = new XAxisLink(() => background(this.reloadAll()));
  private smoothing = 0;
  private frame = 0;

  /** Starts a new show: the runs whose series the charts draw (their series so far are dropped). */
  show(shown: Runs): void {
    this.shown = shown;
    this.scalars.clear();
    this.lists.clear();
  }

  /** Adds a chart in `parent` if any shown run logged any of its lines; tells whether it did. */
  add(parent: HTMLElement, spec: ChartSpec): boolean {
    const anyHas = (line: LineSpec) => this.shown.runs.some((run) => has(this.shown.keysOf(run.id), line));
    if (!this.shown.runs.some((run) => spec.lines(this.shown.keysOf(run.id)).some(anyHas))) return false;
    const chart = new LineChart(parent, spec.id, spec.title, this.link, { log: spec.log, yRange: spec.yRange });
    this.charts.set(spec.id, { chart, spec });
    return true;
  }

  /** Removes a chart from the page. */
  remove(id: string): void {
    this.charts.get(id)?.chart.destroy();
    this.charts.delete(id);
  }

  /** The last point of a primary run's scalar series, as loaded and extended live. */
  latest(key: string): { value: number | null; step?: number } {
    const series = this.series(key);
    const n = series?.steps.length ?? 0;
    return n ? { value: (series as BucketedSeries).last[n - 1], step: (series as BucketedSeries).steps[n - 1] } : { value: null };
  }

  /** The primary run's scalar series for `key`, if a chart loaded it. */
  series(key: string): BucketedSeries | undefined {
    return this.scalars.get(cacheKey(this.shown.runs[0]?.id ?? "", key));
  }

  /** Extends the loaded series by the live rows; the charts they changed redraw at the next frame. */
  apply(changes: Changes): void {
    const shown = new Set(this.shown.runs.map((r) => r.id));
    const changed = new Set<string>();
    const buckets = Math.max(MIN_CHART_BUCKETS, ...[...this.charts.values()].map(({ chart }) => chart.width()));
    for (const [run, key, step, value] of changes.scalars) {
      const series = shown.has(run) && this.scalars.get(cacheKey(run, key));
      if (!series) continue;
      appendPoint(series, step, value, buckets);
      changed.add(key);
    }
    for (const [run, key, step, values] of changes.lists) {
      const series = shown.has(run) && this.lists.get(cacheKey(run, key));
      if (!series) continue;
      appendEntry(series, step, values, buckets);
      changed.add(key);
    }
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

  /** Loads every chart's series for the zoomed range (all steps when not zoomed). */
  async reloadAll(): Promise<void> {
    await Promise.all([...this.charts.keys()].map((id) => this.reloadChart(id)));
  }

  private markDirty(keys: ReadonlySet<string>): void {
    if (keys.size === 0) return;
    for (const [id, { spec }] of this.charts) {
      if (this.shown.runs.some((run) => spec.lines(this.shown.keysOf(run.id)).some((l) => keys.has(l.key)))) this.dirty.add(id);
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
    const { current } = this.shown;
    const window = this.window(entry.chart);
    const loads: Array<Promise<void>> = [];
    for (const run of this.shown.runs) {
      const keys = this.shown.keysOf(run.id);
      for (const line of entry.spec.lines(keys)) {
        if (!has(keys, line)) continue;
        const target = cacheKey(run.id, line.key);
        if (line.total || line.perParameter) loads.push(api.lists(run.id, line.key, window).then((s) => void this.lists.set(target, s)));
        else loads.push(api.scalars(run.id, line.key, window).then((s) => void this.scalars.set(target, s)));
      }
    }
    await Promise.all(loads);
    if (!current()) return;
    entry.chart.setSeries(this.compose(entry.spec));
    entry.chart.setSmoothing(this.smoothing);
  }

  // The chart's lines for every shown run: colored by line for one run, by run when overlaid
  // (later lines dashed).
  private compose(spec: ChartSpec): LineSeries[] {
    const out: LineSeries[] = [];
    const overlay = this.shown.runs.length > 1;
    this.shown.runs.forEach((run, r) => {
      const keys = this.shown.keysOf(run.id);
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
}
