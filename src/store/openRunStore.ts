import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createFolder } from "../train/files.ts";
import { PostgresRunStore } from "./postgres/postgresRunStore.ts";
import type { RunStore } from "./runStore.ts";
import { SqliteRunStore } from "./sqliteRunStore.ts";
import { isPostgresUrl, STORE_URL_VARIABLE } from "./storeUrl.ts";

export { isPostgresUrl, STORE_URL_VARIABLE } from "./storeUrl.ts";

/** How `openRunStore` opens a store. */
export interface OpenRunStoreOptions {
  /**
   * Create the store's schema when there is none (default true). False for commands that only
   * read: a PostgreSQL database without gradscope's schema is refused, untouched.
   */
  create?: boolean;
  /** How long logged values wait before they are committed (default 500 ms). */
  flushMs?: number;
}

/**
 * Opens the run store at `location`: a `postgres://` (or `postgresql://`) URL opens the shared
 * PostgreSQL store, anything else is the path of a SQLite file (created if missing, in a folder
 * that must exist: a missing folder is more likely a mistyped path than a wish for new folders).
 * Either is brought to the current schema; a database that is not a gradscope store, cannot be
 * reached, or a path whose folder does not exist, is refused with a StoreOpenError naming it (a
 * URL's password redacted).
 */
export function openRunStore(location: string, options: OpenRunStoreOptions = {}): RunStore {
  // SQLite takes "" as a temporary database: the runs recorded there vanish when it closes.
  if (typeof location !== "string" || location === "")
    throw new TypeError(`gradscope: openRunStore(location): expected a SQLite file's path or a postgres:// URL, got ${JSON.stringify(location)}`);
  if (isPostgresUrl(location)) return new PostgresRunStore(location, options);
  return new SqliteRunStore(location, options.flushMs);
}

/**
 * The store a command uses: the one it names (`--store`), else GRADSCOPE_STORE_URL, else the
 * config's (`store.url`, then `store.path`), else `<runsDir>/gradscope.db`.
 */
export function storeLocation(sources: { flag?: string; config?: { url?: string; path?: string }; runsDir?: string }): string {
  return sources.flag || process.env[STORE_URL_VARIABLE] || sources.config?.url || sources.config?.path || join(sources.runsDir ?? "runs", "gradscope.db");
}

/**
 * Opens the store that runs in `runsDir` record into (the one `storeLocation` names). `runsDir`
 * is theirs, made when missing as their run directories would make it, so a store in it (the
 * default `<runsDir>/gradscope.db`) needs no folder made first; a SQLite store in another folder
 * must be in an existing one, as with `openRunStore`.
 */
export function openStoreForRuns(sources: { flag?: string; config?: { url?: string; path?: string }; runsDir: string }, options: OpenRunStoreOptions = {}): RunStore {
  const location = storeLocation(sources);
  createRunsFolderOf(location, sources.runsDir);
  return openRunStore(location, options);
}

/** Makes `runsDir` when it is missing and the store at `location` is a SQLite file in it (see openStoreForRuns). */
export function createRunsFolderOf(location: string, runsDir: string): void {
  if (!isPostgresUrl(location) && resolve(dirname(location)) === resolve(runsDir)) createFolder(runsDir);
}

/** Whether opening the store at `location` would create its file: a SQLite store that does not exist yet. */
export const createsStoreFile = (location: string) => !isPostgresUrl(location) && !existsSync(location);
