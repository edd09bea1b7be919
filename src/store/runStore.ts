// The run store's interface: what the trainer, the CLI and the dashboard ask of a store, whichever
// database holds it (sqliteRunStore.ts, the embedded default; postgres/postgresRunStore.ts, shared
// by a team). openRunStore.ts picks one from a path or a URL.
import type { RunReader } from "./runReader.ts";

/** How a run ended (or that it is still running). */
export type RunStatus = "running" | "completed" | "stopped" | "failed" | "interrupted" | "crashed";

/** One row of the runs table, with its JSON columns parsed. */
export interface RunRecord {
  /** The run's id: its directory's name, e.g. "mlp-20261207-223000". */
  id: string;
  /** The run's name: the config's `name`, or the Learner's `name` option. */
  name: string;
  /** How it ended, or "running". */
  status: RunStatus;
  /** The resolved config it was started (or last resumed) with. */
  config: unknown;
  /** When it was created, in epoch seconds. */
  startedAt: number;
  /** When it ended, in epoch seconds; null while running. */
  endedAt: number | null;
  /** Its summary.json as recorded at the end; null while running. */
  summary: unknown;
  /** The process training it (crash detection); null when none was recorded. */
  pid: number | null;
  /** Its run directory; null for a run created without one. */
  directory: string | null;
  /** The names of the model's parameters, in the order of per-parameter lists. */
  parameters: string[] | null;
  /** When (epoch seconds) a stop was requested from outside the trainer, or null. */
  stopRequestedAt: number | null;
}

/** An id (or prefix) that names no run in the store, or several. */
export class RunLookupError extends Error {
  override name = "RunLookupError";
}

/** A logged value: a scalar, a per-parameter list, or a histogram. */
export type StoredValue =
  | number
  | number[]
  | {
      /** The counts per bin; 2-D: hist[x][y]. */
      hist: number[] | number[][];
      /** The bins' edges; 2-D: [xEdges, yEdges]. */
      edges: number[] | number[][];
    };

/** The keys a run has logged, by kind. */
export interface RunKeys {
  /** The keys of scalar series, e.g. "train/loss", "quantities/NormTest". */
  scalars: string[];
  /** The keys of per-parameter list series. */
  lists: string[];
  /** The keys of histograms. */
  histograms: string[];
}

/**
 * The store of record for runs: metadata, scalars, per-parameter lists, histograms and events.
 * Every call is synchronous, as the training step that logs is. Writes are buffered and
 * committed together every `flushMs` and at `flush()` (a barrier: when it returns, every value
 * logged before it is committed) and `close()`, so the training step never waits on the database
 * for a single value, and a reader sees new data within about that interval. A run holds exactly
 * one value per key and step: writing a step again replaces it. Opening a store marks runs whose
 * process is gone as crashed, ended at their last write. All of a store's SQL lives in store/:
 * the dashboard reads through `reader`, never through the database itself.
 */
export interface RunStore {
  /** Where the store is, as `openRunStore` takes it (a URL may carry a password: do not print it). */
  readonly location: string;
  /** Where the store is, safe to print (a URL's password redacted). */
  readonly displayLocation: string;
  /** How long logged values wait before they are committed, in milliseconds. */
  readonly flushMs: number;
  /** Series reduced to step ranges, histograms and the rows written after a cursor (the dashboard's queries). */
  readonly reader: RunReader;
  /** Whether the store has a run with exactly this id. */
  hasRun(id: string): boolean;
  /** Registers a new running run, with a `start` event. */
  createRun(run: {
    /** The new run's id (unique in the store). */
    id: string;
    /** Its name. */
    name: string;
    /** Its resolved config. */
    config: unknown;
    /** Its run directory, if it has one. */
    directory?: string;
  }): void;
  /**
   * Marks an existing run (e.g. a resumed one) as running in this process again, with its
   * saved config replaced by `config` when given, its directory by `directory` when given (a
   * sweep's trial resumed on another machine runs in that machine's folder), and a `resume`
   * event at `step`.
   */
  resumeRun(id: string, step: number, config?: unknown, directory?: string): void;
  /** Records the names of a run's parameters (the order of its per-parameter lists). */
  setParameters(id: string, names: string[]): void;
  /**
   * Asks a running run to stop (its trainer checks the store between steps, checkpoints and
   * stops). Returns false when the run is not running.
   */
  requestStop(id: string): boolean;
  /** Whether a stop of the run was requested since it (re)started. */
  stopRequested(id: string): boolean;
  /** Records the end of a run with its status and summary (pending values are flushed first). */
  finishRun(id: string, status: RunStatus, summary: unknown): void;
  /** Queues one value; scalars, lists and histograms go to their own tables. */
  log(runId: string, key: string, step: number, value: StoredValue, wallTime?: number): void;
  /** Records an event (a stop, a notice, an error) immediately. */
  event(runId: string, kind: string, message: string, step?: number | null): void;
  /** Commits the queued values; returns once they are committed. */
  flush(): void;
  /** Every run, newest first. */
  listRuns(): RunRecord[];
  /** One run by id (or unique id prefix); throws a RunLookupError naming the id when there is none or several. */
  getRun(idOrPrefix: string): RunRecord;
  /** The keys a run has logged, by kind. */
  keys(runId: string): RunKeys;
  /** A run's scalar series for `key`, by step. */
  scalars(
    runId: string,
    key: string,
  ): Array<{
    /** The step. */
    step: number;
    /** When it was logged, in epoch seconds. */
    wallTime: number;
    /** The value; null where it was not finite. */
    value: number | null;
  }>;
  /** A run's list series for `key` (one value per parameter tensor per step). */
  lists(
    runId: string,
    key: string,
  ): Array<{
    /** The step. */
    step: number;
    /** When it was logged, in epoch seconds. */
    wallTime: number;
    /** One value per parameter tensor. */
    value: number[];
  }>;
  /** A run's histograms for `key`. */
  histograms(
    runId: string,
    key: string,
  ): Array<{
    /** The step. */
    step: number;
    /** When it was logged, in epoch seconds. */
    wallTime: number;
    /** The bins' edges; 2-D: [xEdges, yEdges]. */
    edges: number[] | number[][];
    /** The counts per bin; 2-D: counts[x][y]. */
    counts: number[] | number[][];
  }>;
  /** A run's events in time order. */
  events(runId: string): Array<{
    /** As `RunEvent.step`. */
    step: number | null;
    /** When, in epoch seconds. */
    wallTime: number;
    /** As `RunEvent.kind`. */
    kind: string;
    /** The text shown to the user. */
    message: string;
  }>;
  /** Deletes a run and everything it logged. */
  deleteRun(id: string): void;
  /** Flushes and closes the store. */
  close(): void;
}

/** Whether a process of this machine is alive (EPERM: alive, but another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A row of the runs table (either dialect) as a RunRecord. */
export function toRunRecord(row: Record<string, unknown>): RunRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    status: row.status as RunStatus,
    config: JSON.parse(String(row.config)),
    startedAt: Number(row.started_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    summary: row.summary === null ? null : JSON.parse(String(row.summary)),
    pid: row.pid === null ? null : Number(row.pid),
    directory: row.directory === null ? null : String(row.directory),
    parameters: row.parameters === null ? null : JSON.parse(String(row.parameters)),
    stopRequestedAt: row.stop_requested === null ? null : Number(row.stop_requested),
  };
}

/**
 * The run an id names among the rows whose id is it or starts with it (sorted by id): the exact
 * one, else the only one; throws naming the id and the store when there is none or several.
 */
export function pickRun(found: Array<Record<string, unknown>>, idOrPrefix: string, displayLocation: string): RunRecord {
  const rows = startingWith(found, idOrPrefix);
  const exact = rows.find((r) => r.id === idOrPrefix);
  if (exact) return toRunRecord(exact);
  if (rows.length === 1) return toRunRecord(rows[0]);
  if (rows.length === 0) throw new RunLookupError(`gradscope: no run "${idOrPrefix}" in ${displayLocation}`);
  throw new RunLookupError(`gradscope: "${idOrPrefix}" matches ${rows.length} runs (${rows.map((r) => r.id).join(", ")}); give more of the id`);
}

/**
 * An id prefix as a pattern for `id LIKE ? ESCAPE '\'`, in which its own `%`, `_` and `\` match
 * themselves: dropping them made a run named `my_run` unreachable by its name.
 */
export const idPrefixPattern = (idOrPrefix: string) => `${idOrPrefix.replace(/[\\%_]/g, "\\$&")}%`;

/** The rows whose id starts with `prefix`, case and all: SQLite's LIKE ignores the case of ASCII letters. */
export const startingWith = <Row extends Record<string, unknown>>(rows: Row[], prefix: string) => rows.filter((row) => String(row.id).startsWith(prefix));
