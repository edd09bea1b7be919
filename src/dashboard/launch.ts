import { startModuleWorker } from "../engine/moduleWorker.ts";
import type { DashboardOptions } from "./server.ts";

/**
 * Starts the dashboard in a worker thread, so that `gradscope train --dashboard` serves pages
 * and streams while the training loop keeps the main thread busy. Resolves with the page's
 * address once the server listens; `close()` stops it.
 */
export function startDashboardWorker(options: DashboardOptions): Promise<{ url: string; close(): Promise<void> }> {
  const worker = startModuleWorker(import.meta.url, "worker", { workerData: options });
  return new Promise((resolve, reject) => {
    worker.once("error", reject);
    worker.once("message", ({ url }: { url: string }) => {
      worker.off("error", reject);
      // A failing dashboard must not end the training it watches.
      worker.on("error", (error) => process.stderr.write(`gradscope: the dashboard stopped: ${error.message}\n`));
      resolve({
        url,
        close: () =>
          new Promise<void>((done) => {
            worker.once("exit", () => done());
            worker.postMessage("close");
          }),
      });
    });
  });
}
