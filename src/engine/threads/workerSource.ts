/**
 * The worker threads' program, run with `eval: true` so the same text serves the TypeScript
 * sources and the compiled package: instantiate the kernels on the shared memory, then wait on
 * this worker's slot of the control block, claim the call written there, run it and count down.
 * Layout and protocol: see pool.ts.
 */
export const workerSource = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, argsBuffer, slot, names, spinMs, layout } = workerData;
const ints = new Int32Array(control);
const base = slot * layout.slotInts;
let kernels;
try {
  const abort = () => { throw new Error("gradscope: a WASM kernel aborted"); };
  const instance = new WebAssembly.Instance(module, { env: { memory, abort } });
  kernels = names.map((name) => instance.exports[name]);
} catch {
  Atomics.store(ints, layout.startFailed, 1);
}
const args = new Float64Array(argsBuffer, slot * layout.maxArgs * 8, layout.maxArgs);
Atomics.add(ints, layout.ready, 1);
Atomics.notify(ints, layout.ready);
let seen = 0;
while (kernels) {
  const spinUntil = performance.now() + spinMs;
  while (Atomics.load(ints, base) === seen && performance.now() < spinUntil);
  while (Atomics.load(ints, base) === seen) Atomics.wait(ints, base, seen);
  seen = Atomics.load(ints, base);
  // The calling thread runs a call itself when no worker has claimed it by then.
  if (Atomics.compareExchange(ints, base + layout.claim, 0, 1) !== 0) continue;
  const call = [];
  for (let i = 0, n = ints[base + layout.argc]; i < n; i++) call.push(args[i]);
  try {
    kernels[ints[base + layout.kernel]](...call);
  } catch {
    ints[base + layout.failed] = 1;
  }
  if (Atomics.sub(ints, layout.pending, 1) === 1) Atomics.notify(ints, layout.pending);
}
`;
