import type { ChartSpec } from "./chartBoard.ts";
import type { Instrument, InstrumentFactory, Keys, Places, Shown } from "./instrument.ts";

/**
 * An instrument made of line charts only: its keys are its charts' lines (and `hidden`, keys it
 * stands for without drawing them), and the chart board loads and extends its series.
 */
export class LineChartsInstrument implements Instrument {
  private readonly mounted: string[] = [];

  constructor(
    private readonly shown: Shown,
    private readonly specs: ChartSpec[],
    private readonly hidden: readonly string[] = [],
  ) {}

  claims(keys: Keys): string[] {
    return [...this.specs.flatMap((spec) => spec.lines(keys).map((line) => line.key)), ...this.hidden];
  }

  mount(places: Places): void {
    for (const spec of this.specs) if (this.shown.charts.add(places[spec.place], spec)) this.mounted.push(spec.id);
  }

  // The chart board loads the series of every chart at once (one batched request per run).
  async load(): Promise<void> {}

  // The chart board extends the series live: several instruments may draw the same series.
  apply(): void {}

  // uPlot redraws its charts itself on resize.
  redraw(): void {}

  unmount(): void {
    for (const id of this.mounted) this.shown.charts.remove(id);
  }
}

/** An instrument of the given line charts (`specs` may depend on the show, e.g. on the primary run's keys). */
export const lineCharts =
  (specs: ChartSpec[] | ((shown: Shown) => ChartSpec[]), hidden: readonly string[] = []): InstrumentFactory =>
  (shown) =>
    new LineChartsInstrument(shown, typeof specs === "function" ? specs(shown) : specs, hidden);
