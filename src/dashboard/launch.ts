import { extname } from "node:path";
import { Worker } from "node:worker_threads";
import type { DashboardOptions } from "./server.ts";

// Run through tsx (the tests), the worker is TypeScript too, and a worker thread does not
// inherit the --import tsx loader: it registers tsx itself before importing the worker.
function sourceWorker(options: DashboardOptions): Worker {
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./worker.ts", import.meta.url).href;
  const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { eval: true, workerData: options });
}

/**
 * Starts the dashboard in a worker thread, so that `gradscope train --dashboard` serves pages
 * and streams while the training loop keeps the main thread busy. Resolves with the page's
 * address once the server listens; `close()` stops it.
 */
export function startDashboardWorker(options: DashboardOptions): Promise<{ url: string; close(): Promise<void> }> {
  const worker = extname(new URL(import.meta.url).pathname) === ".ts" ? sourceWorker(options) : new Worker(new URL("./worker.js", import.meta.url), { workerData: options });
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
