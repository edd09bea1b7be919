// The run's events (start, resume, stop with its reason, errors, notices, and the warnings that
// name quantities the run could not compute), newest first: what happened to the run that its
// charts do not show.
import type { Changes, RunEvent } from "../../api.ts";
import { api } from "../client.ts";
import { toCsv } from "../format.ts";
import { createPanel, type Panel } from "../panel.ts";
import type { Instrument, Keys, Places, Shown } from "./instrument.ts";

const time = (wallTime: number) => new Date(wallTime * 1000).toLocaleString();

// The events API answers without the run id, which only the stream's rows carry.
type Event = Pick<RunEvent, "step" | "wallTime" | "kind" | "message">;

class Events implements Instrument {
  private panel: Panel | null = null;
  private events: Event[] = [];

  constructor(private readonly shown: Shown) {}

  claims(_keys: Keys): string[] {
    return [];
  }

  mount(places: Places): void {
    const csv = () =>
      toCsv(
        ["step", "time", "kind", "message"],
        [this.events.map((e) => e.step), this.events.map((e) => time(e.wallTime)), this.events.map((e) => e.kind), this.events.map((e) => e.message)],
      );
    this.panel = createPanel(places.bottom, "events", "Events", { csv });
  }

  async load(): Promise<void> {
    const events = await api.events(this.shown.primary.id);
    if (!this.shown.current()) return;
    this.events = events;
    this.render();
  }

  apply(changes: Changes): void {
    const fresh = changes.events.filter((e) => e.run === this.shown.primary.id);
    if (fresh.length === 0) return;
    this.events.push(...fresh);
    this.render();
  }

  redraw(): void {}

  unmount(): void {
    this.panel?.element.remove();
    this.panel = null;
  }

  private render(): void {
    if (!this.panel) return;
    const table = document.createElement("table");
    table.className = "events";
    const head = table.createTHead().insertRow();
    for (const title of ["step", "time", "kind", "message"]) head.append(Object.assign(document.createElement("th"), { textContent: title }));
    const body = table.createTBody();
    for (const event of [...this.events].reverse()) {
      const row = body.insertRow();
      row.className = `event-${event.kind}`;
      for (const text of [event.step === null ? "" : String(event.step), time(event.wallTime), event.kind, event.message]) row.insertCell().textContent = text;
    }
    this.panel.body.replaceChildren(table);
  }
}

/** The events panel of the primary run. */
export const events = (shown: Shown): Instrument => new Events(shown);
