import { writeFileSync } from "node:fs";
import { valuesByStep } from "./export.ts";
import type { RunStore, StoredValue } from "./runStore.ts";

// TensorBoard event files: TFRecord framing (u64 length, masked CRC-32C of the length, the
// bytes, masked CRC-32C of the bytes) around serialized `tensorflow.Event` protocol buffers.

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as TFRecord uses. */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC32C_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

const utf8 = new TextEncoder();
// Floats are written through one shared view and copied in, so that a message needs no view
// of its own (the live logger makes several messages for every value it logs).
const scratch = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratch.buffer);

// A minimal protocol-buffer writer: varints, 64/32-bit fixed fields and nested messages, into a
// buffer that grows.
class Proto {
  private buffer = new Uint8Array(32);
  private length = 0;

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(2 * this.buffer.length, this.length + bytes));
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }

  private varint(value: number): this {
    // Negative int64s are 10-byte two's complement varints; everything else here is a count,
    // a step or a field key, a safe non-negative integer.
    let v = value < 0 ? BigInt.asUintN(64, BigInt(value)) : value;
    this.reserve(10);
    while (v >= 0x80) {
      this.buffer[this.length++] = Number(typeof v === "bigint" ? v & 0x7fn : v % 0x80) | 0x80;
      v = typeof v === "bigint" ? v >> 7n : Math.floor(v / 0x80);
    }
    this.buffer[this.length++] = Number(v);
    return this;
  }

  private key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }

  private fixed(bytes: 4 | 8): void {
    this.reserve(bytes);
    this.buffer.set(scratchBytes.subarray(0, bytes), this.length);
    this.length += bytes;
  }

  double(field: number, value: number): this {
    scratch.setFloat64(0, value, true);
    this.key(field, 1).fixed(8);
    return this;
  }

  float(field: number, value: number): this {
    scratch.setFloat32(0, value, true);
    this.key(field, 5).fixed(4);
    return this;
  }

  int64(field: number, value: number): this {
    return this.key(field, 0).varint(value);
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2).varint(value.length).reserve(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  message(field: number, inner: Proto): this {
    return this.bytes(field, inner.finish());
  }

  packedDoubles(field: number, values: number[]): this {
    const bytes = new Uint8Array(8 * values.length);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => {
      view.setFloat64(8 * i, v, true);
    });
    return this.bytes(field, bytes);
  }

  /** The message's bytes (a view: the writer is not used after). */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const record = new Uint8Array(16 + data.length);
  const view = new DataView(record.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(record.subarray(0, 8)), true);
  record.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return record;
}

const event = (wallTime: number, step: number) => new Proto().double(1, wallTime).int64(2, step);

/** The event every event file starts with: Event { wall_time, file_version: "brain.Event:2" }. */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new Proto().double(1, wallTime).string(3, "brain.Event:2").finish();
}

/**
 * Event { step, session_log: SessionLog { status: START } }: a restart at `step`. TensorBoard
 * then drops what earlier files of the directory logged at `step` and after (they were written
 * after the checkpoint the run restarted from).
 */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  return event(wallTime, step).message(7, new Proto().int64(1, 1)).finish();
}

/** A scalar as Summary.Value { tag, simple_value }. */
export function scalarEvent(wallTime: number, step: number, tag: string, value: number): Uint8Array {
  return event(wallTime, step)
    .message(5, new Proto().message(1, new Proto().string(1, tag).float(2, value)))
    .finish();
}

/**
 * Text for TensorBoard's text plugin (which renders it as Markdown): Summary.Value { tag,
 * metadata { plugin_data { plugin_name: "text" } }, tensor: a DT_STRING tensor of shape [1] }.
 */
export function textEvent(wallTime: number, step: number, tag: string, text: string): Uint8Array {
  const metadata = new Proto().message(1, new Proto().string(1, "text"));
  const DT_STRING = 7;
  const tensor = new Proto()
    .int64(1, DT_STRING)
    .message(2, new Proto().message(2, new Proto().int64(1, 1)))
    .string(8, text);
  return event(wallTime, step)
    .message(5, new Proto().message(1, new Proto().string(1, tag).message(9, metadata).message(8, tensor)))
    .finish();
}

/**
 * A 1-D histogram as Summary.Value { tag, histo: HistogramProto } with TensorBoard's bucket
 * convention: bucket_limit[i] is the right edge of bucket i.
 */
export function histogramEvent(wallTime: number, step: number, tag: string, edges: number[], counts: number[]): Uint8Array {
  const total = counts.reduce((a, b) => a + b, 0);
  const centres = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
  const sum = counts.reduce((s, c, i) => s + c * centres[i], 0);
  const squares = counts.reduce((s, c, i) => s + c * centres[i] * centres[i], 0);
  const histo = new Proto()
    .double(1, edges[0])
    .double(2, edges[edges.length - 1])
    .double(3, total)
    .double(4, sum)
    .double(5, squares)
    .packedDoubles(6, edges.slice(1))
    .packedDoubles(7, counts);
  return event(wallTime, step)
    .message(5, new Proto().message(1, new Proto().string(1, tag).message(5, histo)))
    .finish();
}

/**
 * The events of one logged value: a finite scalar as itself (TensorBoard cannot draw NaN or
 * infinities), a per-parameter list as one scalar per finite entry tagged `<key>/<label>` (the
 * parameter's name from `labels`, else its index), a 1-D histogram as itself and a 2-D one
 * (GradHist2d), which TensorBoard has no chart for, as its two marginals `<key>/x` and `<key>/y`.
 */
export function storedValueEvents(wallTime: number, step: number, key: string, value: StoredValue, labels: readonly string[] = []): Uint8Array[] {
  if (typeof value === "number") return Number.isFinite(value) ? [scalarEvent(wallTime, step, key, value)] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => (Number.isFinite(v) ? [scalarEvent(wallTime, step, `${key}/${labels[i] ?? i}`, v)] : []));
  if (!Array.isArray(value.edges[0])) return [histogramEvent(wallTime, step, key, value.edges as number[], value.hist as number[])];
  const [xEdges, yEdges] = value.edges as number[][];
  const hist = value.hist as number[][];
  const xMarginal = hist.map((row) => row.reduce((total, c) => total + c, 0));
  const yMarginal = yEdges.slice(1).map((_, iy) => hist.reduce((total, row) => total + row[iy], 0));
  return [histogramEvent(wallTime, step, `${key}/x`, xEdges, xMarginal), histogramEvent(wallTime, step, `${key}/y`, yEdges, yMarginal)];
}

/**
 * A run as a TensorBoard event file: first the `brain.Event:2` version record, then every scalar
 * (lists as `<key>/<parameter name>`, or `<key>/<index>` when the run recorded no names) and
 * every histogram, in step order.
 */
export function writeTfEvents(store: RunStore, runId: string, path: string): void {
  const records: Uint8Array[] = [tfRecord(fileVersionEvent(Date.now() / 1000))];
  const labels = store.getRun(runId).parameters ?? [];
  const wallTimes = new Map(store.keys(runId).scalars.flatMap((key) => store.scalars(runId, key).map((r) => [r.step, r.wallTime] as [number, number])));
  for (const [step, values] of valuesByStep(store, runId)) {
    const wallTime = wallTimes.get(step) ?? Date.now() / 1000;
    for (const [key, value] of Object.entries(values)) for (const data of storedValueEvents(wallTime, step, key, value, labels)) records.push(tfRecord(data));
  }
  writeFileSync(path, Buffer.concat(records));
}
