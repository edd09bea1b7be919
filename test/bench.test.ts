import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { BenchArgumentError, parseBenchArguments, selectsRow } from "../bench/arguments.ts";
import { groups } from "../bench/groups/index.ts";
import { once } from "../bench/registry.ts";
import { jsonRow, tableLine } from "../bench/report.ts";
import { allThreads } from "../bench/threadCount.ts";

// The bench's command line and output formats; no timing is asserted (the figures are the bench's).
const root = fileURLToPath(new URL("..", import.meta.url));
const bench = (...args: string[]) => spawnSync("npm", ["run", "--silent", "bench", "--", ...args], { cwd: root, encoding: "utf8" });
const rowNames = groups.flatMap((group) => group.rows.map((row) => row.name));

test("bench arguments: --filter (spaced, with =, repeated), --json, --list", () => {
  assert.deepEqual(parseBenchArguments([]), { filters: [], json: false, list: false, help: false });
  assert.deepEqual(parseBenchArguments(["--filter", "GEMM", "--filter=fork/join", "--json", "--list"]), {
    filters: ["GEMM", "fork/join"],
    json: true,
    list: true,
    help: false,
  });
});

test("bench arguments: an unknown flag and a --filter without its pattern are refused by name", () => {
  assert.throws(
    () => parseBenchArguments(["--jsn"]),
    (error: Error) => error instanceof BenchArgumentError && /unknown argument "--jsn"; expected --filter <pattern>, --json/.test(error.message),
  );
  assert.throws(() => parseBenchArguments(["--filter"]), /--filter needs a pattern/);
  assert.throws(() => parseBenchArguments(["--filter="]), /--filter needs a pattern/);
});

test("a filter selects names containing it (ignoring case) or matching it as a regular expression", () => {
  // Plain text with regular-expression characters still selects by containment.
  assert.equal(selectsRow(["GEMM 1024^3, 1 thread"], "GEMM 1024^3, 1 thread"), true);
  assert.equal(selectsRow(["gemm 1024^3"], "GEMM 1024^3, all threads"), true);
  assert.equal(selectsRow(["^GEMM .*all threads$"], "GEMM 1024^3, all threads"), true);
  assert.equal(selectsRow(["^GEMM .*all threads$"], "GEMM 1024^3, 1 thread"), false);
  // Not a valid regular expression: containment only.
  assert.equal(selectsRow(["step (every"], "MLP step (every layer)"), true);
  assert.equal(selectsRow(["step (every"], "MLP step"), false);
  assert.equal(selectsRow([], "anything"), true);
  assert.equal(selectsRow(["ResNet", "fork/join"], "fork/join cost of a call, all threads"), true);
});

test("every bench row has a unique name and runs at 1 thread or at all threads", () => {
  assert.equal(new Set(rowNames).size, rowNames.length, `duplicate names: ${rowNames.filter((name, i) => rowNames.indexOf(name) !== i).join("; ")}`);
  for (const group of groups) for (const row of group.rows) assert.ok(row.threads === 1 || row.threads === allThreads, `${row.name}: threads ${row.threads}`);
  // The floors of the engine-threads and model-zoo issues each have their rows.
  for (const name of [
    "GEMM 1024^3, all threads",
    "DeepOBS fmnist_2c2d plain SGD step, batch 128, all threads",
    "Fashion-MNIST MLP epoch through the Trainer, all threads",
    "MLP step + batchL2 + batchDot (every layer), all threads",
    "DeepOBS mnist_mlp business, tracked every step, all threads",
    "ResNet-20 (CIFAR variant, 3x32x32) training step + economy every step, batch 128, all threads",
    "MobileNetV1 (CIFAR variant, 3x32x32) training step + economy every step, batch 128, all threads",
  ]) {
    assert.ok(rowNames.includes(name), `no row "${name}"`);
  }
});

test("once computes a shared measurement at the first call only", () => {
  let calls = 0;
  const shared = once(() => ++calls);
  assert.equal(shared(), 1);
  assert.equal(shared(), 1);
  assert.equal(calls, 1);
});

test("a measured row prints as a table line (multiple or percentage, with its note) and as a JSON row", () => {
  assert.equal(
    tableLine("GEMM 1024^3, all threads", 2, { value: 71.34, unit: "GFLOP/s", ratio: { value: 1.853, of: "1 thread" } }),
    "| GEMM 1024^3, all threads | 2 | 71.3 | GFLOP/s | 1.85x 1 thread |",
  );
  assert.equal(
    tableLine("GEMM 512^3", 1, { value: 38.2, unit: "GFLOP/s", ratio: { value: 0.843, of: "the ceiling", percent: true }, note: "ceiling 45.3 GFLOP/s" }),
    "| GEMM 512^3 | 1 | 38.2 | GFLOP/s | 84% of the ceiling (ceiling 45.3 GFLOP/s) |",
  );
  assert.equal(tableLine("epoch", 1, { value: 2130.4, unit: "ms", digits: 0, note: "446 steps" }), "| epoch | 1 | 2130 | ms | 446 steps |");
  assert.deepEqual(jsonRow("epoch", 1, { value: 2130.4, unit: "ms", digits: 0 }, { cpu: "a CPU", kernels: "simd" }), {
    name: "epoch",
    value: 2130.4,
    unit: "ms",
    ratio: null,
    ratioOf: null,
    note: null,
    cpu: "a CPU",
    threads: 1,
    kernels: "simd",
  });
});

test("npm run bench -- --list prints every row name and measures nothing", () => {
  const listed = bench("--list");
  assert.equal(listed.status, 0, listed.stderr);
  assert.deepEqual(listed.stdout.trim().split("\n"), rowNames);
  const filtered = bench("--list", "--filter", "fork/join");
  assert.deepEqual(filtered.stdout.trim().split("\n"), ["fork/join cost of a call, all threads"]);
});

test("npm run bench -- --filter <row> --json prints that row alone as one JSON object", () => {
  // A row of a few milliseconds' work: the optimizer update.
  const result = bench("--filter", "SGD momentum 0.9 update", "--json");
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split("\n");
  assert.equal(lines.length, 1, result.stdout);
  const row = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(row), ["name", "value", "unit", "ratio", "ratioOf", "note", "cpu", "threads", "kernels"]);
  assert.equal(row.name, "SGD momentum 0.9 update, DeepOBS mnist_mlp, 1 thread");
  assert.equal(row.unit, "ms");
  assert.ok(Number.isFinite(row.value) && row.value > 0, `value ${row.value}`);
  assert.equal(row.threads, 1);
  assert.equal(row.ratio, null);
  assert.equal(typeof row.cpu, "string");
  assert.match(row.kernels, /^(relaxed-)?simd$/);
  assert.match(row.note, /1\.34 M parameters/);
});

test("npm run bench exits with status 2 on an unknown flag, and on a filter that matches no row, listing the rows", () => {
  const unknown = bench("--fliter", "GEMM");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown argument "--fliter"/);
  assert.match(unknown.stderr, /usage: npm run bench/);
  const nothing = bench("--filter", "no such row");
  assert.equal(nothing.status, 2);
  assert.match(nothing.stderr, /--filter "no such row" matches no row; the rows are:/);
  assert.ok(nothing.stderr.includes("  GEMM 1024^3, all threads\n"), nothing.stderr);
});
