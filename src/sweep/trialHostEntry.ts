// The entry of a trial host's process (trialHost.ts), started with <stop|finish> (WhenOrphaned):
// it trains the trials its worker sends it over the IPC channel ({ trial: TrialRequest }), one
// after another, and answers each with { taken: true } once it has it (a host that dies before
// that ended no attempt of the trial) and { ended: <runTrial's exit code> }, once it has written
// its end marker on its stdout and its stderr (TrialOutput). Its store's path or URL and its
// marker come in the environment (TRIAL_STORE_VARIABLE: not in `ps`; TRIAL_END_MARKER_VARIABLE).
import { closeSync, openSync, writeSync } from "node:fs";
import { resetBackend } from "../engine/backend.ts";
import { runTrial } from "./trialProcess.ts";
import { isTrialMessage, TRIAL_END_MARKER_VARIABLE, TRIAL_STORE_VARIABLE, type WhenOrphaned } from "./trialProtocol.ts";

// A setting the worker gives its host in the environment.
function fromWorker(name: string): string {
  const value = process.env[name];
  if (value) return value;
  process.stderr.write(`gradscope: a trial host's process needs ${name} in its environment (its worker sets it)\n`);
  process.exit(2);
}
const storePath = fromWorker(TRIAL_STORE_VARIABLE);
const endMarker = fromWorker(TRIAL_END_MARKER_VARIABLE);
// What a trial writes goes straight to its log file, so that the log is whole even when the
// worker that started the host is stopped or dead. Only what bypasses these streams (native
// code's output, a fatal error of V8) and what the host writes between trials goes through the
// pipes to the worker, which cuts them into trials at the end markers (TrialOutput); with the
// worker gone it has nowhere to go, and a failed write must not end a trial saving its checkpoint.
let logFd: number | null = null;
// Each stream's write to its pipe, with a callback once the pipe has the chunk (or an error).
const pipeWrites: Array<(chunk: string, written: (error?: Error | null) => void) => boolean> = [];
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", () => {});
  const toPipe = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
  pipeWrites.push(toPipe);
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (logFd === null) return toPipe(chunk, ...rest);
    writeSync(logFd, typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    const callback = rest.find((argument) => typeof argument === "function") as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof stream.write;
}

const whenOrphaned = process.argv[2] as WhenOrphaned;
if (whenOrphaned !== "stop" && whenOrphaned !== "finish") {
  process.stderr.write(`gradscope: a trial host's process takes stop or finish (what to do when its worker dies), got "${whenOrphaned}"\n`);
  process.exit(2);
}
// What the host does: wait for a trial, train it, or end it (its output let out, its markers written).
let state: "idle" | "training" | "ending" = "idle";
// The trial's `interrupt`, once its run exists.
let interruptTrial: ((why: string) => void) | null = null;
// An idle host ends with its worker; a training one stops its trial or lets it finish. Stopped by
// `interrupt`, not by a signal: after a Ctrl-C its worker passed on just before it died, a signal
// would be the second, which ends the trial without a checkpoint. Before its run exists, there is
// nothing to save, and SIGTERM ends the host. An ending one exits with its trial's code.
process.on("disconnect", () => {
  if (state === "idle") process.exit(0);
  if (state === "ending" || whenOrphaned !== "stop") return;
  if (interruptTrial) interruptTrial("interrupted: its worker died");
  else process.kill(process.pid, "SIGTERM");
});
process.on("message", (message: unknown) => {
  if (!isTrialMessage(message) || state !== "idle") {
    process.stderr.write(`gradscope: a trial host got an unexpected message: ${JSON.stringify(message)}\n`);
    process.exit(2);
  }
  state = "training";
  if (process.connected) process.send?.({ taken: true });
  const { logFile, ...trial } = message.trial;
  logFd = openSync(logFile, "a");
  // A config's engine.backend stays chosen in the process: each trial starts from the default, as
  // in a process of its own. (Its engine.threads is always set: the worker's share of the cores.)
  resetBackend();
  runTrial({ storePath, ...trial }, (interrupt) => {
    interruptTrial = interrupt;
  }).then(
    async (code) => {
      state = "ending";
      interruptTrial = null;
      await outputLetOut();
      closeSync(logFd as number);
      logFd = null;
      const marked = await markEnd();
      state = "idle";
      // A host whose marker did not reach its worker ends instead: its worker, which waits for the
      // marker, then ends the attempt at its exit, with the trial's code.
      if (process.connected && marked) process.send?.({ ended: code });
      else process.exit(code);
    },
    (error) => {
      process.stderr.write(`${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
});

// A trial's last output may still be on its way when its run ends: what it deferred (a warning
// emitted on the next tick, an immediate, a timer due) and what its threads have sent to the
// host's streams. It goes to the trial's log while that is still open: a timer set now runs after
// the timers due and the threads' messages, and an immediate set then after those queued before.
async function outputLetOut(): Promise<void> {
  await new Promise((done) => setTimeout(done, 0));
  await new Promise((done) => setImmediate(done));
}

// Writes the end marker on stdout and stderr, after all they hold: the worker puts what comes
// before it in the trial's log (TrialOutput). Whether both pipes took it (not when broken).
async function markEnd(): Promise<boolean> {
  const written = await Promise.all(pipeWrites.map((write) => new Promise<boolean>((done) => write(endMarker, (error) => done(!error)))));
  return written.every(Boolean);
}
