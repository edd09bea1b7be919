// The run store's backends, for tests that hold for both: SQLite (a file in a temporary folder)
// and PostgreSQL (a database of a throwaway cluster, see postgresCluster.ts), skipped with the
// reason when PostgreSQL is not installed.
import { mkdtempSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { openRunStore } from "../src/store/openRunStore.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { type PostgresCluster, startPostgres } from "./postgresCluster.ts";

/** A store backend under test. */
export interface StoreBackend {
  name: "SQLite" | "PostgreSQL";
  /** Why its tests are skipped, or false. */
  skip: string | false;
  /** A fresh, empty store's location (a path or a URL), named for the test. */
  location(name: string): string;
  /** Runs one statement (`?` placeholders) on a connection of its own, as another process would. */
  sql<T = Record<string, unknown>>(location: string, query: string, params?: unknown[]): Promise<T[]>;
  /** Records that a run's process is `pid` on this machine. */
  setProcess(location: string, runId: string, pid: number): Promise<void>;
}

const folder = mkdtempSync(join(tmpdir(), "gradscope-backends-"));
let cluster: PostgresCluster | null = null;
let skipPostgres: string | false = false;

/** The cluster the PostgreSQL backend uses (started on first use, stopped after the test file). */
export function postgresCluster(): PostgresCluster | null {
  if (cluster || skipPostgres) return cluster;
  const started = startPostgres();
  if ("skip" in started) skipPostgres = started.skip;
  else {
    cluster = started;
    after(() => cluster?.stop());
  }
  return cluster;
}

const sqlite: StoreBackend = {
  name: "SQLite",
  skip: false,
  location: (name) => join(folder, `${name}.db`),
  async sql<T>(location: string, query: string, params: unknown[] = []) {
    const db = new Database(location);
    try {
      const statement = db.prepare(query);
      if (statement.reader) return statement.all(...params) as T[];
      statement.run(...params);
      return [];
    } finally {
      db.close();
    }
  },
  async setProcess(location, runId, pid) {
    await sqlite.sql(location, "UPDATE runs SET pid = ? WHERE id = ?", [pid, runId]);
  },
};

const postgres: StoreBackend = {
  name: "PostgreSQL",
  get skip() {
    postgresCluster();
    return skipPostgres;
  },
  location: (name) => (postgresCluster() as PostgresCluster).createDatabase(name.toLowerCase().replace(/[^a-z0-9_]/g, "_")),
  async sql<T>(location: string, query: string, params: unknown[] = []) {
    const client = new pg.Client({ connectionString: location });
    await client.connect();
    try {
      let n = 0;
      return (
        await client.query(
          query.replace(/\?/g, () => `$${++n}`),
          params,
        )
      ).rows as T[];
    } finally {
      await client.end();
    }
  },
  async setProcess(location, runId, pid) {
    await postgres.sql(location, "UPDATE runs SET pid = ?, hostname = ? WHERE id = ?", [pid, hostname(), runId]);
  },
};

/** Both backends. */
export const storeBackends: StoreBackend[] = [sqlite, postgres];

/** Opens a fresh store of a backend. */
export function freshStore(backend: StoreBackend, name: string): RunStore {
  return openRunStore(backend.location(name));
}
