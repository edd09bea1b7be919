// What every instrument is to the view: the keys it shows, how it mounts its panels, loads its
// data and applies live rows; and the canvas panel most of Cockpit's own instruments draw on.
import type { Changes, HistogramAtStep, RunResponse, RunSummary } from "../../api.ts";
import { toCsv } from "../format.ts";
import { createPanel, type Panel } from "../panel.ts";
import type { ChartBoard } from "./chartBoard.ts";

/** The keys a run logged, by kind. */
export type Keys = RunResponse["keys"];

/** Where a panel goes: Cockpit's three columns, the panels below them, per-layer views, the rest. */
export type Place = "step-size" | "gradients" | "curvature" | "bottom" | "layers" | "other";

/** The page's element of each place. */
export type Places = Record<Place, HTMLElement>;

/** What the view shows: the runs (the primary first) and their keys, and the charts they share. */
export interface Shown {
  readonly runs: RunSummary[];
  readonly primary: RunSummary;
  readonly primaryKeys: Keys;
  keysOf(runId: string): Keys;
  /** Whether this is still the view's current show: a newer one (another run, a theme change) has its own data. */
  current(): boolean;
  /** The line charts of every instrument: loaded together, zoomed together, appended to live. */
  readonly charts: ChartBoard;
}

/**
 * One instrument of the view. Created for each show; the view routes to it the live rows of the
 * keys it claims, and the keys no instrument claims go to the generic one.
 */
export interface Instrument {
  /** The keys of `keys` (a shown run's) that it shows, or hides as bookkeeping. */
  claims(keys: Keys): string[];
  /** Adds its panels to their places, if the shown runs logged anything it shows. */
  mount(places: Places): void;
  /** Loads what it shows beyond its line charts (which the chart board loads). */
  load(): Promise<void>;
  /** Takes the live rows of its keys, of the shown runs. */
  apply(changes: Changes): void;
  /** Draws its canvases again (a resize, a theme change). */
  redraw(): void;
  /** Removes its panels. */
  unmount(): void;
}

/** Creates an instrument for a show. */
export type InstrumentFactory = (shown: Shown) => Instrument;

/** A canvas in a panel, with the drawing the instrument gives it. */
export interface Canvas {
  panel: Panel;
  canvas: HTMLCanvasElement;
  draw: () => void;
}

/** A panel holding one canvas, whose PNG download is the canvas and CSV download `csv()`. */
export function canvasPanel(parent: HTMLElement, id: string, title: string, csv: () => string): Canvas {
  let canvas: HTMLCanvasElement | null = null;
  const panel = createPanel(parent, id, title, { png: () => canvas, csv });
  canvas = document.createElement("canvas");
  canvas.className = "instrument";
  panel.body.append(canvas);
  return { panel, canvas, draw: () => {} };
}

/** A 1-D histogram as CSV: each bin's range and count. */
export const histogramCsv = (h: HistogramAtStep) =>
  toCsv(["bin_lo", "bin_hi", "count"], [(h.edges as number[]).slice(0, -1), (h.edges as number[]).slice(1), h.counts as number[]]);
