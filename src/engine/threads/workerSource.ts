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
const backgroundCalls = new Int32Array(buffers.backgroundCalls);
const backgroundArgs = new Float64Array(buffers.backgroundArgs);
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

// The next call numbered in [base, end) (its index from base), or -1; see pool.ts for the numbering.
function claimNext(claimedAt, endAt, baseAt) {
  for (;;) {
    const claimed = Atomics.load(ints, claimedAt);
    if (((Atomics.load(ints, endAt) - claimed) | 0) <= 0) return -1;
    if (Atomics.compareExchange(ints, claimedAt, claimed, (claimed + 1) | 0) === claimed) return (claimed - Atomics.load(ints, baseAt)) | 0;
  }
}
// Runs call \`at\` of a table; a failure is marked for the calling thread to repeat and report.
// A background call gets this thread's background workspace.
function runCall(entries, argTable, at, background) {
  const entry = at * layout.entryInts;
  const call = [];
  for (let i = 0, n = entries[entry + layout.argc]; i < n; i++) call.push(argTable[at * layout.maxArgs + i]);
  if (background) call[entries[entry + layout.workspaceArg]] = ints[layout.backgroundWorkspace + slot];
  try {
    kernels[entries[entry + layout.kernel]](...call);
  } catch {
    entries[entry + layout.state] = 2;
  }
}
function finished(at) {
  if (Atomics.sub(ints, at, 1) === 1) Atomics.notify(ints, at);
}
while (kernels) {
  const seen = Atomics.load(ints, layout.generation);
  let ran = false;
  if (slot < Atomics.load(ints, layout.active)) {
    for (let index = claimNext(layout.callClaimed, layout.callEnd, layout.callBase); index >= 0; index = claimNext(layout.callClaimed, layout.callEnd, layout.callBase)) {
      ran = true;
      runCall(calls, callArgs, index, false);
      finished(layout.pending);
    }
    // One background call at a time, so that a round posted meanwhile is taken next.
    const index = ran ? -1 : claimNext(layout.backgroundClaimed, layout.backgroundEnd, layout.backgroundBase);
    if (index >= 0) {
      ran = true;
      runCall(backgroundCalls, backgroundArgs, index, true);
      const state = index * layout.entryInts + layout.state;
      Atomics.compareExchange(backgroundCalls, state, 0, 1); // done, unless it failed
      Atomics.notify(backgroundCalls, state);
    }
  }
  if (ran) continue;
  const spinUntil = performance.now() + spinMs;
  while (Atomics.load(ints, layout.generation) === seen && performance.now() < spinUntil);
  Atomics.wait(ints, layout.generation, seen);
}
`;
