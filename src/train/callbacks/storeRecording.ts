import type { QuantityTracker } from "../../quantities/tracker.ts";
import type { RunStore } from "../../store/runStore.ts";
import type { Callback } from "../callback.ts";
import { StoreLogger } from "./storeLogger.ts";
import { StoreStopWatcher } from "./storeStopWatcher.ts";
import { SystemMonitor } from "./systemMonitor.ts";

/** What records a run into the run store. */
export interface StoreRecording {
  /** The logger, the system monitor and the watcher of the dashboard's stop button. */
  callbacks: Callback[];
  /** Records the tracker's values, and its warnings (a skipped quantity) as "warning" events. */
  recordQuantities(tracker: QuantityTracker): void;
}

/** The callbacks and the quantity hook that record run `runId` into `store`. */
export function storeRecording(store: RunStore, runId: string): StoreRecording {
  const logger = new StoreLogger(store, runId);
  return {
    callbacks: [logger, new SystemMonitor(store, runId), new StoreStopWatcher(store, runId)],
    recordQuantities(tracker) {
      tracker.subscribe(logger.logQuantity);
      const warn = tracker.warn;
      tracker.warn = (message, step) => {
        warn(message, step);
        store.event(runId, "warning", message.replace(/^gradscope: /, ""), step);
      };
    },
  };
}
