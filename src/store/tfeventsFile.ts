import { closeSync, openSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { createFolder } from "../train/files.ts";
import { fileVersionEvent, tfRecord } from "./tfevents.ts";

// One process's event files get increasing numbers, so that two opened within the same second
// still have distinct names in the order they were opened.
let opened = 0;

/**
 * A TensorBoard event file being written while a run goes on: created in `directory` with a name
 * as TensorFlow's writers give (`events.out.tfevents.<seconds>.<host>.<pid>.<n>`, which sorts by
 * creation, the order in which TensorBoard reads a directory's files), the `brain.Event:2`
 * version record first, then only appended records. Records wait in memory at most `flushSecs`:
 * the first one queued after a write arms a timer, and a record queued once the oldest waiting
 * one is older than that writes them at once (the timer cannot fire while training keeps the
 * event loop busy). `flush` writes them to the operating system (no fsync: TensorBoard reads
 * the page cache, and a reader stops at a torn last record and reads it once complete). The
 * process's exit writes what is left, so a second Ctrl-C (`process.exit`) loses nothing either.
 */
export class TfEventsFile {
  /** The file's path. */
  readonly path: string;
  private fd: number | null;
  private pending: Uint8Array[] = [];
  private oldestPendingMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushOnExit = () => this.flush();

  /** Creates the directory (and its parents) and the file, and writes the version record. */
  constructor(
    readonly directory: string,
    readonly flushSecs = 2,
  ) {
    createFolder(directory);
    const seconds = String(Math.floor(Date.now() / 1000)).padStart(10, "0");
    this.path = join(directory, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${opened++}`);
    // "wx": an existing file (another writer's) is never appended to or truncated.
    this.fd = openSync(this.path, "wx");
    writeSync(this.fd, tfRecord(fileVersionEvent(Date.now() / 1000)));
    process.on("exit", this.flushOnExit);
  }

  /** Queues serialized `tensorflow.Event`s (from tfevents.ts) to be written within `flushSecs`. */
  append(events: Uint8Array[]): void {
    if (this.fd === null) throw new Error(`gradscope: the event file ${this.path} is closed`);
    if (events.length === 0) return;
    const now = Date.now();
    if (this.pending.length === 0) {
      this.oldestPendingMs = now;
      this.timer ??= setTimeout(() => this.flush(), this.flushSecs * 1000).unref();
    }
    for (const data of events) this.pending.push(tfRecord(data));
    if (now - this.oldestPendingMs >= this.flushSecs * 1000) this.flush();
  }

  /** Writes the queued records to the file. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.fd === null || this.pending.length === 0) return;
    const bytes = Buffer.concat(this.pending);
    this.pending = [];
    for (let written = 0; written < bytes.length; ) written += writeSync(this.fd, bytes, written);
  }

  /** Writes what is queued and closes the file; appending afterwards is an error. */
  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
    process.off("exit", this.flushOnExit);
  }
}
