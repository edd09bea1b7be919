import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildData, buildTraining } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { backward, noGrad } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";

/**
 * The fit loop's overhead on the Fashion-MNIST MLP example (the Debian data set when installed,
 * else the bundled sample): one training epoch through the
 * Trainer (data loader, transforms, callbacks, loggers, checkpoint) against the same batches
 * pushed straight through forward, backward and the optimizer. Returns both in ms.
 */
export async function loopOverhead(examples = 57000): Promise<{ epochMs: number; kernelMs: number; steps: number }> {
  const config = fileURLToPath(new URL("../examples/fashion-mnist-mlp.yaml", import.meta.url));
  const runs = mkdtempSync(join(tmpdir(), "gradscope-bench-"));
  const loaded = loadConfig([config], [`data.limit=${examples}`, "data.validation=0", "callbacks.checkpoint.monitor=null", "training.epochs=1", `training.runs_dir=${runs}`]);
  const data = buildData(loaded);
  const setup = buildTraining(loaded, data, runs);
  const batches = [...data.train.batches(0)];
  const started = performance.now();
  await setup.trainer.fit(data.train);
  const epochMs = performance.now() - started;
  const { model, optimizer } = setup;
  const shape = [...data.train.outputShape];
  const kernelStart = performance.now();
  for (const batch of batches) {
    scope(() => {
      const loss = mean(crossEntropy(model.forward(tensor(batch.inputs, [batch.size, ...shape])), tensor(batch.targets, [batch.size], "int32")));
      backward(loss);
      noGrad(() => optimizer.step());
      optimizer.zeroGrad();
    });
  }
  const kernelMs = performance.now() - kernelStart;
  optimizer.dispose();
  model.dispose();
  return { epochMs, kernelMs, steps: batches.length };
}
