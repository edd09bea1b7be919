import type { Changes } from "../../api.ts";
import { background } from "../client.ts";
import { throttle } from "../throttle.ts";
import { type Canvas, canvasPanel, type Instrument, type InstrumentFactory, type Keys, type Place, type Places, type Shown } from "./instrument.ts";

/** An instrument that draws one answer of the server about one key of the primary run. */
export interface CanvasInstrumentSpec<T> {
  key: string;
  kind: keyof Keys;
  place: Place;
  id: string;
  title: string;
  fetch: (runId: string) => Promise<T>;
  draw: (canvas: HTMLCanvasElement, data: T) => void;
  csv: (data: T) => string;
}

class CanvasInstrument<T> implements Instrument {
  private canvas?: Canvas;
  private data?: T;
  // The server reads every row of the key again: at most once a second.
  private readonly refresh = throttle(1000, () => background(this.load()));

  constructor(
    private readonly shown: Shown,
    private readonly spec: CanvasInstrumentSpec<T>,
  ) {}

  claims(keys: Keys): string[] {
    return keys[this.spec.kind].filter((key) => key === this.spec.key);
  }

  mount(places: Places): void {
    if (!this.shown.primaryKeys[this.spec.kind].includes(this.spec.key)) return;
    const c = canvasPanel(places[this.spec.place], this.spec.id, this.spec.title, () => (this.data === undefined ? "" : this.spec.csv(this.data)));
    c.draw = () => this.data !== undefined && this.spec.draw(c.canvas, this.data);
    this.canvas = c;
  }

  async load(): Promise<void> {
    if (!this.canvas) return;
    const data = await this.spec.fetch(this.shown.primary.id);
    if (!this.shown.current()) return;
    this.data = data;
    this.canvas.draw();
  }

  apply(changes: Changes): void {
    if (changes[this.spec.kind].some(([run]) => run === this.shown.primary.id)) this.refresh();
  }

  redraw(): void {
    this.canvas?.draw();
  }

  unmount(): void {
    this.canvas?.panel.element.remove();
  }
}

/** An instrument of one canvas, loaded when shown and again when its key gets live rows. */
export const canvasInstrument =
  <T>(spec: CanvasInstrumentSpec<T>): InstrumentFactory =>
  (shown) =>
    new CanvasInstrument(shown, spec);
