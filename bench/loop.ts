import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildData, buildTraining } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { backward } from "../src/engine/autograd.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { setThreads, threadCount } from "../src/engine/threads/settings.ts";

/** One training epoch of the loop benchmark: its wall time, the part spent in the kernels, and the engine's threads. */
export interface LoopEpoch {
  epochMs: number;
  kernelMs: number;
  threads: number;
}

/**
 * The fit loop's overhead on the Fashion-MNIST MLP example (the Debian data set when installed,
 * else the bundled sample): epochs through the Trainer (data loader, callbacks, loggers,
 * checkpoint), timing inside each epoch the model's kernels, from the start of the forward pass
 * to the end of the backward pass (the loss included) and the optimizer's step and zeroGrad.
 * The overhead is the rest of the epoch. Timing both inside one epoch makes the figure immune
 * to the machine's speed changing between runs, which on a shared 2-core host moved a separate
 * bare-kernel epoch by more than the overhead itself. Epoch i runs at `threadsOfEpoch[i]` threads
 * (alternating counts puts each count's epochs moments apart).
 */
export async function loopOverhead(threadsOfEpoch: number[], examples = 57000): Promise<{ epochs: LoopEpoch[]; steps: number }> {
  const epochs = threadsOfEpoch.length;
  const config = fileURLToPath(new URL("../examples/fashion-mnist-mlp.yaml", import.meta.url));
  const runs = mkdtempSync(join(tmpdir(), "gradscope-bench-"));
  const loaded = loadConfig(
    [config],
    [`data.limit=${examples}`, "data.validation=0", "callbacks.checkpoint.monitor=null", `training.epochs=${epochs}`, `training.runs_dir=${runs}`],
  );
  const data = buildData(loaded);
  const { trainer, model, optimizer } = buildTraining(loaded, data, runs);
  let kernelMs = 0;
  let forwardStarted = 0;
  const timed =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): R => {
      const started = performance.now();
      const result = fn(...args);
      kernelMs += performance.now() - started;
      return result;
    };
  const forward = model.forward.bind(model);
  model.forward = (x: Tensor) => {
    forwardStarted = performance.now();
    return forward(x);
  };
  const innerBackward = trainer.options.backward ?? ((loss: Tensor) => backward(loss));
  trainer.options.backward = (loss, step, tracked) => {
    innerBackward(loss, step, tracked);
    kernelMs += performance.now() - forwardStarted;
  };
  optimizer.step = timed(optimizer.step.bind(optimizer));
  optimizer.zeroGrad = timed(optimizer.zeroGrad.bind(optimizer));
  // Ends each fit() after one epoch; the next fit() continues with the next epoch.
  trainer.options.callbacks.push({ name: "benchmark-epoch", onEpochEnd: (t) => t.requestStop("benchmark epoch") });
  const result: LoopEpoch[] = [];
  const threadsBefore = threadCount();
  for (const threads of threadsOfEpoch) {
    setThreads(threads);
    kernelMs = 0;
    const started = performance.now();
    await trainer.fit(data.train);
    result.push({ epochMs: performance.now() - started, kernelMs, threads });
  }
  setThreads(threadsBefore);
  optimizer.dispose();
  model.dispose();
  return { epochs: result, steps: data.train.batchesPerEpoch };
}
