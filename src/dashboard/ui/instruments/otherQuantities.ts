// The generic instrument: a chart for every scalar and a canvas for every histogram that no other
// instrument shows (a user's own quantities, a logger's extra keys), so that nothing logged is hidden.
import type { Changes, HistogramAtStep } from "../../api.ts";
import { drawHistogram1d, drawHistogram2d } from "../canvas.ts";
import { api, background } from "../client.ts";
import { throttle } from "../throttle.ts";
import { fixed } from "./chartBoard.ts";
import { type Canvas, canvasPanel, type Instrument, type Keys, type Places, type Shown } from "./instrument.ts";
import { LineChartsInstrument } from "./lineCharts.ts";

/** Every key of the primary run that `claimed` says no other instrument shows. */
class OtherQuantities implements Instrument {
  private readonly charts: LineChartsInstrument;
  private readonly histograms = new Map<string, HistogramAtStep>();
  private readonly canvases = new Map<string, Canvas>();
  private readonly refresh = throttle(1000, () => background(this.load()));

  constructor(
    private readonly shown: Shown,
    private readonly claimed: (key: string) => boolean,
  ) {
    this.charts = new LineChartsInstrument(
      shown,
      shown.primaryKeys.scalars
        .filter((key) => !claimed(key))
        .map((key) => ({ id: `other-${key}`, title: key, place: "other", lines: fixed([{ key, label: key.replace(/^\w+\//, "") }]) })),
    );
  }

  claims(keys: Keys): string[] {
    return [...keys.scalars, ...keys.lists, ...keys.histograms].filter((key) => !this.claimed(key));
  }

  mount(places: Places): void {
    this.charts.mount(places);
    for (const key of this.shown.primaryKeys.histograms.filter((k) => !this.claimed(k))) this.addHistogram(places.other, key);
  }

  async load(): Promise<void> {
    const primary = this.shown.primary.id;
    await Promise.all(
      [...this.histograms.keys()].map((key) =>
        api.histogram(primary, key).then((h) => {
          if (!this.shown.current()) return;
          this.histograms.set(key, h);
          this.canvases.get(key)?.draw();
        }),
      ),
    );
  }

  apply(changes: Changes): void {
    if (changes.histograms.some(([run]) => run === this.shown.primary.id)) this.refresh();
  }

  redraw(): void {
    for (const c of this.canvases.values()) c.draw();
  }

  unmount(): void {
    this.charts.unmount();
    for (const c of this.canvases.values()) c.panel.element.remove();
  }

  private addHistogram(parent: HTMLElement, key: string): void {
    this.histograms.set(key, { step: 0, edges: [], counts: [] });
    const c = canvasPanel(parent, `other-${key}`, key, () => JSON.stringify(this.histograms.get(key)));
    c.draw = () => {
      const h = this.histograms.get(key);
      if (!h || h.counts.length === 0) return;
      if (Array.isArray(h.counts[0])) drawHistogram2d(c.canvas, h);
      else drawHistogram1d(c.canvas, h, key);
    };
    this.canvases.set(key, c);
  }
}

/** The generic instrument, for the keys that `claimed` says no other instrument shows. */
export const otherQuantities = (shown: Shown, claimed: (key: string) => boolean): Instrument => new OtherQuantities(shown, claimed);
