// The entry of a trial host's process (trialHost.ts), started with <stop|finish> (WhenOrphaned):
// it trains the trials its worker sends it over the IPC channel ({ trial: TrialRequest }), one
// after another, and answers each with { taken: true } once it has it (a host that dies before
// that ended no attempt of the trial) and { ended: <runTrial's exit code> }. Its store's path or URL
// comes in the environment (TRIAL_STORE_VARIABLE: not in `ps`).
import { closeSync, openSync, writeSync } from "node:fs";
import { resetBackend } from "../engine/backend.ts";
import { runTrial } from "./trialProcess.ts";
import { isTrialMessage, TRIAL_STORE_VARIABLE, type WhenOrphaned } from "./trialProtocol.ts";

const storePath = process.env[TRIAL_STORE_VARIABLE];
if (!storePath) {
  process.stderr.write(`gradscope: a trial host's process needs its store in ${TRIAL_STORE_VARIABLE}\n`);
  process.exit(2);
}
// What a trial writes goes straight to its log file, so that the log is whole even when the
// worker that started the host is stopped or dead. Only what bypasses these streams (a fatal
// error of V8 itself) goes through the pipes to the worker, which appends it to the log; with the
// worker gone it has nowhere to go, and a failed write must not end a trial saving its checkpoint.
let logFd: number | null = null;
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", () => {});
  const toPipe = stream.write.bind(stream) as (chunk: string | Uint8Array, ...rest: unknown[]) => boolean;
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
let training = false;
// The trial's `interrupt`, once its run exists.
let interruptTrial: ((why: string) => void) | null = null;
// An idle host ends with its worker; a training one stops its trial or lets it finish. Stopped by
// `interrupt`, not by a signal: after a Ctrl-C its worker passed on just before it died, a signal
// would be the second, which ends the trial without a checkpoint. Before its run exists, there is
// nothing to save, and SIGTERM ends the host.
process.on("disconnect", () => {
  if (!training) process.exit(0);
  if (whenOrphaned !== "stop") return;
  if (interruptTrial) interruptTrial("interrupted: its worker died");
  else process.kill(process.pid, "SIGTERM");
});
process.on("message", (message: unknown) => {
  if (!isTrialMessage(message) || training) {
    process.stderr.write(`gradscope: a trial host got an unexpected message: ${JSON.stringify(message)}\n`);
    process.exit(2);
  }
  training = true;
  if (process.connected) process.send?.({ taken: true });
  const { logFile, ...trial } = message.trial;
  logFd = openSync(logFile, "a");
  // A config's engine.backend stays chosen in the process: each trial starts from the default, as
  // in a process of its own. (Its engine.threads is always set: the worker's share of the cores.)
  resetBackend();
  runTrial({ storePath, ...trial }, (interrupt) => {
    interruptTrial = interrupt;
  }).then(
    (code) => {
      training = false;
      interruptTrial = null;
      closeSync(logFd as number);
      logFd = null;
      if (process.connected) process.send?.({ ended: code });
      else process.exit(code);
    },
    (error) => {
      process.stderr.write(`${(error as Error).stack ?? error}\n`);
      process.exit(1);
    },
  );
});
