import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { gunzipAtMost } from "../src/data/gzip.ts";
import {
  ArrayDataset,
  DataLoader,
  fashionMnistSample,
  flattenInputs,
  loadCsv,
  loadIdxPair,
  loadSource,
  normalize,
  randomCrop,
  randomFlip,
  readIdx,
  spirals,
  splitDataset,
} from "../src/data/index.ts";
import { Random } from "../src/engine/random.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-data-"));

function idxBytes(type: number, shape: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header.writeUInt8(type, 2);
  header.writeUInt8(shape.length, 3);
  for (const [i, d] of shape.entries()) header.writeUInt32BE(d, 4 + 4 * i);
  return Buffer.concat([header, Buffer.from(data)]);
}

test("IDX files load gzipped or plain, and bad files are named with what is wrong", () => {
  const images = join(folder, "images.idx");
  const labels = join(folder, "labels.idx.gz");
  writeFileSync(images, idxBytes(8, [3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]));
  writeFileSync(labels, gzipSync(idxBytes(8, [3], [2, 0, 1])));
  const dataset = loadIdxPair(images, labels, 3, "tiny");
  assert.deepEqual(dataset.inputShape, [1, 2, 2]);
  assert.deepEqual([...dataset.batch([0]).inputs], [0, 1, 0.2, 0.4].map(Math.fround));
  assert.deepEqual([...dataset.batch([2, 0]).targets], [1, 2]);
  const bad = join(folder, "bad.idx");
  writeFileSync(bad, Buffer.from([1, 2, 8, 1, 0, 0, 0, 1, 5]));
  assert.throws(() => readIdx(bad), new RegExp(`${bad} has a bad magic number \\(01 02 08 01\\)`));
  const truncated = join(folder, "truncated.idx");
  writeFileSync(truncated, idxBytes(8, [3, 2, 2], [1, 2, 3]));
  assert.throws(() => readIdx(truncated), /truncated: shape \[3, 2, 2\] needs 12 bytes of data, the file has 3/);
  const fewLabels = join(folder, "few.idx");
  writeFileSync(fewLabels, idxBytes(8, [2], [0, 1]));
  assert.throws(() => loadIdxPair(images, fewLabels, 3, "tiny"), /has 2 labels but .*images.idx has 3 images/);
  assert.throws(() => readIdx(join(folder, "missing.idx")), /missing.idx does not exist/);
  // A folder was read as a file: "EISDIR: illegal operation on a directory, read".
  assert.throws(() => readIdx(folder), new RegExp(`^Error: gradscope: IDX file ${folder} is a folder; expected a file$`));
  assert.throws(() => readIdx("/dev/zero"), /^Error: gradscope: IDX file \/dev\/zero is a device; expected a file or a pipe$/);
  assert.throws(() => loadCsv("/dev/zero", { classes: 2 }), /^Error: gradscope: CSV file \/dev\/zero is a device; expected a file or a pipe$/);
});

// A gzip stream whose FNAME field holds `nameBytes` bytes: the deflate data start that far in.
function gzipWithLongName(bytes: Buffer, nameBytes: number): Buffer {
  const gzip = gzipSync(bytes);
  const header = Buffer.from(gzip.subarray(0, 10));
  header[3] |= 0x08; // FLG.FNAME: a zero-terminated name follows the 10-byte header (RFC 1952)
  return Buffer.concat([header, Buffer.alloc(nameBytes - 1, 0x61), Buffer.from([0]), gzip.subarray(10)]);
}

test("a gzipped IDX file is refused before it inflates past its header's shape (a gzip bomb) or promises more than it can hold", () => {
  const zeros = Buffer.alloc(16 * 2 ** 20);
  // 16 MiB of zeros behind a header of 2×2×2 bytes: about 16 KB of gzip.
  const bomb = join(folder, "bomb-idx3-ubyte.gz");
  writeFileSync(bomb, gzipSync(Buffer.concat([idxBytes(8, [2, 2, 2], []), zeros])));
  const refusal = (path: string) =>
    new RegExp(`^Error: gradscope: IDX file ${path} inflates to more than 24 bytes, but its header's shape \\[2, 2, 2\\] makes a file of 24 bytes; refusing it`);
  assert.throws(() => readIdx(bomb), refusal(bomb));
  // The header is found however far into the file the deflate data begin, and the data behind it
  // are inflated only as far as needed to find it (the bomb's 16 MiB then lies behind the header).
  const farHeader = join(folder, "far-idx3-ubyte.gz");
  writeFileSync(farHeader, gzipWithLongName(Buffer.concat([idxBytes(8, [2, 2, 2], []), zeros]), 40_000));
  assert.throws(() => readIdx(farHeader), refusal(farHeader));
  const sound = join(folder, "sound-idx1-ubyte.gz");
  writeFileSync(sound, gzipWithLongName(idxBytes(8, [3], [4, 5, 6]), 40_000));
  assert.deepEqual([...readIdx(sound).data], [4, 5, 6]);
  // A header that promises 78 MB in a file of a few dozen bytes: deflate expands at most 1032:1.
  const promise = join(folder, "promise-idx3-ubyte.gz");
  const promiseBytes = gzipSync(idxBytes(8, [100_000, 28, 28], [1, 2, 3]));
  writeFileSync(promise, promiseBytes);
  assert.throws(
    () => readIdx(promise),
    new RegExp(
      `^Error: gradscope: IDX file ${promise} is damaged: its header's shape \\[100000, 28, 28\\] needs 78400000 bytes of data, more than its ${promiseBytes.length} gzip bytes can hold \\(deflate expands at most 1032:1\\)$`,
    ),
  );
  // A bound beyond what one buffer holds is refused as such, not as a zlib option out of range.
  const limit = bufferConstants.MAX_LENGTH;
  assert.throws(
    () => gunzipAtMost(gzipSync(Buffer.alloc(10)), limit + 1, "huge.gz", `its header promises ${limit + 1} bytes`),
    new RegExp(`^Error: gradscope: huge.gz cannot be read: its header promises ${limit + 1} bytes, more than one buffer holds \\(${limit} bytes\\)$`),
  );
  // Images and labels are compared by their headers before either file's data are inflated.
  const twoLabels = join(folder, "two-labels-idx1-ubyte");
  writeFileSync(twoLabels, idxBytes(8, [3], [0, 1, 0]));
  assert.throws(() => loadIdxPair(bomb, twoLabels, 2, "bomb"), /two-labels-idx1-ubyte has 3 labels but .*bomb-idx3-ubyte.gz has 2 images/);
  writeFileSync(twoLabels, idxBytes(8, [2], [0, 1]));
  assert.throws(() => loadIdxPair(bomb, twoLabels, 2, "bomb"), refusal(bomb));
});

// `predict --input /dev/stdin` and `data.path=<(zcat train.csv.gz)` read a pipe, which ends when
// its writer closes it: only a device (/dev/zero) reads on without end.
test("a CSV or IDX file given as a pipe (/dev/stdin, <(zcat ...)) is read", () => {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-fifo-"));
  const throughPipe = <T>(bytes: Buffer, read: (path: string) => T): T => {
    const fifo = join(folder, `pipe-${Math.random().toString(36).slice(2)}`);
    execFileSync("mkfifo", [fifo]);
    const source = join(folder, "source");
    writeFileSync(source, bytes);
    // Another process writes it: opening a pipe for reading waits for its writer.
    const writer = spawn("sh", ["-c", 'cat "$0" > "$1"', source, fifo], { stdio: "ignore" });
    try {
      return read(fifo);
    } finally {
      writer.kill();
    }
  };
  const csv = throughPipe(Buffer.from("x,y,label\n1,2,0\n3,4,1\n"), (path) => loadCsv(path, { classes: 2 }));
  assert.equal(csv.length, 2);
  assert.deepEqual([...csv.batch([1]).inputs], [3, 4]);
  assert.deepEqual([...csv.batch([0, 1]).targets], [0, 1]);
  const idx = throughPipe(gzipSync(idxBytes(8, [2], [5, 7])), readIdx);
  assert.deepEqual(idx.shape, [2]);
  assert.deepEqual([...idx.data], [5, 7]);
});

test("Fashion-MNIST's files are checked against its known shapes before their data are inflated", () => {
  const directory = mkdtempSync(join(tmpdir(), "gradscope-fashion-"));
  // Checked by its header alone: a gzip of 4 MB whose header promised 5 million blank images
  // (3.9 GB) would pass the 1032:1 bound, and refused here is inflated no further.
  writeFileSync(join(directory, "train-images-idx3-ubyte"), idxBytes(8, [2, 28, 28], new Array(2 * 28 * 28).fill(0)));
  writeFileSync(join(directory, "train-labels-idx1-ubyte"), idxBytes(8, [2], [0, 1]));
  const images = join(directory, "train-images-idx3-ubyte");
  assert.throws(
    () => loadSource({ source: "fashion-mnist", path: directory }, 0),
    new RegExp(`^Error: gradscope: ${images}: its header says images \\[2, 28, 28\\], but Fashion-MNIST train \\(${directory}\\) has \\[60000, 28, 28\\]$`),
  );
});

test("an IDX train/test pair with different image sizes is refused when opened, naming both files and sizes", () => {
  const directory = mkdtempSync(join(tmpdir(), "gradscope-idx-"));
  writeFileSync(join(directory, "train-images"), idxBytes(8, [2, 2, 2], new Array(8).fill(7)));
  writeFileSync(join(directory, "train-labels"), idxBytes(8, [2], [0, 1]));
  writeFileSync(join(directory, "test-images"), idxBytes(8, [1, 3, 3], new Array(9).fill(7)));
  writeFileSync(join(directory, "test-labels"), idxBytes(8, [1], [1]));
  const spec = {
    source: "idx",
    path: directory,
    classes: 2,
    train_images: "train-images",
    train_labels: "train-labels",
    test_images: "test-images",
    test_labels: "test-labels",
  } as const;
  assert.throws(
    () => loadSource(spec, 0),
    (error: Error) => error.message.includes(`${join(directory, "train-images")} holds 2×2 images, ${join(directory, "test-images")} holds 3×3`),
  );
  writeFileSync(join(directory, "test-images"), idxBytes(8, [1, 2, 2], [1, 2, 3, 4]));
  assert.deepEqual(loadSource(spec, 0).test?.inputShape, [1, 2, 2]);
});

test("the blobs test set comes from the training set's cluster centres", () => {
  const classes = 4;
  const { train, test } = loadSource({ source: "blobs", samples: 2000, classes, dims: 3, std: 0.5 }, 11);
  assert.ok(test);
  const centres = (dataset: typeof train) => {
    const all = dataset.batch(Int32Array.from({ length: dataset.length }, (_, i) => i));
    const sums = new Float64Array(classes * 3);
    const counts = new Float64Array(classes);
    for (let i = 0; i < all.size; i++) {
      counts[all.targets[i]]++;
      for (let d = 0; d < 3; d++) sums[all.targets[i] * 3 + d] += all.inputs[i * 3 + d];
    }
    return Array.from(sums, (s, k) => s / counts[Math.floor(k / 3)]);
  };
  const trainCentres = centres(train);
  const testCentres = centres(test);
  // 100 test points per class with σ 0.5: each mean is within 0.2 of its centre by a wide margin.
  for (const [k, centre] of trainCentres.entries())
    assert.ok(Math.abs(testCentres[k] - centre) < 0.2, `class ${Math.floor(k / 3)} axis ${k % 3}: test mean ${testCentres[k]}, train mean ${centre}`);
  assert.notDeepEqual(test.batch([0]).inputs, train.batch([0]).inputs, "the test points are drawn anew");
});

test("CSV files load numeric columns with a label column; a bad cell is named by line and column", () => {
  const path = join(folder, "table.csv");
  writeFileSync(path, "x,y,label\n1,2,0\n3.5,-1,1\n");
  const dataset = loadCsv(path, { label: "label", classes: 2 });
  assert.deepEqual([...dataset.batch([1]).inputs], [3.5, -1]);
  assert.deepEqual([...dataset.batch([0, 1]).targets], [0, 1]);
  writeFileSync(path, "x,y,label\n1,2,0\n3.5,oops,1\n");
  assert.throws(() => loadCsv(path, { label: "label", classes: 2 }), /table.csv:3: column "y" holds "oops", not a decimal number/);
  assert.throws(() => loadCsv(path, { label: "class", classes: 2 }), /has no column "class"; columns: x, y, label/);
});

test("CSV errors give the line in the file, counting the blank lines that are skipped", () => {
  const path = join(folder, "gaps.csv");
  const rows = ["x,label", "1,0", "", "2,1", "", "", "3,0", "4,1", "", "5,0", "6,1", "7,0", "8,1", "", "bad,0", "9,1"];
  writeFileSync(path, `${rows.join("\n")}\n`);
  assert.throws(() => loadCsv(path, { classes: 2 }), /gaps.csv:15: column "x" holds "bad"/);
  writeFileSync(path, "x,label\r\n\r\n1,0\r\n\r\n2,0,3\r\n");
  assert.throws(() => loadCsv(path, { classes: 2 }), /gaps.csv:5: expected 2 columns, found 3/);
});

test("CSV numbers are decimal only: hex, binary, octal, separators, Infinity and NaN are refused", () => {
  const path = join(folder, "numbers.csv");
  writeFileSync(path, "a,b,c,d,e,target\n 3 ,-0.5,1e-3,.5,+2.,7\n");
  assert.deepEqual([...loadCsv(path, { classes: 0 }).inputs], [3, -0.5, 1e-3, 0.5, 2].map(Math.fround));
  for (const cell of ["0x1F", "0b1", "0o7", "1_000", "Infinity", "-Infinity", "NaN", "1e999", "1,5", "1.2.3", "e5", "--1"]) {
    writeFileSync(path, `a,target\n${cell},1\n`);
    const quoted = cell.includes(",") ? "expected 2 columns" : `column "a" holds "${cell}", not a decimal number`;
    assert.throws(
      () => loadCsv(path, { classes: 0 }),
      (error: Error) => error.message.includes(`numbers.csv:2: ${quoted}`),
      cell,
    );
  }
});

test("shuffling is seeded per epoch: epochs differ, runs repeat, and a loader restarts mid-epoch on the same batches", () => {
  const dataset = spirals(103, 0.05, 1);
  const loader = new DataLoader(dataset, { batchSize: 10, shuffle: true, seed: 7 });
  assert.equal(loader.batchesPerEpoch, 11);
  const epoch0 = [...loader.batches(0)].map((b) => [...b.targets]);
  const again = [...new DataLoader(dataset, { batchSize: 10, shuffle: true, seed: 7 }).batches(0)].map((b) => [...b.targets]);
  assert.deepEqual(again, epoch0);
  assert.notDeepEqual(loader.order(1), loader.order(0));
  const tail = [...loader.batches(0, 4)];
  assert.equal(tail[0].index, 4);
  assert.deepEqual(
    tail.map((b) => [...b.targets]),
    epoch0.slice(4),
  );
  assert.equal(new DataLoader(dataset, { batchSize: 10, dropLast: true }).batchesPerEpoch, 10);
  assert.deepEqual(
    [...loader.order(0)].sort((a, b) => a - b),
    Array.from({ length: 103 }, (_, i) => i),
  );
});

test("splits are seeded and disjoint; the bundled Fashion-MNIST sample loads", () => {
  const dataset = spirals(50, 0.05, 2);
  const [train, validation] = splitDataset(dataset, 0.2, 3);
  assert.equal(train.length, 40);
  assert.equal(validation.length, 10);
  const [, again] = splitDataset(dataset, 0.2, 3);
  assert.deepEqual([...again.batch([0, 1, 2]).inputs], [...validation.batch([0, 1, 2]).inputs]);
  // Its test set is typed as present: the README's `new DataLoader(test, …)` type-checks as is.
  const sample = fashionMnistSample();
  assert.deepEqual([sample.train.length, sample.test.length], [2400, 600]);
  assert.deepEqual(sample.train.inputShape, [1, 28, 28]);
});

test("transforms: normalize per channel, flatten, and seeded crops and flips", () => {
  const images = new ArrayDataset(
    Float32Array.from({ length: 2 * 2 * 3 * 3 }, (_, i) => i),
    Int32Array.from([0, 1]),
    [2, 3, 3],
    2,
    "images",
  );
  const batch = images.batch([0, 1]);
  const normalized = normalize([1, 10], [2, 4]).apply(batch.inputs.slice(), 2, [2, 3, 3], new Random(0));
  assert.equal(normalized[0], -0.5);
  assert.equal(normalized[9], (9 - 10) / 4);
  assert.deepEqual(flattenInputs().outputShape([2, 3, 3]), [18]);
  const flipped = randomFlip(1).apply(batch.inputs.slice(), 2, [2, 3, 3], new Random(0));
  assert.deepEqual([...flipped.subarray(0, 3)], [2, 1, 0]);
  const cropA = randomCrop(1).apply(batch.inputs.slice(), 2, [2, 3, 3], new Random(5));
  const cropB = randomCrop(1).apply(batch.inputs.slice(), 2, [2, 3, 3], new Random(5));
  assert.deepEqual(cropA, cropB);
  assert.throws(() => randomFlip().apply(new Float32Array(4), 1, [4], new Random(0)), /random_flip needs image inputs \[C, H, W\], got \[4\]/);
});
