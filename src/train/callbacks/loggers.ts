import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import type { Callback, Logs } from "../callback.ts";
import type { Trainer } from "../trainer.ts";

const cell = (value: number | undefined) => (value === undefined ? "" : String(value));

/**
 * One CSV row per epoch with every epoch log as a column (the header grows when a new key
 * appears, by rewriting the file). Config key `loggers.csv`.
 */
export class CsvLogger implements Callback {
  readonly name = "csv_logger";
  private columns: string[] = [];
  private rows: Logs[] = [];

  constructor(readonly path: string) {}

  onTrainBegin(): void {
    // A resumed run appends to the rows it already wrote.
    if (existsSync(this.path) && this.rows.length === 0) {
      const [header, ...lines] = readFileSync(this.path, "utf8").trim().split("\n");
      this.columns = header ? header.split(",") : [];
      this.rows = lines.map((line) => Object.fromEntries(line.split(",").flatMap((v, i) => (v === "" ? [] : [[this.columns[i], Number(v)]]))));
    }
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    this.rows.push({ ...logs });
    const fresh = Object.keys(logs).filter((key) => !this.columns.includes(key));
    if (fresh.length === 0 && existsSync(this.path)) {
      appendFileSync(this.path, `${this.columns.map((c) => cell(logs[c])).join(",")}\n`);
      return;
    }
    this.columns.push(...fresh);
    writeFileSync(this.path, `${[this.columns.join(","), ...this.rows.map((row) => this.columns.map((c) => cell(row[c])).join(","))].join("\n")}\n`);
  }
}

/**
 * One JSON object per line: every `every` optimizer steps `{ kind: "batch", ... }`, and
 * `{ kind: "epoch", ... }` at each epoch's end. Config key `loggers.jsonl`.
 */
export class JsonlLogger implements Callback {
  readonly name = "jsonl_logger";

  constructor(
    readonly path: string,
    readonly every = 50,
  ) {}

  onBatchEnd(_trainer: Trainer, logs: Logs): void {
    if (logs.step % this.every === 0) appendFileSync(this.path, `${JSON.stringify({ kind: "batch", time: Date.now() / 1000, ...logs })}\n`);
  }

  onEpochEnd(_trainer: Trainer, logs: Logs): void {
    appendFileSync(this.path, `${JSON.stringify({ kind: "epoch", time: Date.now() / 1000, ...logs })}\n`);
  }
}
