import type Database from "better-sqlite3";
import { type Extremes, mergeBucketParts } from "./bucketParts.ts";
import { changesFrom } from "./changeRows.ts";
import { SCALAR_BLOCK_STEPS } from "./database.ts";
import { heatmapFrom } from "./heatmapRows.ts";
import { rollupSpan } from "./rollupLevels.ts";
import type { BucketedSeries, Changes, Cursor, HeatmapRows, HistogramAtStep, ListSeries, RunReader, RunStates, StepRange, ValueDistribution } from "./runReader.ts";
import { keyRange } from "./seriesKeys.ts";
import { distributionOf } from "./valueDistribution.ts";

const MAX_STEP = Number.MAX_SAFE_INTEGER;

interface Bounds {
  lo: number;
  hi: number;
  count: number;
}

type Table = "scalars" | "lists" | "histograms";

// Bucket index of a step: buckets of equal step width spanning [lo, hi]. (Bound JS numbers are
// REALs in SQLite, hence the explicit truncation.)
const bucketOf = "CAST(((step - @lo) * @buckets) / (@hi - @lo + 1) AS INTEGER)";

/**
 * The reader API over a SQLite run store's connection (see database.ts for the schema). Each
 * query is prepared once, on first use, and kept: the dashboard asks the same few queries for
 * every chart and every poll of the live stream.
 */
export class SqliteRunReader implements RunReader {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  // better-sqlite3's raw and pluck modes are set on the statement, so each mode keeps its own.
  private statement(sql: string, mode: "rows" | "raw" | "pluck" = "rows"): Database.Statement {
    const id = `${mode}\n${sql}`;
    let found = this.statements.get(id);
    if (!found) {
      found = this.db.prepare(sql);
      if (mode === "raw") found.raw();
      if (mode === "pluck") found.pluck();
      this.statements.set(id, found);
    }
    return found;
  }

  // The first and last logged step within the range: two index seeks (a MIN and a MAX alone).
  private stepSpan(table: Table, runId: string, key: string, range: StepRange): { lo: number; hi: number } | null {
    const args = [runId, key, range.from ?? 0, range.to ?? MAX_STEP];
    const where = `FROM ${table} WHERE run_id = ? AND key = ? AND step BETWEEN ? AND ?`;
    const lo = this.statement(`SELECT MIN(step) ${where}`, "pluck").get(...args) as number | null;
    return lo === null ? null : { lo, hi: this.statement(`SELECT MAX(step) ${where}`, "pluck").get(...args) as number };
  }

  private bounds(table: Table, runId: string, key: string, range: StepRange): Bounds | null {
    const span = this.stepSpan(table, runId, key, range);
    if (!span) return null;
    const count = this.statement(`SELECT COUNT(*) FROM ${table} WHERE run_id = ? AND key = ? AND step BETWEEN ? AND ?`, "pluck").get(runId, key, span.lo, span.hi) as number;
    return { ...span, count };
  }

  // A million points cost one index scan, or about range / 64 rollup rows (see blockBuckets).
  scalarBuckets(runId: string, key: string, range: StepRange): BucketedSeries {
    const extent = this.stepSpan("scalars", runId, key, range);
    const fromBlocks = extent && this.blockBuckets(runId, key, extent.lo, extent.hi, range.buckets);
    if (fromBlocks) return fromBlocks;
    const out: BucketedSeries = { steps: [], last: [], min: [], max: [] };
    const b = this.bounds("scalars", runId, key, range);
    if (!b) return out;
    if (b.count <= range.buckets) {
      const rows = this.statement("SELECT step, value FROM scalars WHERE run_id = ? AND key = ? AND step BETWEEN ? AND ? ORDER BY step", "raw").all(
        runId,
        key,
        b.lo,
        b.hi,
      ) as Array<[number, number | null]>;
      for (const [step, value] of rows) {
        out.steps.push(step);
        out.last.push(value);
        out.min.push(value);
        out.max.push(value);
      }
      return out;
    }
    const params = { run: runId, key, lo: b.lo, hi: b.hi, buckets: range.buckets };
    const extremes = this.statement(
      `SELECT ${bucketOf} bucket, MIN(value), MAX(value) FROM scalars WHERE run_id = @run AND key = @key AND step BETWEEN @lo AND @hi GROUP BY bucket ORDER BY bucket`,
      "raw",
    ).all(params) as Array<[number, number | null, number | null]>;
    // The last point of each bucket by an index seek from the bucket's end: a second grouped scan
    // would cost as much as the first.
    const span = b.hi - b.lo + 1;
    const bucketIndex = (step: number) => Math.trunc(((step - b.lo) * range.buckets) / span);
    const seek = this.statement("SELECT step, value FROM scalars WHERE run_id = ? AND key = ? AND step <= ? ORDER BY step DESC LIMIT 1", "raw");
    for (const [bucket, min, max] of extremes) {
      let end = b.lo + Math.ceil(((bucket + 1) * span) / range.buckets) - 1;
      while (bucketIndex(end + 1) <= bucket) end++;
      while (bucketIndex(end) > bucket) end--;
      const [step, value] = seek.get(runId, key, end) as [number, number | null];
      out.steps.push(step);
      out.last.push(value);
      out.min.push(min);
      out.max.push(max);
    }
    return out;
  }

  // In process, a series costs no round trip: one after another is as fast as any batch.
  scalarBucketsOf(runId: string, keys: readonly string[], range: StepRange): Record<string, BucketedSeries> {
    return Object.fromEntries(keys.map((key) => [key, this.scalarBuckets(runId, key, range)]));
  }

  /**
   * `scalarBuckets` of a long range from the store's rollup (see rollupLevels.ts): each bucket is
   * a run of whole blocks of the level picked (their counts differ by at most one), so its min,
   * max and last are exact, and the partial blocks at the range's ends come from the rows. The
   * 64-step blocks are read and grouped into the level's blocks here; null when the range holds
   * too few blocks.
   */
  private blockBuckets(runId: string, key: string, lo: number, hi: number, buckets: number): BucketedSeries | null {
    const span = rollupSpan(lo, hi, buckets);
    if (!span) return null;
    const { steps, first, last } = span;
    const perBlock = steps / SCALAR_BLOCK_STEPS;
    const blocks = last - first + 1;
    const edge = (from: number, to: number): Extremes | null => {
      if (from > to) return null;
      const [min, max, lastStep] = this.statement("SELECT MIN(value), MAX(value), MAX(step) FROM scalars WHERE run_id = ? AND key = ? AND step BETWEEN ? AND ?", "raw").get(
        runId,
        key,
        from,
        to,
      ) as [number | null, number | null, number | null];
      if (lastStep === null) return null;
      const lastValue = this.statement("SELECT value FROM scalars WHERE run_id = ? AND key = ? AND step = ? ORDER BY rowid DESC LIMIT 1", "pluck").get(runId, key, lastStep) as
        | number
        | null;
      return [min, max, lastStep, lastValue];
    };
    const rows = this.statement(
      "SELECT block, min, max, last_step, last_value FROM scalar_blocks WHERE run_id = ? AND key = ? AND block BETWEEN ? AND ? ORDER BY block",
      "raw",
    ).all(runId, key, first * perBlock, (last + 1) * perBlock - 1) as Array<[number, ...Extremes]>;
    const parts: Array<[number, Extremes | null]> = [
      [0, edge(lo, first * steps - 1)],
      ...rows.map(([block, ...extremes]): [number, Extremes] => [Math.floor(((Math.floor(block / perBlock) - first) * buckets) / blocks), extremes]),
      [buckets - 1, edge((last + 1) * steps, hi)],
    ];
    return mergeBucketParts(parts);
  }

  listBuckets(runId: string, key: string, range: StepRange): ListSeries {
    const out: ListSeries = { steps: [], values: [] };
    const b = this.bounds("lists", runId, key, range);
    if (!b) return out;
    const rows = this.statement(
      `SELECT ${bucketOf} bucket, MAX(step), value FROM lists WHERE run_id = @run AND key = @key AND step BETWEEN @lo AND @hi GROUP BY bucket ORDER BY bucket`,
      "raw",
    ).all({ run: runId, key, lo: b.lo, hi: b.hi, buckets: Math.min(range.buckets, b.count) }) as Array<[number, number, string]>;
    for (const [, step, value] of rows) {
      out.steps.push(step);
      out.values.push(JSON.parse(value));
    }
    return out;
  }

  histogramSteps(runId: string, key: string): number[] {
    return this.statement("SELECT step FROM histograms WHERE run_id = ? AND key = ? ORDER BY step", "pluck").all(runId, key) as number[];
  }

  histogramAt(runId: string, key: string, step = MAX_STEP): HistogramAtStep | null {
    const select = "SELECT step, edges, counts FROM histograms WHERE run_id = ? AND key = ?";
    const row = (this.statement(`${select} AND step <= ? ORDER BY step DESC LIMIT 1`).get(runId, key, step) ?? this.statement(`${select} ORDER BY step LIMIT 1`).get(runId, key)) as
      | { step: number; edges: string; counts: string }
      | undefined;
    return row ? { step: row.step, edges: JSON.parse(row.edges), counts: JSON.parse(row.counts) } : null;
  }

  // Each row keeps its own range, since bins may adapt between steps.
  heatmapRows(runId: string, key: string, range: StepRange): HeatmapRows {
    const b = this.bounds("histograms", runId, key, range);
    if (!b) return heatmapFrom(key, []);
    const rows = this.statement(
      `SELECT ${bucketOf} bucket, MAX(step), edges, counts FROM histograms WHERE run_id = @run AND key = @key AND step BETWEEN @lo AND @hi GROUP BY bucket ORDER BY bucket`,
      "raw",
    ).all({ run: runId, key, lo: b.lo, hi: b.hi, buckets: Math.min(range.buckets, b.count) }) as Array<[number, number, string, string]>;
    return heatmapFrom(
      key,
      rows.map(([, step, edges, counts]) => [step, edges, counts] as const),
    );
  }

  valueDistribution(runId: string, key: string, lo: number, hi: number, bins: number, tail: number): ValueDistribution {
    const values = this.statement("SELECT value FROM scalars WHERE run_id = ? AND key = ? AND value IS NOT NULL ORDER BY step", "pluck").all(runId, key) as number[];
    return distributionOf(values, lo, hi, bins, tail);
  }

  lastValues(runId: string, prefix: string): Record<string, number | null> {
    // The prefix as a key range: an index range scan, where LIKE would read every key of the run.
    const { from, to } = keyRange(prefix);
    const rows = this.statement("SELECT key, MAX(step), value FROM scalars WHERE run_id = ? AND key >= ? AND key < ? GROUP BY key", "raw").all(runId, from, to) as Array<
      [string, number, number | null]
    >;
    return Object.fromEntries(rows.map(([key, , value]) => [key.slice(prefix.length), value]));
  }

  lastStep(runId: string, key: string): number | null {
    return this.statement("SELECT MAX(step) FROM scalars WHERE run_id = ? AND key = ?", "pluck").get(runId, key) as number | null;
  }

  currentCursor(): Cursor {
    const max = (table: keyof Cursor) => this.statement(`SELECT COALESCE(MAX(rowid), 0) FROM ${table}`, "pluck").get() as number;
    return { scalars: max("scalars"), lists: max("lists"), histograms: max("histograms"), events: max("events") };
  }

  changesBetween(from: Cursor, to: Cursor, limit: number): { changes: Changes; reached: Cursor } {
    const reached = { ...to };
    const rows = <T extends unknown[]>(table: keyof Cursor, columns: string): T[] => {
      const found = this.statement(`SELECT rowid, ${columns} FROM ${table} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?`, "raw").all(
        from[table],
        to[table],
        limit,
      ) as Array<[number, ...T]>;
      if (found.length === limit) reached[table] = found[found.length - 1][0];
      return found.map((row) => row.slice(1) as T);
    };
    const changes = changesFrom(rows);
    return { reached, changes };
  }

  runStates(): RunStates {
    return this.statement("SELECT id, status, ended_at, stop_requested, parameters IS NOT NULL FROM runs ORDER BY id", "raw").all() as RunStates;
  }
}
