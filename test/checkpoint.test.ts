import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../src/cli/main.ts";
import { buildData, buildTraining } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { CheckpointError, captureCheckpoint, loadCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-checkpoint-"));
const configFile = join(folder, "tiny.yaml");
writeFileSync(
  configFile,
  `seed: 3
model: { arch: mlp, hidden: [32], classes: 2 }
data: { source: spirals, samples: 200, batch_size: 20 }
training: { epochs: 1 }
optimizer: { name: sgd, lr: 0.1 }
store: { enabled: false }
`,
);

// A checkpoint of a freshly built model under the config above.
function writeCheckpoint(name: string): { path: string; bytes: Buffer } {
  const loaded = loadConfig([configFile], []);
  const setup = buildTraining(loaded, buildData(loaded), folder);
  const path = join(folder, name);
  saveCheckpoint(path, captureCheckpoint({ ...setup, config: loaded.raw }));
  setup.optimizer.dispose();
  setup.model.dispose();
  return { path, bytes: readFileSync(path) };
}

// The first byte of the weights: past the magic, the JSON length and the JSON, 8-byte aligned.
const arraysStart = (bytes: Buffer) => (8 + 4 + bytes.readUInt32LE(8) + 7) & ~7;

test("a checkpoint with flipped bytes in its weights is refused by its SHA-256 checksum, naming the file", () => {
  const { path, bytes } = writeCheckpoint("flipped.gsckpt");
  assert.equal(loadCheckpoint(path).format, 2);
  const damaged = Buffer.from(bytes);
  const start = arraysStart(bytes);
  for (let i = 0; i < 200; i++) damaged[start + 4 * i] ^= 0xff;
  writeFileSync(path, damaged);
  assert.throws(
    () => loadCheckpoint(path),
    (error: Error) =>
      error instanceof CheckpointError && error.message === `gradscope: checkpoint ${path} fails its SHA-256 checksum: its contents were changed or damaged after it was written`,
  );
});

test("a checkpoint with bytes appended is refused, naming the file and the extra bytes", () => {
  const { path, bytes } = writeCheckpoint("appended.gsckpt");
  writeFileSync(path, Buffer.concat([bytes, Buffer.from("garbage")]));
  assert.throws(() => loadCheckpoint(path), new RegExp(`checkpoint ${path} has 7 unexpected bytes after its end \\(${bytes.length} bytes expected\\)`));
});

test("a format-1 checkpoint (written before the checksum) loads unverified, but appended bytes are still refused", () => {
  const { path, bytes } = writeCheckpoint("old.gsckpt");
  // What an older gradscope wrote: the old magic and format number, and no digest at the end.
  const json = bytes.toString("utf8", 12, 12 + bytes.readUInt32LE(8)).replace('"format":2', '"format":1');
  const old = Buffer.from(bytes.subarray(0, bytes.length - 32));
  old.write("GSCKPT01", 0, "latin1");
  old.write(json, 12, "utf8");
  writeFileSync(path, old);
  const checkpoint = loadCheckpoint(path);
  assert.equal(checkpoint.format, 1);
  assert.deepEqual(checkpoint.model, loadCheckpoint(writeCheckpoint("new.gsckpt").path).model);
  writeFileSync(path, Buffer.concat([old, Buffer.alloc(16)]));
  assert.throws(() => loadCheckpoint(path), /has 16 unexpected bytes after its end/);
});

test("a checkpoint whose header describes an array of no known type or a fractional length is refused as corrupt, naming the file", () => {
  // A format-1 file (no digest, which a forger would recompute anyway) with one array of 16 bytes.
  const forged = (blob: object) => {
    const json = Buffer.from(JSON.stringify({ format: 1, model: { w: blob } }));
    const head = Buffer.alloc((8 + 4 + json.length + 7) & ~7);
    head.write("GSCKPT01", 0, "latin1");
    head.writeUInt32LE(json.length, 8);
    json.copy(head, 12);
    const path = join(folder, "forged.gsckpt");
    writeFileSync(path, Buffer.concat([head, Buffer.alloc(16)]));
    return path;
  };
  const path = forged({ $blob: 0, type: "f32", length: 2.5 });
  assert.throws(
    () => loadCheckpoint(path),
    (error: Error) =>
      error instanceof CheckpointError &&
      error.message === `gradscope: checkpoint ${path} has a corrupt header: array 0 is "f32" of length 2.5; expected f32 or i32 and a whole length`,
  );
  assert.throws(() => loadCheckpoint(forged({ $blob: 0, type: "f64", length: 2 })), /array 0 is "f64" of length 2; expected f32 or i32/);
  assert.equal((loadCheckpoint(forged({ $blob: 0, type: "f32", length: 4 })).model as unknown as { w: Float32Array }).w.length, 4);
});

test("gradscope eval and train --resume exit with 2 on a corrupt checkpoint and print its path", async () => {
  const { path, bytes } = writeCheckpoint("eval.gsckpt");
  const damaged = Buffer.from(bytes);
  damaged[arraysStart(bytes) + 1] ^= 0x10;
  writeFileSync(path, damaged);
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((text: string) => errors.push(text) > 0) as typeof process.stderr.write;
  const run = join(folder, "run");
  mkdirSync(join(run, "checkpoints"), { recursive: true });
  copyFileSync(configFile, join(run, "config.yaml"));
  copyFileSync(path, join(run, "checkpoints", "latest.gsckpt"));
  try {
    assert.equal(await main(["eval", "-c", configFile, "--checkpoint", path]), 2);
    assert.equal(await main(["train", "--resume", run, "--quiet"]), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(errors[0], new RegExp(`checkpoint ${path} fails its SHA-256 checksum`));
  assert.match(errors[1], new RegExp(`checkpoint ${join(run, "checkpoints", "latest.gsckpt")} fails its SHA-256 checksum`));
});
