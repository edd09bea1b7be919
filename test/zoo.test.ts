import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

// Every config in examples/zoo runs one short epoch through the real CLI on small files written
// here in the official formats (the CIFAR-10 binary release, EMNIST's IDX files), since the data
// sets themselves are not on CI machines. The Fashion-MNIST config reads the Debian data set where
// installed and the bundled sample elsewhere; the full runs' results are recorded in the README.

const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "gradscope-zoo-"));
const runs = join(work, "runs");

// The CIFAR-10 binary release: five training batch files and a test batch, each record a label
// byte then 1024 red, 1024 green and 1024 blue bytes of a 32×32 image.
const cifarData = join(work, "cifar");
const cifarImagesPerFile = 24;
function cifarRecords(count: number, seed: number): Buffer {
  const bytes = Buffer.alloc(count * 3073);
  for (let n = 0; n < count; n++) {
    bytes[n * 3073] = (n + seed) % 10;
    for (let i = 1; i < 3073; i++) bytes[n * 3073 + i] = (n * 131 + i * 7 + seed * 17) % 256;
  }
  return bytes;
}
mkdirSync(join(cifarData, "cifar-10-batches-bin"), { recursive: true });
for (let i = 1; i <= 5; i++) writeFileSync(join(cifarData, "cifar-10-batches-bin", `data_batch_${i}.bin`), cifarRecords(cifarImagesPerFile, i));
writeFileSync(join(cifarData, "cifar-10-batches-bin", "test_batch.bin"), cifarRecords(cifarImagesPerFile, 0));

// EMNIST balanced as its release names the files: IDX (big-endian magic 0x0803 and dimensions for
// images, 0x0801 for labels), 47 classes; the training files gzipped, the test files not.
const emnistData = join(work, "emnist");
function idxImages(count: number): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x803, 0);
  header.writeUInt32BE(count, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  const pixels = Buffer.alloc(count * 784);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37) % 256;
  return Buffer.concat([header, pixels]);
}
function idxLabels(count: number): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(0x801, 0);
  header.writeUInt32BE(count, 4);
  return Buffer.concat([header, Buffer.from(Array.from({ length: count }, (_, n) => (n * 5) % 47))]);
}
mkdirSync(emnistData);
writeFileSync(join(emnistData, "emnist-balanced-train-images-idx3-ubyte.gz"), gzipSync(idxImages(94)));
writeFileSync(join(emnistData, "emnist-balanced-train-labels-idx1-ubyte.gz"), gzipSync(idxLabels(94)));
writeFileSync(join(emnistData, "emnist-balanced-test-images-idx3-ubyte"), idxImages(47));
writeFileSync(join(emnistData, "emnist-balanced-test-labels-idx1-ubyte"), idxLabels(47));

/**
 * Each zoo config with the parameter count of its architecture for its classes: the CIFAR
 * variants' counts for 10 classes as the README's architecture table lists them (vgg16_bn is
 * vgg16's 14,719,818 plus the 8,448 weights and biases of its 13 batch norms, the difference
 * between torchvision's vgg16_bn and vgg16 in reference/models.json); LeNet-5 has 61,706 for 10
 * classes and 37 × 85 more (84 weights and a bias per class) for EMNIST's 47.
 */
const zoo: Record<string, { parameters: number; examples: string }> = {
  "alexnet-cifar10.yaml": { parameters: 23_272_266, examples: "cifar" },
  "densenet121-cifar10.yaml": { parameters: 6_956_298, examples: "cifar" },
  "googlenet-cifar10.yaml": { parameters: 5_490_986, examples: "cifar" },
  "lenet5-emnist.yaml": { parameters: 64_851, examples: "emnist" },
  "lenet5-fashion-mnist.yaml": { parameters: 61_706, examples: "fashion-mnist" },
  "mobilenet_v1-cifar10.yaml": { parameters: 3_217_226, examples: "cifar" },
  "resnet18-cifar10.yaml": { parameters: 11_173_962, examples: "cifar" },
  "vgg16-cifar10.yaml": { parameters: 14_728_266, examples: "cifar" },
};

test("every config in examples/zoo is covered here", () => {
  const configs = readdirSync(join(root, "examples", "zoo")).filter((name) => name.endsWith(".yaml"));
  assert.deepEqual(configs.sort(), Object.keys(zoo).sort());
});

function train(config: string, overrides: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ["bin/gradscope.js", "train", "-q", "-c", join("examples", "zoo", config), `training.runs_dir=${runs}`, ...overrides], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

// One epoch of 16 training images in batches of 8 and 8 test images keeps the largest models
// (GoogLeNet and DenseNet-121 at 32×32) to seconds.
const short = ["training.epochs=1", "data.limit=16", "data.test_limit=8", "data.batch_size=8"];

for (const [config, expected] of Object.entries(zoo)) {
  test(`examples/zoo/${config} builds ${expected.parameters} parameters and trains one epoch on ${expected.examples === "fashion-mnist" ? "Fashion-MNIST" : `generated ${expected.examples === "cifar" ? "CIFAR-10 release" : "EMNIST balanced"} files`}`, () => {
    // The CIFAR configs find the data through GRADSCOPE_DATA (as documented), EMNIST's through
    // ${GRADSCOPE_DATA}/emnist; the Fashion-MNIST one reads its default.
    const env = expected.examples === "cifar" ? { GRADSCOPE_DATA: cifarData } : { GRADSCOPE_DATA: work };
    const result = train(config, short, env);
    assert.equal(result.status, 0, result.stderr);
    const header = new RegExp(`: ${expected.parameters} parameters, 16 training examples, 8 test; run directory (\\S+)`).exec(result.stdout);
    assert.ok(header, result.stdout);
    const directory = header[1];
    assert.ok(existsSync(join(directory, "checkpoints", "latest.gsckpt")), "checkpoints/latest.gsckpt");
    const summary = JSON.parse(readFileSync(join(directory, "summary.json"), "utf8"));
    assert.equal(summary.status, "completed");
    assert.equal(summary.steps, 2);
    assert.ok(Number.isFinite(summary.history[0].loss), `training loss ${summary.history[0].loss}`);
    assert.ok(Number.isFinite(summary.test.test_loss), `test loss ${summary.test.test_loss}`);
  });
}

test("the generated release is read whole: 5 × 24 CIFAR-10 training images and 24 test images, 94 and 47 EMNIST ones", () => {
  for (const [config, env, counts] of [
    ["mobilenet_v1-cifar10.yaml", { GRADSCOPE_DATA: cifarData }, "120 training examples, 24 test"],
    ["lenet5-emnist.yaml", { GRADSCOPE_DATA: work }, "94 training examples, 47 test"],
  ] as const) {
    const result = train(config, ["training.epochs=1", "data.batch_size=64", "data.eval_batch_size=64"], env);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(counts));
  }
});

test("without the data, the CIFAR-10 and EMNIST configs say where the files are expected", () => {
  const missing = join(work, "nothing-here");
  const cifar = train("resnet18-cifar10.yaml", [], { GRADSCOPE_DATA: missing });
  assert.equal(cifar.status, 2);
  assert.match(cifar.stderr, new RegExp(`CIFAR-10 not found: expected ${missing}/cifar-10-batches-bin/ holding data_batch_1\\.bin.*or ${missing}/cifar-10-binary\\.tar\\.gz`));
  const emnist = train("lenet5-emnist.yaml", [], { GRADSCOPE_DATA: missing });
  assert.equal(emnist.status, 2);
  assert.match(emnist.stderr, /lenet5-emnist\.yaml:\d+:\d+: data\.path: IDX file .*nothing-here\/emnist\/emnist-balanced-train-images-idx3-ubyte\.gz does not exist/);
});
