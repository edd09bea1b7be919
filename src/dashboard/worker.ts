// The dashboard server inside a worker thread of the trainer (see launch.ts).
import { parentPort, workerData } from "node:worker_threads";
import { type DashboardOptions, startDashboard } from "./server.ts";
import { yieldToTraining } from "./threadPriority.ts";

yieldToTraining();
const dashboard = await startDashboard(workerData as DashboardOptions);
parentPort?.postMessage({ url: dashboard.url });
parentPort?.on("message", async (message: string) => {
  if (message !== "close") return;
  await dashboard.close();
  parentPort?.close();
});
