// The runs table: status, hyperparameters and final metrics of every run, sortable; a click
// makes a run the one shown, the checkbox overlays it.
import { STEP_COUNT_KEY } from "../../store/seriesKeys.ts";
import type { Changes, RunSummary } from "../api.ts";
import { formatNumber, seriesColor } from "./format.ts";

type Cell = string | number | null;

interface Column {
  title: string;
  value: (run: RunSummary) => Cell;
  numeric?: boolean;
  /** Shown exactly (a count), not rounded to significant digits. */
  integer?: boolean;
}

const field = (config: unknown, path: string[]): Cell => {
  let at: unknown = config;
  for (const p of path) at = at && typeof at === "object" ? (at as Record<string, unknown>)[p] : undefined;
  return typeof at === "number" || typeof at === "string" ? at : null;
};

const when = (seconds: number) => new Date(seconds * 1000).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

// The final metrics worth a column, most informative first.
const preferredMetrics = ["test_accuracy", "test_loss", "val_accuracy", "val_loss", "accuracy", "loss"];

/**
 * Moves each run's step count to the newest step of `scalars` (a live `data` event), so that the
 * table keeps up with the charts between the status changes that bring new run summaries.
 * Whether any count moved.
 */
export function advanceLastSteps(runs: RunSummary[], scalars: Changes["scalars"]): boolean {
  let moved = false;
  for (const [id, key, step] of scalars) {
    const run = key === STEP_COUNT_KEY ? runs.find((r) => r.id === id) : undefined;
    if (run && (run.lastStep === null || step > run.lastStep)) {
      run.lastStep = step;
      moved = true;
    }
  }
  return moved;
}

/** Renders and re-renders the runs table; `onPick(id, compare)` reports clicks. */
export class RunsTable {
  private runs: RunSummary[] = [];
  private sortColumn = 3;
  private ascending = false;

  constructor(
    private readonly table: HTMLTableElement,
    private readonly onPick: (id: string, compare: boolean) => void,
  ) {}

  /**
   * Rewrites the step counts in place (live, several times a second): rebuilding the rows would
   * swallow a click that spans the rebuild.
   */
  showStepCounts(): void {
    for (const run of this.runs) {
      const cell = this.table.querySelector(`tr[data-run="${CSS.escape(run.id)}"] td[data-count="steps"]`);
      if (cell) cell.textContent = run.lastStep === null ? "" : String(run.lastStep);
    }
  }

  /** Shows `runs`, marking the primary run and the compared ones. */
  render(runs: RunSummary[], primary: string | null, compared: ReadonlySet<string>): void {
    this.runs = runs;
    const metrics = preferredMetrics.filter((m) => runs.some((r) => typeof r.final[m] === "number")).slice(0, 4);
    const columns: Column[] = [
      { title: "", value: () => null },
      { title: "run", value: (r) => r.name },
      { title: "status", value: (r) => r.status },
      { title: "started", value: (r) => r.startedAt, numeric: true },
      { title: "steps", value: (r) => r.lastStep, numeric: true, integer: true },
      { title: "optimizer", value: (r) => field(r.config, ["optimizer", "name"]) },
      { title: "lr", value: (r) => field(r.config, ["optimizer", "lr"]), numeric: true },
      { title: "batch", value: (r) => field(r.config, ["data", "batch_size"]), numeric: true },
      { title: "epochs", value: (r) => field(r.config, ["training", "epochs"]), numeric: true },
      ...metrics.map((m) => ({ title: m, value: (r: RunSummary) => r.final[m] ?? null, numeric: true })),
    ];
    const head = this.table.tHead as HTMLTableSectionElement;
    head.replaceChildren();
    const headRow = head.insertRow();
    columns.forEach((column, i) => {
      const th = document.createElement("th");
      th.textContent = column.title;
      if (i === this.sortColumn) th.className = `sorted${this.ascending ? " asc" : ""}`;
      th.addEventListener("click", () => {
        this.ascending = this.sortColumn === i ? !this.ascending : column.numeric !== true;
        this.sortColumn = i;
        this.render(this.runs, primary, compared);
      });
      headRow.append(th);
    });
    const sortBy = columns[this.sortColumn];
    const sorted = [...runs].sort((a, b) => {
      const [x, y] = [sortBy.value(a), sortBy.value(b)];
      const order = x === y ? 0 : x === null ? 1 : y === null ? -1 : x < y ? -1 : 1;
      return this.ascending ? order : -order;
    });
    const body = this.table.tBodies[0];
    body.replaceChildren();
    const shown = [primary, ...[...compared].filter((id) => id !== primary)];
    for (const run of sorted) {
      const row = body.insertRow();
      row.dataset.run = run.id;
      if (run.id === primary) row.className = "primary";
      const pick = row.insertCell();
      const box = document.createElement("input");
      box.type = "checkbox";
      box.title = "overlay this run's curves";
      box.checked = run.id === primary || compared.has(run.id);
      box.disabled = run.id === primary;
      box.addEventListener("click", (event) => {
        event.stopPropagation();
        this.onPick(run.id, true);
      });
      const index = shown.indexOf(run.id);
      if (index >= 0) {
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = seriesColor(index);
        pick.append(swatch);
      }
      pick.append(box);
      for (const column of columns.slice(1)) {
        const cell = row.insertCell();
        const value = column.value(run);
        if (column.title === "started" && typeof value === "number") cell.textContent = when(value);
        else if (typeof value === "number") cell.textContent = column.integer ? String(value) : formatNumber(value);
        else cell.textContent = value ?? "";
        if (column.numeric) cell.className = "num";
        if (column.integer) cell.dataset.count = column.title;
        if (column.title === "status") {
          const badge = document.createElement("span");
          badge.className = `status ${run.status}`;
          badge.textContent = run.status;
          cell.replaceChildren(badge);
        }
      }
      row.addEventListener("click", () => this.onPick(run.id, false));
    }
  }
}
