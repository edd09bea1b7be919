import { MessageChannel, type MessagePort, receiveMessageOnPort, type Worker } from "node:worker_threads";
import { startModuleWorker } from "../../engine/moduleWorker.ts";
import { reconnectSeconds, StoreUnreachableError } from "./connectionLost.ts";
import { type Reply, type Request, SLOT_COUNT, Slot, type Statement, type StatementResult } from "./protocol.ts";

// Distributes Request without its id over the union's members.
type Unnumbered<T> = T extends unknown ? Omit<T, "id"> : never;

/** How long opening waits for the PostgreSQL thread (connecting itself times out after 10 s). */
const OPEN_TIMEOUT_MS = 30_000;

const unreachableListeners = new Set<(error: StoreUnreachableError) => void>();

/**
 * Calls `listener` whenever a call of any PostgreSQL store connection of this process fails
 * because the server could not be reached for the reconnect window, before the call throws: a
 * sweep's trial stops at once on the first, whichever of its connections saw it. Returns the
 * function that removes the listener.
 */
export function listenForUnreachableStore(listener: (error: StoreUnreachableError) => void): () => void {
  unreachableListeners.add(listener);
  return () => unreachableListeners.delete(listener);
}

/**
 * A synchronous PostgreSQL connection for a synchronous caller (the trainer, the dashboard's
 * queries). `pg` is asynchronous, so the connection lives on a worker thread (clientWorker.ts);
 * this thread posts requests on a MessagePort and, for an answer, blocks on `Atomics.wait` over a
 * SharedArrayBuffer until the worker has posted it, then takes it with `receiveMessageOnPort`.
 * Writes can be posted without waiting (`post`): the worker runs every request in order, so the
 * next answer also means every earlier write is done.
 */
export class SyncPostgresClient {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly state: Int32Array;
  private nextId = 1;
  private closed = false;
  private lastReconnect: number | null = null;

  /** Starts the thread and connects to `url`, migrating its schema (see migrate.ts); throws the reason it cannot. */
  constructor(url: string, create: boolean) {
    const { port1, port2 } = new MessageChannel();
    const shared = new SharedArrayBuffer(SLOT_COUNT * Int32Array.BYTES_PER_ELEMENT);
    this.state = new Int32Array(shared);
    this.port = port1;
    this.worker = startModuleWorker(import.meta.url, "clientWorker", { workerData: { port: port2, shared }, transferList: [port2] });
    // Neither keeps the process alive: the store's owner closes it, or the process ends anyway.
    this.worker.unref();
    this.port.unref();
    try {
      this.call({ kind: "open", url, create, reconnectSeconds: reconnectSeconds() }, OPEN_TIMEOUT_MS);
    } catch (error) {
      this.terminate();
      throw error;
    }
  }

  /** Runs statements in one transaction (holding the stream's write lock when asked) and returns their results. */
  transaction(statements: Statement[], streamLock = false): StatementResult[] {
    return this.call({ kind: "transaction", statements, streamLock }) as StatementResult[];
  }

  /** Several reads in one exchange with the PostgreSQL thread (not a transaction): each one's rows as arrays. */
  queriesRaw(statements: Array<{ sql: string; params: unknown[] }>): unknown[][][] {
    return (this.call({ kind: "statements", statements: statements.map((statement) => ({ ...statement, rowMode: "array" as const })) }) as StatementResult[]).map(
      (result) => result.rows as unknown[][],
    );
  }

  /** One statement's rows. */
  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): T[] {
    return this.transaction([{ sql, params }])[0].rows as T[];
  }

  /** One statement's rows as arrays. */
  queryRaw<T extends unknown[] = unknown[]>(sql: string, params: unknown[] = []): T[] {
    return this.transaction([{ sql, params, rowMode: "array" }])[0].rows as T[];
  }

  /** Posts a transaction without waiting for it; a failure is thrown by the next call that waits. */
  post(statements: Statement[], streamLock = false): void {
    this.port.postMessage({ id: 0, kind: "transaction", statements, streamLock } satisfies Request);
  }

  /**
   * Takes a session lock with `lock` (a statement answering one boolean: `pg_try_advisory_lock`),
   * held by this connection until it closes (or its process dies). Whether it got it. Should the
   * connection be lost and another session take the lock before this one reconnects, every
   * later call throws `lost`.
   */
  lease(lock: Statement, lost: string): boolean {
    return (this.call({ kind: "lease", lock, lost }) as StatementResult[])[0].rows[0] === true;
  }

  /**
   * When the connection last came back after it was lost (ms since the epoch, as of the last
   * answer), or null: whoever reaps stale trials counts workers' silence from then, since no
   * worker could heartbeat while the server was away.
   */
  reconnectedAt(): number | null {
    return this.lastReconnect;
  }

  /** Returns once every request posted before it is done (throwing if a posted write failed). */
  barrier(): void {
    this.call({ kind: "barrier" });
  }

  /** Requests posted and not yet done: grows when writes come faster than the database takes them. */
  backlog(): number {
    return Atomics.load(this.state, Slot.backlog);
  }

  /** Waits for the posted writes, closes the connection and ends the thread. */
  close(): void {
    if (this.closed) return;
    try {
      this.call({ kind: "close" });
    } finally {
      this.terminate();
    }
  }

  private terminate(): void {
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }

  private call(request: Unnumbered<Request>, timeoutMs = Number.POSITIVE_INFINITY): StatementResult[] | undefined {
    if (this.closed) throw new Error("gradscope: the run store is closed");
    const id = this.nextId++;
    this.port.postMessage({ ...request, id });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.state, Slot.replies);
      const received = receiveMessageOnPort(this.port);
      if (received) {
        const reply = received.message as Reply;
        if (reply.id !== id) continue;
        if (reply.reconnectedAt !== undefined) this.lastReconnect = reply.reconnectedAt;
        if (reply.error === undefined) return reply.results;
        if (!reply.unreachable) throw new Error(reply.error);
        const error = new StoreUnreachableError(reply.error);
        for (const listener of unreachableListeners) listener(error);
        throw error;
      }
      if (Atomics.load(this.state, Slot.ended) === 1) throw new Error("the PostgreSQL connection's thread ended");
      if (Date.now() > deadline) throw new Error(`no answer from the PostgreSQL connection's thread in ${timeoutMs / 1000} s`);
      Atomics.wait(this.state, Slot.replies, seen, 1000);
    }
  }
}
