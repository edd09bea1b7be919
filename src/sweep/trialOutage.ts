import { join } from "node:path";
import type { StoreUnreachableError } from "../store/postgres/connectionLost.ts";
import { PostgresRunStore } from "../store/postgres/postgresRunStore.ts";
import { listenForUnreachableStore } from "../store/postgres/syncClient.ts";
import { UNWRITTEN_FILE } from "../store/postgres/unwrittenWrites.ts";
import type { RunStore } from "../store/runStore.ts";

/**
 * What a trial's process does when its PostgreSQL store cannot be reached for the reconnect
 * window, on whichever of its connections (its run's, its sweep's) finds it first: its run store
 * goes offline, keeping what it could not write in the run directory (unwritten.jsonl, see
 * PostgresRunStore.spoolWhenUnreachable), and the run is interrupted after the current step as
 * Ctrl-C interrupts it, with a checkpoint in the run directory. The trial's callbacks leave the
 * store alone from then on; the process ends with STORE_UNREACHABLE_EXIT_CODE.
 */
export class TrialStoreOutage {
  /** The error that found the store unreachable, once one did. */
  error: StoreUnreachableError | null = null;
  private run: { store: PostgresRunStore | null; interrupt: (why: string) => void } | null = null;
  private readonly unlisten: () => void;

  constructor() {
    this.unlisten = listenForUnreachableStore((error) => this.lose(error));
  }

  /** The trial's run, once built: its store (a PostgreSQL one) spools into its directory while the server is away. */
  attach(run: { directory: string; store: RunStore | null; interrupt: (why: string) => void }): void {
    const store = run.store instanceof PostgresRunStore ? run.store : null;
    store?.spoolWhenUnreachable(join(run.directory, UNWRITTEN_FILE));
    this.run = { store, interrupt: run.interrupt };
  }

  private lose(error: StoreUnreachableError): void {
    if (this.error) return;
    this.error = error;
    this.run?.store?.goOffline();
    this.run?.interrupt(`interrupted: ${error.message.replace(/^gradscope: /, "")}`);
  }

  /** Stops listening (the trial ended). */
  close(): void {
    this.unlisten();
  }
}
