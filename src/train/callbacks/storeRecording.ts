import type { RunStore } from "../../store/runStore.ts";
import type { Callback } from "../callback.ts";
import { StoreLogger } from "./storeLogger.ts";
import { StoreStopWatcher } from "./storeStopWatcher.ts";
import { SystemMonitor } from "./systemMonitor.ts";

/**
 * The callbacks that record a run into the run store: the logger (which a quantity tracker
 * subscribes to, `tracker.subscribe(logger.logQuantity)`), the system monitor, and the watcher of
 * the dashboard's stop button.
 */
export function storeRecording(store: RunStore, runId: string): { logger: StoreLogger; callbacks: Callback[] } {
  const logger = new StoreLogger(store, runId);
  return { logger, callbacks: [logger, new SystemMonitor(store, runId), new StoreStopWatcher(store, runId)] };
}
