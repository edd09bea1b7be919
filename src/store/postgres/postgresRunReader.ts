import { type Extremes, mergeBucketParts } from "../bucketParts.ts";
import { changesFrom } from "../changeRows.ts";
import { heatmapFrom } from "../heatmapRows.ts";
import { type RollupSpan, rollupSpan } from "../rollupLevels.ts";
import type { BucketedSeries, Changes, Cursor, HeatmapRows, HistogramAtStep, ListSeries, RunReader, RunStates, StepRange, ValueDistribution } from "../runReader.ts";
import { keyRange } from "../seriesKeys.ts";
import { distributionOf } from "../valueDistribution.ts";
import type { SyncPostgresClient } from "./syncClient.ts";

const MAX_STEP = Number.MAX_SAFE_INTEGER;

type Table = "scalars" | "lists" | "histograms";

// Buckets of equal step width spanning [lo, hi] ($3, $4; $5 buckets), as SQLite's reader has them
// (bucket of a step: floor((step - lo) * buckets / span)), each read as its own index range:
// bucket b holds the steps from lo + ceil(b * span / buckets) to the next bucket's first minus one.
// Grouping by a computed bucket would sort every row of the range instead (PostgreSQL cannot know
// the bucket grows with the step), spilling to disk for a long series.
const bucketStart = (b: string) => `$3::bigint + (${b} * ($4::bigint - $3::bigint + 1) + $5::bigint - 1) / $5::bigint`;
const inBucket = `step BETWEEN ${bucketStart("b")} AND ${bucketStart("(b + 1)")} - 1`;
const eachBucket = "generate_series(0::bigint, $5::bigint - 1) AS b";

/** A series long enough for the rollup: its logged step span and the whole blocks it reads. */
interface LongSeries {
  key: string;
  lo: number;
  hi: number;
  span: RollupSpan;
}

// sqliteRunReader.blockBuckets in this dialect, for every long series of a request at once: the
// partial blocks at each one's ends from the rows, and the whole blocks of the level picked (see
// rollupLevels.ts) reduced to buckets by the server (a bucket's worth of rows crosses to this
// thread, not every block's). One statement for all the edges and one per rollup table for the
// blocks, each series a LATERAL subquery of its own: its grouping fits in work_mem (one over
// every series' blocks spilled to disk), and 20 series cost 3 statements instead of 60 (a round
// trip, a plan and an executor start each). The last value of a bucket (or an edge) is the second
// element of the greatest [block, value] pair: blocks (steps) differ, so they alone decide, and an
// exact float8 up to 2^53. Unlike array_agg(value ORDER BY block DESC), which sorts each bucket's
// rows apart, it lets PostgreSQL group by hashing: the read takes half the time.
function blockStatements(runId: string, series: readonly LongSeries[], buckets: number): Array<{ sql: string; params: unknown[] }> {
  // Two edges a series, head then tail, in the series' order (an empty range reads no row).
  const edges = series.flatMap(({ key, lo, hi, span: { steps, first, last } }) => [
    { key, from: lo, to: first * steps - 1 },
    { key, from: (last + 1) * steps, to: hi },
  ]);
  const statements: Array<{ sql: string; params: unknown[] }> = [
    {
      sql: `SELECT e.min, e.max, e.last_step, e.last_value FROM unnest($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS k(key, first_step, last_step, i),
              LATERAL (SELECT MIN(value) AS min, MAX(value) AS max, MAX(step) AS last_step, (MAX(ARRAY[step::float8, value]))[2] AS last_value
                       FROM scalars WHERE run_id = $1 AND key = k.key AND step BETWEEN k.first_step AND k.last_step) e ORDER BY k.i`,
      params: [runId, edges.map((e) => e.key), edges.map((e) => e.from), edges.map((e) => e.to)],
    },
  ];
  // The blocks of each level, by the series' position in `series` (its index in the results).
  for (const fine of [true, false]) {
    const members = series.map((s, index) => ({ ...s, index })).filter(({ span }) => (span.level === 0) === fine);
    if (members.length === 0) continue;
    const blocks = fine ? "scalar_blocks WHERE" : "scalar_coarse_blocks WHERE level = k.level AND";
    statements.push({
      sql: `SELECT k.i, b.bucket, b.min, b.max, b.last_step, b.last_value FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::int[]) AS k(key, level, first, last, i),
              LATERAL (SELECT ((block - k.first) * $7) / (k.last - k.first + 1) AS bucket, MIN(min) AS min, MAX(max) AS max, MAX(last_step) AS last_step,
                              (MAX(ARRAY[block::float8, last_value]))[2] AS last_value
                       FROM ${blocks} run_id = $1 AND key = k.key AND block BETWEEN k.first AND k.last GROUP BY 1) b ORDER BY k.i, b.bucket`,
      params: [
        runId,
        members.map((m) => m.key),
        members.map((m) => m.span.level),
        members.map((m) => m.span.first),
        members.map((m) => m.span.last),
        members.map((m) => m.index),
        buckets,
      ],
    });
  }
  return statements;
}

/**
 * The reader API over a PostgreSQL run store (migrations.ts holds the schema): the queries of
 * sqliteRunReader.ts in PostgreSQL's dialect, with the same answers. Where SQLite groups rows by a
 * computed bucket, these read each bucket as its own index range (see `inBucket`).
 */
export class PostgresRunReader implements RunReader {
  constructor(private readonly client: SyncPostgresClient) {}

  private raw<T extends unknown[]>(sql: string, params: unknown[]): T[] {
    return this.client.queryRaw<T>(sql, params);
  }

  // The first and last logged step within the range, and how many rows it holds.
  private bounds(table: Table, runId: string, key: string, range: StepRange): { lo: number; hi: number; count: number } | null {
    const [[lo, hi, count]] = this.raw<[number | null, number | null, number]>(
      `SELECT MIN(step), MAX(step), COUNT(*) FROM ${table} WHERE run_id = $1 AND key = $2 AND step BETWEEN $3 AND $4`,
      [runId, key, range.from ?? 0, range.to ?? MAX_STEP],
    );
    return lo === null || hi === null ? null : { lo, hi, count };
  }

  scalarBuckets(runId: string, key: string, range: StepRange): BucketedSeries {
    return this.scalarBucketsOf(runId, [key], range)[key];
  }

  // Two exchanges with the connection's thread for any number of long series: their step spans
  // in one statement, then the rollup's statements of them all (see blockStatements). A series
  // too short for the rollup is read from its rows (a few exchanges of its own, over few rows).
  scalarBucketsOf(runId: string, keys: readonly string[], range: StepRange): Record<string, BucketedSeries> {
    const spans = this.raw<[number | null, number | null]>(
      `SELECT s.lo, s.hi FROM unnest($2::text[]) WITH ORDINALITY AS k(key, i),
         LATERAL (SELECT MIN(step) AS lo, MAX(step) AS hi FROM scalars WHERE run_id = $1 AND key = k.key AND step BETWEEN $3 AND $4) s ORDER BY k.i`,
      [runId, keys, range.from ?? 0, range.to ?? MAX_STEP],
    );
    const found = new Map<string, BucketedSeries>();
    const long: LongSeries[] = [];
    keys.forEach((key, i) => {
      const [lo, hi] = spans[i];
      const span = lo === null || hi === null ? null : rollupSpan(lo, hi, range.buckets);
      if (span) long.push({ key, lo: lo as number, hi: hi as number, span });
      else found.set(key, lo === null ? { steps: [], last: [], min: [], max: [] } : this.rowBuckets(runId, key, range));
    });
    if (long.length > 0) {
      const [edges, ...levels] = this.client.queriesRaw(blockStatements(runId, long, range.buckets)) as [Extremes[], ...Array<Array<[number, number, ...Extremes]>>];
      // Each series' rollup rows, from whichever level's statement read them.
      const blocksOf = new Map<number, Array<[number, Extremes]>>();
      for (const rows of levels)
        for (const [index, bucket, ...extremes] of rows) {
          const list = blocksOf.get(index) ?? [];
          list.push([bucket, extremes]);
          blocksOf.set(index, list);
        }
      const present = (extremes: Extremes) => (extremes[2] === null ? null : extremes);
      long.forEach(({ key }, i) => {
        const [head, tail] = [edges[2 * i], edges[2 * i + 1]];
        found.set(key, mergeBucketParts([[0, present(head)], ...(blocksOf.get(i) ?? []), [range.buckets - 1, present(tail)]]));
      });
    }
    return Object.fromEntries(keys.map((key) => [key, found.get(key) as BucketedSeries]));
  }

  // A series over too few rollup blocks for the range's buckets, from its rows: point by point
  // when they fit, else each bucket's extremes and last point.
  private rowBuckets(runId: string, key: string, range: StepRange): BucketedSeries {
    const out: BucketedSeries = { steps: [], last: [], min: [], max: [] };
    const b = this.bounds("scalars", runId, key, range);
    if (!b) return out;
    if (b.count <= range.buckets) {
      for (const [step, value] of this.raw<[number, number | null]>("SELECT step, value FROM scalars WHERE run_id = $1 AND key = $2 AND step BETWEEN $3 AND $4 ORDER BY step", [
        runId,
        key,
        b.lo,
        b.hi,
      ])) {
        out.steps.push(step);
        out.last.push(value);
        out.min.push(value);
        out.max.push(value);
      }
      return out;
    }
    // Each bucket's extremes and last step, and the value at that step (one row: the step is unique).
    const rows = this.raw<[number | null, number | null, number, number | null]>(
      `SELECT r.min, r.max, r.last_step, (SELECT value FROM scalars WHERE run_id = $1 AND key = $2 AND step = r.last_step)
       FROM ${eachBucket}, LATERAL (SELECT MIN(value) AS min, MAX(value) AS max, MAX(step) AS last_step FROM scalars WHERE run_id = $1 AND key = $2 AND ${inBucket}) r
       WHERE r.last_step IS NOT NULL ORDER BY b`,
      [runId, key, b.lo, b.hi, range.buckets],
    );
    for (const [min, max, step, value] of rows) {
      out.steps.push(step);
      out.last.push(value);
      out.min.push(min);
      out.max.push(max);
    }
    return out;
  }

  listBuckets(runId: string, key: string, range: StepRange): ListSeries {
    const out: ListSeries = { steps: [], values: [] };
    const b = this.bounds("lists", runId, key, range);
    if (!b) return out;
    const rows = this.raw<[number, string]>(
      `SELECT r.step, r.value FROM ${eachBucket}, LATERAL (SELECT step, value FROM lists WHERE run_id = $1 AND key = $2 AND ${inBucket} ORDER BY step DESC LIMIT 1) r ORDER BY b`,
      [runId, key, b.lo, b.hi, Math.min(range.buckets, b.count)],
    );
    for (const [step, value] of rows) {
      out.steps.push(step);
      out.values.push(JSON.parse(value));
    }
    return out;
  }

  histogramSteps(runId: string, key: string): number[] {
    return this.raw<[number]>("SELECT step FROM histograms WHERE run_id = $1 AND key = $2 ORDER BY step", [runId, key]).map(([step]) => step);
  }

  histogramAt(runId: string, key: string, step = MAX_STEP): HistogramAtStep | null {
    const select = "SELECT step, edges, counts FROM histograms WHERE run_id = $1 AND key = $2";
    const [row] = this.raw<[number, string, string]>(`${select} AND step <= $3 ORDER BY step DESC LIMIT 1`, [runId, key, step]).concat(
      this.raw<[number, string, string]>(`${select} ORDER BY step LIMIT 1`, [runId, key]),
    );
    return row ? { step: row[0], edges: JSON.parse(row[1]), counts: JSON.parse(row[2]) } : null;
  }

  heatmapRows(runId: string, key: string, range: StepRange): HeatmapRows {
    const b = this.bounds("histograms", runId, key, range);
    if (!b) return heatmapFrom(key, []);
    const rows = this.raw<[number, string, string]>(
      `SELECT r.step, r.edges, r.counts FROM ${eachBucket}, LATERAL (SELECT step, edges, counts FROM histograms WHERE run_id = $1 AND key = $2 AND ${inBucket} ORDER BY step DESC LIMIT 1) r ORDER BY b`,
      [runId, key, b.lo, b.hi, Math.min(range.buckets, b.count)],
    );
    return heatmapFrom(key, rows);
  }

  valueDistribution(runId: string, key: string, lo: number, hi: number, bins: number, tail: number): ValueDistribution {
    const values = this.raw<[number]>("SELECT value FROM scalars WHERE run_id = $1 AND key = $2 AND value IS NOT NULL ORDER BY step", [runId, key]).map(([value]) => value);
    return distributionOf(values, lo, hi, bins, tail);
  }

  lastValues(runId: string, prefix: string): Record<string, number | null> {
    const { from, to } = keyRange(prefix);
    const rows = this.raw<[string, number | null]>("SELECT DISTINCT ON (key) key, value FROM scalars WHERE run_id = $1 AND key >= $2 AND key < $3 ORDER BY key, step DESC", [
      runId,
      from,
      to,
    ]);
    return Object.fromEntries(rows.map(([key, value]) => [key.slice(prefix.length), value]));
  }

  lastStep(runId: string, key: string): number | null {
    return this.raw<[number | null]>("SELECT MAX(step) FROM scalars WHERE run_id = $1 AND key = $2", [runId, key])[0][0];
  }

  currentCursor(): Cursor {
    const [[scalars, lists, histograms, events]] = this.raw<[number, number, number, number]>(
      `SELECT (SELECT COALESCE(MAX(seq), 0) FROM scalars), (SELECT COALESCE(MAX(seq), 0) FROM lists), (SELECT COALESCE(MAX(seq), 0) FROM histograms), (SELECT COALESCE(MAX(seq), 0) FROM events)`,
      [],
    );
    return { scalars, lists, histograms, events };
  }

  changesBetween(from: Cursor, to: Cursor, limit: number): { changes: Changes; reached: Cursor } {
    const reached = { ...to };
    const rows = <T extends unknown[]>(table: keyof Cursor, columns: string): T[] => {
      const found = this.raw<[number, ...T]>(`SELECT seq, ${columns} FROM ${table} WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [from[table], to[table], limit]);
      if (found.length === limit) reached[table] = found[found.length - 1][0];
      return found.map((row) => row.slice(1) as T);
    };
    const changes = changesFrom(rows);
    return { reached, changes };
  }

  runStates(): RunStates {
    return this.raw("SELECT id, status, ended_at, stop_requested, CASE WHEN parameters IS NOT NULL THEN 1 ELSE 0 END FROM runs ORDER BY id", []);
  }
}
