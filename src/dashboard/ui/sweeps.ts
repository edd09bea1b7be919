// The sweeps of the store: a picker, the chosen sweep's trials as parallel coordinates and as a
// table (parameters, metric, status, the rule that stopped a trial), and its best trial. A click
// on a trial shows its run in the Cockpit view below.
import type { SweepResponse, SweepSummary, TrialSummary } from "../api.ts";
import { api } from "./client.ts";
import { download, formatNumber, slug, toCsv } from "./format.ts";
import { drawParallelCoordinates, type ParameterSpec } from "./parallelCoordinates.ts";

interface SweepSpec {
  method?: string;
  parameters?: Record<string, ParameterSpec>;
  metric?: { name: string; goal: "minimize" | "maximize" };
}

const specOf = (sweep: SweepSummary) => (sweep.spec ?? {}) as SweepSpec;

const formatParam = (value: unknown) => (typeof value === "number" ? formatNumber(value) : JSON.stringify(value));

/** The trial with the best metric (the sweep's goal), or null while none has one. */
export function bestTrial(trials: TrialSummary[], goal: "minimize" | "maximize"): TrialSummary | null {
  let best: TrialSummary | null = null;
  for (const trial of trials) {
    if (trial.metric === null) continue;
    if (!best || (goal === "maximize" ? trial.metric > (best.metric as number) : trial.metric < (best.metric as number))) best = trial;
  }
  return best;
}

/** Renders the sweeps section; `onPickRun(runId)` shows a trial's run. */
export class SweepsView {
  private chosen: string | null = null;
  private shown: SweepResponse | null = null;
  private readonly picker = document.createElement("select");
  private readonly summary = document.createElement("span");
  private readonly canvas = document.createElement("canvas");
  private readonly table = document.createElement("table");

  constructor(
    private readonly root: HTMLElement,
    private readonly onPickRun: (runId: string) => void,
  ) {
    const head = document.createElement("div");
    head.className = "sweeps-head";
    const title = document.createElement("h2");
    title.textContent = "Sweep";
    const csv = document.createElement("button");
    csv.type = "button";
    csv.textContent = "CSV";
    csv.title = "download the trials as CSV";
    csv.addEventListener("click", () => this.downloadCsv());
    head.append(title, this.picker, this.summary, csv);
    this.canvas.className = "instrument parallel-coordinates";
    this.table.className = "trials";
    const body = document.createElement("div");
    body.className = "sweep-body panel";
    body.dataset.panel = "sweep";
    body.append(this.canvas, this.table);
    root.append(head, body);
    this.picker.addEventListener("change", () => {
      this.chosen = this.picker.value;
      void this.refresh();
    });
  }

  /** Loads the store's sweeps and the chosen one (the newest at first); hidden when there are none. */
  async refresh(): Promise<void> {
    const { sweeps } = await api.sweeps();
    this.root.hidden = sweeps.length === 0;
    if (sweeps.length === 0) return;
    if (!this.chosen || !sweeps.some((s) => s.id === this.chosen)) this.chosen = sweeps[0].id;
    this.picker.replaceChildren(
      ...sweeps.map((s) => Object.assign(document.createElement("option"), { value: s.id, textContent: `${s.name} · ${s.id} (${s.status})`, selected: s.id === this.chosen })),
    );
    this.shown = await api.sweep(this.chosen);
    this.render();
  }

  /** Draws the parallel coordinates again (a resize, a theme change). */
  redraw(): void {
    if (!this.shown) return;
    const { sweep, trials } = this.shown;
    const spec = specOf(sweep);
    const metric = spec.metric ?? { name: "metric", goal: "maximize" as const };
    const best = bestTrial(trials, metric.goal);
    this.canvas.dataset.trials = String(drawParallelCoordinates(this.canvas, trials, spec.parameters ?? {}, metric, best?.number ?? null));
  }

  private render(): void {
    if (!this.shown) return;
    const { sweep, trials } = this.shown;
    const spec = specOf(sweep);
    const metric = spec.metric ?? { name: "metric", goal: "maximize" as const };
    const best = bestTrial(trials, metric.goal);
    const counts = Object.entries(sweep.trials)
      .map(([status, n]) => `${n} ${status}`)
      .join(", ");
    this.summary.textContent = `${spec.method ?? ""} · ${metric.name} (${metric.goal}) · ${counts}${best ? ` · best: trial ${best.number}, ${formatNumber(best.metric)}` : ""}`;
    this.redraw();

    const names = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
    const head = this.table.createTHead();
    head.replaceChildren();
    const headRow = head.insertRow();
    for (const title of ["trial", "status", metric.name, ...names, "steps", "stopped by / error"])
      headRow.append(Object.assign(document.createElement("th"), { textContent: title }));
    const body = document.createElement("tbody");
    for (const trial of trials) {
      const row = body.insertRow();
      row.dataset.trial = String(trial.number);
      row.className = `trial-${trial.status}${trial.number === best?.number ? " best" : ""}${trial.runId ? " pickable" : ""}`;
      const cells = [
        `${trial.number === best?.number ? "★ " : ""}${trial.number}`,
        trial.status,
        formatNumber(trial.metric),
        ...names.map((name) => formatParam(trial.params[name])),
        trial.steps === null ? "" : `${trial.steps}${trial.plannedSteps ? ` / ${trial.plannedSteps}` : ""}`,
        trial.stoppedBy ?? trial.message ?? "",
      ];
      for (const text of cells) row.insertCell().textContent = text;
      const runId = trial.runId;
      if (runId) {
        row.title = `show run ${runId}`;
        row.addEventListener("click", () => this.onPickRun(runId));
      }
    }
    this.table.tBodies[0]?.remove();
    this.table.append(body);
  }

  private downloadCsv(): void {
    if (!this.shown) return;
    const { sweep, trials } = this.shown;
    const names = [...new Set(trials.flatMap((t) => Object.keys(t.params)))];
    const columns = [
      trials.map((t) => t.number),
      trials.map((t) => t.status),
      trials.map((t) => t.metric),
      ...names.map((name) => trials.map((t) => formatParam(t.params[name]))),
      trials.map((t) => t.stoppedBy ?? t.message ?? ""),
      trials.map((t) => t.runId ?? ""),
    ];
    download(`${slug(sweep.id)}.csv`, toCsv(["trial", "status", specOf(sweep).metric?.name ?? "metric", ...names, "stopped_by", "run"], columns));
  }
}
