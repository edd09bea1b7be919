// The view of the shown runs: lays Cockpit's instruments out in its three columns, the
// hyperparameter and performance panels below them, the per-layer views and the generic one
// for every other quantity, and routes the live stream's rows to the instruments that show them.
// Each instrument (instruments/) knows its keys, its panels and its data.
import type { Changes, RunSummary } from "../api.ts";
import { api, sendScalarBatches } from "./client.ts";
import { alphaGauge } from "./instruments/alphaGauge.ts";
import { ChartBoard } from "./instruments/chartBoard.ts";
import { curvature } from "./instruments/curvature.ts";
import { distance } from "./instruments/distance.ts";
import { events } from "./instruments/events.ts";
import { gradientHistogram } from "./instruments/gradientHistogram.ts";
import { gradientNorm } from "./instruments/gradientNorm.ts";
import { gradientTests } from "./instruments/gradientTests.ts";
import { histogram2d } from "./instruments/histogram2d.ts";
import { hyperparameters } from "./instruments/hyperparameters.ts";
import type { Instrument, Keys, Places, Shown } from "./instruments/instrument.ts";
import { noiseScale } from "./instruments/noiseScale.ts";
import { otherQuantities } from "./instruments/otherQuantities.ts";
import { performancePanel } from "./instruments/performance.ts";
import { perLayer } from "./instruments/perLayer.ts";
import { system } from "./instruments/system.ts";
import { throttle } from "./throttle.ts";

type Kind = keyof Keys;

// The instruments in the order of their panels: the STEP SIZE column (alpha, distance, gradient
// norm), the GRADIENTS column (gradient tests, noise scale, 1-D and 2-D histograms), the
// CURVATURE column, the hyperparameter, performance and system panels, then the per-layer views;
// the generic instrument takes every key none of them claims.
function instrumentsOf(shown: Shown): Instrument[] {
  const histogram = gradientHistogram(shown);
  const specific = [
    alphaGauge(shown),
    distance(shown),
    gradientNorm(shown),
    gradientTests(shown),
    noiseScale(shown),
    histogram,
    histogram2d(shown),
    curvature(shown),
    hyperparameters(shown),
    performancePanel(shown),
    system(shown),
    events(shown),
    perLayer(shown, histogram),
  ];
  const claimed = new Set(shown.runs.flatMap((run) => specific.flatMap((i) => i.claims(shown.keysOf(run.id)))));
  return [...specific, otherQuantities(shown, (key) => claimed.has(key))];
}

const noRows = (): Changes => ({ scalars: [], lists: [], histograms: [], events: [] });

/** Everything shown for the primary run and the runs overlaid on it. */
export class CockpitView {
  private runs: RunSummary[] = [];
  private keys = new Map<string, Keys>();
  // Each shown run's keys by kind, as `${kind}\t${run}\t${key}`: a row of any other key is new.
  private known = new Set<string>();
  private instruments: Instrument[] = [];
  // The instruments that show each key, for the live rows.
  private routes = new Map<string, Instrument[]>();
  private readonly charts = new ChartBoard();
  private generation = 0;
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
    window.addEventListener(
      "resize",
      throttle(200, () => this.redraw()),
    );
  }

  /** Shows `primary` (all instruments) with `compared` runs overlaid on its line charts. */
  async show(primary: RunSummary, compared: RunSummary[]): Promise<void> {
    const generation = ++this.generation;
    const responses = await Promise.all([primary, ...compared].map((r) => api.run(r.id)));
    if (generation !== this.generation) return;
    for (const instrument of this.instruments) instrument.unmount();
    this.runs = responses.map((r) => r.run);
    this.keys = new Map(responses.map((r) => [r.run.id, r.keys]));
    this.known = new Set(responses.flatMap((r) => (["scalars", "lists", "histograms"] as const).flatMap((kind) => r.keys[kind].map((key) => `${kind}\t${r.run.id}\t${key}`))));
    const keys = this.keys;
    const shown: Shown = {
      runs: this.runs,
      primary: this.runs[0],
      primaryKeys: responses[0].keys,
      keysOf: (id) => keys.get(id) as Keys,
      current: () => generation === this.generation,
      charts: this.charts,
    };
    this.charts.show(shown);
    this.instruments = instrumentsOf(shown);
    this.routes = new Map();
    for (const instrument of this.instruments) {
      for (const key of new Set(responses.flatMap((r) => instrument.claims(r.keys)))) this.routes.set(key, [...(this.routes.get(key) ?? []), instrument]);
    }
    const places: Places = { ...this.root.columns, bottom: this.root.bottom, layers: this.root.layers, other: this.root.other };
    for (const instrument of this.instruments) instrument.mount(places);
    for (const [place, element] of Object.entries(places)) element.hidden = element.querySelector(".panel") === null && place !== "bottom";
    this.root.cockpit.hidden = Object.values(this.root.columns).every((c) => c.hidden);
    const charts = this.charts.reloadAll();
    // The line charts' series first: the page draws them while the server computes the rest.
    sendScalarBatches();
    await Promise.all([charts, ...this.instruments.map((instrument) => instrument.load())]);
    if (generation === this.generation) this.redraw();
  }

  /** Applies what the live stream brought: to the charts' series, then to the instruments of its keys. */
  apply(changes: Changes): void {
    const primary = this.runs[0]?.id;
    this.charts.apply(changes);
    const routed = new Map<Instrument, Changes>();
    let unknown = false;
    // Rows of the shown runs (histograms: of the primary run) go to the instruments of their key;
    // a key the view has not laid out yet lays the view out again.
    const route = <K extends Kind>(kind: K, runs: (run: string) => boolean) => {
      for (const row of changes[kind] as Array<Changes[K][number]>) {
        const [run, key] = row;
        if (!runs(run)) continue;
        if (!this.known.has(`${kind}\t${run}\t${key}`)) unknown = true;
        for (const instrument of this.routes.get(key) ?? []) {
          const part = routed.get(instrument) ?? noRows();
          routed.set(instrument, part);
          (part[kind] as Array<Changes[K][number]>).push(row);
        }
      }
    };
    route("scalars", (run) => this.keys.has(run));
    route("lists", (run) => this.keys.has(run));
    route("histograms", (run) => run === primary);
    if (unknown) this.relayout();
    for (const [instrument, part] of routed) instrument.apply(part);
  }

  /** Sets the EMA weight of smoothed lines. */
  setSmoothing(weight: number): void {
    this.charts.setSmoothing(weight);
  }

  /** Shows all steps again. */
  resetZoom(): void {
    this.charts.resetZoom();
  }

  private redraw(): void {
    for (const instrument of this.instruments) instrument.redraw();
  }
}
