import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { toCsv, toJsonl } from "../store/export.ts";
import { isPostgresUrl, openRunStore } from "../store/openRunStore.ts";
import { RunLookupError, type RunRecord, type RunStore } from "../store/runStore.ts";
import { writeTfEvents } from "../store/tfevents.ts";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import { readStoreLocation } from "./storeOptions.ts";
import { UsageError } from "./usageError.ts";

/**
 * Opens the store a command reads without creating one: a SQLite file must exist, a PostgreSQL
 * database must hold gradscope's schema (else a StoreOpenError). Either problem is the user's to fix (exit 2).
 */
export function openExisting(location: string): RunStore {
  if (!isPostgresUrl(location) && !existsSync(location)) throw new UsageError(`gradscope: no run store at ${location} (train a run first, or pass --store PATH or URL)`);
  return openRunStore(location, { create: false });
}

// The run an id (or prefix) names; naming none or several is the user's mistake.
function findRun(store: RunStore, id: string): RunRecord {
  try {
    return store.getRun(id);
  } catch (error) {
    throw error instanceof RunLookupError ? new UsageError(error.message) : error;
  }
}

const when = (seconds: number) => new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);

function describe(run: RunRecord): Record<string, unknown> {
  const summary = (run.summary ?? {}) as { test?: Record<string, unknown> };
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    started: when(run.startedAt),
    seconds: run.endedAt === null ? null : Math.round(run.endedAt - run.startedAt),
    test: summary.test ?? null,
  };
}

/** `gradscope runs list|show|delete` (one of `runsActions`): prints to stdout; `json` for scripts. */
export function runsCommand(action: string, id: string | undefined, options: { store?: string; json?: boolean; force?: boolean }): number {
  if (action !== "list" && !id) throw new UsageError(`gradscope: runs ${action} needs a run id`);
  const store = openExisting(readStoreLocation(options.store));
  try {
    if (action === "list") {
      const runs = store.listRuns().map(describe);
      if (options.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      else if (runs.length === 0) process.stdout.write(`no runs in ${store.displayLocation}\n`);
      else {
        for (const r of runs) {
          // The numbers only: a matrix (test_confusion_matrix) does not fit on a line; `runs show` has it.
          const test = r.test
            ? Object.entries(r.test as Record<string, unknown>)
                .flatMap(([k, v]) => (typeof v === "number" ? [`${k} ${v.toFixed(4)}`] : []))
                .join("  ")
            : "";
          process.stdout.write(`${String(r.id).padEnd(40)} ${String(r.status).padEnd(11)} ${r.started}  ${r.seconds === null ? "" : `${r.seconds} s`}  ${test}\n`);
        }
      }
      return 0;
    }
    const run = findRun(store, id as string);
    if (action === "show") {
      const details = { ...describe(run), directory: run.directory, config: run.config, summary: run.summary, keys: store.keys(run.id), events: store.events(run.id) };
      process.stdout.write(`${JSON.stringify(details, null, 2)}\n`);
      return 0;
    }
    // Opening the store marked the runs of vanished processes of this machine crashed: a run
    // still running has a live trainer (or, on PostgreSQL, one on a machine that may be gone),
    // which would go on writing rows under an id no run owns any more.
    if (run.status === "running" && !options.force)
      throw new UsageError(
        `gradscope: run ${run.id} is running (process ${run.pid}); stop it (Ctrl-C, or "stop run" on the dashboard) before deleting it, or pass --force if its machine is gone`,
      );
    store.deleteRun(run.id);
    process.stdout.write(`deleted ${run.id} from ${store.displayLocation}${run.directory ? ` (its directory ${run.directory} is kept)` : ""}\n`);
    return 0;
  } finally {
    store.close();
  }
}

/**
 * `gradscope export` (`format` one of `exportFormats`): writes a run's logged values into `out`
 * as <id>.jsonl, <id>.csv, or a TensorBoard event file `events.out.tfevents.<time>.gradscope` in
 * `out/<id>/`.
 */
export function exportCommand(id: string, options: { store?: string; format: string; out: string }): number {
  const store = openExisting(readStoreLocation(options.store));
  try {
    const run = findRun(store, id);
    const folder = options.format === "tfevents" ? join(options.out, run.id) : options.out;
    try {
      createFolder(folder);
    } catch (error) {
      throw new UsageError(`gradscope: export --out ${options.out}: ${(error as Error).message.replace(/^gradscope: /, "")}`);
    }
    const file = options.format === "tfevents" ? join(folder, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.gradscope`) : join(folder, `${run.id}.${options.format}`);
    if (statSync(file, { throwIfNoEntry: false })?.isDirectory())
      throw new UsageError(`gradscope: export --out ${options.out}: ${file} is a folder; expected to write the export there`);
    // Atomically, so that a failed export leaves an earlier export of the run as it was.
    if (options.format === "jsonl") writeFileAtomic(file, toJsonl(store, run.id));
    else if (options.format === "csv") writeFileAtomic(file, toCsv(store, run.id));
    else writeTfEvents(store, run.id, file);
    process.stdout.write(`${file}\n`);
    return 0;
  } finally {
    store.close();
  }
}
