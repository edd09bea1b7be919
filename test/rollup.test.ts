import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import type { BucketedSeries } from "../src/dashboard/api.ts";
import { rollupSpan } from "../src/store/rollupLevels.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { storeAtVersion } from "./helpers.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-rollup-"));

// A long series with a spike, a dip, missing values (NaN is stored as NULL) and a gap, handed
// to `write` step by step.
function series(steps: number, write: (step: number, value: number) => void): Map<number, number | null> {
  const rows = new Map<number, number | null>();
  for (let step = 0; step < steps; step++) {
    if (step >= 30_000 && step < 31_000) continue;
    const value = step === 12_345 ? 1e6 : step === 40_001 ? -1e6 : step % 997 === 0 ? Number.NaN : Math.sin(step / 100);
    write(step, value);
    rows.set(step, Number.isFinite(value) ? value : null);
  }
  return rows;
}

function fill(store: RunStore, steps: number): Map<number, number | null> {
  store.createRun({ id: "long", name: "long", config: {} });
  const rows = series(steps, (step, value) => store.log("long", "loss", step, value));
  store.flush();
  return rows;
}

// Each bucket covers the steps after the previous bucket's last step up to its own last step:
// its min, max and last must be those of exactly these rows, and the buckets cover the range.
function assertExact(series: BucketedSeries, rows: Map<number, number | null>, from: number, to: number, what: string): void {
  let previous = from - 1;
  series.steps.forEach((step, k) => {
    const values = [...rows].filter(([s]) => s > previous && s <= step).map(([, v]) => v);
    const present = values.filter((v): v is number => v !== null);
    assert.equal(series.min[k], present.length ? Math.min(...present) : null, `${what}: min of bucket ${k}`);
    assert.equal(series.max[k], present.length ? Math.max(...present) : null, `${what}: max of bucket ${k}`);
    assert.equal(series.last[k], rows.get(step), `${what}: last of bucket ${k}`);
    previous = step;
  });
  assert.equal(series.steps.at(-1), Math.max(...[...rows.keys()].filter((s) => s <= to)), `${what}: the buckets reach the range's last step`);
}

test("long scalar ranges are reduced from the rollup (64-, 512- and 4096-step blocks) with exact min/max/last, partial end blocks included", () => {
  const store = new SqliteRunStore(join(folder, "a.db"));
  const rows = fill(store, 60_000);
  const whole = store.reader.scalarBuckets("long", "loss", { buckets: 50 });
  assert.equal(whole.steps.length, 50);
  assertExact(whole, rows, 0, 59_999, "whole run");
  assert.equal(Math.max(...(whole.max as number[])), 1e6, "the spike survives");
  assert.equal(Math.min(...(whole.min as number[])), -1e6, "the dip survives");
  // Unaligned ends: the partial blocks come from the rows.
  const zoomed = store.reader.scalarBuckets("long", "loss", { from: 1_000, to: 45_678, buckets: 20 });
  assertExact(zoomed, rows, 1_000, 45_678, "zoomed");
  assert.equal(zoomed.steps.at(-1), 45_678);
  // Each level of the rollup: the coarsest with 2 whole blocks per bucket answers.
  for (const [buckets, level] of [
    [400, 0],
    [50, 1],
    [5, 2],
  ]) {
    assert.equal(rollupSpan(0, 59_999, buckets)?.level, level);
    const series = store.reader.scalarBuckets("long", "loss", { buckets });
    // The 1000 steps missing leave 6 of 400 buckets empty.
    assert.equal(series.steps.length, buckets === 400 ? 394 : buckets);
    assertExact(series, rows, 0, 59_999, `${buckets} buckets from level ${level}`);
  }
  store.close();
});

test("a store from before the rollup is rolled up when it is opened, and deleting a run removes its blocks", () => {
  const path = join(folder, "b.db");
  // A store at schema 2: no rollup table, no trigger.
  const old = storeAtVersion(path, 2, "long");
  const insert = old.prepare("INSERT INTO scalars (run_id, key, step, wall_time, value) VALUES ('long', 'loss', ?, 0, ?)");
  const rows = old.transaction(() => series(20_000, (step, value) => insert.run(step, Number.isFinite(value) ? value : null)))();
  old.close();
  const reopened = new SqliteRunStore(path);
  assertExact(reopened.reader.scalarBuckets("long", "loss", { buckets: 10 }), rows, 0, 19_999, "after the migration");
  reopened.deleteRun("long");
  reopened.close();
  const db = new Database(path);
  assert.equal(db.prepare("SELECT COUNT(*) FROM scalar_blocks").pluck().get(), 0);
  db.close();
});
