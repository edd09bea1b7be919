import { extname } from "node:path";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import type { DatasetRecipe } from "./dataset.ts";
import type { DataLoader, LoaderBatch, LoaderOptions } from "./loader.ts";
import type { TransformSpec } from "./transforms.ts";

// The control words shared with the worker (Int32Array over a SharedArrayBuffer):
// [requested pass (0: none), last pass the worker finished, failed flag], then per slot
// [state, batch index, batch size]. A slot is free (0) or holds a batch (1).
const REQUESTED = 0;
const FINISHED = 1;
const FAILED = 2;
const SLOTS_START = 3;
const FREE = 0;
const FULL = 1;
// How long a blocked wait sleeps before it looks at the failed flag and the error port again.
const WAIT_SLICE_MS = 200;

/** Where slot `k`'s words are in the control array. */
export const slotWords = (k: number) => ({ state: SLOTS_START + 3 * k, index: SLOTS_START + 3 * k + 1, size: SLOTS_START + 3 * k + 2 });

/** What the worker is started with: everything is plain data or shared memory. */
export interface PrefetchSetup {
  recipe: DatasetRecipe;
  transforms: TransformSpec[];
  options: Pick<LoaderOptions, "batchSize" | "shuffle" | "dropLast" | "seed">;
  control: SharedArrayBuffer;
  slots: Array<{ inputs: SharedArrayBuffer; targets: SharedArrayBuffer }>;
  /** True when the targets are int32 labels (else float32). */
  labels: boolean;
  errors: MessagePort;
}

/** A request for one pass: the batches of `epoch` from `startBatch` on. */
export interface PrefetchRequest {
  pass: number;
  epoch: number;
  startBatch: number;
}

// Run through tsx (the tests), the worker is TypeScript and registers tsx itself, as a worker
// thread does not inherit the --import loader; compiled, it is the .js beside this module. A
// failure to start is reported like a failure in a batch, so that the waiting loader hears of it.
function startWorker(setup: PrefetchSetup): Worker {
  const source = extname(new URL(import.meta.url).pathname) === ".ts";
  const entry = new URL(source ? "./prefetchWorker.ts" : "./prefetchWorker.js", import.meta.url).href;
  const register = source ? `await (await import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))})).register();` : "";
  const code = `const { workerData } = require("node:worker_threads");
(async () => { ${register} await import(${JSON.stringify(entry)}); })().catch((error) => {
  workerData.errors.postMessage(String((error && error.stack) || error));
  const control = new Int32Array(workerData.control);
  Atomics.store(control, ${FAILED}, 1);
  for (let i = 0; i < control.length; i++) Atomics.notify(control, i);
});`;
  return new Worker(code, { eval: true, workerData: setup, transferList: [setup.errors] });
}

/**
 * Prepares a loader's batches on a worker thread, `prefetch` batches ahead, in slots of shared
 * memory: the worker computes batch i (the same function of seed, epoch and index as on this
 * thread) into slot i mod prefetch, and this thread copies it out and frees the slot. Waiting
 * is synchronous (Atomics.wait), as the training step that takes the batch is.
 */
export class Prefetcher {
  private readonly worker: Worker;
  private readonly control: Int32Array;
  private readonly inputs: Float32Array[];
  private readonly targets: Array<Int32Array | Float32Array>;
  private readonly errors: MessagePort;
  private pass = 0;
  private failure: Error | null = null;

  constructor(private readonly loader: DataLoader) {
    const { dataset, options } = loader;
    const recipe = dataset.recipe?.();
    if (!recipe) throw new Error(`gradscope: prefetch needs a data set that can be shared with a worker thread; ${dataset.description} cannot (use prefetch: 0)`);
    const unbuildable = options.transforms.find((t) => !t.spec);
    if (unbuildable) throw new Error(`gradscope: prefetch rebuilds the transforms from their config form; transform ${unbuildable.name} has none (use prefetch: 0)`);
    const depth = options.prefetch;
    const inputSize = options.batchSize * loader.outputShape.reduce((a, b) => a * b, 1);
    const targetSize = options.batchSize * loader.targetSize;
    const labels = dataset.classes > 0 && !loader.softTargets;
    const slots = Array.from({ length: depth }, () => ({ inputs: new SharedArrayBuffer(4 * inputSize), targets: new SharedArrayBuffer(4 * targetSize) }));
    this.control = new Int32Array(new SharedArrayBuffer(4 * (SLOTS_START + 3 * depth)));
    this.inputs = slots.map((slot) => new Float32Array(slot.inputs));
    this.targets = slots.map((slot) => (labels ? new Int32Array(slot.targets) : new Float32Array(slot.targets)));
    const channel = new MessageChannel();
    this.errors = channel.port1;
    this.worker = startWorker({
      recipe,
      transforms: options.transforms.map((t) => t.spec as TransformSpec),
      options: { batchSize: options.batchSize, shuffle: options.shuffle, dropLast: options.dropLast, seed: options.seed },
      control: this.control.buffer as SharedArrayBuffer,
      slots,
      labels,
      errors: channel.port2,
    });
    // An idle worker must not keep the process alive.
    this.worker.unref();
    this.errors.unref();
  }

  /** The batches of `epoch` from `startBatch` on, as `DataLoader.batches` yields them. */
  *batches(epoch: number, startBatch: number, into?: (size: number) => Float32Array): Generator<LoaderBatch> {
    this.cancel();
    const pass = ++this.pass;
    Atomics.store(this.control, REQUESTED, pass);
    this.worker.postMessage({ pass, epoch, startBatch } satisfies PrefetchRequest);
    const depth = this.inputs.length;
    const width = this.loader.outputShape.reduce((a, b) => a * b, 1);
    const targetWidth = this.loader.targetSize;
    let done = false;
    try {
      for (let index = startBatch, k = 0; index < this.loader.batchesPerEpoch; index++, k = (k + 1) % depth) {
        if (Atomics.load(this.control, REQUESTED) !== pass)
          throw new Error("gradscope: this pass over the data was ended by a newer one (a prefetching DataLoader serves one pass at a time)");
        const words = slotWords(k);
        this.waitFor(words.state, FULL);
        const size = this.control[words.size];
        if (this.control[words.index] !== index) throw new Error(`gradscope: the prefetch worker delivered batch ${this.control[words.index]} where batch ${index} was due`);
        const inputs = into ? into(size) : new Float32Array(size * width);
        inputs.set(this.inputs[k].subarray(0, size * width));
        const targets = this.targets[k].slice(0, size * targetWidth);
        Atomics.store(this.control, words.state, FREE);
        Atomics.notify(this.control, words.state);
        yield { index, size, inputs, targets };
      }
      done = true;
    } finally {
      if (!done && Atomics.load(this.control, REQUESTED) === pass) this.cancel();
    }
  }

  // Ends the current pass: the worker stops at its next check, and the slots it filled are freed.
  private cancel(): void {
    const pass = Atomics.load(this.control, REQUESTED);
    if (pass === 0) return;
    Atomics.store(this.control, REQUESTED, 0);
    for (let k = 0; k < this.inputs.length; k++) Atomics.notify(this.control, slotWords(k).state);
    this.waitFor(FINISHED, pass);
    for (let k = 0; k < this.inputs.length; k++) Atomics.store(this.control, slotWords(k).state, FREE);
  }

  // Blocks until control[word] is `value`, throwing if the worker has failed.
  private waitFor(word: number, value: number): void {
    for (;;) {
      const current = Atomics.load(this.control, word);
      if (current === value) return;
      if (Atomics.load(this.control, FAILED) !== 0) throw this.failed();
      Atomics.wait(this.control, word, current, WAIT_SLICE_MS);
    }
  }

  private failed(): Error {
    const message = receiveMessageOnPort(this.errors)?.message;
    this.failure ??= new Error(`gradscope: the prefetch worker failed: ${message ?? "no message"}`);
    return this.failure;
  }

  /** Stops the worker. */
  async close(): Promise<void> {
    this.errors.close();
    await this.worker.terminate();
  }
}
