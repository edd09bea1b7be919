// The page's side of the JSON API and the live stream.
import { seriesKey } from "../../store/seriesKeys.ts";
import type {
  BucketedSeries,
  Changes,
  HeatmapRows,
  HistogramAtStep,
  ListSeries,
  RunEvent,
  RunResponse,
  RunSummary,
  RunsResponse,
  SweepResponse,
  SweepsResponse,
  ValueDistribution,
} from "../api.ts";

const token = new URLSearchParams(location.search).get("token") ?? sessionStorage.getItem("gradscope-token") ?? "";
if (token) sessionStorage.setItem("gradscope-token", token);

// GET requests started before the code that reads them had loaded (see boot.ts), by path: the
// first request of a path takes its answer over, and the first render ends them all.
const early = new Map<string, Promise<unknown>>();

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  const started = init.method === undefined ? early.get(path) : undefined;
  if (started) {
    early.delete(path);
    return started as Promise<T>;
  }
  const headers = new Headers(init.headers);
  if (token) headers.set("authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `${response.status} ${response.statusText}`);
  return body as T;
}

const runRoot = (id: string) => `/api/runs/${encodeURIComponent(id)}`;

function prefetch<T>(path: string): Promise<T> {
  const answer = request<T>(path);
  // Whoever takes it over sees a failure; one that nobody takes is not an unhandled rejection.
  answer.catch(() => undefined);
  early.set(path, answer);
  return answer;
}

/**
 * The first load's requests, started while the page's other modules are still on their way:
 * `api.runs()` and `api.run(id)` take their answers over until `endPrefetch()`.
 */
export const prefetchFirstLoad = {
  runs: () => prefetch<RunsResponse>("/api/runs"),
  run: (id: string) => void prefetch<RunResponse>(runRoot(id)),
  /** The alpha gauge's data needs no layout: the server computes it while the page builds one. */
  alphaDistribution: (id: string) => void prefetch<ValueDistribution>(alphaPath(id)),
};

/** Drops prefetched answers nobody took: later requests must see the server's present state. */
export function endPrefetch(): void {
  early.clear();
}

// A list value repeats its parameter (`key=a&key=b`).
const runPath = (id: string, what: string, params: Record<string, string | number | readonly string[] | undefined> = {}) => {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) query.append(name, String(item));
  }
  return `${runRoot(id)}/${what}?${query}`;
};

/** The local step length α that the alpha gauge shows. */
export const ALPHA_KEY = seriesKey.quantity("Alpha");

const alphaPath = (id: string) => runPath(id, "distribution", { key: ALPHA_KEY, lo: -1.5, hi: 1.5, bins: 40, tail: 0.1 });

/** A step window to read, reduced to `buckets` points. */
export interface Window {
  from?: number;
  to?: number;
  buckets: number;
}

// Series asked for in the same task, of one run and window, go out as one request (the server
// takes `key` repeated): the first render asks for twenty at once, which the browser would
// otherwise queue six at a time, each with its own round trip.
const MAX_KEYS_PER_REQUEST = 32;
interface ScalarBatch {
  id: string;
  window: Window;
  waiting: Map<string, Array<{ resolve: (series: BucketedSeries) => void; reject: (error: unknown) => void }>>;
}
const openBatches = new Map<string, ScalarBatch>();

function sendBatch(batch: ScalarBatch): void {
  const keys = [...batch.waiting.keys()];
  for (let first = 0; first < keys.length; first += MAX_KEYS_PER_REQUEST) {
    const part = keys.slice(first, first + MAX_KEYS_PER_REQUEST);
    request<Record<string, BucketedSeries>>(runPath(batch.id, "scalars", { key: part, ...batch.window })).then(
      (series) => {
        for (const key of part) for (const { resolve } of batch.waiting.get(key) ?? []) resolve(series[key]);
      },
      (error) => {
        for (const key of part) for (const { reject } of batch.waiting.get(key) ?? []) reject(error);
      },
    );
  }
}

function sendOpenBatch(group: string): void {
  const batch = openBatches.get(group);
  if (!batch) return;
  openBatches.delete(group);
  sendBatch(batch);
}

/**
 * Sends the scalar requests batched so far now rather than at the end of the task, so that they
 * reach the server (which answers in turn) before requests made after them.
 */
export function sendScalarBatches(): void {
  for (const group of [...openBatches.keys()]) sendOpenBatch(group);
}

function scalars(id: string, key: string, window: Window): Promise<BucketedSeries> {
  const group = JSON.stringify([id, window.from, window.to, window.buckets]);
  let batch = openBatches.get(group);
  if (!batch) {
    const opened: ScalarBatch = { id, window, waiting: new Map() };
    openBatches.set(group, opened);
    queueMicrotask(() => sendOpenBatch(group));
    batch = opened;
  }
  const waiting = batch.waiting;
  return new Promise((resolve, reject) => {
    const list = waiting.get(key) ?? [];
    list.push({ resolve, reject });
    waiting.set(key, list);
  });
}

export const api = {
  runs: () => request<RunsResponse>("/api/runs"),
  run: (id: string) => request<RunResponse>(runRoot(id)),
  /** One bucketed series; series asked for together share a request. */
  scalars,
  lists: (id: string, key: string, w: Window) => request<ListSeries>(runPath(id, "lists", { key, ...w })),
  histogram: (id: string, key: string, step?: number) => request<HistogramAtStep>(runPath(id, "histogram", { key, step })),
  /** Several histograms at one step, in one request. */
  histograms: (id: string, keys: readonly string[], step?: number) => request<Record<string, HistogramAtStep>>(runPath(id, "histograms", { key: keys, step })),
  histogramSteps: (id: string, key: string) => request<number[]>(runPath(id, "histogram-steps", { key })),
  heatmap: (id: string, key: string, w: Window) => request<HeatmapRows>(runPath(id, "heatmap", { key, ...w })),
  /** The distribution the alpha gauge draws: all α and the last 10%, in 40 bins over [-1.5, 1.5]. */
  alphaDistribution: (id: string) => request<ValueDistribution>(alphaPath(id)),
  /** A run's events in time order (without the run id). */
  events: (id: string) => request<Array<Omit<RunEvent, "run">>>(runPath(id, "events")),
  sweeps: () => request<SweepsResponse>("/api/sweeps"),
  sweep: (id: string) => request<SweepResponse>(`/api/sweeps/${encodeURIComponent(id)}`),
  stop: (id: string) => request<{ stopping: string }>(`${runRoot(id)}/stop`, { method: "POST" }),
};

/** What the live stream reports. */
export interface StreamHandlers {
  data(changes: Changes): void;
  runs(runs: RunSummary[]): void;
  /** The page missed too much while disconnected: reload everything. */
  reset(): void;
  connected(live: boolean): void;
}

/**
 * Opens the live stream from `cursor` (what the page already loaded); the browser reconnects by
 * itself, sending the last event id, so nothing is missed or seen twice.
 */
export function openStream(cursor: string, handlers: StreamHandlers): EventSource {
  const query = new URLSearchParams({ after: cursor });
  if (token) query.set("token", token);
  const source = new EventSource(`/api/stream?${query}`);
  source.addEventListener("data", (event) => handlers.data(JSON.parse((event as MessageEvent).data)));
  source.addEventListener("runs", (event) => handlers.runs(JSON.parse((event as MessageEvent).data)));
  source.addEventListener("reset", () => handlers.reset());
  source.addEventListener("open", () => handlers.connected(true));
  source.addEventListener("error", () => handlers.connected(false));
  return source;
}

/**
 * Runs a load in the background: a failure (the server stopped with its training, a network
 * error) is announced as a `gradscope-error` event that the page shows, instead of surfacing
 * as an unhandled rejection.
 */
export function background(task: Promise<unknown>): void {
  task.catch((error: Error) => window.dispatchEvent(new CustomEvent("gradscope-error", { detail: error.message })));
}
