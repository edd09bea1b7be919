// A test-side reader of TensorBoard event files, written from the format (TFRecord framing,
// tensorflow.Event protobufs) rather than from the writer, so that the tests check the writer.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { maskedCrc32c } from "../src/store/tfevents.ts";

type FieldValue = number | bigint | Uint8Array;

/** A protocol buffer's fields: field number → raw values (varints, fixed64/32 as numbers, bytes). */
export function protoFields(bytes: Uint8Array): Map<number, FieldValue[]> {
  const out = new Map<number, FieldValue[]>();
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
    let value: FieldValue;
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

/** A HistogramProto's fields. */
export interface Histo {
  min: number;
  max: number;
  num: number;
  bucketLimits: number[];
  buckets: number[];
}

/** One Summary.Value: a scalar, a histogram or a plugin's tensor (text). */
export interface TfValue {
  tag: string;
  simpleValue?: number;
  histo?: Histo;
  pluginName?: string;
  /** A DT_STRING tensor's strings. */
  strings?: string[];
}

/** A decoded tensorflow.Event. */
export interface TfEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** SessionLog.status (1: START). */
  sessionStatus?: number;
  values: TfValue[];
}

const text = (bytes: FieldValue | undefined) => new TextDecoder().decode(bytes as Uint8Array);
// A copy into a buffer of its own (a Buffer's slice would share Node's pool, at any alignment).
const doubles = (bytes: FieldValue | undefined) => Array.from(new Float64Array(new Uint8Array(bytes as Uint8Array).buffer));
const message = (bytes: FieldValue | undefined) => protoFields((bytes as Uint8Array | undefined) ?? new Uint8Array(0));

function decodeValue(bytes: Uint8Array): TfValue {
  const f = protoFields(bytes);
  const value: TfValue = { tag: text(f.get(1)?.[0]) };
  if (f.has(2)) value.simpleValue = f.get(2)?.[0] as number;
  if (f.has(5)) {
    const h = message(f.get(5)?.[0]);
    value.histo = {
      min: h.get(1)?.[0] as number,
      max: h.get(2)?.[0] as number,
      num: h.get(3)?.[0] as number,
      bucketLimits: doubles(h.get(6)?.[0]),
      buckets: doubles(h.get(7)?.[0]),
    };
  }
  if (f.has(9)) value.pluginName = text(message(message(f.get(9)?.[0]).get(1)?.[0]).get(1)?.[0]);
  if (f.has(8)) value.strings = (message(f.get(8)?.[0]).get(8) ?? []).map(text);
  return value;
}

/** The events of a file's bytes; every record's two CRCs are checked, and a torn record fails. */
export function decodeEvents(bytes: Uint8Array, what = "event file"): TfEvent[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const events: TfEvent[] = [];
  for (let at = 0; at < bytes.length; ) {
    assert.ok(at + 12 <= bytes.length, `${what}: a record header is cut at byte ${at}`);
    const length = Number(view.getBigUint64(at, true));
    assert.equal(view.getUint32(at + 8, true), maskedCrc32c(bytes.subarray(at, at + 8)), `${what}: length CRC at byte ${at}`);
    assert.ok(at + 16 + length <= bytes.length, `${what}: the record at byte ${at} is cut`);
    const data = bytes.subarray(at + 12, at + 12 + length);
    assert.equal(view.getUint32(at + 12 + length, true), maskedCrc32c(data), `${what}: data CRC at byte ${at}`);
    const f = protoFields(data);
    const event: TfEvent = { wallTime: f.get(1)?.[0] as number, step: Number(f.get(2)?.[0] ?? 0), values: [] };
    if (f.has(3)) event.fileVersion = text(f.get(3)?.[0]);
    if (f.has(5)) event.values = (message(f.get(5)?.[0]).get(1) ?? []).map((v) => decodeValue(v as Uint8Array));
    if (f.has(7)) event.sessionStatus = Number(message(f.get(7)?.[0]).get(1)?.[0] ?? 0);
    events.push(event);
    at += 16 + length;
  }
  return events;
}

/** The events of an event file. */
export function readEvents(path: string): TfEvent[] {
  return decodeEvents(new Uint8Array(readFileSync(path)), path);
}
