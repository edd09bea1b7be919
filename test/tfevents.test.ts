import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { crc32c, maskedCrc32c, writeTfEvents } from "../src/store/tfevents.ts";

// A minimal protocol-buffer reader: field number -> raw values (numbers or byte arrays).
function fields(bytes: Uint8Array): Map<number, Array<number | bigint | Uint8Array>> {
  const out = new Map<number, Array<number | bigint | Uint8Array>>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  const varint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[i++];
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) return result;
    }
  };
  while (i < bytes.length) {
    const key = Number(varint());
    const [field, wire] = [key >> 3, key & 7];
    let value: number | bigint | Uint8Array;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = view.getFloat64(i, true);
      i += 8;
    } else if (wire === 5) {
      value = view.getFloat32(i, true);
      i += 4;
    } else {
      const length = Number(varint());
      value = bytes.subarray(i, i + length);
      i += length;
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

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
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const events: Array<Map<number, Array<number | bigint | Uint8Array>>> = [];
  for (let at = 0; at < bytes.length; ) {
    const length = Number(view.getBigUint64(at, true));
    assert.equal(view.getUint32(at + 8, true), maskedCrc32c(bytes.subarray(at, at + 8)), "length CRC");
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(view.getUint32(at + 12 + length, true), maskedCrc32c(data), "data CRC");
    events.push(fields(data));
    at += 16 + length;
  }
  assert.equal(new TextDecoder().decode(events[0].get(3)?.[0] as Uint8Array), "brain.Event:2");
  const values = events.slice(1).map((e) => {
    const value = fields(fields(e.get(5)?.[0] as Uint8Array).get(1)?.[0] as Uint8Array);
    return { step: Number(e.get(2)?.[0] ?? 0), tag: new TextDecoder().decode(value.get(1)?.[0] as Uint8Array), value: value.get(2)?.[0], histo: value.get(5)?.[0] };
  });
  assert.deepEqual(
    values.filter((v) => v.value !== undefined).map((v) => [v.step, v.tag, v.value]),
    [
      [0, "train/loss", 2.5],
      [1, "train/loss", 1.5],
      [1, "quantities/GradNorm/0", 0.25],
      [1, "quantities/GradNorm/1", 0.5],
    ],
  );
  const histograms = new Map(values.filter((v) => v.histo).map((v) => [v.tag, fields(v.histo as Uint8Array)]));
  assert.deepEqual([...histograms.keys()], ["quantities/GradHist1d", "quantities/GradHist2d/x", "quantities/GradHist2d/y"]);
  const summary = (tag: string) => {
    const h = histograms.get(tag) as Map<number, Array<number | bigint | Uint8Array>>;
    return [h.get(1)?.[0], h.get(2)?.[0], h.get(3)?.[0]];
  };
  assert.deepEqual(summary("quantities/GradHist1d"), [-1, 1, 4], "min, max and count");
  // A 2-D histogram goes as its marginals, each counting all 9 pairs over its own axis.
  assert.deepEqual(summary("quantities/GradHist2d/x"), [-1, 1, 9]);
  assert.deepEqual(summary("quantities/GradHist2d/y"), [-3, 3, 9]);
});
