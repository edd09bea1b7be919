import type { ServerResponse } from "node:http";
import type Database from "better-sqlite3";
import type { Cursor } from "./api.ts";
import { changesBetween, currentCursor, formatCursor, sameCursor } from "./queries.ts";

// Rows per table in one `data` event; a reconnect that misses more than MAX_CATCH_UP_PAGES of
// them is told to reload instead, which is cheaper than replaying them.
const PAGE_ROWS = 20_000;
const MAX_CATCH_UP_PAGES = 20;
// A client whose unsent output grows past this is dropped; its EventSource reconnects and
// catches up from its Last-Event-ID, so a stalled browser never makes the server buffer more.
const MAX_BUFFERED_BYTES = 8 * 2 ** 20;
const HEARTBEAT_MS = 15_000;

/**
 * One Server-Sent Events stream shared by every open page: a poller reads the rows the trainer
 * committed since the last tick (by row id, so nothing is read twice) and sends them to all
 * clients as `data` events whose id is the cursor reached; `runs` events announce status
 * changes. A client that reconnects with Last-Event-ID gets what it missed first. The stream
 * only reads the store, so it never holds the trainer up.
 */
export class ChangeStream {
  private readonly clients = new Set<ServerResponse>();
  private cursor: Cursor;
  private runsSnapshot = "";
  private timer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Database.Database,
    private readonly runsJson: () => string,
    private readonly pollMs = 200,
  ) {
    this.cursor = currentCursor(db);
    this.runsSnapshot = this.runsStatus();
  }

  /** Opens the stream on `res`, first sending what was written after `from` (if given). */
  add(res: ServerResponse, from: Cursor | null): void {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write("retry: 1000\n\n");
    this.poll(); // so that the catch-up below ends exactly where the shared stream continues
    if (from) this.catchUp(res, from);
    this.clients.add(res);
    res.on("close", () => this.remove(res));
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.heartbeat = setInterval(() => this.broadcast(": heartbeat\n\n"), HEARTBEAT_MS);
    }
  }

  /** Number of open streams. */
  get size(): number {
    return this.clients.size;
  }

  /** Ends every stream and stops polling. */
  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stopPolling();
  }

  private remove(res: ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stopPolling();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.timer = this.heartbeat = null;
  }

  private catchUp(res: ServerResponse, from: Cursor): void {
    let at = from;
    for (let page = 0; !sameCursor(at, this.cursor); page++) {
      if (page === MAX_CATCH_UP_PAGES) {
        res.write(`event: reset\nid: ${formatCursor(this.cursor)}\ndata: {}\n\n`);
        return;
      }
      const { changes, reached } = changesBetween(this.db, at, this.cursor, PAGE_ROWS);
      res.write(`event: data\nid: ${formatCursor(reached)}\ndata: ${JSON.stringify(changes)}\n\n`);
      at = reached;
    }
  }

  private runsStatus(): string {
    return JSON.stringify(this.db.prepare("SELECT id, status, ended_at, stop_requested, parameters IS NOT NULL FROM runs ORDER BY id").raw().all());
  }

  private poll(): void {
    const target = currentCursor(this.db);
    if (this.clients.size === 0) {
      this.cursor = target;
      this.runsSnapshot = this.runsStatus();
      return;
    }
    while (!sameCursor(this.cursor, target)) {
      const { changes, reached } = changesBetween(this.db, this.cursor, target, PAGE_ROWS);
      this.cursor = reached;
      this.broadcast(`event: data\nid: ${formatCursor(reached)}\ndata: ${JSON.stringify(changes)}\n\n`);
    }
    const runs = this.runsStatus();
    if (runs !== this.runsSnapshot) {
      this.runsSnapshot = runs;
      this.broadcast(`event: runs\ndata: ${this.runsJson()}\n\n`);
    }
  }

  private broadcast(message: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(message);
    }
  }
}
