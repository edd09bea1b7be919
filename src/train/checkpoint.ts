import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { Random } from "../engine/random.ts";
import type { Module } from "../nn/module.ts";
import type { BaseHyper, Optimizer, OptimizerState } from "../optim/optimizer.ts";
import type { Schedule, SchedulerState } from "../optim/schedulers/scheduler.ts";
import { writeFileAtomic } from "./files.ts";
import type { Trainer, TrainerState } from "./trainer.ts";

// File layout: MAGIC, a u32 little-endian JSON length, the JSON, zero padding to 8 bytes, the
// typed arrays the JSON refers to as { $blob, type, length }, each 8-byte aligned, and (format 2)
// the SHA-256 of everything before it. Format 1 files, written before the checksum, have no
// digest: they load unverified, but their length must still be exactly what the header implies.
const MAGIC = "GSCKPT02";
const UNCHECKED_MAGIC = "GSCKPT01";
const DIGEST_BYTES = 32;

/** A checkpoint file that cannot be used: missing, truncated, corrupt or of an unknown format. */
export class CheckpointError extends Error {
  override readonly name = "CheckpointError";
}

/** Everything a checkpoint holds. Typed arrays are stored as raw bytes, so values are exact. */
export interface Checkpoint {
  /** 2 when written with a checksum; 1 for older files, read without one. */
  format: 1 | 2;
  /** When it was written, as an ISO 8601 time. */
  savedAt: string;
  /** The resolved config of the run (as the run directory's config.yaml holds it). */
  config: unknown;
  /** The model's parameters and buffers by their dotted names (`0.weight`, `2.running_mean`). */
  model: Record<
    string,
    {
      /** The tensor's shape. */
      shape: number[];
      /** Its values, row-major. */
      data: Float32Array | Int32Array;
    }
  >;
  /** The state of each of the model's random generators (dropout's), by the name of the module that owns it. */
  randoms: Record<string, number[]>;
  /** The optimizer's hyperparameters and per-parameter state (momentum, moments). */
  optimizer: OptimizerState;
  /** The learning-rate schedule's state, or null when the run has none. */
  scheduler: SchedulerState | null;
  /** Where the fit loop stands, and its history. */
  trainer: TrainerState;
}

type Blob = Float32Array | Int32Array;

function encode(value: unknown, blobs: Blob[]): unknown {
  if (value instanceof Float32Array || value instanceof Int32Array) {
    blobs.push(value);
    return { $blob: blobs.length - 1, type: value instanceof Float32Array ? "f32" : "i32", length: value.length };
  }
  if (typeof value === "number" && !Number.isFinite(value)) return { $number: String(value) };
  if (Array.isArray(value)) return value.map((v) => encode(v, blobs));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v, blobs)]));
  return value;
}

function decode(value: unknown, blob: (index: number, type: string, length: number) => Blob): unknown {
  if (Array.isArray(value)) return value.map((v) => decode(v, blob));
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (typeof record.$blob === "number") return blob(record.$blob, String(record.type), Number(record.length));
    if (typeof record.$number === "string") return Number(record.$number);
    return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, decode(v, blob)]));
  }
  return value;
}

const align8 = (n: number) => (n + 7) & ~7;

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest();

/** Serializes a checkpoint to bytes, ending with the SHA-256 of all that precedes it. */
export function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const blobs: Blob[] = [];
  const json = Buffer.from(JSON.stringify(encode({ ...checkpoint, format: 2 }, blobs)), "utf8");
  let size = align8(MAGIC.length + 4 + json.length);
  const offsets = blobs.map((b) => {
    const at = size;
    size += align8(b.byteLength);
    return at;
  });
  const out = Buffer.alloc(size + DIGEST_BYTES);
  out.write(MAGIC, 0, "latin1");
  out.writeUInt32LE(json.length, MAGIC.length);
  json.copy(out, MAGIC.length + 4);
  blobs.forEach((b, i) => {
    Buffer.from(b.buffer, b.byteOffset, b.byteLength).copy(out, offsets[i]);
  });
  sha256(out.subarray(0, size)).copy(out, size);
  return out;
}

/**
 * Parses checkpoint bytes. The length must be exactly what the header implies (a truncated file
 * or one with bytes appended is refused) and, from format 2 on, the payload must match its
 * SHA-256. Errors are CheckpointErrors naming the file and what is wrong.
 */
export function decodeCheckpoint(bytes: Buffer, path: string): Checkpoint {
  const magic = bytes.toString("latin1", 0, MAGIC.length);
  if (bytes.length < MAGIC.length + 4 || (magic !== MAGIC && magic !== UNCHECKED_MAGIC)) throw new CheckpointError(`gradscope: ${path} is not a gradscope checkpoint (bad magic)`);
  const digestBytes = magic === MAGIC ? DIGEST_BYTES : 0;
  const jsonLength = bytes.readUInt32LE(MAGIC.length);
  if (MAGIC.length + 4 + jsonLength > bytes.length) throw new CheckpointError(`gradscope: checkpoint ${path} is truncated`);
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString("utf8", MAGIC.length + 4, MAGIC.length + 4 + jsonLength));
  } catch (error) {
    throw new CheckpointError(`gradscope: checkpoint ${path} has a corrupt header: ${(error as Error).message}`);
  }
  let offset = align8(MAGIC.length + 4 + jsonLength);
  // Arrays are laid out in the order the header lists them, which is the order decode visits them.
  const checkpoint = decode(header, (index, type, length) => {
    // A length of 2.5 failed as a bare RangeError; an unknown type was read as float32.
    if ((type !== "f32" && type !== "i32") || !Number.isInteger(length) || length < 0)
      throw new CheckpointError(
        `gradscope: checkpoint ${path} has a corrupt header: array ${index} is ${JSON.stringify(type)} of length ${JSON.stringify(length)}; expected f32 or i32 and a whole length`,
      );
    const bytesNeeded = length * 4;
    if (offset + bytesNeeded + digestBytes > bytes.length) throw new CheckpointError(`gradscope: checkpoint ${path} is truncated (array ${index})`);
    const copy = bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + bytesNeeded);
    offset += align8(bytesNeeded);
    return type === "i32" ? new Int32Array(copy) : new Float32Array(copy);
  }) as Checkpoint;
  const expected = offset + digestBytes;
  if (bytes.length < expected) throw new CheckpointError(`gradscope: checkpoint ${path} is truncated: ${bytes.length} bytes, its header describes ${expected}`);
  if (bytes.length > expected) {
    throw new CheckpointError(`gradscope: checkpoint ${path} has ${bytes.length - expected} unexpected bytes after its end (${expected} bytes expected); it is corrupt`);
  }
  if (digestBytes > 0 && !sha256(bytes.subarray(0, offset)).equals(bytes.subarray(offset))) {
    throw new CheckpointError(`gradscope: checkpoint ${path} fails its SHA-256 checksum: its contents were changed or damaged after it was written`);
  }
  const format = magic === MAGIC ? 2 : 1;
  if (checkpoint.format !== format) throw new CheckpointError(`gradscope: checkpoint ${path} has format ${checkpoint.format}; this gradscope reads formats 1 and 2`);
  return checkpoint;
}

// Dropout layers (and any module with a `random` generator) carry RNG state.
function namedRandoms(model: Module): Array<[string, Random]> {
  return model.namedModules().flatMap(([name, module]) => {
    const random = (module as unknown as { random?: unknown }).random;
    return random instanceof Random ? [[name, random] as [string, Random]] : [];
  });
}

/** The pieces a checkpoint captures. */
export interface TrainingParts {
  model: Module;
  optimizer: Optimizer<BaseHyper>;
  scheduler?: Schedule;
  trainer: Trainer;
  config: unknown;
}

/** Captures model, optimizer, scheduler, RNG, data position and trainer state. */
export function captureCheckpoint(parts: TrainingParts): Checkpoint {
  const model: Checkpoint["model"] = {};
  for (const [name, value] of [...parts.model.namedParameters(), ...parts.model.namedBuffers()]) {
    model[name] = { shape: [...value.shape], data: value.dtype === "int32" ? value.ints.slice() : value.data.slice() };
  }
  return {
    format: 2,
    savedAt: new Date().toISOString(),
    config: parts.config,
    model,
    randoms: Object.fromEntries(namedRandoms(parts.model).map(([name, random]) => [name, random.getState()])),
    optimizer: parts.optimizer.stateDict(),
    scheduler: parts.scheduler?.stateDict() ?? null,
    trainer: parts.trainer.stateDict(),
  };
}

/** Restores a checkpoint into freshly built objects of the same configuration. */
export function restoreCheckpoint(checkpoint: Checkpoint, parts: Omit<TrainingParts, "config">): void {
  parts.model.loadStateDict(Object.fromEntries(Object.entries(checkpoint.model).map(([name, entry]) => [name, { shape: entry.shape, data: Array.from(entry.data) }])));
  for (const [name, random] of namedRandoms(parts.model)) {
    const state = checkpoint.randoms[name];
    if (state) random.setState(state);
  }
  parts.optimizer.loadStateDict(checkpoint.optimizer);
  if (parts.scheduler && checkpoint.scheduler) parts.scheduler.loadStateDict(checkpoint.scheduler);
  parts.trainer.loadStateDict(checkpoint.trainer);
}

/** Saves a checkpoint file atomically. */
export function saveCheckpoint(path: string, checkpoint: Checkpoint): void {
  writeFileAtomic(path, encodeCheckpoint(checkpoint));
}

/** Reads a checkpoint file. */
export function loadCheckpoint(path: string): Checkpoint {
  if (!existsSync(path)) throw new CheckpointError(`gradscope: checkpoint ${path} does not exist`);
  if (statSync(path).isDirectory()) throw new CheckpointError(`gradscope: checkpoint ${path} is a folder; expected a .gsckpt file`);
  return decodeCheckpoint(readFileSync(path), path);
}
