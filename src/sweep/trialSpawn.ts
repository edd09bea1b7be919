import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrialArguments } from "./trialProcess.ts";

// The trial process's command: the compiled entry, or under tsx (the tests) the TypeScript one
// with tsx's loader, which a child process does not inherit.
function trialCommand(): string[] {
  const source = extname(fileURLToPath(import.meta.url)) === ".ts";
  const entry = fileURLToPath(new URL(source ? "./trialEntry.ts" : "./trialEntry.js", import.meta.url));
  return source ? ["--import", import.meta.resolve("tsx"), entry] : [entry];
}

/**
 * The environment variable that gives a trial's process its store: a URL's password on the
 * command line would show in `ps` to every user of the machine; the environment does not.
 */
export const TRIAL_STORE_VARIABLE = "GRADSCOPE_TRIAL_STORE";

/**
 * Starts a trial's process (trialEntry), its output appended to `logFile`, its store in
 * TRIAL_STORE_VARIABLE. It gets its own
 * process group: a Ctrl-C reaches the worker alone, which passes it on once (a second one would
 * end the trial without a checkpoint). With `channel`, it stops itself when the worker dies.
 */
export function spawnTrial(args: TrialArguments, logFile: string, options: { channel?: boolean } = {}): ChildProcess {
  const output = openSync(logFile, "a");
  try {
    const argv = [...trialCommand(), args.sweepId, String(args.trial), String(args.threads), ...(args.runsDir === undefined ? [] : [args.runsDir])];
    return spawn(process.execPath, argv, {
      stdio: ["ignore", output, output, ...(options.channel ? (["ipc"] as const) : [])],
      detached: true,
      env: { ...process.env, [TRIAL_STORE_VARIABLE]: args.storePath },
    });
  } finally {
    closeSync(output);
  }
}

/** Resolves when a trial's process has exited, with its code or the signal that ended it. */
export function trialExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((done) => child.once("exit", (code, signal) => done({ code, signal })));
}

/** How a trial's process ended, for messages: "was killed (SIGKILL)" or "ended with code 1". */
export const exitDescription = (exit: { code: number | null; signal: NodeJS.Signals | null }) =>
  exit.signal !== null ? `was killed (${exit.signal})` : `ended with code ${exit.code}`;

/** The last lines a trial's process wrote (its log file), to say why it failed. */
export function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join("\n");
  } catch {
    return "";
  }
}
