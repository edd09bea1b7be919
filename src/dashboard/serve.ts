import type { RunStore } from "../store/runStore.ts";
import { startDashboardWorker } from "./launch.ts";
import { type Dashboard, startDashboard } from "./server.ts";

/** What `serveDashboard` shows and where. */
export interface ServeDashboardOptions {
  /** The run store: a SQLite file's path or a postgres:// URL, or an open `RunStore` (the dashboard opens its own connection to the same store). */
  store: string | RunStore;
  /** Port (default 0: any free port; `Dashboard.port` tells which). */
  port?: number;
  /** Interface to bind (default 127.0.0.1). Any other than loopback requires a token. */
  host?: string;
  /** The access token; generated when the host is not loopback and none is given (the URL carries it). */
  token?: string;
  /**
   * Serve from a worker thread (default true), as `gradscope train --dashboard` does: pages and
   * the live stream stay responsive while a training loop keeps this thread busy. `false` serves
   * on this thread, as `gradscope ui` does, for a process that only serves.
   */
  worker?: boolean;
}

/**
 * Serves the dashboard of every run in the store, finished or running, with live updates while
 * runs write to it. Resolves once the server listens; `close()` stops it.
 *
 * @example
 * const dashboard = await serveDashboard({ store: "runs/gradscope.db", port: 8080 });
 * console.log(dashboard.url);
 */
export async function serveDashboard(options: ServeDashboardOptions): Promise<Dashboard> {
  const { store, worker = true, ...where } = options;
  if (typeof store !== "string" && typeof store?.location !== "string")
    throw new TypeError(`gradscope: serveDashboard: store: expected a SQLite file's path, a postgres:// URL or an open RunStore, got ${String(store)}`);
  const serverOptions = { store: typeof store === "string" ? store : store.location, ...where };
  if (!worker) return startDashboard(serverOptions);
  const started = await startDashboardWorker(serverOptions);
  return { ...started, port: Number(new URL(started.url).port || 80) };
}
