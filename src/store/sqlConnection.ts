import type Database from "better-sqlite3";
import { openDatabase } from "./database.ts";
import { isPostgresUrl } from "./openRunStore.ts";
import { openPostgresClient, redactUrl } from "./postgres/postgresRunStore.ts";
import type { SyncPostgresClient } from "./postgres/syncClient.ts";

/** One statement and its `?` parameters. */
export type SqlStatement = [sql: string, params: unknown[]];

/**
 * A synchronous connection to a run store of either dialect, for statements that both dialects
 * read the same way (the sweep tables': plain inserts, updates and selects with `?` parameters).
 * The run store itself keeps a class per dialect, whose statements differ for speed.
 */
export interface SqlConnection {
  /** The store's path, or its URL with the password redacted. */
  readonly displayLocation: string;
  /** A query's rows as objects. */
  all<T = Record<string, unknown>>(sql: string, params?: unknown[]): T[];
  /**
   * Takes the lock `key` for this connection's lifetime (a PostgreSQL session advisory lock, which
   * ends with the connection, even when its process is killed): whether it got it. `lost` is the
   * error of every later call should a reconnect find the lock taken by another session. SQLite's
   * store is one machine's, whose sweeps have one process: it always gets it.
   */
  lease(key: string, lost: string): boolean;
  /** Whether another connection holds the lock `key` (SQLite: never). */
  leaseHeld(key: string): boolean;
  /**
   * When this connection last came back after it lost the server (seconds since the epoch), or
   * null when it never lost it (SQLite: never).
   */
  reconnectedAt(): number | null;
  /** Runs the statements in one transaction; resolves to how many rows each changed. */
  write(statements: SqlStatement[]): number[];
  close(): void;
}

class SqliteConnection implements SqlConnection {
  private readonly db: Database.Database;

  constructor(readonly displayLocation: string) {
    this.db = openDatabase(displayLocation);
  }

  all<T>(sql: string, params: unknown[] = []): T[] {
    return this.db.prepare(sql).all(...params) as T[];
  }

  lease(): boolean {
    return true;
  }

  leaseHeld(): boolean {
    return false;
  }

  reconnectedAt(): null {
    return null;
  }

  write(statements: SqlStatement[]): number[] {
    return this.db.transaction(() => statements.map(([sql, params]) => this.db.prepare(sql).run(...params).changes))();
  }

  close(): void {
    this.db.close();
  }
}

// The first half of the two-key advisory locks of leases ("gs" and 1), apart from the one-key
// locks of migrations.ts (PostgreSQL keeps the two forms apart).
const LEASE_CLASS = 0x67730001;

// `?` placeholders as PostgreSQL's `$n` (the statements written for both have no `?` in a literal).
const numbered = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

class PostgresConnection implements SqlConnection {
  readonly displayLocation: string;
  private readonly client: SyncPostgresClient;

  constructor(url: string, create: boolean) {
    this.displayLocation = redactUrl(url);
    this.client = openPostgresClient(url, create);
  }

  all<T>(sql: string, params: unknown[] = []): T[] {
    return this.client.query<T>(numbered(sql), params);
  }

  lease(key: string, lost: string): boolean {
    return this.client.lease({ sql: "SELECT pg_try_advisory_lock($1, hashtext($2) & 2147483647)", params: [LEASE_CLASS, key] }, lost);
  }

  leaseHeld(key: string): boolean {
    return (
      this.client.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = $1::int::oid AND objid = (hashtext($2) & 2147483647)::oid", [
        LEASE_CLASS,
        key,
      ]).length > 0
    );
  }

  reconnectedAt(): number | null {
    const at = this.client.reconnectedAt();
    return at === null ? null : at / 1000;
  }

  // Under the stream's write lock: some of these statements add events, whose seq order must be
  // commit order (see migrations.ts).
  write(statements: SqlStatement[]): number[] {
    return this.client
      .transaction(
        statements.map(([sql, params]) => ({ sql: numbered(sql), params })),
        true,
      )
      .map((result) => result.rowCount);
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Opens a connection to the run store at `location`, a SQLite file's path or a postgres:// URL,
 * bringing its schema up to date (`create` false: a PostgreSQL database without gradscope's
 * schema is refused). Throws a StoreOpenError naming the store.
 */
export function openSqlConnection(location: string, options: { create?: boolean } = {}): SqlConnection {
  return isPostgresUrl(location) ? new PostgresConnection(location, options.create ?? true) : new SqliteConnection(location);
}
