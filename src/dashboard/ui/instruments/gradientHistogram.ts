// Cockpit's 1-D gradient histogram at a step (picked with a slider, or following the newest), and
// the histograms over steps as a heatmap whose columns pick the step too.

import { seriesKey } from "../../../store/seriesKeys.ts";
import type { Changes, HeatmapRows, HistogramAtStep } from "../../api.ts";
import { drawHeatmap, drawHistogram1d } from "../canvas.ts";
import { api, background } from "../client.ts";
import { toCsv } from "../format.ts";
import { throttle } from "../throttle.ts";
import { type Canvas, canvasPanel, histogramCsv, type Instrument, type Keys, type Places, type Shown } from "./instrument.ts";

/** The GradHist1d quantity's key. */
export const GRADIENT_HISTOGRAM = seriesKey.quantity("GradHist1d");

/** The 1-D gradient histogram and its heatmap over steps, of the primary run. */
export class GradientHistogram implements Instrument {
  private histogram?: Canvas;
  private heat?: Canvas;
  private slider?: HTMLInputElement;
  private label?: HTMLElement;
  private steps: number[] = [];
  private following = true;
  private shownHistogram?: HistogramAtStep;
  private heatmap?: HeatmapRows;
  private readonly stepListeners: Array<(step: number) => Promise<void>> = [];
  private readonly refreshHistogram = throttle(1000, () => background(this.loadHistogram()));
  private readonly refreshHeatmap = throttle(3000, () => background(this.loadHeatmap()));

  constructor(private readonly shown: Shown) {}

  /** Whether it shows anything (the primary run logged GradHist1d). */
  get mounted(): boolean {
    return this.histogram !== undefined;
  }

  /** Calls `listener` with each step the histogram shows, once it shows it; its load is part of the histogram's. */
  onStep(listener: (step: number) => Promise<void>): void {
    this.stepListeners.push(listener);
  }

  claims(keys: Keys): string[] {
    return keys.histograms.filter((key) => key === GRADIENT_HISTOGRAM);
  }

  mount(places: Places): void {
    if (!this.shown.primaryKeys.histograms.includes(GRADIENT_HISTOGRAM)) return;
    const label = "gradient element";
    const hist = canvasPanel(places.gradients, "hist-1d", "Gradient histogram", () => (this.shownHistogram ? histogramCsv(this.shownHistogram) : ""));
    hist.draw = () => this.shownHistogram && drawHistogram1d(hist.canvas, this.shownHistogram, label);
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
      this.following = Number(input.value) === this.steps.length - 1;
      background(this.loadHistogramAt(this.steps[Number(input.value)]));
    });
    this.slider = input;
    this.label = text;
    this.histogram = hist;

    const heat = canvasPanel(places.gradients, "hist-heatmap", "Gradient histogram over steps", () => {
      const h = this.heatmap;
      return h
        ? toCsv(
            ["step", "lo", "hi", ...(h.counts[0] ?? []).map((_, i) => `bin${i}`)],
            [h.steps, h.ranges.map((r) => r[0]), h.ranges.map((r) => r[1]), ...(h.counts[0] ?? []).map((_, i) => h.counts.map((c) => c[i]))],
          )
        : "";
    });
    let stepAt: (x: number) => number | undefined = () => undefined;
    heat.draw = () => {
      if (this.heatmap) stepAt = drawHeatmap(heat.canvas, this.heatmap, this.shownHistogram?.step);
    };
    heat.canvas.title = "click a column to show its histogram";
    heat.canvas.addEventListener("click", (event) => {
      const step = stepAt(event.offsetX);
      if (step === undefined) return;
      const index = this.steps.findLastIndex((s) => s <= step);
      input.value = String(Math.max(0, index));
      input.dispatchEvent(new Event("input"));
    });
    this.heat = heat;
  }

  async load(): Promise<void> {
    await Promise.all([this.loadHistogram(), this.loadHeatmap()]);
  }

  apply(changes: Changes): void {
    const primary = this.shown.primary.id;
    let logged = false;
    for (const [run, , step] of changes.histograms) {
      if (run !== primary) continue;
      this.steps.push(step);
      logged = true;
    }
    if (!logged) return;
    this.updateSlider();
    this.refreshHeatmap();
    this.refreshHistogram();
  }

  redraw(): void {
    this.histogram?.draw();
    this.heat?.draw();
  }

  unmount(): void {
    this.histogram?.panel.element.remove();
    this.heat?.panel.element.remove();
  }

  private updateSlider(): void {
    if (!this.slider) return;
    this.slider.max = String(Math.max(0, this.steps.length - 1));
    if (this.following) this.slider.value = this.slider.max;
  }

  // The steps for the slider (once), and the newest histogram while the slider follows it.
  private async loadHistogram(): Promise<void> {
    if (!this.histogram) return;
    const loads: Array<Promise<void>> = [];
    if (this.steps.length === 0) {
      loads.push(
        api.histogramSteps(this.shown.primary.id, GRADIENT_HISTOGRAM).then((steps) => {
          if (!this.shown.current()) return;
          this.steps = steps;
          this.updateSlider();
        }),
      );
    }
    if (this.following) loads.push(this.loadHistogramAt(undefined));
    await Promise.all(loads);
    if (this.shown.current()) this.updateSlider();
  }

  private async loadHistogramAt(step: number | undefined): Promise<void> {
    const shown = await api.histogram(this.shown.primary.id, GRADIENT_HISTOGRAM, step);
    // A view shown meanwhile (another run, a theme change) has its own histograms.
    if (!this.shown.current()) return;
    this.shownHistogram = shown;
    if (this.label) this.label.textContent = String(shown.step);
    this.redraw();
    await Promise.all(this.stepListeners.map((listener) => listener(shown.step)));
  }

  private async loadHeatmap(): Promise<void> {
    const heat = this.heat;
    if (!heat) return;
    const heatmap = await api.heatmap(this.shown.primary.id, GRADIENT_HISTOGRAM, { buckets: Math.max(100, Math.floor(heat.canvas.clientWidth / 2)) });
    if (!this.shown.current()) return;
    this.heatmap = heatmap;
    heat.draw();
  }
}

/** The 1-D gradient histogram (key: the GradHist1d quantity). */
export const gradientHistogram = (shown: Shown): GradientHistogram => new GradientHistogram(shown);
