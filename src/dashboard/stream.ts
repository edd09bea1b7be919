import type { ServerResponse } from "node:http";
import type { Cursor, RunReader } from "../store/runReader.ts";
import { formatCursor, sameCursor } from "./cursor.ts";

/** How the stream pages its output; the defaults suit a browser on a fast link. */
export interface StreamLimits {
  /** How often to look for new rows (ms). */
  pollMs: number;
  /** Rows per table in one `data` event. */
  pageRows: number;
  /** A reconnect that misses more pages than this is told to reload instead: cheaper than replaying them. */
  maxCatchUpPages: number;
  /**
   * A client whose unsent output grows past this is dropped; its EventSource reconnects and
   * catches up from its Last-Event-ID, so a stalled browser never makes the server buffer more.
   */
  maxBufferedBytes: number;
  /**
   * Open streams at most; more are answered 503. Each may hold up to `maxBufferedBytes`, and each
   * catch-up reads a page: 400 clients that asked for everything and never read held 1.2 GB and
   * kept every other request waiting 49 s.
   */
  maxClients: number;
}

const DEFAULT_LIMITS: StreamLimits = { pollMs: 200, pageRows: 20_000, maxCatchUpPages: 20, maxBufferedBytes: 8 * 2 ** 20, maxClients: 64 };
const HEARTBEAT_MS = 15_000;

/**
 * One Server-Sent Events stream shared by every open page: a poller reads the rows the trainer
 * committed since the last tick (by row id, so nothing is read twice) and sends them to all
 * clients as `data` events whose id is the cursor reached; `runs` events announce status
 * changes. A client that reconnects with Last-Event-ID gets what it missed first, one page at a
 * time as its connection drains, and joins the shared stream once it has caught up: a client that
 * does not read holds at most a page, however far behind it asked to start. The stream only
 * reads the store, so it never holds the trainer up.
 */
export class ChangeStream {
  private readonly clients = new Set<ServerResponse>();
  private readonly catchingUp = new Set<ServerResponse>();
  private readonly limits: StreamLimits;
  private cursor: Cursor;
  private runsSnapshot = "";
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly reader: RunReader,
    private readonly runsJson: () => string,
    limits: Partial<StreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)) };
    this.cursor = reader.currentCursor();
    this.runsSnapshot = this.runsStatus();
  }

  /** Opens the stream on `res`, first sending what was written after `from` (if given). */
  add(res: ServerResponse, from: Cursor | null): void {
    if (this.size >= this.limits.maxClients) {
      res.writeHead(503, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
      res.end(JSON.stringify({ error: `too many live streams (${this.limits.maxClients} open); close a page of this dashboard and reload` }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write("retry: 1000\n\n");
    this.poll(); // so that the shared stream continues from where this client starts
    res.on("close", () => this.remove(res));
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.limits.pollMs);
      this.heartbeat = setInterval(() => this.broadcast(": heartbeat\n\n", true), HEARTBEAT_MS);
    }
    if (from) {
      this.catchingUp.add(res);
      this.catchUp(res, from, 0);
    } else this.clients.add(res);
  }

  /** Number of open streams. */
  get size(): number {
    return this.clients.size + this.catchingUp.size;
  }

  /** Ends every stream and stops polling. */
  close(): void {
    for (const res of [...this.clients, ...this.catchingUp]) res.end();
    this.clients.clear();
    this.catchingUp.clear();
    this.stopPolling();
  }

  private remove(res: ServerResponse): void {
    this.clients.delete(res);
    this.catchingUp.delete(res);
    if (this.size === 0) this.stopPolling();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
  }

  // Sends the pages between `at` and the shared cursor, the next one only once the connection has
  // drained the last; the shared cursor may move meanwhile, and the client joins the shared
  // stream exactly where its catch-up ends.
  private catchUp(res: ServerResponse, from: Cursor, pagesSent: number): void {
    let at = from;
    for (let page = pagesSent; this.catchingUp.has(res); page++) {
      if (sameCursor(at, this.cursor) || page === this.limits.maxCatchUpPages) {
        if (page === this.limits.maxCatchUpPages) this.send(res, `event: reset\nid: ${formatCursor(this.cursor)}\ndata: {}\n\n`);
        if (this.catchingUp.delete(res)) this.clients.add(res);
        return;
      }
      const { changes, reached } = this.reader.changesBetween(at, this.cursor, this.limits.pageRows);
      at = reached;
      if (!this.send(res, `event: data\nid: ${formatCursor(reached)}\ndata: ${JSON.stringify(changes)}\n\n`)) {
        res.once("drain", () => this.catchUp(res, at, page + 1));
        return;
      }
    }
  }

  // Writes to one client and tells whether it can take more now; a client past its buffer limit
  // is dropped as soon as the write that took it there is made.
  private send(res: ServerResponse, message: string): boolean {
    const drained = res.write(message);
    if (res.writableLength > this.limits.maxBufferedBytes) {
      this.remove(res);
      res.destroy();
      return false;
    }
    return drained;
  }

  private runsStatus(): string {
    return JSON.stringify(this.reader.runStates());
  }

  private poll(): void {
    const target = this.reader.currentCursor();
    // Clients still catching up read the rows themselves, on their way to the cursor.
    if (this.clients.size === 0) this.cursor = target;
    while (!sameCursor(this.cursor, target)) {
      const { changes, reached } = this.reader.changesBetween(this.cursor, target, this.limits.pageRows);
      this.cursor = reached;
      this.broadcast(`event: data\nid: ${formatCursor(reached)}\ndata: ${JSON.stringify(changes)}\n\n`);
    }
    const runs = this.runsStatus();
    if (runs !== this.runsSnapshot) {
      this.runsSnapshot = runs;
      if (this.size > 0) this.broadcast(`event: runs\ndata: ${this.runsJson()}\n\n`, true);
    }
  }

  // Data goes only to the clients that have caught up; status and heartbeats, which carry no
  // rows, to every client.
  private broadcast(message: string, toCatchingUp = false): void {
    for (const res of this.clients) this.send(res, message);
    if (toCatchingUp) for (const res of this.catchingUp) this.send(res, message);
  }
}
