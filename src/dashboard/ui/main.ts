// The dashboard page: the runs table, the view of the picked runs, the live stream and the
// page-wide controls (EMA, zoom reset, theme, stop).
import type { RunSummary } from "../api.ts";
import { addressedRuns, primaryRun } from "./boot.ts";
import { api, background, endPrefetch, openStream } from "./client.ts";
import { CockpitView } from "./cockpit.ts";
import { advanceLastSteps, RunsTable } from "./runsTable.ts";
import { SweepsView } from "./sweeps.ts";
import { throttle } from "./throttle.ts";

const element = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;

const state: { runs: RunSummary[]; primary: string | null; compared: Set<string>; stream: EventSource | null } = {
  runs: [],
  primary: null,
  compared: new Set(),
  stream: null,
};

function readHash(): void {
  ({ primary: state.primary, compared: state.compared } = addressedRuns());
}

function writeHash(): void {
  const hash = new URLSearchParams();
  if (state.primary) hash.set("run", state.primary);
  if (state.compared.size) hash.set("compare", [...state.compared].join(","));
  history.replaceState(null, "", `${location.pathname}${location.search}#${hash}`);
}

const columns = {
  "step-size": element<HTMLElement>('[data-column="step-size"]'),
  gradients: element<HTMLElement>('[data-column="gradients"]'),
  curvature: element<HTMLElement>('[data-column="curvature"]'),
};
const view = new CockpitView({ columns, bottom: element("#bottom"), layers: element("#layers"), other: element("#other"), cockpit: element("#cockpit") }, () =>
  background(showSelection()),
);
function pickRun(id: string, compare: boolean): void {
  if (compare) {
    if (!state.compared.delete(id)) state.compared.add(id);
  } else {
    state.primary = id;
    state.compared.delete(id);
  }
  writeHash();
  renderRuns();
  background(showSelection());
}
const table = new RunsTable(element("#runs-table"), pickRun);
const sweeps = new SweepsView(element("#sweeps"), (runId) => pickRun(runId, false));
// Trials change as their runs do: the sweeps follow the runs' status updates, at most once a second.
const refreshSweeps = throttle(1000, () => background(sweeps.refresh()));
window.addEventListener(
  "resize",
  throttle(200, () => sweeps.redraw()),
);

function renderRuns(): void {
  table.render(state.runs, state.primary, state.compared);
  element("#empty").hidden = state.runs.length > 0;
  const run = state.runs.find((r) => r.id === state.primary);
  element("#run-title").textContent = run ? `${run.name} · ${run.id}` : "";
  const status = element("#run-status");
  status.textContent = run ? (run.stopRequestedAt && run.status === "running" ? "stopping" : run.status) : "";
  status.className = `status ${run?.status ?? ""}`;
  const stop = element<HTMLButtonElement>("#stop");
  stop.disabled = run?.status !== "running" || run.stopRequestedAt !== null;
}

async function showSelection(): Promise<void> {
  const primary = state.runs.find((r) => r.id === state.primary);
  if (!primary) return;
  const compared = state.runs.filter((r) => state.compared.has(r.id) && r.id !== primary.id);
  await view.show(primary, compared);
  document.body.dataset.shown = [primary.id, ...compared.map((r) => r.id)].join(",");
}

function choosePrimary(): void {
  const primary = primaryRun(state.runs, state.primary);
  if (primary === state.primary) return;
  state.primary = primary;
  writeHash();
}

async function start(): Promise<void> {
  state.stream?.close();
  const { runs, cursor } = await api.runs();
  state.runs = runs;
  choosePrimary();
  renderRuns();
  await Promise.all([showSelection(), sweeps.refresh()]);
  endPrefetch();
  // When the first render finished (ms from navigation), for scripts and the browser tests.
  document.body.dataset.ready ??= String(Math.round(performance.now()));
  state.stream = openStream(cursor, {
    data: (changes) => {
      view.apply(changes);
      if (advanceLastSteps(state.runs, changes.scalars)) table.showStepCounts();
    },
    runs: (updated) => {
      const hadPrimary = state.primary !== null;
      state.runs = updated;
      choosePrimary();
      renderRuns();
      refreshSweeps();
      if (!hadPrimary && state.primary) background(showSelection());
    },
    reset: () => background(start()),
    connected: (live) => {
      const indicator = element("#connection");
      indicator.textContent = live ? "● live" : "○ reconnecting";
      indicator.classList.toggle("live", live);
    },
  });
}

function setTheme(theme: string): void {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem("gradscope-theme", theme);
  element("#theme").textContent = theme === "dark" ? "light" : "dark";
}

setTheme(localStorage.getItem("gradscope-theme") ?? "dark");
element("#theme").addEventListener("click", () => {
  setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  background(showSelection());
  sweeps.redraw();
});
const emaInput = element<HTMLInputElement>("#ema");
emaInput.addEventListener("input", () => {
  element("#ema-value").textContent = emaInput.value;
  view.setSmoothing(Number(emaInput.value));
});
element("#reset-zoom").addEventListener("click", () => view.resetZoom());
element<HTMLButtonElement>("#stop").addEventListener("click", async (event) => {
  const button = event.currentTarget as HTMLButtonElement;
  if (!state.primary) return;
  button.disabled = true;
  button.textContent = "stopping…";
  try {
    await api.stop(state.primary);
  } catch (error) {
    button.textContent = "stop run";
    button.title = (error as Error).message;
  }
});
window.addEventListener("gradscope-error", (event) => {
  const indicator = element("#connection");
  indicator.textContent = "○ server unreachable";
  indicator.title = (event as CustomEvent<string>).detail;
  indicator.classList.remove("live");
});
readHash();
background(start());
