import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { openRunStore } from "../store/openRunStore.ts";
import type { StepRange } from "../store/runReader.ts";
import { openSweepStore, type SweepStore, type TrialRecord } from "../store/sweeps.ts";
import { accessToken, hostAllowed, sameOrigin, servedHostNames, shownHost } from "./access.ts";
import type { RunResponse, RunsResponse, SweepResponse, SweepSummary, SweepsResponse, TrialSummary } from "./api.ts";
import { assetRoots, resolveAsset, tagMatches } from "./assets.ts";
import { formatCursor, parseCursor } from "./cursor.ts";
import { DEFAULT_DASHBOARD_HOST, listenOn } from "./listen.ts";
import { withModulePreloads } from "./modulePreloads.ts";
import { runSummary } from "./runSummary.ts";
import { ChangeStream } from "./stream.ts";

/** Where and how the dashboard serves. */
export interface DashboardOptions {
  /** The run store to show: a SQLite file's path or a postgres:// URL. */
  store: string;
  /** Interface to bind (default 127.0.0.1). Requests must name it (or localhost) in `Host:`. */
  host?: string;
  /** Port (default 0: any free port). */
  port?: number;
  /**
   * The access token the API checks (at least 16 characters); generated when the host is not
   * loopback and none is given.
   */
  token?: string;
  /** How often the live stream looks for new rows (default 200 ms). */
  pollMs?: number;
}

/** A running dashboard server. */
export interface Dashboard {
  /** The page's address (with `?token=` when a token is required). */
  url: string;
  /** The port it listens on (the one chosen when 0 was asked). */
  port: number;
  /** Stops serving and closes the live streams and the store; resolves once closed. */
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BUCKETS = 20_000;

function integerParam(params: URLSearchParams, name: string, fallback: number | undefined, min: number, max: number): number | undefined {
  const text = params.get(name);
  if (text === null || text === "") return fallback;
  const value = Number(text);
  if (!/^-?\d+$/.test(text) || value < min || value > max) throw new ApiError(400, `${name}: expected an integer in [${min}, ${max}], got "${text}"`);
  return value;
}

function numberParam(params: URLSearchParams, name: string, fallback: number): number {
  const text = params.get(name);
  if (text === null || text === "") return fallback;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new ApiError(400, `${name}: expected a number, got "${text}"`);
  return value;
}

function requiredParam(params: URLSearchParams, name: string): string {
  const value = params.get(name);
  if (!value) throw new ApiError(400, `${name}: required`);
  return value;
}

// The most series one request may ask for (the page asks for at most 32 at once).
const MAX_KEYS_PER_REQUEST = 256;

/** The `key` parameters of a request for several series or histograms: at least one, none empty, none twice. */
function keysParam(params: URLSearchParams, what: string): string[] {
  const keys = params.getAll("key");
  if (keys.length === 0) throw new ApiError(400, `key: required (repeat it for several ${what})`);
  if (keys.length > MAX_KEYS_PER_REQUEST) throw new ApiError(400, `key: at most ${MAX_KEYS_PER_REQUEST} ${what} per request, got ${keys.length}`);
  const seen = new Set<string>();
  keys.forEach((key, i) => {
    if (key === "") throw new ApiError(400, `key ${i + 1} of ${keys.length}: expected a series key, got an empty one`);
    if (seen.has(key)) throw new ApiError(400, `key ${JSON.stringify(key)}: asked for twice`);
    seen.add(key);
  });
  return keys;
}

function stepRange(params: URLSearchParams): StepRange {
  const from = integerParam(params, "from", undefined, 0, Number.MAX_SAFE_INTEGER);
  const to = integerParam(params, "to", undefined, 0, Number.MAX_SAFE_INTEGER);
  if (from !== undefined && to !== undefined && from > to) throw new ApiError(400, `from (${from}) is after to (${to})`);
  return { from, to, buckets: integerParam(params, "buckets", 1000, 1, MAX_BUCKETS) as number };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(text);
}

function tokensEqual(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Starts the dashboard: the page, its JSON API over the run store, the live stream, and the stop
 * control. It reads the store through its own connection, so training never waits on it; run it
 * in a worker thread (`startDashboardWorker`) or its own process (`gradscope ui`).
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? DEFAULT_DASHBOARD_HOST;
  const token = accessToken(host, options.token);
  const hostNames = servedHostNames(host);
  const store = openRunStore(options.store, { create: false });
  const { reader } = store;
  const roots = assetRoots();
  const summaries = () => store.listRuns().map((run) => runSummary(reader, run));
  const stream = new ChangeStream(reader, () => JSON.stringify(summaries()), { pollMs: options.pollMs });

  // The sweeps of the same store, through a connection of their own, opened now rather than when
  // a page first asks: a PostgreSQL connection (its thread, the client library, the login) took
  // 0.3-2 s to open, which a first render's /api/sweeps waited for, and every request behind it
  // on this thread. Should opening fail here, the first request that needs it tries again and
  // answers why.
  let sweepStore: SweepStore | undefined;
  const sweeps = () => {
    sweepStore ??= openSweepStore(options.store, { create: false });
    return sweepStore;
  };
  try {
    sweeps();
  } catch {
    // Reported by the request that needs it.
  }
  const sweepSummary = (sweeps: SweepStore, id: string): SweepSummary => {
    const { name, status, createdAt, endedAt, spec } = sweeps.getSweep(id);
    const trials: Record<string, number> = {};
    for (const trial of sweeps.trials(id)) trials[trial.status] = (trials[trial.status] ?? 0) + 1;
    return { id, name, status, createdAt, endedAt, spec, trials };
  };
  const trialSummary = ({ number, params, status, runId, metric, stoppedBy, steps, plannedSteps, message }: TrialRecord): TrialSummary => ({
    number,
    params,
    status,
    runId,
    metric,
    stoppedBy,
    steps,
    plannedSteps,
    message,
  });

  const runOf = (id: string) => {
    try {
      return store.getRun(decodeURIComponent(id));
    } catch (error) {
      throw new ApiError(404, (error as Error).message);
    }
  };

  // The histograms of `keys` at the request's step (or the last before it); 404 naming the missing ones.
  const histogramsAt = (runId: string, keys: string[], params: URLSearchParams) => {
    const step = integerParam(params, "step", undefined, 0, Number.MAX_SAFE_INTEGER);
    const found = keys.map((key) => [key, reader.histogramAt(runId, key, step)] as const);
    const missing = found.filter(([, h]) => !h).map(([key]) => key);
    if (missing.length) throw new ApiError(404, `run ${runId} has no histogram ${missing.join(", ")}`);
    return Object.fromEntries(found);
  };

  const api = (req: IncomingMessage, res: ServerResponse, url: URL): void => {
    const parts = url.pathname.split("/").slice(2); // ["runs", id, what]
    const params = url.searchParams;
    if (parts[0] === "stream" && parts.length === 1) {
      const from = parseCursor(req.headers["last-event-id"] as string | undefined) ?? parseCursor(params.get("after"));
      stream.add(res, from);
      return;
    }
    if (parts[0] === "sweeps" && req.method === "GET") {
      const store = sweeps();
      if (parts.length === 1 || (parts.length === 2 && parts[1] === "")) {
        sendJson(res, 200, { sweeps: store.listSweeps().map((sweep) => sweepSummary(store, sweep.id)) } satisfies SweepsResponse);
        return;
      }
      if (parts.length !== 2) throw new ApiError(404, `no API endpoint ${url.pathname}`);
      let id: string;
      try {
        id = store.getSweep(decodeURIComponent(parts[1])).id;
      } catch (error) {
        throw new ApiError(404, (error as Error).message);
      }
      sendJson(res, 200, { sweep: sweepSummary(store, id), trials: store.trials(id).map(trialSummary) } satisfies SweepResponse);
      return;
    }
    if (parts[0] !== "runs") throw new ApiError(404, `no API endpoint ${url.pathname}`);
    if (parts.length === 1 || (parts.length === 2 && parts[1] === "")) {
      sendJson(res, 200, { runs: summaries(), cursor: formatCursor(reader.currentCursor()) } satisfies RunsResponse);
      return;
    }
    const run = runOf(parts[1]);
    const what = parts.slice(2).join("/");
    if (req.method === "POST") {
      if (what !== "stop") throw new ApiError(404, `no API endpoint POST ${url.pathname}`);
      if (!store.requestStop(run.id)) throw new ApiError(409, `run ${run.id} is ${run.status}, not running`);
      sendJson(res, 202, { stopping: run.id });
      return;
    }
    switch (what) {
      case "":
        sendJson(res, 200, { run: runSummary(reader, run), keys: store.keys(run.id), cursor: formatCursor(reader.currentCursor()) } satisfies RunResponse);
        return;
      case "scalars": {
        // Every chart's series of a first render in one request, which the store answers in as
        // few exchanges as it can (see RunReader.scalarBucketsOf).
        const range = stepRange(params);
        sendJson(res, 200, reader.scalarBucketsOf(run.id, keysParam(params, "series"), range));
        return;
      }
      case "lists":
        sendJson(res, 200, reader.listBuckets(run.id, requiredParam(params, "key"), stepRange(params)));
        return;
      case "histogram": {
        const key = requiredParam(params, "key");
        sendJson(res, 200, histogramsAt(run.id, [key], params)[key]);
        return;
      }
      case "histograms": {
        // Several histograms at one step (the per-parameter views): one request, not one per key.
        sendJson(res, 200, histogramsAt(run.id, keysParam(params, "histograms"), params));
        return;
      }
      case "histogram-steps":
        sendJson(res, 200, reader.histogramSteps(run.id, requiredParam(params, "key")));
        return;
      case "heatmap":
        try {
          sendJson(res, 200, reader.heatmapRows(run.id, requiredParam(params, "key"), stepRange(params)));
        } catch (error) {
          if (error instanceof RangeError) throw new ApiError(400, error.message);
          throw error;
        }
        return;
      case "distribution": {
        const lo = numberParam(params, "lo", -1.5);
        const hi = numberParam(params, "hi", 1.5);
        if (!(hi > lo)) throw new ApiError(400, `hi (${hi}) must be above lo (${lo})`);
        const bins = integerParam(params, "bins", 40, 1, 1000) as number;
        const tail = numberParam(params, "tail", 0.1);
        if (tail < 0 || tail > 1) throw new ApiError(400, `tail: expected a fraction in [0, 1], got ${tail}`);
        sendJson(res, 200, reader.valueDistribution(run.id, requiredParam(params, "key"), lo, hi, bins, tail));
        return;
      }
      case "events":
        sendJson(res, 200, store.events(run.id));
        return;
      default:
        throw new ApiError(404, `no API endpoint ${url.pathname}`);
    }
  };

  // The page lists every module it imports (modulePreloads.ts), so its tag is its text's. Read
  // again only when the page's file changes; a module added to a running server's build is found
  // by the browser as before, one import at a time.
  let page: { source: string; text: string; etag: string } | null = null;
  const pageOf = (asset: { file: string; etag: string }) => {
    if (page?.source !== asset.etag) {
      const text = withModulePreloads(readFileSync(asset.file, "utf8"), roots);
      page = { source: asset.etag, text, etag: `"${createHash("sha1").update(text).digest("base64url")}"` };
    }
    return page;
  };
  const index = resolveAsset(roots, "/static/index.html");
  if (index) pageOf(index);

  const server = createServer((req, res) => {
    try {
      // DNS rebinding: another site's page that resolves its own name to this address still
      // names its own host here.
      if (!hostAllowed(req.headers.host, hostNames))
        throw new ApiError(403, `host ${JSON.stringify(req.headers.host ?? "")} refused: this server answers to ${[...hostNames].join(", ")}`);
      const url = new URL(req.url ?? "/", "http://localhost");
      if (url.pathname.startsWith("/api/")) {
        if (token) {
          const given = (req.headers.authorization ?? "").replace(/^Bearer /, "") || url.searchParams.get("token") || "";
          if (!tokensEqual(given, token)) throw new ApiError(401, "a valid token is required (the URL the server printed has it)");
        }
        if (req.method === "POST") {
          // Another site's page cannot make the browser stop a run: browsers send its Origin
          // with every POST, and it differs from the (checked) host the page was served from.
          const origin = req.headers.origin;
          if (origin !== undefined && !sameOrigin(origin, req.headers.host as string)) throw new ApiError(403, `cross-origin request from ${origin} refused`);
        } else if (req.method !== "GET") throw new ApiError(405, `method ${req.method} not allowed`);
        api(req, res, url);
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") throw new ApiError(405, `method ${req.method} not allowed`);
      const asset = resolveAsset(roots, url.pathname === "/" ? "/static/index.html" : url.pathname);
      if (!asset) throw new ApiError(404, `not found: ${url.pathname}`);
      const page = asset.type.startsWith("text/html") ? pageOf(asset) : null;
      const etag = page?.etag ?? asset.etag;
      // The browser revalidates every load; an unchanged file costs a 304 and keeps its cached
      // copy, which Chromium also keeps compiled code for.
      const headers = { "content-type": asset.type, "cache-control": "no-cache", etag };
      if (tagMatches(req.headers["if-none-match"], etag)) {
        res.writeHead(304, headers).end();
        return;
      }
      res.writeHead(200, headers);
      res.end(page?.text ?? readFileSync(asset.file));
    } catch (error) {
      if (error instanceof ApiError) sendJson(res, error.status, { error: error.message });
      else sendJson(res, 500, { error: (error as Error).message });
    }
  });
  try {
    await listenOn(server, options.port ?? 0, host);
  } catch (error) {
    stream.close();
    store.close();
    sweepStore?.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${shownHost(host)}:${port}/${token ? `?token=${token}` : ""}`,
    port,
    close: async () => {
      stream.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      store.close();
      sweepStore?.close();
    },
  };
}
