// The PostgreSQL thread of a PostgresRunStore (see syncClient.ts): one `pg` connection, on which it
// runs requests one at a time in the order they were posted, and answers on the port.
import { type MessagePort, workerData } from "node:worker_threads";
import pg from "pg";
import { errorMessage, isConnectionLost, RECONNECT_PAUSE_MS, RECONNECT_SECONDS } from "./connectionLost.ts";
import { migrate } from "./migrate.ts";
import { STREAM_WRITE_LOCK } from "./migrations.ts";
import { redactUrl } from "./postgresUrl.ts";
import { type Reply, type Request, Slot, type Statement, type StatementResult } from "./protocol.ts";

const { port, shared } = workerData as { port: MessagePort; shared: SharedArrayBuffer };
const state = new Int32Array(shared);
let client: pg.Client | null = null;
// The store's URL once open: a lost connection is opened again to it.
let storeUrl: string | null = null;
// A session lock the connection holds (a coordinator's lease, see SyncPostgresClient.lease): taken
// again on a new connection; when another session took it meanwhile, every later request fails
// with its `lost` message.
let lease: { lock: Statement; lost: string } | null = null;
let leaseLost: string | null = null;
// The connection broke between requests (the server restarted): the next request reconnects.
let broken = false;
// A write posted without waiting that failed: the next answer reports it.
let failedWrite: string | null = null;
let queue = Promise.resolve();

// BIGINT (counts, steps, seqs) as a number: steps and row counts stay far below 2^53.
const BIGINT_OID = 20;
const types = { getTypeParser: (oid: number, format?: "text" | "binary") => (oid === BIGINT_OID ? Number : pg.types.getTypeParser(oid, format as "text")) };

async function connect(url: string): Promise<pg.Client> {
  const connection = new pg.Client({ connectionString: url, types, connectionTimeoutMillis: 10_000 });
  // A connection lost between requests: the next request opens a new one (see reconnect).
  connection.on("error", () => {
    if (connection === client) broken = true;
  });
  await connection.connect();
  return connection;
}

// The session settings every connection of the store has.
async function configure(connection: pg.Client): Promise<void> {
  // The store's statements read index ranges of at most a few thousand rows, but the planner
  // estimates a chart's per-bucket reads (generate_series × LATERAL) above jit_above_cost:
  // compiling them took 345 ms of a 513 ms zoomed-chart query (100 k steps, 1400 buckets).
  await connection.query("SET jit = off");
}

// Opens the connection again after it was lost, trying until `deadline`; says so once on stderr
// (a trial's log, a worker's output), naming the store with its password hidden.
async function reconnect(cause: unknown, deadline: number): Promise<void> {
  const url = storeUrl as string;
  const old = client;
  client = null;
  broken = false;
  void old?.end().catch(() => {});
  process.stderr.write(`gradscope: lost the connection to the run store ${redactUrl(url)} (${errorMessage(cause)}); reconnecting for up to ${RECONNECT_SECONDS} s\n`);
  let last: unknown = cause;
  for (;;) {
    try {
      const connection = await connect(url);
      await configure(connection);
      client = connection;
      if (lease && !(await holds(connection, lease.lock))) leaseLost = lease.lost;
      process.stderr.write(`gradscope: reconnected to the run store ${redactUrl(url)}\n`);
      return;
    } catch (error) {
      last = error;
    }
    if (Date.now() + RECONNECT_PAUSE_MS > deadline)
      throw new Error(`gradscope: lost the connection to the run store ${redactUrl(url)} and could not reconnect in ${RECONNECT_SECONDS} s (${errorMessage(last)})`);
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS));
  }
}

// Runs a request; when the connection is lost (before it, or under it), reconnects and runs it
// again: a transaction that failed this way was rolled back by the server. (Should the connection
// drop after the server committed but before it answered, the request runs twice: every write of
// the store is an upsert, an update or an event, which a restart in that instant may repeat.)
async function handleReconnecting(request: Request): Promise<StatementResult[] | undefined> {
  const deadline = Date.now() + RECONNECT_SECONDS * 1000;
  for (;;) {
    if (leaseLost !== null && request.kind !== "close") throw new Error(leaseLost);
    if (broken && storeUrl !== null && request.kind !== "close") await reconnect(new Error("the server closed the connection"), deadline);
    try {
      return await handle(request);
    } catch (error) {
      if (storeUrl === null || request.kind === "open" || request.kind === "close" || !isConnectionLost(error)) throw error;
      await reconnect(error, deadline);
    }
  }
}

// Whether a lock statement (one boolean column) got its lock.
async function holds(connection: pg.Client, lock: Statement): Promise<boolean> {
  const result = await connection.query({ text: lock.sql, values: lock.params, rowMode: "array" });
  return result.rows[0]?.[0] === true;
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
      try {
        client = await connect(request.url);
      } catch (error) {
        throw new Error(`cannot connect (${errorMessage(error)}); expected a PostgreSQL server that accepts this URL's user, password and database`);
      }
      await migrate(client, request.create);
      await configure(client);
      storeUrl = request.url;
      return undefined;
    }
    case "transaction":
      return request.statements.length === 1 && !request.streamLock ? run(request.statements) : transaction(request.statements, request.streamLock);
    case "statements":
      return run(request.statements);
    case "barrier":
      return undefined;
    case "lease": {
      if (!client) throw new Error("the store is not open");
      const held = await holds(client, request.lock);
      if (held) lease = { lock: request.lock, lost: request.lost };
      return [{ rows: [held], rowCount: 0 }];
    }
    case "close":
      storeUrl = null;
      await client?.end().catch(() => {});
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
    const results = await handleReconnecting(request);
    if (request.id === 0) return;
    const earlier = failedWrite;
    failedWrite = null;
    answer(earlier === null ? { id: request.id, results } : { id: request.id, error: earlier.startsWith("gradscope: ") ? earlier : `a write posted earlier failed: ${earlier}` });
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
