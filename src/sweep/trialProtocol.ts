// What a worker and its trial host share: the host's command, the messages between them, how an attempt ended.
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { TrialArguments } from "./trialProcess.ts";

/**
 * The environment variable that gives a trial host's process its store: a URL's password on the
 * command line would show in `ps` to every user of the machine; the environment does not.
 */
export const TRIAL_STORE_VARIABLE = "GRADSCOPE_TRIAL_STORE";

/**
 * The environment variable that gives a trial host's process the marker it writes on its stdout
 * and its stderr after each trial's output (TrialOutput): a random one per process, which no
 * trial's output holds by chance.
 */
export const TRIAL_END_MARKER_VARIABLE = "GRADSCOPE_TRIAL_END_MARKER";

/**
 * What a trial host does with its trial when its worker dies. "stop": the trial stops as Ctrl-C
 * stops it (a checkpoint, the run interrupted) rather than train on with nobody heartbeating for
 * it (a worker of a PostgreSQL sweep, whose trial another worker resumes). "finish": it trains to
 * its end and records it (a local sweep on SQLite).
 */
export type WhenOrphaned = "stop" | "finish";

/** A trial as a worker sends it to its trial host (its store is the host's), and the log file its output goes to. */
export type TrialRequest = Omit<TrialArguments, "storePath"> & { logFile: string };

/** Whether an IPC message is a worker's request to train a trial. */
export function isTrialMessage(message: unknown): message is { trial: TrialRequest } {
  const trial = (message as { trial?: Partial<TrialRequest> } | null)?.trial;
  return typeof trial?.sweepId === "string" && typeof trial.logFile === "string" && Number.isInteger(trial.trial) && Number.isInteger(trial.threads);
}

/**
 * The trial host's command (trialHostEntry): the compiled entry, or under tsx (the tests) the
 * TypeScript one with tsx's loader, which a child process does not inherit.
 */
export function trialHostCommand(): string[] {
  const source = extname(fileURLToPath(import.meta.url)) === ".ts";
  const entry = fileURLToPath(new URL(source ? "./trialHostEntry.ts" : "./trialHostEntry.js", import.meta.url));
  return source ? ["--import", import.meta.resolve("tsx"), entry] : [entry];
}

/** How a trial's attempt ended: the exit code of `gradscope train` it returned, or how its host's process ended. */
export interface TrialExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** How a trial's attempt ended, for messages: "was killed (SIGKILL)" or "ended with code 1". */
export const exitDescription = (exit: TrialExit) => (exit.signal !== null ? `was killed (${exit.signal})` : `ended with code ${exit.code}`);

/** The last lines a trial's process wrote (its log file), to say why it failed. */
export function logTail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-3).join("\n");
  } catch {
    return "";
  }
}
