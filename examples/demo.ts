// `npm run demo`: trains an MLP on two interleaved spirals with the gradscope engine and
// prints, every few epochs, the loss, the accuracy and Cockpit's norm test computed from the
// per-sample gradients that the extensions produce inside the backward pass.
import { Accuracy, backwardWithExtensions, buildModel, createOptimizer, createScheduler, crossEntropy, engineMemory, mean, noGrad, Random, scope, tensor } from "../src/index.ts";

function twoSpirals(count: number, seed: number): { points: number[]; labels: number[] } {
  const random = new Random(seed);
  const points: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < count; i++) {
    const label = i % 2;
    const t = 0.5 + 3.5 * random.uniform();
    const angle = 2 * t + label * Math.PI;
    points.push(t * Math.cos(angle) * 0.5 + 0.05 * random.normal(), t * Math.sin(angle) * 0.5 + 0.05 * random.normal());
    labels.push(label);
  }
  return { points, labels };
}

const { points, labels } = twoSpirals(1024, 1);
const { model } = buildModel({ arch: "mlp", hidden: [64, 64], activation: "tanh", classes: 2 }, [2], 0);
const params = model.parameters();
const batchSize = 64;
const epochs = 60;
const optimizer = createOptimizer("sgd", params, { lr: 0.3, momentum: 0.5 });
const scheduler = createScheduler("cosine", optimizer, { t_max: epochs, eta_min: 0.01 });
const accuracy = new Accuracy(2);
const order = Array.from({ length: labels.length }, (_, i) => i);
const shuffler = new Random(2);

// Cockpit's norm test: sqrt(Σ_i‖g_i − g‖² / (N(N−1)‖g‖²)), from batchL2 and the batch gradient.
function normTest(batchL2: number, gradientSquaredNorm: number, n: number): number {
  // Σ_i‖g_i − g‖² = Σ_i‖g_i‖² − N‖g‖² since g is the mean of the g_i.
  return Math.sqrt((batchL2 - n * gradientSquaredNorm) / (n * (n - 1) * gradientSquaredNorm));
}

console.log(
  `gradscope demo: MLP 2-64-64-2 on two spirals, ${labels.length} points, batch ${batchSize}, SGD momentum 0.5 with cosine lr 0.3 → 0.01, kernels ${engineMemory.flavor}`,
);
const start = performance.now();
for (let epoch = 1; epoch <= epochs; epoch++) {
  for (let i = order.length - 1; i > 0; i--) {
    const j = shuffler.integer(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  let lossSum = 0;
  let testSum = 0;
  let batches = 0;
  for (let b = 0; b + batchSize <= order.length; b += batchSize) {
    const indices = order.slice(b, b + batchSize);
    scope(() => {
      const x = tensor(
        indices.flatMap((k) => [points[2 * k], points[2 * k + 1]]),
        [batchSize, 2],
      );
      const y = tensor(
        indices.map((k) => labels[k]),
        [batchSize],
        "int32",
      );
      optimizer.zeroGrad();
      const loss = mean(crossEntropy(model.forward(x), y));
      const stats = backwardWithExtensions(loss, { batchL2: true });
      // Σ_i ‖g_i‖² and ‖g‖² summed over all parameters.
      const sumBatchL2 = params.reduce((s, p) => s + (stats.get(p)?.batchL2?.reduce((a, v) => a + v, 0) ?? 0), 0);
      const gradNormSquared = params.reduce((s, p) => s + (p.grad?.data.reduce((a, v) => a + v * v, 0) ?? 0), 0);
      testSum += normTest(sumBatchL2, gradNormSquared, batchSize);
      lossSum += loss.item();
      batches++;
      optimizer.step();
    });
  }
  scheduler.step();
  if (epoch % 10 === 0) {
    accuracy.reset();
    scope(() => noGrad(() => accuracy.update(model.forward(tensor(points, [labels.length, 2])), tensor(labels, [labels.length], "int32"))));
    console.log(
      `epoch ${String(epoch).padStart(2)}  loss ${(lossSum / batches).toFixed(4)}  accuracy ${(100 * accuracy.compute()).toFixed(1)}%  norm test ${(testSum / batches).toFixed(3)}  lr ${scheduler.lastLr()[0].toFixed(4)}`,
    );
  }
}
console.log(`trained in ${((performance.now() - start) / 1000).toFixed(1)} s`);
