// The prefetch worker (see prefetch.ts): rebuilds the loader from plain data and shared memory,
// then fills slots with the batches of each requested pass.
import { parentPort, workerData } from "node:worker_threads";
import { buildTransform } from "./catalogue.ts";
import { datasetFromRecipe } from "./dataset.ts";
import { DataLoader } from "./loader.ts";
import { type PrefetchRequest, type PrefetchSetup, slotWords } from "./prefetch.ts";

const setup = workerData as PrefetchSetup;
const loader = new DataLoader(datasetFromRecipe(setup.recipe), { ...setup.options, transforms: setup.transforms.map(buildTransform) });
const control = new Int32Array(setup.control);
const inputs = setup.slots.map((slot) => new Float32Array(slot.inputs));
const targets = setup.slots.map((slot) => (setup.labels ? new Int32Array(slot.targets) : new Float32Array(slot.targets)));
const [REQUESTED, FINISHED, FAILED] = [0, 1, 2];

// Fills the slots in turn, each once the loader has freed it, until the pass ends or is cancelled.
function run({ pass, epoch, startBatch }: PrefetchRequest): void {
  const current = () => Atomics.load(control, REQUESTED) === pass;
  if (!current()) return;
  const order = loader.order(epoch);
  const width = loader.outputShape.reduce((a, b) => a * b, 1);
  for (let index = startBatch, k = 0; index < loader.batchesPerEpoch; index++, k = (k + 1) % inputs.length) {
    const words = slotWords(k);
    for (let state = Atomics.load(control, words.state); state !== 0; state = Atomics.load(control, words.state)) {
      if (!current()) return;
      Atomics.wait(control, words.state, state);
    }
    if (!current()) return;
    const batch = loader.batchAt(epoch, index, order, (size) => inputs[k].subarray(0, size * width));
    targets[k].set(batch.targets);
    control[words.index] = index;
    control[words.size] = batch.size;
    Atomics.store(control, words.state, 1);
    Atomics.notify(control, words.state);
  }
}

parentPort?.on("message", (request: PrefetchRequest) => {
  try {
    run(request);
  } catch (error) {
    setup.errors.postMessage(String((error as Error).stack ?? error));
    Atomics.store(control, FAILED, 1);
    for (let i = 0; i < control.length; i++) Atomics.notify(control, i);
  } finally {
    Atomics.store(control, FINISHED, request.pass);
    Atomics.notify(control, FINISHED);
  }
});
