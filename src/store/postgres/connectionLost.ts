// What a failed or lost PostgreSQL connection says, and how long gradscope waits for it to come back
// (the run store's thread reconnects, see clientWorker.ts; the job queue's calls are retried).

/** The environment variable that sets how long a lost connection is retried, in seconds. */
export const RECONNECT_VARIABLE = "GRADSCOPE_RECONNECT_SECONDS";

// A server restart takes seconds; a failover, tens of seconds.
const DEFAULT_RECONNECT_SECONDS = 30;

// An hour: longer, and a trial would hold its worker's slot with nothing to show for it.
const MAX_RECONNECT_SECONDS = 3600;

let reconnectWindow: number | string | undefined;

// GRADSCOPE_RECONNECT_SECONDS, read once: the window, or what is wrong with the variable.
function readReconnectWindow(): number | string {
  if (reconnectWindow === undefined) {
    const text = process.env[RECONNECT_VARIABLE];
    const value = text === undefined || text.trim() === "" ? DEFAULT_RECONNECT_SECONDS : Number(text);
    reconnectWindow =
      value > 0 && value <= MAX_RECONNECT_SECONDS
        ? value
        : `${RECONNECT_VARIABLE}=${JSON.stringify(text)}: expected a number of seconds greater than 0 and at most ${MAX_RECONNECT_SECONDS} (how long a lost connection to the run store is retried; default ${DEFAULT_RECONNECT_SECONDS})`;
  }
  return reconnectWindow;
}

/**
 * What is wrong with GRADSCOPE_RECONNECT_SECONDS, or null: whoever connects first checks it (and
 * throws a StoreOpenError with it), as it checks the store's URL.
 */
export function reconnectWindowProblem(): string | null {
  const window = readReconnectWindow();
  return typeof window === "string" ? window : null;
}

/** How long a lost connection is retried before the call fails: GRADSCOPE_RECONNECT_SECONDS, else 30 s. */
export function reconnectSeconds(): number {
  const window = readReconnectWindow();
  if (typeof window === "string") throw new Error(`gradscope: ${window}`);
  return window;
}

/** The pause between two attempts to reconnect. */
export const RECONNECT_PAUSE_MS = 500;

/**
 * A call of the run store that failed because the server could not be reached for the whole
 * reconnect window (reconnectSeconds): its message names the store (password hidden) and the
 * window. Later calls fail at once with it, trying the server again at most every
 * RECONNECT_PAUSE_MS, until it answers.
 */
export class StoreUnreachableError extends Error {
  override readonly name = "StoreUnreachableError";
}

// The server shut down or restarted (57P01-57P03), a connection exception (class 08), or the
// socket broke. Anything else (a constraint, a syntax error) is the statement's own.
const LOST_CODES = new Set(["57P01", "57P02", "57P03", "ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT", "ENOTCONN"]);

/** A pg error's message; a failed connect to several addresses is an AggregateError with an empty one. */
export function errorMessage(error: unknown): string {
  const nested = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.length > 0) return [...new Set(nested.map(errorMessage))].join("; ");
  return (error as Error).message || String(error);
}

/** Whether an error of `pg` (or of pg-boss over it) means the connection failed rather than the statement. */
export function isConnectionLost(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  const code = String((error as { code?: unknown }).code ?? "");
  if (LOST_CODES.has(code) || code.startsWith("08")) return true;
  const nested = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.length > 0) return nested.every(isConnectionLost);
  return /Connection terminated|not queryable|terminating connection|the database system is (starting up|shutting down)|timeout exceeded when trying to connect/i.test(
    (error as Error).message ?? "",
  );
}

/**
 * Whether an error says that the store's server could not be reached: a run store call after its
 * reconnect window (StoreUnreachableError), or a job-queue call whose connection was lost.
 */
export const isStoreUnreachable = (error: unknown): boolean => error instanceof StoreUnreachableError || isConnectionLost(error);

/** Options of `untilReachable`. */
export interface UntilReachableOptions {
  /** The store, as messages name it (its password hidden). */
  store: string;
  /** Where the notices go: a loss, the wait beyond the reconnect window, the store back. */
  log: (line: string) => void;
  /** Stop waiting (the process was asked to stop): the call's error is thrown. */
  stopped?: () => boolean;
}

/**
 * Runs `call` (a call of the run store or of its job queue) again while the store cannot be
 * reached, for as long as it takes: a restart (within the reconnect window) with one notice, and
 * a longer outage with a notice that the process waits, and one when the store is back. For the
 * processes that serve a sweep (a worker, the sweep's coordinator), which a demanding user
 * expects to ride out a database's maintenance rather than to end. Other errors are thrown.
 */
export async function untilReachable<T>(call: () => T | Promise<T>, options: UntilReachableOptions): Promise<T> {
  const since = Date.now();
  let told: "lost" | "waiting" | null = null;
  for (;;) {
    try {
      const value = await call();
      if (told === "waiting") options.log(`the run store ${options.store} is reachable again`);
      return value;
    } catch (error) {
      if (!isStoreUnreachable(error) || options.stopped?.()) throw error;
      const beyond = error instanceof StoreUnreachableError || Date.now() - since >= reconnectSeconds() * 1000;
      if (beyond && told !== "waiting") {
        // Said as the run store's own error says it (the job queue's names neither store nor window).
        const why =
          error instanceof StoreUnreachableError
            ? error.message.replace(/^gradscope: /, "")
            : `lost the connection to the run store ${options.store} and could not reach the server for ${reconnectSeconds()} s (${errorMessage(error)})`;
        options.log(`${why}; waiting for it to come back`);
        told = "waiting";
      } else if (told === null) {
        options.log(`lost the connection to the run store ${options.store} (${errorMessage(error)}); retrying`);
        told = "lost";
      }
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS));
    }
  }
}
