import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toCsv, toJsonl } from "../store/export.ts";
import { type RunRecord, RunStore } from "../store/runStore.ts";
import { writeTfEvents } from "../store/tfevents.ts";

/** The store the `runs` and `export` commands read by default. */
export const defaultStorePath = join("runs", "gradscope.db");

function openExisting(path: string): RunStore {
  if (!existsSync(path)) throw new Error(`gradscope: no run store at ${path} (train a run first, or pass --store PATH)`);
  return new RunStore(path);
}

const when = (seconds: number) => new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19);

function describe(run: RunRecord): Record<string, unknown> {
  const summary = (run.summary ?? {}) as { test?: Record<string, number> };
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    started: when(run.startedAt),
    seconds: run.endedAt === null ? null : Math.round(run.endedAt - run.startedAt),
    test: summary.test ?? null,
  };
}

/** `gradscope runs list|show|delete`: prints to stdout; `json` for scripts. */
export function runsCommand(action: string, id: string | undefined, options: { store: string; json?: boolean }): number {
  const store = openExisting(options.store);
  try {
    if (action === "list") {
      const runs = store.listRuns().map(describe);
      if (options.json) process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
      else if (runs.length === 0) process.stdout.write(`no runs in ${options.store}\n`);
      else {
        for (const r of runs) {
          const test = r.test
            ? Object.entries(r.test as Record<string, number>)
                .map(([k, v]) => `${k} ${v.toFixed(4)}`)
                .join("  ")
            : "";
          process.stdout.write(`${String(r.id).padEnd(40)} ${String(r.status).padEnd(11)} ${r.started}  ${r.seconds === null ? "" : `${r.seconds} s`}  ${test}\n`);
        }
      }
      return 0;
    }
    if (!id) throw new Error(`gradscope: runs ${action} needs a run id`);
    const run = store.getRun(id);
    if (action === "show") {
      const details = { ...describe(run), directory: run.directory, config: run.config, summary: run.summary, keys: store.keys(run.id), events: store.events(run.id) };
      process.stdout.write(options.json ? `${JSON.stringify(details, null, 2)}\n` : `${JSON.stringify(details, null, 2)}\n`);
      return 0;
    }
    if (action === "delete") {
      store.deleteRun(run.id);
      process.stdout.write(`deleted ${run.id} from ${options.store}${run.directory ? ` (its directory ${run.directory} is kept)` : ""}\n`);
      return 0;
    }
    throw new Error(`gradscope: unknown runs action "${action}"; use list, show or delete`);
  } finally {
    store.close();
  }
}

/**
 * `gradscope export`: writes a run's logged values into `out` as <id>.jsonl, <id>.csv, or a
 * TensorBoard event file `events.out.tfevents.<time>.gradscope` in `out/<id>/`.
 */
export function exportCommand(id: string, options: { store: string; format: string; out: string }): number {
  const store = openExisting(options.store);
  try {
    const run = store.getRun(id);
    if (!["jsonl", "csv", "tfevents"].includes(options.format)) throw new Error(`gradscope: export --format must be jsonl, csv or tfevents, got "${options.format}"`);
    const folder = options.format === "tfevents" ? join(options.out, run.id) : options.out;
    mkdirSync(folder, { recursive: true });
    const file = options.format === "tfevents" ? join(folder, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.gradscope`) : join(folder, `${run.id}.${options.format}`);
    if (options.format === "jsonl") writeFileSync(file, toJsonl(store, run.id));
    else if (options.format === "csv") writeFileSync(file, toCsv(store, run.id));
    else writeTfEvents(store, run.id, file);
    process.stdout.write(`${file}\n`);
    return 0;
  } finally {
    store.close();
  }
}
