// A user of the installed package: trains a tiny model with Cockpit quantities into a run store,
// serves the dashboard over it, and prints what it saw as JSON for test/package.test.ts.
// Run as `node consumer.mjs STORE_PATH` from a directory where `gradscope` is installed.
import * as gradscope from "gradscope";
import { blobs, createQuantities, DataLoader, Linear, QuantityTracker, ReLU, RunStore, Sequential, SGD, StoreLogger, serveDashboard, Trainer, toJsonl } from "gradscope";

const data = new DataLoader(blobs(64, 3, 2, 1, 0), { batchSize: 16, shuffle: true, seed: 0 });
const model = new Sequential([new Linear(2, 8), ReLU(), new Linear(8, 3)]);
const optimizer = new SGD(model.parameters(), { lr: 0.1 });
const tracker = new QuantityTracker(createQuantities("economy", 1), model, optimizer);
const heard = new Set();
tracker.subscribe((_step, name) => heard.add(name));

const store = new RunStore(process.argv[2]);
store.createRun({ id: "package-run", name: "package", config: {} });
const storeLogger = new StoreLogger(store, "package-run");
tracker.subscribe(storeLogger.logQuantity);
const dashboard = await serveDashboard({ store, port: 0 });

const trainer = new Trainer({ model, optimizer, loss: { name: "cross_entropy" }, epochs: 2, backward: (loss, step) => tracker.backward(loss, step), callbacks: [storeLogger] });
const result = await trainer.fit(data);
store.finishRun("package-run", result.status, { steps: result.position.step });

const get = async (path) => {
  const response = await fetch(new URL(path, dashboard.url));
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
};
const page = await get("/");
const runs = await get("/api/runs");
const scripts = [...[...page.body.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((match) => match[1]), "/vendor/uPlot.esm.js"];
const assets = await Promise.all(scripts.map(async (path) => ({ path, status: (await get(path)).status })));
await dashboard.close();

console.log(
  JSON.stringify({
    names: Object.keys(gradscope).sort(),
    status: result.status,
    steps: result.position.step,
    heard: [...heard].sort(),
    storedKeys: store.keys("package-run"),
    jsonlSteps: toJsonl(store, "package-run")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).step),
    dashboard: { port: dashboard.port, page: { status: page.status, type: page.type }, runs: runs.status === 200 ? JSON.parse(runs.body) : runs.status, assets },
  }),
);
store.close();
tracker.dispose();
