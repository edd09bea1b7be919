/**
 * The worker threads' program, run with `eval: true` so the same text serves the TypeScript
 * sources and the compiled package: instantiate the kernels on the shared memory, then claim and
 * run the calls of each round as they come, and background tasks while no round is in
 * progress; sleep on the control block's generation when there is neither. Layout and
 * protocol: see pool.ts.
 */
export const workerSource = `
const { workerData } = require("node:worker_threads");
const { module, memory, buffers, slot, names, spinMs, layout } = workerData;
const ints = new Int32Array(buffers.control);
const calls = new Int32Array(buffers.calls);
const callArgs = new Float64Array(buffers.callArgs);
const tasks = new Int32Array(buffers.tasks);
const taskArgs = new Float64Array(buffers.taskArgs);
const workspaces = new Float64Array(buffers.workspaces);
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
function claimTask() {
  for (;;) {
    const head = Atomics.load(ints, layout.backgroundHead);
    if (head >= Atomics.load(ints, layout.backgroundTail)) return -1;
    if (Atomics.compareExchange(ints, layout.backgroundHead, head, head + 1) === head) return head;
  }
}
// Runs entry \`at\` of a table; returns its state: 1 done, 2 failed.
function runEntry(entries, args, at) {
  const entry = at * layout.entryInts;
  const call = [];
  for (let i = 0, n = entries[entry + layout.argc]; i < n; i++) call.push(args[at * layout.maxArgs + i]);
  const workArg = entries[entry + layout.workArg];
  if (workArg >= 0) call[workArg] = workspaces[slot];
  try {
    kernels[entries[entry + layout.kernel]](...call);
    return 1;
  } catch {
    return 2;
  }
}
// Runs the round's unclaimed calls; whether there were any.
function runCalls() {
  let any = false;
  for (let index = claimCall(); index >= 0; index = claimCall()) {
    any = true;
    if (runEntry(calls, callArgs, index) === 2) calls[index * layout.entryInts + layout.state] = 2;
    if (Atomics.sub(ints, layout.pending, 1) === 1) Atomics.notify(ints, layout.pending);
  }
  return any;
}
// Runs one background task; whether there was one.
function runTask() {
  const task = claimTask();
  if (task < 0) return false;
  const at = task % layout.backgroundCapacity;
  const state = at * layout.entryInts + layout.state;
  Atomics.store(tasks, state, runEntry(tasks, taskArgs, at));
  Atomics.notify(tasks, state);
  return true;
}
while (kernels) {
  const seen = Atomics.load(ints, layout.generation);
  // A round's calls first: between two of its tasks a worker looks for one again.
  if (slot < Atomics.load(ints, layout.active) && (runCalls() || runTask())) continue;
  const spinUntil = performance.now() + spinMs;
  while (Atomics.load(ints, layout.generation) === seen && performance.now() < spinUntil);
  Atomics.wait(ints, layout.generation, seen);
}
`;
