// The PostgreSQL thread of a PostgresRunStore (see syncClient.ts): one `pg` connection, on which it
// runs requests one at a time in the order they were posted, and answers on the port.
import { type MessagePort, workerData } from "node:worker_threads";
import pg from "pg";
import { migrate } from "./migrate.ts";
import { STREAM_WRITE_LOCK } from "./migrations.ts";
import { type Reply, type Request, Slot, type Statement, type StatementResult } from "./protocol.ts";

const { port, shared } = workerData as { port: MessagePort; shared: SharedArrayBuffer };
const state = new Int32Array(shared);
let client: pg.Client | null = null;
// A write posted without waiting that failed: the next answer reports it.
let failedWrite: string | null = null;
let queue = Promise.resolve();

// BIGINT (counts, steps, seqs) as a number: steps and row counts stay far below 2^53.
const BIGINT_OID = 20;
const types = { getTypeParser: (oid: number, format?: "text" | "binary") => (oid === BIGINT_OID ? Number : pg.types.getTypeParser(oid, format as "text")) };

/** A pg error's message; a failed connect to several addresses is an AggregateError with an empty one. */
export function errorMessage(error: unknown): string {
  const nested = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(nested) && nested.length > 0) return [...new Set(nested.map(errorMessage))].join("; ");
  return (error as Error).message || String(error);
}

async function run(statements: Statement[]): Promise<StatementResult[]> {
  if (!client) throw new Error("the store is not open");
  const results: StatementResult[] = [];
  for (const { sql, params, rowMode } of statements) {
    const result = rowMode === "array" ? await client.query({ text: sql, values: params, rowMode }) : await client.query(sql, params);
    results.push({ rows: result.rows, rowCount: result.rowCount ?? 0 });
  }
  return results;
}

async function transaction(statements: Statement[], streamLock: boolean): Promise<StatementResult[]> {
  if (!client) throw new Error("the store is not open");
  await client.query("BEGIN");
  try {
    if (streamLock) await client.query("SELECT pg_advisory_xact_lock($1)", [STREAM_WRITE_LOCK.toString()]);
    const results = await run(statements);
    await client.query("COMMIT");
    return results;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

async function handle(request: Request): Promise<StatementResult[] | undefined> {
  switch (request.kind) {
    case "open": {
      client = new pg.Client({ connectionString: request.url, types, connectionTimeoutMillis: 10_000 });
      // A connection lost between requests: the next request fails and says so.
      client.on("error", (error) => {
        failedWrite ??= errorMessage(error);
      });
      try {
        await client.connect();
      } catch (error) {
        throw new Error(`cannot connect (${errorMessage(error)}); expected a PostgreSQL server that accepts this URL's user, password and database`);
      }
      await migrate(client, request.create);
      // The store's statements read index ranges of at most a few thousand rows, but the planner
      // estimates a chart's per-bucket reads (generate_series × LATERAL) above jit_above_cost:
      // compiling them took 345 ms of a 513 ms zoomed-chart query (100 k steps, 1400 buckets).
      await client.query("SET jit = off");
      return undefined;
    }
    case "transaction":
      return request.statements.length === 1 && !request.streamLock ? run(request.statements) : transaction(request.statements, request.streamLock);
    case "statements":
      return run(request.statements);
    case "barrier":
      return undefined;
    case "close":
      await client?.end();
      client = null;
      return undefined;
  }
}

function answer(reply: Reply): void {
  port.postMessage(reply);
  Atomics.add(state, Slot.replies, 1);
  Atomics.notify(state, Slot.replies);
}

async function serve(request: Request): Promise<void> {
  try {
    const results = await handle(request);
    if (request.id === 0) return;
    const earlier = failedWrite;
    failedWrite = null;
    answer(earlier === null ? { id: request.id, results } : { id: request.id, error: `a write posted earlier failed: ${earlier}` });
  } catch (error) {
    if (request.id === 0) failedWrite ??= errorMessage(error);
    else answer({ id: request.id, error: errorMessage(error) });
  } finally {
    Atomics.sub(state, Slot.backlog, 1);
  }
  if (request.kind === "close") port.close();
}

port.on("message", (request: Request) => {
  Atomics.add(state, Slot.backlog, 1);
  queue = queue.then(() => serve(request));
});

// The requesting thread may be waiting for an answer that will never come.
process.on("exit", () => {
  Atomics.store(state, Slot.ended, 1);
  Atomics.notify(state, Slot.replies);
});
