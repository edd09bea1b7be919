import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { crc32c, histogramEvent, maskedCrc32c, scalarEvent, tfRecord, writeTfEvents } from "../src/store/tfevents.ts";
import { decodeEvents, readEvents } from "./tfeventsReader.ts";

test("CRC-32C matches its check value and TFRecord frames carry masked CRCs", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(maskedCrc32c(new Uint8Array(0)), (((0 >>> 15) | (0 << 17)) + 0xa282ead8) >>> 0);
});

test("a run exports to a TensorBoard event file: brain.Event:2 first, then scalars, lists and histograms, every record's CRCs valid", () => {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-tfevents-"));
  const store = new SqliteRunStore(join(folder, "s.db"));
  store.createRun({ id: "r", name: "r", config: {} });
  store.log("r", "train/loss", 0, 2.5);
  store.log("r", "train/loss", 1, 1.5);
  store.log("r", "quantities/GradNorm", 1, [0.25, 0.5]);
  store.log("r", "quantities/GradHist1d", 1, { hist: [1, 3], edges: [-1, 0, 1] });
  store.log("r", "quantities/GradHist2d", 1, {
    hist: [
      [1, 0, 2],
      [0, 5, 1],
    ],
    edges: [
      [-1, 0, 1],
      [-3, -1, 1, 3],
    ],
  });
  store.flush();
  const path = join(folder, "events.out.tfevents");
  writeTfEvents(store, "r", path);
  store.close();
  const events = readEvents(path);
  assert.equal(events[0].fileVersion, "brain.Event:2");
  const values = events.slice(1).flatMap((e) => e.values.map((v) => ({ step: e.step, ...v })));
  assert.deepEqual(
    values.filter((v) => v.simpleValue !== undefined).map((v) => [v.step, v.tag, v.simpleValue]),
    [
      [0, "train/loss", 2.5],
      [1, "train/loss", 1.5],
      [1, "quantities/GradNorm/0", 0.25],
      [1, "quantities/GradNorm/1", 0.5],
    ],
  );
  const histograms = new Map(values.flatMap((v) => (v.histo ? [[v.tag, v.histo] as const] : [])));
  assert.deepEqual([...histograms.keys()], ["quantities/GradHist1d", "quantities/GradHist2d/x", "quantities/GradHist2d/y"]);
  const summary = (tag: string) => {
    const h = histograms.get(tag);
    return [h?.min, h?.max, h?.num];
  };
  assert.deepEqual(summary("quantities/GradHist1d"), [-1, 1, 4], "min, max and count");
  // A 2-D histogram goes as its marginals, each counting all 9 pairs over its own axis.
  assert.deepEqual(summary("quantities/GradHist2d/x"), [-1, 1, 9]);
  assert.deepEqual(summary("quantities/GradHist2d/y"), [-3, 3, 9]);
});

test("the export labels per-parameter lists with the run's parameter names and leaves out entries that are not finite", () => {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-tfevents-"));
  const store = new SqliteRunStore(join(folder, "s.db"));
  store.createRun({ id: "named", name: "named", config: {} });
  store.setParameters("named", ["fc.weight", "fc.bias"]);
  store.log("named", "quantities/GradNorm", 0, [Number.NaN, 0.5]);
  store.log("named", "train/loss", 0, Number.POSITIVE_INFINITY);
  store.flush();
  const path = join(folder, "events.out.tfevents");
  writeTfEvents(store, "named", path);
  store.close();
  assert.deepEqual(
    readEvents(path).flatMap((e) => e.values.map((v) => [e.step, v.tag, v.simpleValue])),
    [[0, "quantities/GradNorm/fc.bias", 0.5]],
  );
});

test("events encode large steps and large histograms (200 000 bins, past what a spread into push() takes) exactly", () => {
  const edges = Array.from({ length: 200001 }, (_, i) => i / 100);
  const counts = Array.from({ length: 200000 }, (_, i) => i % 7);
  const [scalar, histogram] = decodeEvents(
    Buffer.concat([tfRecord(scalarEvent(1.5, 2 ** 40 + 3, "train/loss", 0.25)), tfRecord(histogramEvent(2.5, 300, "quantities/GradHist1d", edges, counts))]),
  );
  assert.deepEqual([scalar.wallTime, scalar.step, scalar.values], [1.5, 2 ** 40 + 3, [{ tag: "train/loss", simpleValue: 0.25 }]]);
  assert.equal(histogram.step, 300);
  assert.deepEqual(histogram.values[0].histo?.bucketLimits, edges.slice(1));
  assert.deepEqual(histogram.values[0].histo?.buckets, counts);
});
