import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import type { Readable } from "node:stream";
import { TrialOutput } from "./trialOutput.ts";
import { TRIAL_END_MARKER_VARIABLE, TRIAL_STORE_VARIABLE, type TrialExit, type TrialRequest, trialHostCommand, type WhenOrphaned } from "./trialProtocol.ts";

/**
 * A worker's trial host: a child process (trialHostEntry) that trains the worker's trials one
 * after another. A sweep of short trials would otherwise spend much of its time starting
 * processes (loading gradscope and compiling its kernels takes about half a second), and that
 * start costs more than one core, so two workers would not halve the time of one. A process
 * apart from the worker still keeps a trial's engine memory, threads and crashes its own: a
 * host that dies (a crash, a kill, a fenced attempt's exit) takes only its trial with it, and the
 * next trial starts a new host; one that dies idle costs the trial sent to it next nothing (the
 * host says when it has taken a trial).
 *
 * Everything the host writes goes to the log file of the trial it trains: the trial's output
 * directly, whatever bypasses Node's streams (native code's output, a fatal error of V8) through
 * the worker, which cuts the host's stdout and stderr into trials at the end marker the host
 * writes on each after a trial (TrialOutput); an attempt ends once the host has said how and both
 * markers have come, so its log is whole when the worker reads its last lines. It has its
 * own process group: a Ctrl-C reaches the worker alone, which passes it on once (a second one
 * would end the trial without a checkpoint). When the worker dies, its host ends once its trial
 * has (see `WhenOrphaned`).
 */
export class TrialHost {
  private child: ChildProcess | null = null;
  // Resolves once the host's process has exited and its output has all reached the log.
  private gone: Promise<TrialExit> | null = null;
  // The log files of the trials sent to the host's process, in order, and its stdout and stderr.
  private logs: string[] = [];
  private outputs: TrialOutput[] = [];
  // Hears of each end marker on the host's output streams.
  private onOutputEnd: (() => void) | null = null;
  // Ends the attempt of the trial sent to the host when its process ends.
  private onGone: ((exit: TrialExit) => void) | null = null;
  // Whether the worker passed a signal to the host since it sent it its trial.
  private signalled = false;

  constructor(
    private readonly storePath: string,
    private readonly whenOrphaned: WhenOrphaned,
  ) {}

  /**
   * Trains a trial in the host (starting its process if none lives), its output appended to
   * `request.logFile`; `onProcess` gets each process it is sent to. Resolves to how the attempt ended.
   * Rejects, before any process is started, when the log file cannot be written.
   */
  async train(request: TrialRequest, onProcess?: (child: ChildProcess) => void): Promise<TrialExit> {
    // Here, where it is the worker's error: in the host it would end the trial at its start, and
    // the host's dying words would then have nowhere to go.
    try {
      closeSync(openSync(request.logFile, "a"));
    } catch (error) {
      throw new Error(`gradscope: trial ${request.trial}'s log file ${request.logFile} cannot be written: ${(error as Error).message}`);
    }
    // A host that died before it took the trial (killed while idle, before its worker heard of
    // it) ended no attempt of it: the trial goes to a new host, once. One the worker killed did.
    for (let hosts = 1; ; hosts++) {
      const { exit, taken } = await this.send(request, onProcess);
      if (taken || this.signalled || hosts === 2) return exit;
    }
  }

  // Sends the trial to the host, starting one if none lives: how its attempt ended, and whether
  // the host had taken the trial.
  private send(request: TrialRequest, onProcess?: (child: ChildProcess) => void): Promise<{ exit: TrialExit; taken: boolean }> {
    this.start();
    const child = this.child as ChildProcess;
    const { outputs } = this;
    // Before the host can write a byte of the trial's.
    this.logs.push(request.logFile);
    const sent = this.logs.length;
    this.signalled = false;
    onProcess?.(child);
    return new Promise((done) => {
      let taken = false;
      let code: number | null = null;
      const finish = (exit: TrialExit) => {
        child.off("message", listen);
        this.onGone = null;
        this.onOutputEnd = null;
        done({ exit, taken });
      };
      // The trial ended (the host said so) and its output is all in its log (both markers came).
      const ended = () => {
        if (code !== null && outputs.every((output) => output.ended >= sent)) finish({ code, signal: null });
      };
      const listen = (message: unknown) => {
        const answer = message as { taken?: unknown; ended?: unknown } | null;
        if (answer?.taken === true) taken = true;
        if (typeof answer?.ended === "number") {
          code = answer.ended;
          ended();
        }
      };
      child.on("message", listen);
      this.onOutputEnd = ended;
      // A host that dies with the trial: how its process ended is how the trial's attempt did.
      this.onGone = finish;
      // A send that fails (the host died just now) is reported by its death.
      child.send({ trial: request }, () => {});
    });
  }

  /** Passes a signal to the host's process (Ctrl-C to its trial, or SIGKILL). */
  kill(signal: NodeJS.Signals): void {
    this.signalled = true;
    this.child?.kill(signal);
  }

  /** Ends the host once it has no trial: its process exits when its channel closes. */
  async close(): Promise<void> {
    if (this.child?.connected) this.child.disconnect();
    await this.gone;
  }

  /**
   * Starts the host's process now, unless one lives: loading gradscope in it then overlaps the
   * worker's own setting up, instead of delaying its first trial.
   */
  start(): void {
    if (this.child) return;
    const marker = Buffer.from(`gradscope-trial-end-${randomUUID()}`);
    const child = spawn(process.execPath, [...trialHostCommand(), this.whenOrphaned], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      detached: true,
      env: { ...process.env, [TRIAL_STORE_VARIABLE]: this.storePath, [TRIAL_END_MARKER_VARIABLE]: marker.toString() },
    });
    const logs: string[] = [];
    const streams = [child.stdout, child.stderr] as Readable[];
    const outputs = streams.map(() => new TrialOutput(marker, logs, () => this.onOutputEnd?.()));
    const closed = streams.map(
      (stream, index) => new Promise((done) => stream.on("data", (chunk: Buffer) => outputs[index].write(chunk)).once("close", () => done(outputs[index].end()))),
    );
    // Not the child's "close" event: once the worker has disconnected, Node does not emit it.
    const exited = new Promise<TrialExit>((done) => child.once("exit", (code, signal) => done({ code, signal })));
    const gone = Promise.all([exited, ...closed]).then(([exit]) => {
      if (this.child === child) {
        this.child = null;
        this.gone = null;
      }
      this.onGone?.(exit);
      return exit;
    });
    this.logs = logs;
    this.outputs = outputs;
    this.child = child;
    this.gone = gone;
  }
}
