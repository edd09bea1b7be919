// What a failed or lost PostgreSQL connection says, and how long gradscope waits for it to come back
// (the run store's thread reconnects, see clientWorker.ts; the job queue's calls are retried).

/** How long a lost connection is retried before the call fails (a server restart takes seconds). */
export const RECONNECT_SECONDS = 30;

/** The pause between two attempts to reconnect. */
export const RECONNECT_PAUSE_MS = 500;

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
 * Runs `call` (a job-queue call, whose pool opens new connections by itself), again while it
 * fails because the connection was lost, for up to RECONNECT_SECONDS; `onLost` hears of the first
 * loss (a one-line notice). Other errors, and a loss that outlasts the wait, are thrown.
 */
export async function retryLostConnection<T>(call: () => Promise<T>, onLost: (error: unknown) => void): Promise<T> {
  const deadline = Date.now() + RECONNECT_SECONDS * 1000;
  let told = false;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (!isConnectionLost(error) || Date.now() + RECONNECT_PAUSE_MS > deadline) throw error;
      if (!told) onLost(error);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS));
    }
  }
}
