// The PostgreSQL thread of a PostgresRunStore (see syncClient.ts): one `pg` connection, on which it
// runs requests one at a time in the order they were posted, and answers on the port.
import { type MessagePort, workerData } from "node:worker_threads";
import pg from "pg";
import { errorMessage, isConnectionLost, RECONNECT_PAUSE_MS, StoreUnreachableError } from "./connectionLost.ts";
import { migrate } from "./migrate.ts";
import { STREAM_WRITE_LOCK } from "./migrations.ts";
import { redactUrl } from "./postgresUrl.ts";
import { type Reply, type Request, Slot, type Statement, type StatementResult } from "./protocol.ts";

const { port, shared } = workerData as { port: MessagePort; shared: SharedArrayBuffer };
const state = new Int32Array(shared);
let client: pg.Client | null = null;
// The store's URL once open: a lost connection is opened again to it, for up to reconnectSeconds.
let storeUrl: string | null = null;
let reconnectSeconds = 30;
// When the connection last came back after a loss (ms), for the replies.
let reconnectedAt: number | null = null;
// The server could not be reached for the whole window: requests fail at once with this error,
// and try the server again at most every RECONNECT_PAUSE_MS (a worker polls until it is back).
let unreachable: { error: StoreUnreachableError; retryAt: number } | null = null;
// A session lock the connection holds (a coordinator's lease, see SyncPostgresClient.lease): taken
// again on a new connection; when another session took it meanwhile, every later request fails
// with its `lost` message.
let lease: { lock: Statement; lost: string } | null = null;
let leaseLost: string | null = null;
// The connection broke between requests (the server restarted): the next request reconnects.
let broken = false;
// A write posted without waiting that failed: the next answer reports it.
let failedWrite: { message: string; unreachable: boolean } | null = null;
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

// One attempt to open the connection again: the session's settings, and its lease taken again.
async function openAgain(url: string): Promise<void> {
  const connection = await connect(url);
  try {
    await configure(connection);
  } catch (error) {
    void connection.end().catch(() => {});
    throw error;
  }
  client = connection;
  reconnectedAt = Date.now();
  if (lease && !(await holds(connection, lease.lock))) leaseLost = lease.lost;
  process.stderr.write(`gradscope: reconnected to the run store ${redactUrl(url)}\n`);
}

// Opens the connection again after it was lost, trying until `deadline`; says so once on stderr
// (a trial's log, a worker's output), naming the store with its password hidden. Past the
// deadline, the store is unreachable (see `unreachable`).
async function reconnect(cause: unknown, deadline: number): Promise<void> {
  const url = storeUrl as string;
  const old = client;
  client = null;
  broken = false;
  void old?.end().catch(() => {});
  process.stderr.write(`gradscope: lost the connection to the run store ${redactUrl(url)} (${errorMessage(cause)}); reconnecting for up to ${reconnectSeconds} s\n`);
  let last: unknown = cause;
  for (;;) {
    try {
      await openAgain(url);
      return;
    } catch (error) {
      last = error;
    }
    if (Date.now() + RECONNECT_PAUSE_MS > deadline) {
      const error = new StoreUnreachableError(
        `gradscope: lost the connection to the run store ${redactUrl(url)} and could not reach the server for ${reconnectSeconds} s (${errorMessage(last)})`,
      );
      unreachable = { error, retryAt: Date.now() + RECONNECT_PAUSE_MS };
      throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_PAUSE_MS));
  }
}

// While the server is unreachable: one attempt to reach it when the last is RECONNECT_PAUSE_MS
// old, else the unreachable error at once (queued writes of a trial fail in an instant, not a
// window each).
async function tryUnreachable(): Promise<void> {
  const gone = unreachable as NonNullable<typeof unreachable>;
  if (Date.now() < gone.retryAt) throw gone.error;
  try {
    await openAgain(storeUrl as string);
    unreachable = null;
  } catch {
    gone.retryAt = Date.now() + RECONNECT_PAUSE_MS;
    throw gone.error;
  }
}

// Runs a request; when the connection is lost (before it, or under it), reconnects and runs it
// again: a transaction that failed this way was rolled back by the server. (Should the connection
// drop after the server committed but before it answered, the request runs twice: every write of
// the store is an upsert, an update or an event, which a restart in that instant may repeat.)
async function handleReconnecting(request: Request): Promise<StatementResult[] | undefined> {
  const deadline = Date.now() + reconnectSeconds * 1000;
  for (;;) {
    if (leaseLost !== null && request.kind !== "close") throw new Error(leaseLost);
    const reconnecting = storeUrl !== null && request.kind !== "close";
    if (reconnecting && unreachable) await tryUnreachable();
    if (reconnecting && broken) await reconnect(new Error("the server closed the connection"), deadline);
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
      reconnectSeconds = request.reconnectSeconds;
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
    answer(
      earlier === null
        ? { id: request.id, results, ...since() }
        : {
            id: request.id,
            error: earlier.message.startsWith("gradscope: ") ? earlier.message : `a write posted earlier failed: ${earlier.message}`,
            unreachable: earlier.unreachable,
            ...since(),
          },
    );
  } catch (error) {
    const unreachableNow = error instanceof StoreUnreachableError;
    if (request.id === 0) failedWrite ??= { message: errorMessage(error), unreachable: unreachableNow };
    else answer({ id: request.id, error: errorMessage(error), unreachable: unreachableNow, ...since() });
  } finally {
    Atomics.sub(state, Slot.backlog, 1);
  }
  if (request.kind === "close") port.close();
}

// A reply's `reconnectedAt`, once the connection came back after a loss.
const since = () => (reconnectedAt === null ? {} : { reconnectedAt });

port.on("message", (request: Request) => {
  Atomics.add(state, Slot.backlog, 1);
  queue = queue.then(() => serve(request));
});

// The requesting thread may be waiting for an answer that will never come.
process.on("exit", () => {
  Atomics.store(state, Slot.ended, 1);
  Atomics.notify(state, Slot.replies);
});
