// What the run store's thread (syncClient.ts) and its PostgreSQL thread (clientWorker.ts) say to
// each other over their MessagePort, and the slots of the shared Int32Array beside it.

/** One SQL statement: `$1`-style parameters; `array` rows for the reader's raw results. */
export interface Statement {
  sql: string;
  params?: unknown[];
  rowMode?: "array";
}

/** A statement's rows and how many rows it changed. */
export interface StatementResult {
  rows: unknown[];
  rowCount: number;
}

/**
 * A request to the PostgreSQL thread, answered in order. `id` 0 asks for no answer (a write
 * posted without waiting; its failure is reported with the next answer).
 */
export type Request =
  | { id: number; kind: "open"; url: string; create: boolean; reconnectSeconds: number }
  | { id: number; kind: "transaction"; statements: Statement[]; streamLock: boolean }
  | { id: number; kind: "statements"; statements: Statement[] }
  | { id: number; kind: "barrier" }
  | { id: number; kind: "lease"; lock: Statement; lost: string }
  | { id: number; kind: "close" };

/**
 * The answer to a request: its statements' results, or the error that stopped it (`unreachable`:
 * the server could not be reached for the reconnect window). `reconnectedAt`: when the connection
 * last came back after it was lost (ms since the epoch), once it has been.
 */
export interface Reply {
  id: number;
  results?: StatementResult[];
  error?: string;
  unreachable?: boolean;
  reconnectedAt?: number;
}

/** Slots of the shared Int32Array. */
export const Slot = {
  /** Answers posted so far: the requesting thread waits on it (Atomics.wait). */
  replies: 0,
  /** Requests received and not yet done: the write backlog. */
  backlog: 1,
  /** 1 once the PostgreSQL thread has ended. */
  ended: 2,
} as const;

/** Slots in the shared Int32Array. */
export const SLOT_COUNT = 3;
