import { hostname } from "node:os";
import { join } from "node:path";
import { StoreOpenError } from "../database.ts";
import type { RunReader } from "../runReader.ts";
import { idPrefixPattern, pickRun, processAlive, type RunKeys, type RunRecord, type RunStatus, type RunStore, type StoredValue, toRunRecord } from "../runStore.ts";
import { reconnectWindowProblem, StoreUnreachableError } from "./connectionLost.ts";
import { PostgresRunReader } from "./postgresRunReader.ts";
import { postgresUrlProblem, redactUrl } from "./postgresUrl.ts";
import type { Statement, StatementResult } from "./protocol.ts";
import { SyncPostgresClient } from "./syncClient.ts";
import { appendUnwritten, readUnwritten, removeUnwritten, UNWRITTEN_FILE, type UnwrittenTransaction } from "./unwrittenWrites.ts";

export { redactUrl };

/**
 * Connects to the store at `location` (a postgres:// URL) and brings its schema up to date
 * (`create` false: a database without gradscope's schema is refused). Throws a StoreOpenError
 * naming the URL, its password redacted, and the reason.
 */
export function openPostgresClient(location: string, create: boolean): SyncPostgresClient {
  const problem = postgresUrlProblem(location);
  if (problem) throw new StoreOpenError(`gradscope: cannot open the run store ${redactUrl(location)}: ${problem}`);
  const window = reconnectWindowProblem();
  if (window) throw new StoreOpenError(`gradscope: ${window}`);
  try {
    return new SyncPostgresClient(location, create);
  } catch (error) {
    throw new StoreOpenError(`gradscope: cannot open the run store ${redactUrl(location)}: ${(error as Error).message}`);
  }
}

// The values logged since the last write, by table, in the order of the columns after run_id, key, step.
interface Pending {
  scalars: Map<string, [string, string, number, number, number | null]>;
  lists: Map<string, [string, string, number, number, string]>;
  histograms: Map<string, [string, string, number, number, string, string]>;
}

const emptyPending = (): Pending => ({ scalars: new Map(), lists: new Map(), histograms: new Map() });

// A batch is one statement per table over arrays (unnest), not a statement per row. Each row of a
// (run, key, step) is kept once per batch (the last logged): one upsert statement may not change
// a row twice.
const upserts = {
  scalars:
    "INSERT INTO scalars (run_id, key, step, wall_time, value) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::float8[]) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, value = excluded.value",
  lists:
    "INSERT INTO lists (run_id, key, step, wall_time, value) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::text[]) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, value = excluded.value",
  histograms:
    "INSERT INTO histograms (run_id, key, step, wall_time, edges, counts) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::float8[], $5::text[], $6::text[]) ON CONFLICT (run_id, key, step) DO UPDATE SET wall_time = excluded.wall_time, edges = excluded.edges, counts = excluded.counts",
};

const insertEvent = "INSERT INTO events (run_id, step, wall_time, kind, message) VALUES ($1, $2, $3, $4, $5)";

// Rows as columns: unnest takes one array per column.
function columns(rows: unknown[][]): unknown[][] {
  const out: unknown[][] = rows[0].map(() => []);
  for (const row of rows) for (let i = 0; i < row.length; i++) out[i].push(row[i]);
  return out;
}

/**
 * The run store in a PostgreSQL database that a team shares (see RunStore for what every store
 * guarantees, and migrations.ts for the schema). Its calls are synchronous like SQLite's: the
 * connection runs on a worker thread (SyncPostgresClient); logged values are posted to it as one
 * batch every `flushMs` without waiting, and `flush()` waits until they are committed.
 *
 * Crash marking: a run records its process's pid and host name, and opening the store marks as
 * crashed only the running runs of this host whose process is gone (a pid means nothing on another
 * machine): a run whose machine never opens the store again stays `running`.
 */
export class PostgresRunStore implements RunStore {
  readonly displayLocation: string;
  readonly flushMs: number;
  readonly reader: RunReader;
  private readonly client: SyncPostgresClient;
  private readonly host = hostname();
  private pending = emptyPending();
  private pendingCount = 0;
  private lastPost = Date.now();
  private timer: NodeJS.Timeout | null = null;
  // Whether writes were posted since the last answer: flush() then waits for them.
  private unconfirmed = false;
  // With spoolWhenUnreachable: the file, whether the store went offline, and the batches posted
  // since the last answer (not known to be committed, so spooled too when it goes offline).
  private spool: { file: string; offline: boolean; posted: UnwrittenTransaction[] } | null = null;

  /**
   * Connects to `location` (a postgres:// URL) and brings its schema up to date (`create` false:
   * a database without gradscope's schema is refused). Throws a StoreOpenError naming the URL,
   * its password redacted, and the reason.
   */
  constructor(
    readonly location: string,
    options: { create?: boolean; flushMs?: number } = {},
  ) {
    this.displayLocation = redactUrl(location);
    this.flushMs = options.flushMs ?? 500;
    this.client = openPostgresClient(location, options.create ?? true);
    this.reader = new PostgresRunReader(this.client);
    this.markCrashed();
  }

  // A crash is dated by the run's last write, not by when it is noticed.
  private markCrashed(): void {
    const running = this.client.query<{ id: string; pid: number | null }>("SELECT id, pid FROM runs WHERE status = 'running' AND hostname = $1", [this.host]);
    const gone = running.filter((run) => run.pid === null || (run.pid !== process.pid && !processAlive(run.pid)));
    if (gone.length === 0) return;
    // Another process of this host opening the store at the same time marks each run at most once with it.
    this.client.transaction(
      gone.map((run) => ({
        sql: `WITH marked AS (
                UPDATE runs SET status = 'crashed', ended_at = COALESCE(last_write, started_at)
                WHERE id = $1 AND status = 'running' AND hostname = $2 AND pid IS NOT DISTINCT FROM $3::integer RETURNING id, ended_at)
              INSERT INTO events (run_id, step, wall_time, kind, message) SELECT id, NULL, ended_at, 'crash', $4 FROM marked`,
        params: [run.id, this.host, run.pid, `the process${run.pid === null ? "" : ` (pid ${run.pid})`} ended without finishing the run`],
      })),
      true,
    );
  }

  hasRun(id: string): boolean {
    return this.client.query("SELECT 1 FROM runs WHERE id = $1", [id]).length > 0;
  }

  createRun(run: { id: string; name: string; config: unknown; directory?: string }): void {
    const now = Date.now() / 1000;
    this.client.transaction(
      [
        {
          sql: "INSERT INTO runs (id, name, status, config, started_at, pid, hostname, directory, last_write) VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8)",
          params: [run.id, run.name, JSON.stringify(run.config), now, process.pid, this.host, run.directory ?? null, now],
        },
        { sql: insertEvent, params: [run.id, 0, now, "start", `started in process ${process.pid} on ${this.host}`] },
      ],
      true,
    );
  }

  /**
   * Resumes a run; first, in the same transaction, the writes its last process could not make
   * while the store was unreachable (the run directory's unwritten.jsonl, see
   * spoolWhenUnreachable), so that the rows before the checkpoint it resumes from are all there.
   */
  resumeRun(id: string, step: number, config?: unknown, directory?: string): void {
    const now = Date.now() / 1000;
    const unwrittenFile = directory === undefined ? null : join(directory, UNWRITTEN_FILE);
    const unwritten = unwrittenFile === null ? [] : readUnwritten(unwrittenFile).flatMap((transaction) => transaction.statements);
    const results = this.client.transaction(
      [
        ...unwritten,
        {
          sql: "UPDATE runs SET status = 'running', pid = $1, hostname = $2, ended_at = NULL, stop_requested = NULL, last_write = $3, config = COALESCE($4, config), directory = COALESCE($5, directory) WHERE id = $6",
          params: [process.pid, this.host, now, config === undefined ? null : JSON.stringify(config), directory ?? null, id],
        },
        // Inserted only when the run exists (the update found it).
        {
          sql: `INSERT INTO events (run_id, step, wall_time, kind, message) SELECT id, $2, $3, 'resume', $4 FROM runs WHERE id = $1`,
          params: [id, step, now, `resumed at step ${step} in process ${process.pid} on ${this.host}`],
        },
      ],
      true,
    );
    if (results[unwritten.length].rowCount === 0) throw new Error(`gradscope: run ${id} is not in the store ${this.displayLocation}`);
    // Should the process die before this, the next resume writes them again: upserts and updates
    // that change nothing, and the few events of the interruption once more.
    if (unwrittenFile !== null && unwritten.length > 0) removeUnwritten(unwrittenFile);
  }

  /**
   * For a process that must keep its run's rows when the server stays away (a sweep's trial,
   * which then saves a checkpoint and ends): once a call finds the server unreachable for the
   * reconnect window, the store goes offline instead of failing. The writes it could not make
   * (the batches posted since its last answer, which may not be committed) and every write after
   * go to `file` (the run directory's unwritten.jsonl, on disk before each checkpoint), a stop
   * request reads as none, and `resumeRun` replays the file. Other calls fail as before.
   */
  spoolWhenUnreachable(file: string): void {
    this.spool = { file, offline: false, posted: [] };
  }

  /** Whether the store went offline (see spoolWhenUnreachable). */
  get offline(): boolean {
    return this.spool?.offline ?? false;
  }

  /** Goes offline now, with spoolWhenUnreachable (another connection of the process found the server unreachable). */
  goOffline(): void {
    const spool = this.spool;
    if (!spool || spool.offline) return;
    spool.offline = true;
    appendUnwritten(spool.file, spool.posted);
    spool.posted = [];
  }

  // A call that waits for its answer: with a spool, the answer confirms every batch posted before
  // it; offline, or when the server turns out unreachable, `offline()` stands in for it.
  private awaited<T>(call: () => T, offline: () => T): T {
    const spool = this.spool;
    if (spool?.offline) return offline();
    try {
      const value = call();
      if (spool) spool.posted = [];
      return value;
    } catch (error) {
      if (!spool || !(error instanceof StoreUnreachableError)) throw error;
      this.goOffline();
      return offline();
    }
  }

  // A transaction of writes, or, offline, its line in the spool.
  private write(statements: Statement[], streamLock: boolean): StatementResult[] | null {
    return this.awaited(
      () => this.client.transaction(statements, streamLock),
      () => {
        appendUnwritten((this.spool as NonNullable<typeof this.spool>).file, [{ statements, streamLock }]);
        return null;
      },
    );
  }

  setParameters(id: string, names: string[]): void {
    this.write([{ sql: "UPDATE runs SET parameters = $1 WHERE id = $2", params: [JSON.stringify(names), id] }], false);
  }

  requestStop(id: string): boolean {
    const [result] = this.client.transaction([{ sql: "UPDATE runs SET stop_requested = $1 WHERE id = $2 AND status = 'running'", params: [Date.now() / 1000, id] }]);
    return result.rowCount > 0;
  }

  stopRequested(id: string): boolean {
    const rows = this.awaited(
      () => this.client.query<{ stop_requested: number | null }>("SELECT stop_requested FROM runs WHERE id = $1", [id]),
      () => [],
    );
    return rows[0]?.stop_requested != null;
  }

  finishRun(id: string, status: RunStatus, summary: unknown): void {
    this.flush();
    const now = Date.now() / 1000;
    this.write(
      [{ sql: "UPDATE runs SET status = $1, ended_at = $2, last_write = $3, summary = $4 WHERE id = $5", params: [status, now, now, JSON.stringify(summary ?? null), id] }],
      false,
    );
    this.unconfirmed = false;
  }

  log(runId: string, key: string, step: number, value: StoredValue, wallTime = Date.now() / 1000): void {
    const id = `${runId}\u0000${key}\u0000${step}`;
    if (typeof value === "number") this.pending.scalars.set(id, [runId, key, step, wallTime, Number.isFinite(value) ? value : null]);
    else if (Array.isArray(value)) this.pending.lists.set(id, [runId, key, step, wallTime, JSON.stringify(value)]);
    else this.pending.histograms.set(id, [runId, key, step, wallTime, JSON.stringify(value.edges), JSON.stringify(value.hist)]);
    this.pendingCount++;
    // A training loop that seldom yields to the event loop still posts every flushMs.
    if (Date.now() - this.lastPost >= this.flushMs) this.postPending();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.postPending(), this.flushMs);
      this.timer.unref();
    }
  }

  event(runId: string, kind: string, message: string, step: number | null = null): void {
    const now = Date.now() / 1000;
    this.write(
      [
        { sql: insertEvent, params: [runId, step, now, kind, message] },
        { sql: "UPDATE runs SET last_write = $1 WHERE id = $2", params: [now, runId] },
      ],
      true,
    );
    this.unconfirmed = false;
  }

  // The pending values as one transaction's statements (with each run's last write).
  private takePending(): Statement[] {
    const { pending } = this;
    this.pending = emptyPending();
    this.pendingCount = 0;
    const statements: Statement[] = [];
    const runs = new Set<string>();
    for (const table of ["scalars", "lists", "histograms"] as const) {
      const rows = [...pending[table].values()];
      if (rows.length === 0) continue;
      for (const row of rows) runs.add(row[0]);
      statements.push({ sql: upserts[table], params: columns(rows) });
    }
    statements.push({ sql: "UPDATE runs SET last_write = $1 WHERE id = ANY($2::text[])", params: [Date.now() / 1000, [...runs]] });
    return statements;
  }

  private postPending(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastPost = Date.now();
    if (this.pendingCount === 0) return;
    const statements = this.takePending();
    const spool = this.spool;
    if (spool?.offline) {
      appendUnwritten(spool.file, [{ statements, streamLock: true }]);
      return;
    }
    this.client.post(statements, true);
    spool?.posted.push({ statements, streamLock: true });
    this.unconfirmed = true;
  }

  /** Commits the queued values, and returns once they and every earlier batch are committed. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lastPost = Date.now();
    if (this.pendingCount > 0) this.write(this.takePending(), true);
    else if (this.unconfirmed)
      this.awaited(
        () => this.client.barrier(),
        () => {},
      );
    this.unconfirmed = false;
  }

  /** Batches posted to the database and not yet committed (a writer that keeps up keeps it near 0). */
  backlog(): number {
    return this.client.backlog();
  }

  listRuns(): RunRecord[] {
    return this.client.query("SELECT * FROM runs ORDER BY started_at DESC").map(toRunRecord);
  }

  getRun(idOrPrefix: string): RunRecord {
    const rows = this.client.query("SELECT * FROM runs WHERE id = $1 OR id LIKE $2 ESCAPE '\\' ORDER BY id", [idOrPrefix, idPrefixPattern(idOrPrefix)]);
    return pickRun(rows, idOrPrefix, this.displayLocation);
  }

  keys(runId: string): RunKeys {
    // A skip scan: one index seek per distinct key, where DISTINCT would read every row of the run.
    const distinct = (table: string) =>
      this.client
        .queryRaw<[string]>(
          `WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM ${table} WHERE run_id = $1
             UNION ALL SELECT (SELECT MIN(key) FROM ${table} WHERE run_id = $1 AND key > k.key) FROM k WHERE k.key IS NOT NULL)
           SELECT key FROM k WHERE key IS NOT NULL`,
          [runId],
        )
        .map(([key]) => key);
    return { scalars: distinct("scalars"), lists: distinct("lists"), histograms: distinct("histograms") };
  }

  scalars(runId: string, key: string): Array<{ step: number; wallTime: number; value: number | null }> {
    return this.client
      .queryRaw<[number, number, number | null]>("SELECT step, wall_time, value FROM scalars WHERE run_id = $1 AND key = $2 ORDER BY step", [runId, key])
      .map(([step, wallTime, value]) => ({ step, wallTime, value }));
  }

  lists(runId: string, key: string): Array<{ step: number; wallTime: number; value: number[] }> {
    return this.client
      .queryRaw<[number, number, string]>("SELECT step, wall_time, value FROM lists WHERE run_id = $1 AND key = $2 ORDER BY step", [runId, key])
      .map(([step, wallTime, value]) => ({ step, wallTime, value: JSON.parse(value) }));
  }

  histograms(runId: string, key: string): Array<{ step: number; wallTime: number; edges: number[] | number[][]; counts: number[] | number[][] }> {
    return this.client
      .queryRaw<[number, number, string, string]>("SELECT step, wall_time, edges, counts FROM histograms WHERE run_id = $1 AND key = $2 ORDER BY step", [runId, key])
      .map(([step, wallTime, edges, counts]) => ({ step, wallTime, edges: JSON.parse(edges), counts: JSON.parse(counts) }));
  }

  events(runId: string): Array<{ step: number | null; wallTime: number; kind: string; message: string }> {
    return this.client
      .queryRaw<[number | null, number, string, string]>("SELECT step, wall_time, kind, message FROM events WHERE run_id = $1 ORDER BY wall_time, seq", [runId])
      .map(([step, wallTime, kind, message]) => ({ step, wallTime, kind, message }));
  }

  deleteRun(id: string): void {
    this.flush();
    this.client.transaction(
      ["scalars", "scalar_blocks", "scalar_coarse_blocks", "lists", "histograms", "events", "checkpoints", "runs"].map((table) => ({
        sql: `DELETE FROM ${table} WHERE ${table === "runs" ? "id" : "run_id"} = $1`,
        params: [id],
      })),
    );
  }

  close(): void {
    try {
      this.flush();
    } finally {
      this.client.close();
    }
  }
}
