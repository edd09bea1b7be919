import { basename, join } from "node:path";
import { stringify } from "yaml";
import type { QuantitySubscriber } from "../../quantities/tracker.ts";
import { sessionStartEvent, storedValueEvents, textEvent } from "../../store/tfevents.ts";
import { TfEventsFile } from "../../store/tfeventsFile.ts";
import type { Callback, Logs } from "../callback.ts";
import { folderProblem } from "../files.ts";
import type { Trainer } from "../trainer.ts";
import { type SeriesSink, StoreLogger } from "./storeLogger.ts";

/** Options of the `TensorBoardLogger`. */
export interface TensorBoardLoggerOptions {
  /** The folder of the run's event files (made when training starts; `tensorboard --logdir` it or a parent). */
  dir: string;
  /** The longest a logged value waits in memory before it is written to the file, in seconds (default 2). */
  flushSecs?: number;
  /** The run's resolved config, shown in TensorBoard's Text tab under the tag `config`. */
  config?: unknown;
}

/**
 * Where a run's event files go: `<run dir>/tensorboard`, or with a `dir` given, its subfolder
 * named by the run's id, so that runs given one dir appear side by side in
 * `tensorboard --logdir <dir>` (and a resumed run continues in its own).
 */
export function tensorBoardFolder(runDirectory: string, dir?: string): string {
  return dir === undefined ? join(runDirectory, "tensorboard") : join(dir, basename(runDirectory));
}

// What a checkpoint carries: the series' state, and the last epoch's logs (see onTrainBegin).
interface TensorBoardLoggerState {
  series: unknown;
  lastEpoch: { step: number; logs: Logs } | null;
}

// YAML as a Markdown code block (the text plugin renders Markdown): four spaces before each line.
const codeBlock = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");

/**
 * Writes a TensorBoard event file while the run trains: the series the run store gets (the
 * `train/`, `epoch/`, `hyper/` and `quantities/` keys, values as the store's `StoredValue`s:
 * per-parameter lists as `<key>/<parameter name>`, 2-D histograms as their two marginals), and
 * the run's config as text. Subscribe it to a quantity tracker for the quantities
 * (`tracker.subscribe(logger.logQuantity)`). Values reach the file within `flushSecs`, at each
 * epoch's end, before each checkpoint and when training ends or is interrupted.
 *
 * Each start of training (a resumed run too) opens a new file in `dir`, which TensorBoard reads
 * as one run with the earlier files. Each file starts with a SessionLog START at its first step;
 * in a resumed run's file it makes TensorBoard drop what the earlier files hold at that step and
 * after (values a crashed process logged after the checkpoint the run resumes from), and the
 * logger writes the checkpoint's epoch values again where they sit at that step. Config key
 * `loggers.tensorboard`.
 */
export class TensorBoardLogger implements Callback {
  readonly name = "tensorboard";
  readonly dir: string;
  readonly flushSecs: number;
  /** A tracker subscriber: `tracker.subscribe(tensorboardLogger.logQuantity)`. */
  readonly logQuantity: QuantitySubscriber;
  private readonly config: unknown;
  // The store logger's choice of series and keys, recording into the event file.
  private readonly series: StoreLogger;
  private file: TfEventsFile | null = null;
  private parameterNames: string[] = [];
  private lastEpoch: TensorBoardLoggerState["lastEpoch"] = null;

  /** Checks the options; nothing is created before training starts. */
  constructor(options: TensorBoardLoggerOptions) {
    const { dir, flushSecs = 2 } = options;
    if (typeof dir !== "string" || dir === "") throw new Error(`gradscope: TensorBoardLogger dir: expected a folder path, got ${JSON.stringify(dir)}`);
    const problem = folderProblem(dir);
    if (problem) throw new Error(`gradscope: TensorBoardLogger dir: cannot hold event files in ${dir}: ${problem}`);
    if (!(flushSecs > 0 && Number.isFinite(flushSecs))) throw new Error(`gradscope: TensorBoardLogger flushSecs: expected a positive number of seconds, got ${flushSecs}`);
    this.dir = dir;
    this.flushSecs = flushSecs;
    this.config = options.config;
    const sink: SeriesSink = {
      log: (_runId, key, step, value, wallTime = Date.now() / 1000) => this.open().append(storedValueEvents(wallTime, step, key, value, this.parameterNames)),
      setParameters: (_runId, names) => {
        this.parameterNames = names;
      },
      flush: () => this.file?.flush(),
    };
    this.series = new StoreLogger(sink, "");
    this.logQuantity = this.series.logQuantity;
  }

  private open(): TfEventsFile {
    if (!this.file) throw new Error("gradscope: TensorBoardLogger got a value outside training (before onTrainBegin or after onTrainEnd)");
    return this.file;
  }

  onTrainBegin(trainer: Trainer, logs: Logs): void {
    const file = new TfEventsFile(this.dir, this.flushSecs);
    this.file = file;
    const now = Date.now() / 1000;
    // Every start, the first too: TensorBoard's loaders take the first START of a run for its
    // beginning and only the later ones for restarts.
    file.append([sessionStartEvent(now, logs.step), ...(this.config === undefined ? [] : [textEvent(now, logs.step, "config", codeBlock(stringify(this.config)))])]);
    this.series.onTrainBegin(trainer);
    // A checkpoint written at an epoch's end resumes at the step that epoch's values were
    // logged at, which the START just hid: the resumed run would not log them again.
    if (logs.step > 0 && this.lastEpoch?.step === logs.step) this.series.onEpochEnd(trainer, this.lastEpoch.logs);
    file.flush();
  }

  onBatchEnd(trainer: Trainer, logs: Logs): void {
    this.series.onBatchEnd(trainer, logs);
  }

  onEpochEnd(trainer: Trainer, logs: Logs): void {
    this.series.onEpochEnd(trainer, logs);
    this.lastEpoch = { step: logs.step, logs: { ...logs } };
    this.open().flush();
  }

  beforeCheckpoint(): void {
    // What was logged before the checkpoint is on disk with it: a run resumed from it after a
    // crash would not log it again.
    this.series.beforeCheckpoint();
  }

  onTrainEnd(): void {
    this.file?.close();
    this.file = null;
  }

  stateDict(): TensorBoardLoggerState {
    return { series: this.series.stateDict(), lastEpoch: this.lastEpoch };
  }

  loadStateDict(state: unknown): void {
    const { series, lastEpoch } = state as TensorBoardLoggerState;
    this.series.loadStateDict(series);
    this.lastEpoch = lastEpoch;
  }
}
