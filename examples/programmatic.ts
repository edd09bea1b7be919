// The library API without YAML: data, model, optimizer, scheduler and the Trainer, plus
// Cockpit's norm test computed from per-sample gradients inside the same backward pass.
// node --import tsx examples/programmatic.ts
import {
  type ArrayDataset,
  backwardWithExtensions,
  buildModel,
  createOptimizer,
  createScheduler,
  DataLoader,
  fashionMnistSample,
  flattenInputs,
  normalize,
  type Tensor,
  Trainer,
} from "../src/index.ts";

const { train, test } = fashionMnistSample(); // 2400 training and 600 test images, bundled
const transforms = [normalize(0.286, 0.353), flattenInputs()];
const trainLoader = new DataLoader(train, { batchSize: 64, shuffle: true, seed: 1, transforms });
const testLoader = new DataLoader(test as ArrayDataset, { batchSize: 600, transforms });

const { model } = buildModel({ arch: "mlp", hidden: [128], classes: 10 }, [...trainLoader.outputShape], 0);
const optimizer = createOptimizer("adam", model.parameters(), { lr: 2e-3 });
const scheduler = createScheduler("cosine", optimizer, { t_max: 8 });

// Norm test: sqrt(Σ_i‖g_i − g‖² / (N(N−1)‖g‖²)) from batchL2 (Σ_i‖g_i‖²) and the batch gradient.
const normTests: number[] = [];
function backwardWithNormTest(loss: Tensor): void {
  const stats = backwardWithExtensions(loss, { batchL2: true });
  const params = model.parameters();
  const n = stats.get(params[0])?.batchL2?.length ?? 0;
  const sumL2 = params.reduce((s, p) => s + (stats.get(p)?.batchL2?.reduce((a, v) => a + v, 0) ?? 0), 0);
  const gradSquared = params.reduce((s, p) => s + (p.grad?.data.reduce((a, v) => a + v * v, 0) ?? 0), 0);
  if (n > 1) normTests.push(Math.sqrt((sumL2 - n * gradSquared) / (n * (n - 1) * gradSquared)));
}

const trainer = new Trainer({
  model,
  optimizer,
  scheduler,
  loss: { name: "cross_entropy" },
  epochs: 8,
  metrics: [{ name: "accuracy" }],
  backward: backwardWithNormTest,
  callbacks: [
    {
      name: "print",
      onEpochEnd: (_trainer, logs) => {
        const mean = normTests.reduce((a, b) => a + b, 0) / normTests.length;
        console.log(`epoch ${logs.epoch}  loss ${logs.loss.toFixed(4)}  accuracy ${logs.accuracy.toFixed(3)}  mean norm test ${mean.toFixed(3)}  lr ${logs.lr.toFixed(5)}`);
        normTests.length = 0;
      },
    },
  ],
});
const result = await trainer.fit(trainLoader);
const evaluation = trainer.evaluate(testLoader, "test_");
console.log(`${result.status}: test accuracy ${evaluation.test_accuracy.toFixed(3)} on ${test?.length} held-out images`);
optimizer.dispose();
model.dispose();
