// The writes a run could not make while its PostgreSQL store was unreachable, kept in its run
// directory (see PostgresRunStore.spoolWhenUnreachable) until the run resumes and replays them.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import type { Statement } from "./protocol.ts";

/** The file in a run directory that holds the run's unwritten writes, one transaction a line. */
export const UNWRITTEN_FILE = "unwritten.jsonl";

/** One transaction of the store, as it would have been sent. */
export interface UnwrittenTransaction {
  statements: Statement[];
  streamLock: boolean;
}

/**
 * Appends transactions to `file` and forces them to disk: the checkpoint written next relies on
 * them (its rows are either in the store or here).
 */
export function appendUnwritten(file: string, transactions: UnwrittenTransaction[]): void {
  if (transactions.length === 0) return;
  const fd = openSync(file, "a");
  try {
    writeSync(fd, transactions.map((transaction) => `${JSON.stringify(transaction)}\n`).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The transactions of `file` (none when it does not exist). A last line cut short by a crash is
 * left out: the checkpoint that would have needed it was never written (it comes after the append).
 */
export function readUnwritten(file: string): UnwrittenTransaction[] {
  if (!existsSync(file)) return [];
  const transactions: UnwrittenTransaction[] = [];
  const lines = readFileSync(file, "utf8").split("\n");
  for (const [index, line] of lines.entries()) {
    if (line.trim() === "") continue;
    try {
      transactions.push(JSON.parse(line) as UnwrittenTransaction);
    } catch (error) {
      // Every append ends its lines: only the last, without its end, can have been cut short.
      if (index < lines.length - 1) throw new Error(`gradscope: ${file}:${index + 1}: not a transaction of the run store (${(error as Error).message})`);
    }
  }
  return transactions;
}

/** Removes the file once its transactions are in the store. */
export function removeUnwritten(file: string): void {
  if (existsSync(file)) unlinkSync(file);
}
