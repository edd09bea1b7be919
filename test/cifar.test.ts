import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { loadIdxPair, loadSource } from "../src/data/index.ts";
import { readTar } from "../src/data/tar.ts";

// A CIFAR record file: per image its label byte(s), then 1024 R, 1024 G and 1024 B bytes. Image
// n's pixel (c, y, x) holds (n·7 + c·50 + y + x) mod 256, so any mix-up of layout shows.
function records(labels: number[][]): Buffer {
  const parts = labels.map((label, n) => {
    const pixels = Buffer.alloc(3072);
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) pixels[c * 1024 + y * 32 + x] = (n * 7 + c * 50 + y + x) % 256;
    return Buffer.concat([Buffer.from(label), pixels]);
  });
  return Buffer.concat(parts);
}

// A ustar header: name, octal size, type, "ustar" magic, the prefix of long paths, and the
// checksum (the byte sum with the checksum field counted as spaces).
function ustarHeader(name: string, size: number, type = "0", prefix = ""): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write("0000644\0", 100);
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write(type, 156);
  header.write("ustar\u000000", 257);
  header.write(prefix, 345);
  header.write(
    `${header
      .reduce((a, b) => a + b, 0)
      .toString(8)
      .padStart(6, "0")}\0 `,
    148,
  );
  return header;
}

const padded = (bytes: Buffer) => Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]);

// A tar archive: per file its header and its bytes padded to 512, then two zero blocks.
function tar(files: Record<string, Buffer>): Buffer {
  const blocks = Object.entries(files).flatMap(([name, bytes]) => [ustarHeader(name, bytes.length), padded(bytes)]);
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

const root = mkdtempSync(join(tmpdir(), "gradscope-cifar-"));
const cifar10Files: Record<string, Buffer> = {};
for (let i = 1; i <= 5; i++) cifar10Files[`data_batch_${i}.bin`] = records([[i], [9 - i]]);
cifar10Files["test_batch.bin"] = records([[3], [4], [5]]);

function expectFirstImage(inputs: Float32Array, n: number): void {
  // Channel c, row y, column x of image n, scaled to [0, 1].
  for (const [c, y, x] of [
    [0, 0, 0],
    [1, 2, 5],
    [2, 31, 31],
  ]) {
    assert.equal(inputs[c * 1024 + y * 32 + x], Math.fround(((n * 7 + c * 50 + y + x) % 256) / 255), `pixel (${c}, ${y}, ${x})`);
  }
}

test("CIFAR-10 loads from the cifar-10-batches-bin folder: five training batches, the test batch, [3, 32, 32] images", () => {
  const folder = join(root, "folder", "cifar-10-batches-bin");
  mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of Object.entries(cifar10Files)) writeFileSync(join(folder, name), bytes);
  for (const path of [join(root, "folder"), folder]) {
    const { train, test: testSet } = loadSource({ source: "cifar10", path }, 0);
    assert.equal(train.length, 10);
    assert.equal(testSet?.length, 3);
    assert.deepEqual(train.inputShape, [3, 32, 32]);
    assert.equal(train.classes, 10);
    const batch = train.batch([2, 3]);
    assert.deepEqual([...batch.targets], [2, 7]);
    expectFirstImage(batch.inputs, 0);
    assert.deepEqual([...(testSet?.batch([0, 1, 2]).targets ?? [])], [3, 4, 5]);
  }
});

test("CIFAR-10 loads from cifar-10-binary.tar.gz, named directly or found in the GRADSCOPE_DATA folder", () => {
  const folder = join(root, "archive");
  mkdirSync(folder);
  const entries = Object.fromEntries(Object.entries(cifar10Files).map(([name, bytes]) => [`cifar-10-batches-bin/${name}`, bytes]));
  writeFileSync(join(folder, "cifar-10-binary.tar.gz"), gzipSync(tar({ "cifar-10-batches-bin/batches.meta.txt": Buffer.from("airplane\n"), ...entries })));
  const direct = loadSource({ source: "cifar10", path: join(folder, "cifar-10-binary.tar.gz") }, 0);
  assert.deepEqual([...direct.train.batch([0, 1, 9]).targets], [1, 8, 4]);
  const saved = process.env.GRADSCOPE_DATA;
  process.env.GRADSCOPE_DATA = folder;
  try {
    const fromEnvironment = loadSource({ source: "cifar10" }, 0);
    assert.equal(fromEnvironment.train.length, 10);
    expectFirstImage(fromEnvironment.test?.batch([1]).inputs ?? new Float32Array(), 1);
  } finally {
    if (saved === undefined) delete process.env.GRADSCOPE_DATA;
    else process.env.GRADSCOPE_DATA = saved;
  }
});

test("CIFAR-100 uses the fine label by default and the coarse one on request", () => {
  const folder = join(root, "cifar-100-binary");
  mkdirSync(folder);
  writeFileSync(
    join(folder, "train.bin"),
    records([
      [3, 97],
      [19, 0],
    ]),
  );
  writeFileSync(join(folder, "test.bin"), records([[0, 55]]));
  const fine = loadSource({ source: "cifar100", path: root }, 0);
  assert.equal(fine.train.classes, 100);
  assert.deepEqual([...fine.train.batch([0, 1]).targets], [97, 0]);
  expectFirstImage(fine.train.batch([1]).inputs, 1);
  const coarse = loadSource({ source: "cifar100", path: folder, label: "coarse" }, 0);
  assert.equal(coarse.train.classes, 20);
  assert.deepEqual([...coarse.train.batch([0, 1]).targets], [3, 19]);
  assert.throws(() => loadSource({ source: "cifar100", path: folder, label: "middle" as "fine" }, 0), /CIFAR-100 labels are fine or coarse, got middle/);
});

test("missing or damaged CIFAR files are named with what was expected", () => {
  const empty = mkdtempSync(join(tmpdir(), "gradscope-nocifar-"));
  assert.throws(
    () => loadSource({ source: "cifar10", path: empty }, 0),
    (error: Error) =>
      error.message.includes(`CIFAR-10 not found: expected ${join(empty, "cifar-10-batches-bin")}/ holding data_batch_1.bin, data_batch_2.bin`) &&
      error.message.includes(`or ${join(empty, "cifar-10-binary.tar.gz")}`) &&
      error.message.includes("downloads nothing"),
  );
  const saved = process.env.GRADSCOPE_DATA;
  delete process.env.GRADSCOPE_DATA;
  try {
    assert.throws(
      () => loadSource({ source: "cifar100" }, 0),
      /CIFAR-100: set data.path or GRADSCOPE_DATA to the folder that holds cifar-100-binary\/ \(train.bin, test.bin\) or cifar-100-binary.tar.gz/,
    );
  } finally {
    if (saved !== undefined) process.env.GRADSCOPE_DATA = saved;
  }
  const broken = join(empty, "cifar-10-batches-bin");
  mkdirSync(broken);
  for (const [name, bytes] of Object.entries(cifar10Files)) writeFileSync(join(broken, name), name === "data_batch_3.bin" ? bytes.subarray(0, 5000) : bytes);
  assert.throws(() => loadSource({ source: "cifar10", path: empty }, 0), /data_batch_3.bin has 5000 bytes, not a whole number of 3073-byte CIFAR-10 records/);
  writeFileSync(join(broken, "data_batch_3.bin"), records([[10]]));
  assert.throws(() => loadSource({ source: "cifar10", path: empty }, 0), /data_batch_3.bin: record 0 has label 10, outside the 10 classes/);
  const notTar = join(empty, "fake.tar.gz");
  writeFileSync(notTar, gzipSync(Buffer.alloc(600, 7)));
  assert.throws(() => loadSource({ source: "cifar10", path: notTar }, 0), /fake.tar.gz is not a tar archive, or is damaged: bad header checksum at byte 0/);
});

test("the tar reader follows GNU long names and ustar prefixes", () => {
  const longName = `${"d".repeat(120)}/file.bin`;
  const path = join(root, "long.tar");
  writeFileSync(
    path,
    Buffer.concat([
      ustarHeader("././@LongLink", longName.length + 1, "L"),
      padded(Buffer.from(`${longName}\0`)),
      ustarHeader("short-name", 5),
      padded(Buffer.from("hello")),
      ustarHeader("b.bin", 2, "0", "some/folder"),
      padded(Buffer.from("hi")),
      Buffer.alloc(1024),
    ]),
  );
  const files = readTar(path, { bytes: 2 ** 20, why: "unused: the archive is not gzipped" });
  assert.deepEqual([...files.keys()], [longName, "some/folder/b.bin"]);
  assert.equal(Buffer.from(files.get(longName) ?? []).toString(), "hello");
  assert.equal(Buffer.from(files.get("some/folder/b.bin") ?? []).toString(), "hi");
});

test("a gzipped tar archive is refused once it inflates past its limit, naming the archive and the limit's reason", () => {
  // One 16 MiB file of zeros: about 16 KB of gzip.
  const path = join(root, "bomb.tar.gz");
  writeFileSync(path, gzipSync(tar({ "zeros.bin": Buffer.alloc(16 * 2 ** 20) })));
  assert.throws(
    () => readTar(path, { bytes: 2 ** 20, why: "the test allows 1 MiB" }),
    new RegExp(`^Error: gradscope: ${path} inflates to more than 1048576 bytes, but the test allows 1 MiB; refusing it \\(a damaged file, or a gzip bomb\\)$`),
  );
  assert.equal(readTar(path, { bytes: 17 * 2 ** 20, why: "the test allows 17 MiB" }).get("zeros.bin")?.length, 16 * 2 ** 20);
  // A CIFAR archive may inflate to its release's records and 16 MiB more.
  const cifar = join(root, "cifar-bomb", "cifar-10-binary.tar.gz");
  mkdirSync(join(root, "cifar-bomb"));
  const member = gzipSync(Buffer.alloc(40 * 2 ** 20));
  writeFileSync(cifar, Buffer.concat(new Array(5).fill(member)));
  assert.throws(
    () => loadSource({ source: "cifar10", path: cifar }, 0),
    /cifar-10-binary.tar.gz inflates to more than 201157216 bytes, but CIFAR-10's binary release holds 184380000 bytes of records and at most 16777216 bytes of headers and other files/,
  );
});

test("IDX images stored transposed (EMNIST) are turned upright with transpose", () => {
  const directory = mkdtempSync(join(tmpdir(), "gradscope-emnist-"));
  // One 2×3 image stored column by column: the upright image is 3 rows × 2 columns [[1, 2], [3, 4], [5, 6]].
  const header = (dims: number[]) => {
    const bytes = Buffer.alloc(4 + 4 * dims.length);
    bytes.writeUInt8(8, 2);
    bytes.writeUInt8(dims.length, 3);
    for (const [i, d] of dims.entries()) bytes.writeUInt32BE(d, 4 + 4 * i);
    return bytes;
  };
  writeFileSync(join(directory, "images"), Buffer.concat([header([1, 2, 3]), Buffer.from([1, 3, 5, 2, 4, 6])]));
  writeFileSync(join(directory, "labels"), Buffer.concat([header([1]), Buffer.from([46])]));
  const upright = loadIdxPair(join(directory, "images"), join(directory, "labels"), 47, "emnist", true);
  assert.deepEqual(upright.inputShape, [1, 3, 2]);
  assert.deepEqual(
    [...upright.batch([0]).inputs],
    [1, 2, 3, 4, 5, 6].map((v) => Math.fround(v / 255)),
  );
  assert.deepEqual([...upright.batch([0]).targets], [46]);
  const stored = loadIdxPair(join(directory, "images"), join(directory, "labels"), 47, "emnist");
  assert.deepEqual(stored.inputShape, [1, 2, 3]);
});
