/**
 * The worker threads' program, run with `eval: true` so the same text serves the TypeScript
 * sources and the compiled package: instantiate the kernels on the shared memory, then claim and
 * run the calls of each round as they come, sleeping on the control block's generation between
 * rounds. Layout and protocol: see pool.ts.
 */
export const workerSource = `
const { workerData } = require("node:worker_threads");
const { module, memory, buffers, slot, names, spinMs, layout } = workerData;
const ints = new Int32Array(buffers.control);
const calls = new Int32Array(buffers.calls);
const callArgs = new Float64Array(buffers.callArgs);
let kernels;
try {
  const abort = () => { throw new Error("gradscope: a WASM kernel aborted"); };
  const instance = new WebAssembly.Instance(module, { env: { memory, abort } });
  kernels = names.map((name) => instance.exports[name]);
} catch {
  Atomics.store(ints, layout.startFailed, 1);
}
Atomics.add(ints, layout.ready, 1);
Atomics.notify(ints, layout.ready);

// The round's next call (its index in the round), or -1; see pool.ts for the numbering.
function claimCall() {
  for (;;) {
    const claimed = Atomics.load(ints, layout.callClaimed);
    if (((Atomics.load(ints, layout.callEnd) - claimed) | 0) <= 0) return -1;
    if (Atomics.compareExchange(ints, layout.callClaimed, claimed, (claimed + 1) | 0) === claimed) return (claimed - Atomics.load(ints, layout.callBase)) | 0;
  }
}
// Runs the round's call \`at\`; a failure is marked for the calling thread to repeat and report.
function runCall(at) {
  const entry = at * layout.entryInts;
  const call = [];
  for (let i = 0, n = calls[entry + layout.argc]; i < n; i++) call.push(callArgs[at * layout.maxArgs + i]);
  try {
    kernels[calls[entry + layout.kernel]](...call);
  } catch {
    calls[entry + layout.state] = 2;
  }
}
while (kernels) {
  const seen = Atomics.load(ints, layout.generation);
  let ran = false;
  if (slot < Atomics.load(ints, layout.active)) {
    for (let index = claimCall(); index >= 0; index = claimCall()) {
      ran = true;
      runCall(index);
      if (Atomics.sub(ints, layout.pending, 1) === 1) Atomics.notify(ints, layout.pending);
    }
  }
  if (ran) continue;
  const spinUntil = performance.now() + spinMs;
  while (Atomics.load(ints, layout.generation) === seen && performance.now() < spinUntil);
  Atomics.wait(ints, layout.generation, seen);
}
`;
