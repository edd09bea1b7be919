import type pg from "pg";
import { MIGRATION_LOCK, POSTGRES_MIGRATIONS } from "./migrations.ts";

/** The schema version this build writes (the same number as SQLite's, see migrations.ts). */
export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

/**
 * Brings a database's gradscope schema up to date, once however many processes connect at the
 * same time: the migrations run in one transaction under an advisory lock, after reading the
 * version again. A database with tables but no schema_version is not a gradscope store and is
 * refused untouched, as is a store from a newer gradscope; an empty one gets the schema when
 * `create` is true, and is refused otherwise (a command that only reads creates nothing).
 */
export async function migrate(client: pg.Client, create: boolean): Promise<void> {
  // Most opens find the schema current: a read, without the lock.
  if ((await schemaVersion(client)) === POSTGRES_SCHEMA_VERSION) return;
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK.toString()]);
    let version = await schemaVersion(client);
    if (version === null) {
      const tables = (await client.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")).rows.map((row) => row.tablename as string);
      if (tables.length > 0)
        throw new Error(
          `it is not a gradscope run store: its schema has tables (${tables.slice(0, 5).join(", ")}${tables.length > 5 ? ", …" : ""}) but no schema_version; expected an empty database or one gradscope created`,
        );
      if (!create) throw new Error("it has no gradscope run store yet (train a run into it first)");
      await client.query("CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (0)");
      version = 0;
    }
    if (version > POSTGRES_SCHEMA_VERSION) throw new Error(`it has schema version ${version}; this gradscope understands up to ${POSTGRES_SCHEMA_VERSION}`);
    for (let v = version; v < POSTGRES_SCHEMA_VERSION; v++) await client.query(POSTGRES_MIGRATIONS[v]);
    await client.query("UPDATE schema_version SET version = $1", [POSTGRES_SCHEMA_VERSION]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

// The recorded version, or null when the database has no schema_version table.
async function schemaVersion(client: pg.Client): Promise<number | null> {
  // Read from the catalog under the statement's snapshot (as the table listing above is), not
  // through to_regclass's name cache: a process that waited on the lock while another migrated
  // must see the schema_version that the other committed.
  const found = await client.query("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version') AS found");
  const exists = found.rows[0].found as boolean;
  if (!exists) return null;
  const row = (await client.query("SELECT version FROM schema_version")).rows[0] as { version: number } | undefined;
  if (!row) throw new Error("its schema_version table is empty; expected the row gradscope writes");
  return row.version;
}
