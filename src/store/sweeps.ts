import { idPrefixPattern, RunLookupError, type RunStatus, startingWith } from "./runStore.ts";
import { openSqlConnection, type SqlConnection } from "./sqlConnection.ts";

/** Where a trial is: waiting, training, or how it ended. */
export type TrialStatus = "pending" | "running" | "completed" | "stopped" | "failed" | "interrupted";

/** How a sweep is: running, or how it ended. */
export type SweepStatus = "running" | "completed" | "interrupted" | "failed";

/** One row of the sweeps table, with its JSON columns parsed. */
export interface SweepRecord {
  /** The sweep's id: its folder's name. */
  id: string;
  /** The sweep's `name` (default: the sweep file's base name). */
  name: string;
  /** The validated sweep file (method, parameters, metric, budget, early stopping). */
  spec: unknown;
  /** The base config every trial starts from (resolved, before defaults). */
  base: unknown;
  /** Whether it runs, or how it ended. */
  status: SweepStatus;
  /** The sweep's folder: base.yaml and each trial's log. */
  directory: string;
  /** When it was created, in epoch seconds. */
  createdAt: number;
  /** When it ended, in epoch seconds; null while it runs. */
  endedAt: number | null;
}

/** One trial of a sweep: its parameters, its run once started, and how it ended. */
export interface TrialRecord {
  /** The sweep's id. */
  sweepId: string;
  /** The trial's number in its sweep, from 1 in the order proposed. */
  number: number;
  /** The parameters it trains with, by the sweep file's dotted config path. */
  params: Record<string, unknown>;
  /** Where it is: waiting, training, or how it ended. */
  status: TrialStatus;
  /** How many times a worker started it (a retry after a worker died counts again). */
  attempts: number;
  /** The run training it; null until it started. */
  runId: string | null;
  /** That run's directory; null until it started. */
  directory: string | null;
  /** The sweep's metric at the trial's end (null when it failed or never logged it). */
  metric: number | null;
  /** The early-stopping rule (or ASHA rung) that stopped the trial. */
  stoppedBy: string | null;
  /** Optimizer steps trained, and the steps the full schedule has. */
  steps: number | null;
  /** The steps of the trial's full schedule; null until it started. */
  plannedSteps: number | null;
  /** Why it failed, when it did. */
  message: string | null;
  /** When it was proposed, in epoch seconds. */
  createdAt: number;
  /** When it ended, in epoch seconds; null until then. */
  endedAt: number | null;
  /** The `gradscope worker` training it (host:pid) and its job on the queue, while one does. */
  worker: string | null;
  /** Its job's id on the queue, while a worker trains it; else null. */
  jobId: string | null;
  /** When its worker last said it was alive (seconds since the epoch). */
  heartbeatAt: number | null;
}

/** A running trial whose worker stopped heartbeating, as `releaseStaleTrials` handed it back. */
export interface ReleasedTrial {
  sweepId: string;
  number: number;
  /** The worker that stopped, and its job on the queue (to fail, so that the queue retries it). */
  worker: string;
  jobId: string;
  /** How long the worker had been silent. */
  silentSeconds: number;
}

const now = () => Date.now() / 1000;
const json = (text: unknown) => (text === null ? null : JSON.parse(String(text)));
const numberOrNull = (value: unknown) => (value === null ? null : Number(value));

function toSweep(row: Record<string, unknown>): SweepRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    spec: json(row.spec),
    base: json(row.base),
    status: row.status as SweepStatus,
    directory: String(row.directory),
    createdAt: Number(row.created_at),
    endedAt: numberOrNull(row.ended_at),
  };
}

const stringOrNull = (value: unknown) => (value === null || value === undefined ? null : String(value));

function toTrial(row: Record<string, unknown>): TrialRecord {
  return {
    sweepId: String(row.sweep_id),
    number: Number(row.number),
    params: json(row.params),
    status: row.status as TrialStatus,
    attempts: Number(row.attempts),
    runId: row.run_id === null ? null : String(row.run_id),
    directory: row.directory === null ? null : String(row.directory),
    metric: numberOrNull(row.metric),
    stoppedBy: row.stopped_by === null ? null : String(row.stopped_by),
    steps: numberOrNull(row.steps),
    plannedSteps: numberOrNull(row.planned_steps),
    message: row.message === null ? null : String(row.message),
    createdAt: Number(row.created_at),
    endedAt: numberOrNull(row.ended_at),
    worker: stringOrNull(row.worker),
    jobId: stringOrNull(row.job_id),
    heartbeatAt: numberOrNull(row.heartbeat_at ?? null),
  };
}

/**
 * The sweeps of a run store (the same database as the runs; each started trial is a run of it):
 * a sweep's spec and status, its trials, the rung values successive halving compares, and, for
 * sweeps across machines, which worker trains each trial, its heartbeats, and the latest
 * checkpoint of each trial's run. Coordinator, workers and trials each open their own
 * connection; every write is its own transaction, so they may write at once.
 */
export interface SweepStore {
  /** The store's path, or its URL with the password redacted. */
  readonly displayLocation: string;
  /** Registers a running sweep. */
  createSweep(sweep: {
    /** As `SweepRecord.id`. */
    id: string;
    /** As `SweepRecord.name`. */
    name: string;
    /** As `SweepRecord.spec`. */
    spec: unknown;
    /** As `SweepRecord.base`. */
    base: unknown;
    /** As `SweepRecord.directory`. */
    directory: string;
  }): void;
  /** Whether a sweep with exactly this id exists. */
  hasSweep(id: string): boolean;
  /** One sweep by id (or unique id prefix); throws a RunLookupError naming the id when there is none or several. */
  getSweep(idOrPrefix: string): SweepRecord;
  /** Every sweep, newest first. */
  listSweeps(): SweepRecord[];
  /** Records how a sweep ended. */
  finishSweep(id: string, status: Exclude<SweepStatus, "running">): void;
  /**
   * A stopped (or orphaned) sweep runs again (`gradscope sweep resume`): it is `running`, and its
   * `interrupted` trials are `pending` again. Resolves to those trials' numbers, to queue.
   */
  reopenSweep(id: string): number[];
  /** Adds a pending trial with its parameters; false when the sweep has that trial already (another coordinator proposed it). */
  addTrial(sweepId: string, number: number, params: Record<string, unknown>): boolean;
  /**
   * Makes this connection the sweep's coordinator for as long as it is open (on PostgreSQL, a
   * session advisory lock keyed by the sweep's id, so that a killed coordinator's lease ends with
   * its connection). False when another coordinator holds it.
   */
  leaseSweep(id: string): boolean;
  /** Whether a coordinator (another connection) holds the sweep's lease. */
  sweepLeased(id: string): boolean;
  /** Marks a trial as running in a new attempt (a local worker's). */
  startTrial(sweepId: string, number: number): void;
  /**
   * A `gradscope worker` takes a trial for a new attempt, as `worker` with the queue's job
   * `jobId`: only a pending trial, or a running one whose worker's heartbeat is older than
   * `staleAfterSeconds` (never one that a live worker trains). Whether it got the trial.
   */
  claimTrial(
    sweepId: string,
    number: number,
    claim: {
      /** The claiming worker, host:pid. */
      worker: string;
      /** Its job's id on the queue. */
      jobId: string;
      /** How old, in seconds, a running trial's last heartbeat must be to take it over. */
      staleAfterSeconds: number;
    },
  ): boolean;
  /** The claiming worker is alive; false when the trial is no longer its own (another took it). */
  heartbeat(
    sweepId: string,
    number: number,
    claim: {
      /** The worker, as it claimed the trial. */
      worker: string;
      /** Its job's id, as it claimed the trial. */
      jobId: string;
    },
  ): boolean;
  /**
   * The worker gives its trial back (it was stopped, or the trial's process died): the trial is
   * `pending` again, for whoever takes its job next, and its run, if its process left it
   * `running`, is marked `crashed` with `why`. False when it was no longer the worker's.
   */
  returnTrial(
    sweepId: string,
    number: number,
    claim: {
      /** The worker, as it claimed the trial. */
      worker: string;
      /** Its job's id, as it claimed the trial. */
      jobId: string;
    },
    why: string,
  ): boolean;
  /**
   * Hands back the running trials of running sweeps whose worker has not heartbeated for
   * `staleAfterSeconds(sweepId)`: each is `pending` again and its run, if still `running`, is
   * marked `crashed` (so that another machine may resume it). Each stale trial is released by
   * one caller only, however many look at once; that caller then fails its job on the queue.
   * A caller whose connection lost the server counts the silence from when it came back.
   */
  releaseStaleTrials(staleAfterSeconds: (sweepId: string) => number): ReleasedTrial[];
  /** Links a trial to the run that trains it, and the steps its full schedule has. */
  attachRun(
    sweepId: string,
    number: number,
    run: {
      /** The run's id. */
      runId: string;
      /** The run's directory. */
      directory: string;
      /** The steps of its full schedule. */
      plannedSteps: number;
    },
  ): void;
  /** Records how a trial ended. */
  finishTrial(
    sweepId: string,
    number: number,
    end: {
      /** How it ended. */
      status: Exclude<TrialStatus, "pending" | "running">;
      /** As `TrialRecord.metric`; absent or not finite: null. */
      metric?: number | null;
      /** As `TrialRecord.stoppedBy` (default null). */
      stoppedBy?: string | null;
      /** Optimizer steps trained (default: the count recorded before, if any). */
      steps?: number | null;
      /** Why it failed (default null). */
      message?: string | null;
    },
  ): void;
  /** One trial; throws a RunLookupError when the sweep has no such trial. */
  trial(sweepId: string, number: number): TrialRecord;
  /** A sweep's trials by number. */
  trials(sweepId: string): TrialRecord[];
  /** Records a trial's metric at a rung (an epoch) of successive halving. */
  recordRung(sweepId: string, rung: number, trial: number, value: number): void;
  /** The metric of every trial that reached a rung, by trial number (null: not finite). */
  rungValues(sweepId: string, rung: number): Map<number, number | null>;
  /** The status and summary (summary.json) of the run that trained a trial, or null. */
  runOutcome(runId: string): {
    /** The run's status. */
    status: RunStatus;
    /** Its summary.json as recorded at its end; null while running. */
    summary: unknown;
    /** The message of its last "stop" event, or null. */
    stopReason: string | null;
    /** The message of its last "error" event, or null. */
    error: string | null;
  } | null;
  /** Keeps `data` (a checkpoint file's bytes, saved at `step`) as the latest checkpoint of a run, replacing the one before. */
  saveCheckpoint(runId: string, step: number, data: Uint8Array): void;
  /** A run's latest checkpoint in the store, or null. */
  latestCheckpoint(runId: string): {
    /** The step it was saved at. */
    step: number;
    /** The checkpoint file's bytes. */
    data: Uint8Array;
  } | null;
  /** The step of a run's latest checkpoint in the store (without its bytes), or null. */
  checkpointStep(runId: string): number | null;
  /** Adds an event (`warning`, …) to a run that a trial trains, seen with the run's own events. */
  addRunEvent(runId: string, kind: string, message: string): void;
  /** Closes this connection. */
  close(): void;
}

/**
 * Opens the sweeps of the run store at `location` (a SQLite file's path or a postgres:// URL),
 * bringing its schema up to date; `create` false refuses a PostgreSQL database without
 * gradscope's schema. Both dialects run the same statements (SqlSweepStore).
 */
export function openSweepStore(location: string, options: { create?: boolean } = {}): SweepStore {
  return new SqlSweepStore(openSqlConnection(location, options));
}

/** The sweep store over either dialect's connection: every statement here reads the same in both. */
class SqlSweepStore implements SweepStore {
  readonly displayLocation: string;

  constructor(private readonly db: SqlConnection) {
    this.displayLocation = db.displayLocation;
  }

  private run(sql: string, ...params: unknown[]): number {
    return this.db.write([[sql, params]])[0];
  }

  createSweep(sweep: { id: string; name: string; spec: unknown; base: unknown; directory: string }): void {
    this.run(
      "INSERT INTO sweeps (id, name, spec, base, status, directory, created_at) VALUES (?, ?, ?, ?, 'running', ?, ?)",
      sweep.id,
      sweep.name,
      JSON.stringify(sweep.spec),
      JSON.stringify(sweep.base),
      sweep.directory,
      now(),
    );
  }

  hasSweep(id: string): boolean {
    return this.db.all("SELECT 1 FROM sweeps WHERE id = ?", [id]).length > 0;
  }

  getSweep(idOrPrefix: string): SweepRecord {
    const rows = startingWith(this.db.all("SELECT * FROM sweeps WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id", [idOrPrefix, idPrefixPattern(idOrPrefix)]), idOrPrefix);
    const exact = rows.find((r) => r.id === idOrPrefix);
    if (exact) return toSweep(exact);
    if (rows.length === 1) return toSweep(rows[0]);
    if (rows.length === 0) throw new RunLookupError(`gradscope: no sweep "${idOrPrefix}" in ${this.displayLocation}`);
    throw new RunLookupError(`gradscope: "${idOrPrefix}" matches ${rows.length} sweeps (${rows.map((r) => r.id).join(", ")}); give more of the id`);
  }

  listSweeps(): SweepRecord[] {
    return this.db.all("SELECT * FROM sweeps ORDER BY created_at DESC").map(toSweep);
  }

  finishSweep(id: string, status: Exclude<SweepStatus, "running">): void {
    this.run("UPDATE sweeps SET status = ?, ended_at = ? WHERE id = ?", status, now(), id);
  }

  reopenSweep(id: string): number[] {
    const interrupted = this.db
      .all<{ number: number }>("SELECT number FROM trials WHERE sweep_id = ? AND status = 'interrupted' ORDER BY number", [id])
      .map((r) => Number(r.number));
    this.db.write([
      ["UPDATE sweeps SET status = 'running', ended_at = NULL WHERE id = ?", [id]],
      ["UPDATE trials SET status = 'pending', message = NULL, ended_at = NULL WHERE sweep_id = ? AND status = 'interrupted'", [id]],
    ]);
    return interrupted;
  }

  addTrial(sweepId: string, number: number, params: Record<string, unknown>): boolean {
    return (
      this.run(
        "INSERT INTO trials (sweep_id, number, params, status, created_at) VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (sweep_id, number) DO NOTHING",
        sweepId,
        number,
        JSON.stringify(params),
        now(),
      ) > 0
    );
  }

  leaseSweep(id: string): boolean {
    return this.db.lease(`sweep:${id}`, `gradscope: lost the coordinator's lease of sweep ${id}: another coordinator took the sweep while the store was unreachable`);
  }

  sweepLeased(id: string): boolean {
    return this.db.leaseHeld(`sweep:${id}`);
  }

  startTrial(sweepId: string, number: number): void {
    this.run("UPDATE trials SET status = 'running', attempts = attempts + 1 WHERE sweep_id = ? AND number = ?", sweepId, number);
  }

  claimTrial(sweepId: string, number: number, claim: { worker: string; jobId: string; staleAfterSeconds: number }): boolean {
    const at = now();
    return (
      this.run(
        `UPDATE trials SET status = 'running', attempts = attempts + 1, worker = ?, job_id = ?, heartbeat_at = ?
         WHERE sweep_id = ? AND number = ? AND (status = 'pending' OR (status = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < ?)))`,
        claim.worker,
        claim.jobId,
        at,
        sweepId,
        number,
        at - claim.staleAfterSeconds,
      ) > 0
    );
  }

  heartbeat(sweepId: string, number: number, claim: { worker: string; jobId: string }): boolean {
    return this.run("UPDATE trials SET heartbeat_at = ? WHERE sweep_id = ? AND number = ? AND worker = ? AND job_id = ?", now(), sweepId, number, claim.worker, claim.jobId) > 0;
  }

  returnTrial(sweepId: string, number: number, claim: { worker: string; jobId: string }, why: string): boolean {
    const changed = this.run(
      "UPDATE trials SET status = 'pending', worker = NULL, heartbeat_at = NULL WHERE sweep_id = ? AND number = ? AND status = 'running' AND worker = ? AND job_id = ?",
      sweepId,
      number,
      claim.worker,
      claim.jobId,
    );
    if (changed === 0) return false;
    const { runId } = this.trial(sweepId, number);
    if (runId !== null) this.markCrashed(runId, why);
    return true;
  }

  releaseStaleTrials(staleAfterSeconds: (sweepId: string) => number): ReleasedTrial[] {
    const at = now();
    const running = this.db.all(
      `SELECT t.sweep_id, t.number, t.worker, t.job_id, t.run_id, t.heartbeat_at FROM trials t JOIN sweeps s ON s.id = t.sweep_id
       WHERE s.status = 'running' AND t.status = 'running' AND t.worker IS NOT NULL`,
    );
    // While this connection could not reach the server, no worker could heartbeat either (the
    // server was down, or its network): their silence counts from when it came back (read after
    // the query above, which is the one that reconnects).
    const back = this.db.reconnectedAt() ?? Number.NEGATIVE_INFINITY;
    const released: ReleasedTrial[] = [];
    for (const row of running) {
      const [sweepId, number, worker, jobId] = [String(row.sweep_id), Number(row.number), String(row.worker), String(row.job_id)];
      const staleBefore = at - staleAfterSeconds(sweepId);
      if (Number(row.heartbeat_at) >= staleBefore || back >= staleBefore) continue;
      // Matching the worker, its job and the stale heartbeat again: of several callers, only the
      // first changes the row, and a worker that heartbeated since keeps its trial.
      const changed = this.run(
        `UPDATE trials SET status = 'pending', worker = NULL, heartbeat_at = NULL
         WHERE sweep_id = ? AND number = ? AND status = 'running' AND worker = ? AND job_id = ? AND heartbeat_at < ?`,
        sweepId,
        number,
        worker,
        jobId,
        staleBefore,
      );
      if (changed === 0) continue;
      const silentSeconds = Math.round(at - Number(row.heartbeat_at));
      if (row.run_id !== null) this.markCrashed(String(row.run_id), `its worker ${worker} stopped heartbeating (none for ${silentSeconds} s)`);
      released.push({ sweepId, number, worker, jobId, silentSeconds });
    }
    return released;
  }

  // Marks a run its worker left running as crashed, dated by its last write (as opening a store
  // does for a dead process of its own machine), so that another worker may resume it.
  private markCrashed(runId: string, why: string): void {
    const [changed] = this.db.write([["UPDATE runs SET status = 'crashed', ended_at = COALESCE(last_write, started_at) WHERE id = ? AND status = 'running'", [runId]]]);
    if (changed > 0) this.run("INSERT INTO events (run_id, step, wall_time, kind, message) SELECT id, NULL, ended_at, 'crash', ? FROM runs WHERE id = ?", why, runId);
  }

  attachRun(sweepId: string, number: number, run: { runId: string; directory: string; plannedSteps: number }): void {
    this.run("UPDATE trials SET run_id = ?, directory = ?, planned_steps = ? WHERE sweep_id = ? AND number = ?", run.runId, run.directory, run.plannedSteps, sweepId, number);
  }

  finishTrial(
    sweepId: string,
    number: number,
    end: { status: Exclude<TrialStatus, "pending" | "running">; metric?: number | null; stoppedBy?: string | null; steps?: number | null; message?: string | null },
  ): void {
    const metric = end.metric === undefined || end.metric === null || !Number.isFinite(end.metric) ? null : end.metric;
    this.run(
      "UPDATE trials SET status = ?, metric = ?, stopped_by = ?, steps = COALESCE(?, steps), message = ?, ended_at = ? WHERE sweep_id = ? AND number = ?",
      end.status,
      metric,
      end.stoppedBy ?? null,
      end.steps ?? null,
      end.message ?? null,
      now(),
      sweepId,
      number,
    );
  }

  trial(sweepId: string, number: number): TrialRecord {
    const [row] = this.db.all("SELECT * FROM trials WHERE sweep_id = ? AND number = ?", [sweepId, number]);
    if (!row) throw new RunLookupError(`gradscope: sweep ${sweepId} has no trial ${number} in ${this.displayLocation}`);
    return toTrial(row);
  }

  trials(sweepId: string): TrialRecord[] {
    return this.db.all("SELECT * FROM trials WHERE sweep_id = ? ORDER BY number", [sweepId]).map(toTrial);
  }

  recordRung(sweepId: string, rung: number, trial: number, value: number): void {
    this.run(
      "INSERT INTO trial_rungs (sweep_id, rung, trial, value) VALUES (?, ?, ?, ?) ON CONFLICT (sweep_id, rung, trial) DO UPDATE SET value = excluded.value",
      sweepId,
      rung,
      trial,
      Number.isFinite(value) ? value : null,
    );
  }

  rungValues(sweepId: string, rung: number): Map<number, number | null> {
    const rows = this.db.all<{ trial: number; value: number | null }>("SELECT trial, value FROM trial_rungs WHERE sweep_id = ? AND rung = ?", [sweepId, rung]);
    return new Map(rows.map((r) => [Number(r.trial), r.value === null ? null : Number(r.value)]));
  }

  runOutcome(runId: string): { status: RunStatus; summary: unknown; stopReason: string | null; error: string | null } | null {
    const [row] = this.db.all<{ status: string; summary: string | null }>("SELECT status, summary FROM runs WHERE id = ?", [runId]);
    if (!row) return null;
    const lastEvent = (kind: string) =>
      this.db.all<{ message: string }>("SELECT message FROM events WHERE run_id = ? AND kind = ? ORDER BY wall_time DESC LIMIT 1", [runId, kind])[0]?.message ?? null;
    return { status: row.status as RunStatus, summary: json(row.summary), stopReason: lastEvent("stop"), error: lastEvent("error") };
  }

  saveCheckpoint(runId: string, step: number, data: Uint8Array): void {
    this.run(
      "INSERT INTO checkpoints (run_id, step, saved_at, data) VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET step = excluded.step, saved_at = excluded.saved_at, data = excluded.data",
      runId,
      step,
      now(),
      data,
    );
  }

  latestCheckpoint(runId: string): { step: number; data: Uint8Array } | null {
    const [row] = this.db.all<{ step: number; data: Uint8Array }>("SELECT step, data FROM checkpoints WHERE run_id = ?", [runId]);
    return row ? { step: Number(row.step), data: row.data } : null;
  }

  checkpointStep(runId: string): number | null {
    const [row] = this.db.all<{ step: number }>("SELECT step FROM checkpoints WHERE run_id = ?", [runId]);
    return row ? Number(row.step) : null;
  }

  addRunEvent(runId: string, kind: string, message: string): void {
    this.run("INSERT INTO events (run_id, step, wall_time, kind, message) VALUES (?, NULL, ?, ?, ?)", runId, now(), kind, message);
  }

  close(): void {
    this.db.close();
  }
}
