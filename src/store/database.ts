import { statSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

// Rolls up every scalar series into scalar_blocks (for a store that has rows but no blocks).
const rollUpScalars = `
  INSERT INTO scalar_blocks (run_id, key, block, min, max, last_step)
    SELECT run_id, key, step >> 6, MIN(value), MAX(value), MAX(step) FROM scalars GROUP BY run_id, key, step >> 6;
  UPDATE scalar_blocks SET last_value = (
    SELECT value FROM scalars s WHERE s.run_id = scalar_blocks.run_id AND s.key = scalar_blocks.key AND s.step = scalar_blocks.last_step ORDER BY s.rowid DESC LIMIT 1
  );`;

// Keeps the last written row (the highest rowid) of each (run, key, step) of a table.
const keepLastWritten = (table: string) => `DELETE FROM ${table} WHERE rowid NOT IN (SELECT MAX(rowid) FROM ${table} GROUP BY run_id, key, step);`;

/**
 * The schema, as migrations applied in order; `PRAGMA user_version` records how many ran.
 * Exported so that tests can build a store as an older gradscope left it.
 */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE runs (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     status TEXT NOT NULL,
     config TEXT NOT NULL,
     started_at REAL NOT NULL,
     ended_at REAL,
     summary TEXT,
     pid INTEGER,
     directory TEXT
   );
   CREATE TABLE scalars (run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL, wall_time REAL NOT NULL, value REAL);
   CREATE INDEX scalars_by_key ON scalars (run_id, key, step);
   CREATE TABLE lists (run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL, wall_time REAL NOT NULL, value TEXT NOT NULL);
   CREATE INDEX lists_by_key ON lists (run_id, key, step);
   CREATE TABLE histograms (run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER NOT NULL, wall_time REAL NOT NULL, edges TEXT NOT NULL, counts TEXT NOT NULL);
   CREATE INDEX histograms_by_key ON histograms (run_id, key, step);
   CREATE TABLE events (run_id TEXT NOT NULL, step INTEGER, wall_time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
   CREATE INDEX events_by_run ON events (run_id, wall_time);`,
  // The dashboard asks a run to stop through the store, and names its per-parameter lists;
  // the scalar index covers the value so that downsampling a series never visits the table.
  `ALTER TABLE runs ADD COLUMN stop_requested REAL;
   ALTER TABLE runs ADD COLUMN parameters TEXT;
   DROP INDEX scalars_by_key;
   CREATE INDEX scalars_by_key ON scalars (run_id, key, step, value);`,
  // A rollup of every 64-step block of a scalar series (min, max and the last value), kept by a
  // trigger whoever writes, so that the dashboard reduces a long range from its blocks instead of
  // scanning every row. Existing series are rolled up here.
  `CREATE TABLE scalar_blocks (
     run_id TEXT NOT NULL, key TEXT NOT NULL, block INTEGER NOT NULL,
     min REAL, max REAL, last_step INTEGER NOT NULL, last_value REAL,
     PRIMARY KEY (run_id, key, block)
   ) WITHOUT ROWID;
   CREATE TRIGGER scalar_blocks_on_insert AFTER INSERT ON scalars BEGIN
     INSERT INTO scalar_blocks (run_id, key, block, min, max, last_step, last_value)
       VALUES (NEW.run_id, NEW.key, NEW.step >> 6, NEW.value, NEW.value, NEW.step, NEW.value)
     ON CONFLICT (run_id, key, block) DO UPDATE SET
       min = CASE WHEN excluded.min IS NULL THEN min WHEN min IS NULL OR excluded.min < min THEN excluded.min ELSE min END,
       max = CASE WHEN excluded.max IS NULL THEN max WHEN max IS NULL OR excluded.max > max THEN excluded.max ELSE max END,
       last_value = CASE WHEN excluded.last_step >= last_step THEN excluded.last_value ELSE last_value END,
       last_step = MAX(last_step, excluded.last_step);
   END;
   ${rollUpScalars}`,
  // Exactly one row per (run, key, step): a resumed run writes the steps after its checkpoint
  // again, as upserts on these unique indexes. Duplicates that older versions wrote collapse to
  // the last written, and the rollup is rebuilt from what remains. An upsert that changes a
  // value recomputes its block (the old value may have been the block's min or max). A run's
  // last write dates a crash.
  `${keepLastWritten("scalars")}
   ${keepLastWritten("lists")}
   ${keepLastWritten("histograms")}
   CREATE UNIQUE INDEX scalars_by_step ON scalars (run_id, key, step);
   DROP INDEX lists_by_key;
   CREATE UNIQUE INDEX lists_by_key ON lists (run_id, key, step);
   DROP INDEX histograms_by_key;
   CREATE UNIQUE INDEX histograms_by_key ON histograms (run_id, key, step);
   DELETE FROM scalar_blocks;
   ${rollUpScalars}
   CREATE TRIGGER scalar_blocks_on_update AFTER UPDATE OF value ON scalars BEGIN
     UPDATE scalar_blocks SET
       (min, max) = (SELECT MIN(value), MAX(value) FROM scalars
                     WHERE run_id = NEW.run_id AND key = NEW.key AND step BETWEEN (NEW.step >> 6) << 6 AND ((NEW.step >> 6) << 6) + 63),
       last_value = CASE WHEN last_step = NEW.step THEN NEW.value ELSE last_value END
     WHERE run_id = NEW.run_id AND key = NEW.key AND block = NEW.step >> 6;
   END;
   ALTER TABLE runs ADD COLUMN last_write REAL;`,
  // Sweeps (src/store/sweeps.ts): a sweep's spec, its trials (each a run once started, with its
  // parameters, status, metric and the rule that stopped it) and the metric of every trial at
  // each rung of successive halving, which the trials read to decide whether to go on.
  `CREATE TABLE sweeps (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     spec TEXT NOT NULL,
     base TEXT NOT NULL,
     status TEXT NOT NULL,
     directory TEXT NOT NULL,
     created_at REAL NOT NULL,
     ended_at REAL
   );
   CREATE TABLE trials (
     sweep_id TEXT NOT NULL,
     number INTEGER NOT NULL,
     params TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     run_id TEXT,
     directory TEXT,
     metric REAL,
     stopped_by TEXT,
     steps INTEGER,
     planned_steps INTEGER,
     message TEXT,
     created_at REAL NOT NULL,
     ended_at REAL,
     PRIMARY KEY (sweep_id, number)
   );
   CREATE INDEX trials_by_run ON trials (run_id);
   CREATE TABLE trial_rungs (
     sweep_id TEXT NOT NULL, rung INTEGER NOT NULL, trial INTEGER NOT NULL, value REAL,
     PRIMARY KEY (sweep_id, rung, trial)
   ) WITHOUT ROWID;`,
  // Sweeps across machines (src/sweep/queueWorker.ts): a trial records the worker training it,
  // its job on the queue and the worker's last heartbeat, so that a trial whose worker died is
  // handed to another; and the latest checkpoint of a trial's run is kept in the store, where a
  // worker on another machine restores it from.
  `ALTER TABLE trials ADD COLUMN worker TEXT;
   ALTER TABLE trials ADD COLUMN job_id TEXT;
   ALTER TABLE trials ADD COLUMN heartbeat_at REAL;
   CREATE TABLE checkpoints (run_id TEXT PRIMARY KEY, step INTEGER NOT NULL, saved_at REAL NOT NULL, data BLOB NOT NULL);`,
  // PostgreSQL's coarse rollup levels (scalar_coarse_blocks, see rollupLevels.ts). SQLite needs no
  // table for them: its reader groups the 64-step blocks into the same coarse blocks in process,
  // where a row costs little. The version keeps both dialects' numbers in step.
  "-- no change in SQLite",
];

/** Steps per block of the scalar rollup (the `step >> 6` of its trigger). */
export const SCALAR_BLOCK_STEPS = 64;

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * How long a statement waits for another connection's write lock before it fails with
 * SQLITE_BUSY. The run store's timed flushes set it aside (sqliteRunStore.ts).
 */
export const BUSY_TIMEOUT_MS = 5000;

/** The run store cannot be opened: its path is not a store, it is from a newer gradscope, it is unreadable, or its folder does not exist. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
}

/**
 * Opens (creating the file if needed) the SQLite run store at `path` in WAL mode, so that one
 * writer (the trainer) and any number of readers (the dashboard, `gradscope runs`) work at once,
 * and brings its schema up to date. Processes that open a fresh or old store at the same time
 * migrate it once: the migrations run in one exclusive transaction that reads the version
 * again. A store from a newer gradscope, a file that is not a store, or a path whose folder does
 * not exist is refused (a file untouched) with a StoreOpenError naming the path.
 */
export function openDatabase(path: string): Database.Database {
  const problem = missingFolder(dirname(path));
  if (problem) throw new StoreOpenError(`gradscope: cannot open the run store ${path}: ${problem}; expected the path of a store file in an existing folder`);
  let db: Database.Database | undefined;
  try {
    db = new Database(path);
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    enableWal(db);
    db.pragma("synchronous = NORMAL");
    migrate(db, path);
    return db;
  } catch (error) {
    db?.close();
    const message = (error as Error).message;
    throw new StoreOpenError(message.startsWith("gradscope: ") ? message : `gradscope: cannot open the run store ${path}: ${message}`);
  }
}

// Why `folder` cannot hold a store file (missing, or not a folder), else null (SQLite names any
// other problem, such as a folder this process may not write in).
function missingFolder(folder: string): string | null {
  try {
    return statSync(folder).isDirectory() ? null : `${folder} is not a folder`;
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    return code === "ENOENT" || code === "ENOTDIR" ? `the folder ${folder} does not exist` : null;
  }
}

// Switching a fresh file to WAL takes a moment alone with it, for which SQLite does not wait with
// the busy timeout: processes opening a fresh store at once retry for as long as that timeout.
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + 5000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma("journal_mode = WAL");
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw error;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

function migrate(db: Database.Database, path: string): void {
  const run = db.transaction(() => {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`gradscope: the run store ${path} has schema version ${version}; this gradscope understands up to ${SCHEMA_VERSION}`);
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  // Most opens find the schema current: a read, without the exclusive lock that would wait on
  // a writer's transaction.
  if ((db.pragma("user_version", { simple: true }) as number) !== SCHEMA_VERSION) run.exclusive();
}
