// The per-layer views: every per-parameter quantity one line per parameter, and GradHist1d's
// per-parameter histograms at the step the gradient histogram shows.

import { seriesName } from "../../../store/seriesKeys.ts";
import type { HistogramAtStep } from "../../api.ts";
import { drawHistogram1d } from "../canvas.ts";
import { api } from "../client.ts";
import { fixed } from "./chartBoard.ts";
import { GRADIENT_HISTOGRAM, type GradientHistogram } from "./gradientHistogram.ts";
import { type Canvas, canvasPanel, histogramCsv, type Instrument, type Keys, type Places, type Shown } from "./instrument.ts";
import { LineChartsInstrument } from "./lineCharts.ts";

// GradHist1d's per-parameter histograms (option per_parameter): `${LAYER_HISTOGRAM}<parameter>`.
const LAYER_HISTOGRAM = `${GRADIENT_HISTOGRAM}/`;

/** Per-parameter charts of the primary run's lists, and its per-parameter gradient histograms. */
class PerLayer implements Instrument {
  private readonly charts: LineChartsInstrument;
  /** Per-parameter gradient histograms by key, at the step the 1-D histogram shows. */
  private readonly histograms = new Map<string, HistogramAtStep | undefined>();
  private readonly canvases: Canvas[] = [];
  // The last step asked for, a new object per request (for another run, the same step is a new request).
  private wanted: { step: number } | null = null;
  private loading = false;

  constructor(
    private readonly shown: Shown,
    private readonly gradientHistogram: GradientHistogram,
  ) {
    this.charts = new LineChartsInstrument(
      shown,
      shown.primaryKeys.lists.map((key) => {
        const name = seriesName(key);
        return { id: `layers-${name}`, title: `${name} per parameter`, place: "layers", log: true, lines: fixed([{ key, label: name, perParameter: true }]) };
      }),
    );
    gradientHistogram.onStep((step) => this.loadHistograms(step));
  }

  claims(keys: Keys): string[] {
    // The per-parameter histograms follow the gradient histogram's slider: without it they are other histograms.
    const layered = this.shown.primaryKeys.histograms.includes(GRADIENT_HISTOGRAM) ? keys.histograms.filter((k) => k.startsWith(LAYER_HISTOGRAM)) : [];
    return [...this.charts.claims(keys), ...layered];
  }

  mount(places: Places): void {
    this.charts.mount(places);
    if (!this.gradientHistogram.mounted) return;
    // In the model's order, as the per-parameter lines are (the store lists keys sorted).
    const order = (key: string) => {
      const index = this.shown.primary.parameters?.indexOf(key.slice(LAYER_HISTOGRAM.length)) ?? -1;
      return index < 0 ? Number.MAX_SAFE_INTEGER : index;
    };
    const keys = this.shown.primaryKeys.histograms.filter((k) => k.startsWith(LAYER_HISTOGRAM)).sort((a, b) => order(a) - order(b));
    for (const key of keys) this.addHistogram(places.layers, key);
  }

  // The histograms load with the step the gradient histogram shows (see onStep).
  load(): Promise<void> {
    return this.charts.load();
  }

  // New steps reach the gradient histogram, which then shows them here.
  apply(): void {}

  redraw(): void {
    for (const c of this.canvases) c.draw();
  }

  unmount(): void {
    this.charts.unmount();
    for (const c of this.canvases) c.panel.element.remove();
  }

  private addHistogram(parent: HTMLElement, key: string): void {
    const name = key.slice(LAYER_HISTOGRAM.length);
    this.histograms.set(key, undefined);
    const c = canvasPanel(parent, `layer-${key}`, `${name} gradient histogram`, () => {
      const h = this.histograms.get(key);
      return h ? histogramCsv(h) : "";
    });
    c.draw = () => {
      const h = this.histograms.get(key);
      if (h) drawHistogram1d(c.canvas, h, `${name} gradient element`);
    };
    this.canvases.push(c);
  }

  // A dragged slider asks for many steps: while one load runs, only the last step asked for
  // waits, and is loaded next.
  private async loadHistograms(step: number): Promise<void> {
    this.wanted = { step };
    if (this.loading) return;
    this.loading = true;
    try {
      let loaded: { step: number } | null = null;
      while (this.wanted !== loaded && this.wanted) {
        loaded = this.wanted;
        await this.loadHistogramsAt(loaded.step);
      }
    } finally {
      this.loading = false;
    }
  }

  private async loadHistogramsAt(step: number): Promise<void> {
    const keys = [...this.histograms.keys()];
    if (keys.length === 0) return;
    const found = await api.histograms(this.shown.primary.id, keys, step);
    if (!this.shown.current()) return;
    for (const key of keys) this.histograms.set(key, found[key]);
    this.redraw();
  }
}

/** The per-layer views, following `gradientHistogram`'s step (keys: every per-parameter list, and GradHist1d's parts). */
export const perLayer = (shown: Shown, gradientHistogram: GradientHistogram): Instrument => new PerLayer(shown, gradientHistogram);
