import type Database from "better-sqlite3";
import { BUSY_TIMEOUT_MS, openDatabase } from "./database.ts";
import type { RunReader } from "./runReader.ts";
import { idPrefixPattern, pickRun, processAlive, type RunKeys, type RunRecord, type RunStatus, type RunStore, type StoredValue, toRunRecord } from "./runStore.ts";
import { SqliteRunReader } from "./sqliteRunReader.ts";

interface PendingRow {
  table: "scalars" | "lists" | "histograms";
  values: unknown[];
}

// Idempotent per (run, key, step): a resumed run writes the steps after its checkpoint again,
// and the last write of a step is the one kept.
const upserts = {
  scalars:
    "INSERT INTO scalars (run_id, key, step, wall_time, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, value = excluded.value",
  lists:
    "INSERT INTO lists (run_id, key, step, wall_time, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, value = excluded.value",
  histograms:
    "INSERT INTO histograms (run_id, key, step, wall_time, edges, counts) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, edges = excluded.edges, counts = excluded.counts",
};

// Another process holding the store's write lock past the busy timeout (a `sqlite3` shell inside
// a transaction, a backup) made a flush throw a bare "database is locked": its rows were dropped
// and the run failed. A timer's flush keeps its rows for the next one; an explicit flush (before
// a checkpoint, at the end) keeps trying this long, then names the store.
const LOCKED_WAIT_MS = 60_000;
// How long a timed flush waits for the write lock: long enough for another writer's commit
// (another trial of a sweep on the same store takes a few milliseconds), short enough that a lock
// held elsewhere costs the training thread at most this much per flush tick.
const TIMED_FLUSH_WAIT_MS = 20;
const isBusy = (error: unknown) => String((error as { code?: unknown }).code ?? "").startsWith("SQLITE_BUSY");

/**
 * The run store in one SQLite file (WAL: the trainer writes while the dashboard reads), the
 * embedded default (see RunStore for what every store guarantees). The buffered values are
 * committed in one transaction every `flushMs` by a timer of this thread, and at `flush()`.
 */
export class SqliteRunStore implements RunStore {
  private readonly db: Database.Database;
  /** Series reduced to step ranges, histograms and the rows written after a cursor (the dashboard's queries). */
  readonly reader: RunReader;
  private pending: PendingRow[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly statements: Record<PendingRow["table"], Database.Statement>;
  private readonly touch: Database.Statement;
  private readonly insertEvent: Database.Statement;

  /** The store's file: how to open it again, and how messages name it. */
  readonly location: string;
  readonly displayLocation: string;

  constructor(
    readonly path: string,
    readonly flushMs = 500,
  ) {
    this.location = path;
    this.displayLocation = path;
    this.db = openDatabase(path);
    this.reader = new SqliteRunReader(this.db);
    this.statements = {
      scalars: this.db.prepare(upserts.scalars),
      lists: this.db.prepare(upserts.lists),
      histograms: this.db.prepare(upserts.histograms),
    };
    this.touch = this.db.prepare("UPDATE runs SET last_write = ? WHERE id = ?");
    this.insertEvent = this.db.prepare("INSERT INTO events (run_id, step, wall_time, kind, message) VALUES (?, ?, ?, ?, ?)");
    this.markCrashed();
  }

  // A crash is dated by the run's last write, not by when it is noticed.
  private markCrashed(): void {
    const running = this.db.prepare("SELECT id, pid FROM runs WHERE status = 'running'").all() as Array<{ id: string; pid: number | null }>;
    const gone = running.filter((run) => run.pid === null || (run.pid !== process.pid && !processAlive(run.pid)));
    if (gone.length === 0) return;
    // Another process opening the store at the same time marks each run at most once with it.
    const mark = this.db.prepare("UPDATE runs SET status = 'crashed', ended_at = COALESCE(last_write, started_at) WHERE id = ? AND status = 'running' AND pid IS ?");
    const ended = this.db.prepare("SELECT ended_at FROM runs WHERE id = ?").pluck();
    this.db
      .transaction(() => {
        for (const run of gone) {
          if (mark.run(run.id, run.pid).changes === 0) continue;
          const message = `the process${run.pid === null ? "" : ` (pid ${run.pid})`} ended without finishing the run`;
          this.insertEvent.run(run.id, null, ended.get(run.id), "crash", message);
        }
      })
      .immediate();
  }

  /** Whether the store has a run with exactly this id. */
  hasRun(id: string): boolean {
    return this.db.prepare("SELECT 1 FROM runs WHERE id = ?").get(id) !== undefined;
  }

  /** Registers a new running run, with a `start` event. */
  createRun(run: { id: string; name: string; config: unknown; directory?: string }): void {
    const now = Date.now() / 1000;
    this.db.transaction(() => {
      this.db
        .prepare("INSERT INTO runs (id, name, status, config, started_at, pid, directory, last_write) VALUES (?, ?, 'running', ?, ?, ?, ?, ?)")
        .run(run.id, run.name, JSON.stringify(run.config), now, process.pid, run.directory ?? null, now);
      this.insertEvent.run(run.id, 0, now, "start", `started in process ${process.pid}`);
    })();
  }

  /**
   * Marks an existing run (e.g. a resumed one) as running in this process again, with its
   * saved config replaced by `config` when given, and a `resume` event at `step`.
   */
  resumeRun(id: string, step: number, config?: unknown, directory?: string): void {
    const now = Date.now() / 1000;
    this.db.transaction(() => {
      const result = this.db
        .prepare(
          "UPDATE runs SET status = 'running', pid = ?, ended_at = NULL, stop_requested = NULL, last_write = ?, config = COALESCE(?, config), directory = COALESCE(?, directory) WHERE id = ?",
        )
        .run(process.pid, now, config === undefined ? null : JSON.stringify(config), directory ?? null, id);
      if (result.changes === 0) throw new Error(`gradscope: run ${id} is not in the store ${this.path}`);
      this.insertEvent.run(id, step, now, "resume", `resumed at step ${step} in process ${process.pid}`);
    })();
  }

  /** Records the names of a run's parameters (the order of its per-parameter lists). */
  setParameters(id: string, names: string[]): void {
    this.db.prepare("UPDATE runs SET parameters = ? WHERE id = ?").run(JSON.stringify(names), id);
  }

  /**
   * Asks a running run to stop (its trainer checks the store between steps, checkpoints and
   * stops). Returns false when the run is not running.
   */
  requestStop(id: string): boolean {
    return this.db.prepare("UPDATE runs SET stop_requested = ? WHERE id = ? AND status = 'running'").run(Date.now() / 1000, id).changes > 0;
  }

  /** Whether a stop of the run was requested since it (re)started. */
  stopRequested(id: string): boolean {
    const row = this.db.prepare("SELECT stop_requested FROM runs WHERE id = ?").get(id) as { stop_requested: number | null } | undefined;
    return row?.stop_requested != null;
  }

  /** Records the end of a run with its status and summary (pending values are flushed first). */
  finishRun(id: string, status: RunStatus, summary: unknown): void {
    this.flush();
    const now = Date.now() / 1000;
    this.db.prepare("UPDATE runs SET status = ?, ended_at = ?, last_write = ?, summary = ? WHERE id = ?").run(status, now, now, JSON.stringify(summary ?? null), id);
  }

  /** Queues one value; scalars, lists and histograms go to their own tables. */
  log(runId: string, key: string, step: number, value: StoredValue, wallTime = Date.now() / 1000): void {
    if (typeof value === "number") this.pending.push({ table: "scalars", values: [runId, key, step, wallTime, Number.isFinite(value) ? value : null] });
    else if (Array.isArray(value)) this.pending.push({ table: "lists", values: [runId, key, step, wallTime, JSON.stringify(value)] });
    else this.pending.push({ table: "histograms", values: [runId, key, step, wallTime, JSON.stringify(value.edges), JSON.stringify(value.hist)] });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.commitPending(false), this.flushMs);
    this.timer.unref();
  }

  /** Records an event (a stop, a notice, an error) immediately. */
  event(runId: string, kind: string, message: string, step: number | null = null): void {
    const now = Date.now() / 1000;
    this.db.transaction(() => {
      this.insertEvent.run(runId, step, now, kind, message);
      this.touch.run(now, runId);
    })();
  }

  /** Commits the queued values in one transaction, waiting up to a minute for another process's write lock. */
  flush(): void {
    this.commitPending(true);
  }

  // Commits the queued values; while another process holds the write lock, `wait`s for it (an
  // explicit flush) or, without waiting at all, leaves the values queued for the next tick (the
  // timer's).
  private commitPending(wait: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.length === 0) return;
    const rows = this.pending;
    const runs = new Set(rows.map((row) => row.values[0] as string));
    const commit = this.db.transaction(() => {
      for (const row of rows) this.statements[row.table].run(...row.values);
      const now = Date.now() / 1000;
      for (const run of runs) this.touch.run(now, run);
    });
    if (!wait) {
      // One try with a short busy timeout: a timer's flush runs on the training thread, which
      // waited out the whole 5 s at every tick while another process held the lock, so that
      // training crawled. A lock held longer leaves the rows queued for the next tick.
      this.db.pragma(`busy_timeout = ${TIMED_FLUSH_WAIT_MS}`);
      try {
        commit();
        this.pending = [];
      } catch (error) {
        if (!isBusy(error)) throw error;
        this.scheduleFlush();
      } finally {
        this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      }
      return;
    }
    const deadline = Date.now() + LOCKED_WAIT_MS;
    for (;;) {
      try {
        commit();
        this.pending = [];
        return;
      } catch (error) {
        if (!isBusy(error)) throw error;
        if (Date.now() >= deadline)
          throw new Error(`gradscope: the run store ${this.path} stayed locked by another process for ${LOCKED_WAIT_MS / 1000} s: ${(error as Error).message}`);
      }
    }
  }

  /** Every run, newest first. */
  listRuns(): RunRecord[] {
    return (this.db.prepare("SELECT * FROM runs ORDER BY started_at DESC").all() as Array<Record<string, unknown>>).map(toRunRecord);
  }

  /** One run by id (or unique id prefix); throws naming the id when there is none or several. */
  getRun(idOrPrefix: string): RunRecord {
    const rows = this.db.prepare("SELECT * FROM runs WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id").all(idOrPrefix, idPrefixPattern(idOrPrefix)) as Array<
      Record<string, unknown>
    >;
    return pickRun(rows, idOrPrefix, this.path);
  }

  /** The keys a run has logged, by kind. */
  keys(runId: string): RunKeys {
    // A skip scan: one index seek per distinct key, where DISTINCT would read every row of the run.
    const distinct = (table: string) =>
      this.db
        .prepare(
          `WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM ${table} WHERE run_id = @run
             UNION ALL SELECT (SELECT MIN(key) FROM ${table} WHERE run_id = @run AND key > k.key) FROM k WHERE k.key IS NOT NULL)
           SELECT key FROM k WHERE key IS NOT NULL`,
        )
        .pluck()
        .all({ run: runId }) as string[];
    return { scalars: distinct("scalars"), lists: distinct("lists"), histograms: distinct("histograms") };
  }

  /** A run's scalar series for `key`, by step. */
  scalars(runId: string, key: string): Array<{ step: number; wallTime: number; value: number | null }> {
    return (this.db.prepare("SELECT step, wall_time, value FROM scalars WHERE run_id = ? AND key = ? ORDER BY step").all(runId, key) as Array<Record<string, number | null>>).map(
      (r) => ({
        step: Number(r.step),
        wallTime: Number(r.wall_time),
        value: r.value === null ? null : Number(r.value),
      }),
    );
  }

  /** A run's list series for `key` (one value per parameter tensor per step). */
  lists(runId: string, key: string): Array<{ step: number; wallTime: number; value: number[] }> {
    return (this.db.prepare("SELECT step, wall_time, value FROM lists WHERE run_id = ? AND key = ? ORDER BY step").all(runId, key) as Array<Record<string, string | number>>).map(
      (r) => ({
        step: Number(r.step),
        wallTime: Number(r.wall_time),
        value: JSON.parse(String(r.value)),
      }),
    );
  }

  /** A run's histograms for `key`. */
  histograms(runId: string, key: string): Array<{ step: number; wallTime: number; edges: number[] | number[][]; counts: number[] | number[][] }> {
    return (
      this.db.prepare("SELECT step, wall_time, edges, counts FROM histograms WHERE run_id = ? AND key = ? ORDER BY step").all(runId, key) as Array<Record<string, string | number>>
    ).map((r) => ({
      step: Number(r.step),
      wallTime: Number(r.wall_time),
      edges: JSON.parse(String(r.edges)),
      counts: JSON.parse(String(r.counts)),
    }));
  }

  /** A run's events in time order. */
  events(runId: string): Array<{ step: number | null; wallTime: number; kind: string; message: string }> {
    return (this.db.prepare("SELECT step, wall_time, kind, message FROM events WHERE run_id = ? ORDER BY wall_time").all(runId) as Array<Record<string, unknown>>).map((r) => ({
      step: r.step === null ? null : Number(r.step),
      wallTime: Number(r.wall_time),
      kind: String(r.kind),
      message: String(r.message),
    }));
  }

  /** Deletes a run and everything it logged. */
  deleteRun(id: string): void {
    this.db.transaction(() => {
      for (const table of ["scalars", "scalar_blocks", "lists", "histograms", "events", "checkpoints"]) this.db.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(id);
      this.db.prepare("DELETE FROM runs WHERE id = ?").run(id);
    })();
  }

  /** Flushes and closes the database. */
  close(): void {
    // Closed also when the flush fails (the store locked by another process for a minute).
    try {
      this.flush();
    } finally {
      this.db.close();
    }
  }
}
