import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/** The schema, as migrations applied in order; `PRAGMA user_version` records how many ran. */
const migrations: string[] = [
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
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = migrations.length;

/**
 * Opens (creating if needed) the SQLite run store at `path` in WAL mode, so that one writer
 * (the trainer) and any number of readers (the dashboard, `gradscope runs`) work at once, and
 * brings its schema up to date. A store from a newer gradscope is refused rather than damaged.
 */
export function openDatabase(path: string, readonly = false): Database.Database {
  if (!readonly) mkdirSync(dirname(path), { recursive: true });
  let db: Database.Database;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly });
  } catch (error) {
    throw new Error(`gradscope: cannot open the run store ${path}: ${(error as Error).message}`);
  }
  db.pragma("busy_timeout = 5000");
  if (readonly) return db;
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    db.close();
    throw new Error(`gradscope: the run store ${path} has schema version ${version}; this gradscope understands up to ${SCHEMA_VERSION}`);
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(migrations[v]);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}
