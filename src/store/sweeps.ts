import type Database from "better-sqlite3";
import { openDatabase } from "./database.ts";
import { RunLookupError, type RunStatus } from "./runStore.ts";

/** Where a trial is: waiting, training, or how it ended. */
export type TrialStatus = "pending" | "running" | "completed" | "stopped" | "failed" | "interrupted";

/** How a sweep is: running, or how it ended. */
export type SweepStatus = "running" | "completed" | "interrupted" | "failed";

/** One row of the sweeps table, with its JSON columns parsed. */
export interface SweepRecord {
  id: string;
  name: string;
  /** The validated sweep file (method, parameters, metric, budget, early stopping). */
  spec: unknown;
  /** The base config every trial starts from (resolved, before defaults). */
  base: unknown;
  status: SweepStatus;
  /** The sweep's folder: base.yaml and each trial's log. */
  directory: string;
  createdAt: number;
  endedAt: number | null;
}

/** One trial of a sweep: its parameters, its run once started, and how it ended. */
export interface TrialRecord {
  sweepId: string;
  number: number;
  params: Record<string, unknown>;
  status: TrialStatus;
  /** How many times a worker started it (a retry after a worker died counts again). */
  attempts: number;
  runId: string | null;
  directory: string | null;
  /** The sweep's metric at the trial's end (null when it failed or never logged it). */
  metric: number | null;
  /** The early-stopping rule (or ASHA rung) that stopped the trial. */
  stoppedBy: string | null;
  /** Optimizer steps trained, and the steps the full schedule has. */
  steps: number | null;
  plannedSteps: number | null;
  /** Why it failed, when it did. */
  message: string | null;
  createdAt: number;
  endedAt: number | null;
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
  };
}

/**
 * The sweeps of a run store (the same SQLite file as the runs; each started trial is a run of
 * it): a sweep's spec and status, its trials, and the rung values successive halving compares.
 * Coordinator, workers and trials each open their own connection; every write is its own
 * transaction, so they may write at once.
 */
export class SweepStore {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    this.db = openDatabase(path);
  }

  /** Registers a running sweep. */
  createSweep(sweep: { id: string; name: string; spec: unknown; base: unknown; directory: string }): void {
    this.db
      .prepare("INSERT INTO sweeps (id, name, spec, base, status, directory, created_at) VALUES (?, ?, ?, ?, 'running', ?, ?)")
      .run(sweep.id, sweep.name, JSON.stringify(sweep.spec), JSON.stringify(sweep.base), sweep.directory, now());
  }

  /** Whether a sweep with exactly this id exists. */
  hasSweep(id: string): boolean {
    return this.db.prepare("SELECT 1 FROM sweeps WHERE id = ?").get(id) !== undefined;
  }

  /** One sweep by id (or unique id prefix); throws naming the id when there is none or several. */
  getSweep(idOrPrefix: string): SweepRecord {
    const rows = this.db.prepare("SELECT * FROM sweeps WHERE id = ? OR id LIKE ? ORDER BY id").all(idOrPrefix, `${idOrPrefix.replace(/[%_]/g, "")}%`) as Array<
      Record<string, unknown>
    >;
    const exact = rows.find((r) => r.id === idOrPrefix);
    if (exact) return toSweep(exact);
    if (rows.length === 1) return toSweep(rows[0]);
    if (rows.length === 0) throw new RunLookupError(`gradscope: no sweep "${idOrPrefix}" in ${this.path}`);
    throw new RunLookupError(`gradscope: "${idOrPrefix}" matches ${rows.length} sweeps (${rows.map((r) => r.id).join(", ")}); give more of the id`);
  }

  /** Every sweep, newest first. */
  listSweeps(): SweepRecord[] {
    return (this.db.prepare("SELECT * FROM sweeps ORDER BY created_at DESC").all() as Array<Record<string, unknown>>).map(toSweep);
  }

  /** Records how a sweep ended. */
  finishSweep(id: string, status: Exclude<SweepStatus, "running">): void {
    this.db.prepare("UPDATE sweeps SET status = ?, ended_at = ? WHERE id = ?").run(status, now(), id);
  }

  /** Adds a pending trial with its parameters. */
  addTrial(sweepId: string, number: number, params: Record<string, unknown>): void {
    this.db.prepare("INSERT INTO trials (sweep_id, number, params, status, created_at) VALUES (?, ?, ?, 'pending', ?)").run(sweepId, number, JSON.stringify(params), now());
  }

  /** Marks a trial as running in a new attempt. */
  startTrial(sweepId: string, number: number): void {
    this.db.prepare("UPDATE trials SET status = 'running', attempts = attempts + 1 WHERE sweep_id = ? AND number = ?").run(sweepId, number);
  }

  /** Links a trial to the run that trains it, and the steps its full schedule has. */
  attachRun(sweepId: string, number: number, run: { runId: string; directory: string; plannedSteps: number }): void {
    this.db
      .prepare("UPDATE trials SET run_id = ?, directory = ?, planned_steps = ? WHERE sweep_id = ? AND number = ?")
      .run(run.runId, run.directory, run.plannedSteps, sweepId, number);
  }

  /** Records how a trial ended. */
  finishTrial(
    sweepId: string,
    number: number,
    end: { status: Exclude<TrialStatus, "pending" | "running">; metric?: number | null; stoppedBy?: string | null; steps?: number | null; message?: string | null },
  ): void {
    const metric = end.metric === undefined || end.metric === null || !Number.isFinite(end.metric) ? null : end.metric;
    this.db
      .prepare("UPDATE trials SET status = ?, metric = ?, stopped_by = ?, steps = COALESCE(?, steps), message = ?, ended_at = ? WHERE sweep_id = ? AND number = ?")
      .run(end.status, metric, end.stoppedBy ?? null, end.steps ?? null, end.message ?? null, now(), sweepId, number);
  }

  /** One trial. */
  trial(sweepId: string, number: number): TrialRecord {
    const row = this.db.prepare("SELECT * FROM trials WHERE sweep_id = ? AND number = ?").get(sweepId, number) as Record<string, unknown> | undefined;
    if (!row) throw new RunLookupError(`gradscope: sweep ${sweepId} has no trial ${number} in ${this.path}`);
    return toTrial(row);
  }

  /** A sweep's trials by number. */
  trials(sweepId: string): TrialRecord[] {
    return (this.db.prepare("SELECT * FROM trials WHERE sweep_id = ? ORDER BY number").all(sweepId) as Array<Record<string, unknown>>).map(toTrial);
  }

  /** Records a trial's metric at a rung (an epoch) of successive halving. */
  recordRung(sweepId: string, rung: number, trial: number, value: number): void {
    this.db
      .prepare("INSERT INTO trial_rungs (sweep_id, rung, trial, value) VALUES (?, ?, ?, ?) ON CONFLICT (sweep_id, rung, trial) DO UPDATE SET value = excluded.value")
      .run(sweepId, rung, trial, Number.isFinite(value) ? value : null);
  }

  /** The metric of every trial that reached a rung, by trial number (null: not finite). */
  rungValues(sweepId: string, rung: number): Map<number, number | null> {
    const rows = this.db.prepare("SELECT trial, value FROM trial_rungs WHERE sweep_id = ? AND rung = ?").all(sweepId, rung) as Array<{ trial: number; value: number | null }>;
    return new Map(rows.map((r) => [Number(r.trial), r.value === null ? null : Number(r.value)]));
  }

  /** The status and summary (summary.json) of the run that trained a trial, or null. */
  runOutcome(runId: string): { status: RunStatus; summary: unknown; stopReason: string | null; error: string | null } | null {
    const row = this.db.prepare("SELECT status, summary FROM runs WHERE id = ?").get(runId) as { status: string; summary: string | null } | undefined;
    if (!row) return null;
    const lastEvent = (kind: string) =>
      (this.db.prepare("SELECT message FROM events WHERE run_id = ? AND kind = ? ORDER BY wall_time DESC LIMIT 1").pluck().get(runId, kind) as string | undefined) ?? null;
    return { status: row.status as RunStatus, summary: json(row.summary), stopReason: lastEvent("stop"), error: lastEvent("error") };
  }

  /** Closes this connection. */
  close(): void {
    this.db.close();
  }
}
