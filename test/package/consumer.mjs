// A user of the installed package: trains a tiny model with Cockpit quantities into a run store,
// serves the dashboard over it, trains a model of its own with a per-sample loss of its own through
// the Learner, and prints what it saw as JSON for test/package.test.ts.
// Run as `node consumer.mjs STORE_PATH` from a directory where `gradscope` is installed.
import { dirname, join } from "node:path";
import * as gradscope from "gradscope";
import {
  blobs,
  createQuantities,
  DataLoader,
  Learner,
  Linear,
  logSoftmax,
  nllLoss,
  QuantityTracker,
  ReLU,
  Sequential,
  SGD,
  SqliteRunStore,
  StoreLogger,
  serveDashboard,
  Trainer,
  toJsonl,
} from "gradscope";

const data = new DataLoader(blobs(64, 3, 2, 1, 0), { batchSize: 16, shuffle: true, seed: 0 });
const model = new Sequential([new Linear(2, 8), ReLU(), new Linear(8, 3)]);
const optimizer = new SGD(model.parameters(), { lr: 0.1 });
const tracker = new QuantityTracker(createQuantities("economy", 1), model, optimizer);
const heard = new Set();
tracker.subscribe((_step, name) => heard.add(name));

const store = new SqliteRunStore(process.argv[2]);
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

// The Learner: a per-sample loss of one's own (cross-entropy from engine ops), economy quantities,
// the run recorded as the CLI does and served live.
const ownLoss = (logits, labels) => nllLoss(logSoftmax(logits), labels);
const learner = new Learner({
  model: new Sequential([new Linear(2, 8), ReLU(), new Linear(8, 3)]),
  data: { train: new DataLoader(blobs(64, 3, 2, 1, 1), { batchSize: 16, shuffle: true, seed: 0 }) },
  loss: ownLoss,
  optimizer: { name: "sgd", lr: 0.1 },
  quantities: ["economy"],
  dashboard: { port: 0, keepOpen: true },
  runsDir: join(dirname(process.argv[2]), "learner-runs"),
  name: "own-loss",
});
const learned = await learner.fit({ epochs: 2 });
const learnerRuns = await (await fetch(new URL("/api/runs", learned.dashboardUrl))).json();
await learner.closeDashboard();
const learnerStore = new SqliteRunStore(join(dirname(process.argv[2]), "learner-runs", "gradscope.db"));
const learnerKeys = learnerStore.keys(learned.runId);
learnerStore.close();

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
    learner: {
      status: learned.status,
      dashboardRuns: learnerRuns.runs.map((run) => [run.id === learned.runId, run.status]),
      quantities: learnerKeys.scalars.filter((key) => key.startsWith("quantities/")),
    },
    dashboard: { port: dashboard.port, page: { status: page.status, type: page.type }, runs: runs.status === 200 ? JSON.parse(runs.body) : runs.status, assets },
  }),
);
store.close();
tracker.dispose();
