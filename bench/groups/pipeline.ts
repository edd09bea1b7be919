// The data pipeline: the share of a training epoch of examples/fashion-mnist-resnet20.yaml
// (ResNet-20 with random crop + flip, economy quantities) spent waiting for batches, with the
// batches prepared on the prefetch worker (the default, 2 ahead) and on the training thread.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildData, buildTraining } from "../../src/config/build.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { DataLoader } from "../../src/data/loader.ts";
import type { BenchGroup, BenchRow } from "../registry.ts";
import { allThreads } from "../threadCount.ts";

/** Steps of the epoch measured: its first ones (the whole epoch is 469 steps of several seconds). */
const steps = 20;

// Times each request `fit` makes for a batch: the first (the worker's start and a batch made from
// nothing) apart from the rest.
function timeBatchRequests(loader: DataLoader): { firstMs: number; waitMs: number } {
  const timing = { firstMs: 0, waitMs: 0 };
  const batches = loader.batches.bind(loader);
  loader.batches = (...args) => {
    const inner = batches(...args);
    let first = true;
    return (function* () {
      for (;;) {
        const asked = performance.now();
        const next = inner.next();
        const waited = performance.now() - asked;
        if (next.done) return;
        if (first) timing.firstMs = waited;
        else timing.waitMs += waited;
        first = false;
        yield next.value;
      }
    })();
  };
  return timing;
}

/** The share of `steps` steps of the example's epoch (after its first batch) spent waiting for a batch, with `prefetch` batches ahead. */
async function waitingShare(prefetch: number): Promise<{ share: number; firstMs: number; epochMs: number }> {
  const config = fileURLToPath(new URL("../../examples/fashion-mnist-resnet20.yaml", import.meta.url));
  const runs = mkdtempSync(join(tmpdir(), "gradscope-bench-"));
  const loaded = loadConfig([config], [`data.limit=${steps * 128}`, `data.prefetch=${prefetch}`, "training.epochs=1", `training.runs_dir=${runs}`]);
  const data = buildData(loaded);
  const { trainer, model, optimizer, tracker } = buildTraining(loaded, data, runs);
  // The quantities skipped under train-mode batch norm say so once; not in the table.
  if (tracker) tracker.warn = () => {};
  const timing = timeBatchRequests(data.train);
  const started = performance.now();
  await trainer.fit(data.train);
  const epochMs = performance.now() - started - timing.firstMs;
  await data.train.close();
  optimizer.dispose();
  model.dispose();
  return { share: timing.waitMs / epochMs, firstMs: timing.firstMs, epochMs };
}

function row(prefetch: number): BenchRow {
  return {
    name: `Fashion-MNIST ResNet-20 epoch (crop + flip, economy), waiting for batches, prefetch ${prefetch}, all threads`,
    threads: allThreads,
    measure: async () => {
      const { share, firstMs, epochMs } = await waitingShare(prefetch);
      return {
        value: 100 * share,
        unit: "% of the epoch",
        digits: 2,
        note: `its first ${steps} steps, ${(epochMs / 1000).toFixed(1)} s after the first batch (${firstMs.toFixed(0)} ms)`,
      };
    },
  };
}

export const pipelineGroup: BenchGroup = { name: "pipeline", rows: [row(2), row(0)] };
