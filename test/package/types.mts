// Type-checked (never run) by test/package.test.ts against the installed package's declarations,
// as a TypeScript user of `gradscope` compiles it: module and resolution NodeNext, strict.
import * as gradscope from "gradscope";
import {
  type Dashboard,
  DataLoader,
  every,
  fashionMnistSample,
  flattenInputs,
  Learner,
  type LearnerResult,
  Linear,
  logSoftmax,
  nllLoss,
  normalize,
  type QuantitySubscriber,
  type QuantityTracker,
  type QuantityValue,
  type RunRecord,
  type RunStore,
  type ServeDashboardOptions,
  SqliteRunStore,
  serveDashboard,
  type Tensor,
  type TrainerOptions,
  tensor,
} from "gradscope";
// @ts-expect-error: only the package's root is exported
import { RunStore as DeepImport } from "gradscope/dist/src/store/runStore.js";

export function watch(tracker: QuantityTracker): () => void {
  const subscriber: QuantitySubscriber = (step: number, name: string, value: QuantityValue) => console.log(step, name, value);
  return tracker.subscribe(subscriber);
}

export function serve(store: RunStore): Promise<Dashboard> {
  const options: ServeDashboardOptions = { store, port: 0, host: "127.0.0.1", token: "secret", worker: false };
  return serveDashboard(options);
}

export function usage(): { x: Tensor; runs: RunRecord[]; epochs: TrainerOptions["epochs"]; due: boolean } {
  return { x: tensor([1, 2, 3, 4], [2, 2]), runs: new SqliteRunStore("runs/gradscope.db").listRuns(), epochs: 3, due: every(2)(4) };
}

export function learn(data: DataLoader): Promise<LearnerResult> {
  // A per-sample loss of one's own: [N] values from the logits and labels.
  const ownLoss = (logits: Tensor, labels: Tensor): Tensor => nllLoss(logSoftmax(logits), labels);
  const learner = new Learner({ model: new Linear(4, 3), data: { train: data }, loss: ownLoss, optimizer: { name: "adam", lr: 1e-3 }, quantities: ["economy"], dashboard: true });
  return learner.fit({ epochs: 1 });
}

// The README's library example: the bundled sample's test set goes straight into a DataLoader.
export function readmeData(): { train: DataLoader; test: DataLoader } {
  const { train, test } = fashionMnistSample();
  const transforms = [normalize(0.286, 0.353), flattenInputs()];
  return { train: new DataLoader(train, { batchSize: 64, shuffle: true, seed: 1, transforms }), test: new DataLoader(test, { batchSize: 600, transforms }) };
}

// @ts-expect-error: an internal helper, not part of the public API
export const internal = gradscope.closestName;
export { DeepImport };
