// The library API: a Learner trains a model with a per-sample loss of your own, computes Cockpit's
// economy quantities as it goes, serves the live dashboard, and records the run as
// `gradscope train` does (run directory, checkpoints, the run store; `gradscope ui` shows it later).
// node --import tsx examples/programmatic.ts [runs-dir]
import { join } from "node:path";
import { buildModel, DataLoader, exp, fashionMnistSample, flattenInputs, Learner, logSoftmax, mul, nllLoss, normalize, openRunStore, sub, type Tensor } from "../src/index.ts";

const runsDir = process.argv[2] ?? "runs";
const { train, test } = fashionMnistSample(); // 2400 training and 600 test images, bundled
const transforms = [normalize(0.286, 0.353), flattenInputs()];
const trainLoader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 1, transforms });
const testLoader = new DataLoader(test, { batchSize: 600, transforms });
const { model } = buildModel({ arch: "mlp", hidden: [128], classes: 10 }, [...trainLoader.outputShape], 0);

// Focal loss (Lin et al. 2017, γ = 2) per sample: −(1 − p_y)² log p_y, from engine ops.
function focalLoss(logits: Tensor, labels: Tensor): Tensor {
  const crossEntropy = nllLoss(logSoftmax(logits), labels);
  const miss = sub(exp(mul(crossEntropy, -1)), 1); // p_y − 1
  return mul(mul(miss, miss), crossEntropy);
}

const learner = new Learner({
  model,
  data: { train: trainLoader, test: testLoader },
  loss: focalLoss,
  optimizer: { name: "adam", lr: 2e-3 },
  scheduler: { name: "cosine", t_max: 8 },
  metrics: ["accuracy"],
  quantities: ["economy"],
  trackEvery: 5,
  dashboard: true,
  runsDir,
  name: "programmatic",
  log: true,
});
const result = await learner.fit({ epochs: 8, signals: true });

const store = openRunStore(join(runsDir, "gradscope.db"));
const normTests = store.scalars(result.runId, "quantities/NormTest").map((row) => row.value ?? Number.NaN);
store.close();
const meanNormTest = normTests.reduce((a, b) => a + b, 0) / normTests.length;
console.log(
  `${result.status}: test accuracy ${result.metrics.test_accuracy?.toFixed(3)}, mean norm test ${meanNormTest.toFixed(3)} over ${normTests.length} steps; run ${result.directory}`,
);
