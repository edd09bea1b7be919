import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cnnSpec, mlpSpec } from "../bench/workloads.ts";
import { backward, noGrad } from "../src/engine/autograd.ts";
import { backend, backendChoice, backendSummary, setBackend } from "../src/engine/backend.ts";
import { tensor, zeros } from "../src/engine/creation.ts";
import { type GemmArgs, gemm, gramLower, referenceGemm } from "../src/engine/kernels/gemm.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { loadNativeBlas, openblasCoreFor } from "../src/engine/native.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import { setThreads, threadCount } from "../src/engine/threads/settings.ts";
import { buildModel, type LayerSpec } from "../src/nn/spec.ts";
import { SGD } from "../src/optim/sgd.ts";
import { assertClose, randomValues } from "./helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "gradscope-native-"));
after(() => rmSync(work, { recursive: true, force: true }));

// Where no compiler or OpenBLAS built the addon, the native products cannot be tested; the
// fallback and error tests below run everywhere.
const loaded = loadNativeBlas();
const noNative = "error" in loaded ? `native backend unavailable: ${loaded.error}` : false;

/** Runs `body` on the native backend, then puts the backend asked for before back. */
function onNative(body: () => void): void {
  const before = backendChoice();
  setBackend("native");
  try {
    body();
  } finally {
    setBackend(before);
  }
}

// Sizes straddle BLAS's register tiles and cache blocks; (1, 1, 1) and K = 0 are the edges.
const sizes: Array<[number, number, number]> = [
  [1, 1, 1],
  [3, 5, 7],
  [13, 17, 300],
  [2, 3, 67],
  [33, 9, 5],
  [130, 70, 260],
  [4, 6, 0],
];

// Each matrix sits inside a wider one (leading dimension = its row length + pad), so the
// strides are exercised as conv2d's and the GEMM splits' sub-matrices use them.
function checkAgainstReference(m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number, pad: number): void {
  scope(() => {
    const [aRows, aCols] = transA ? [k, m] : [m, k];
    const [bRows, bCols] = transB ? [n, k] : [k, n];
    const a = tensor(randomValues(Math.max(1, aRows * (aCols + pad)), 1), [Math.max(1, aRows * (aCols + pad))]);
    const b = tensor(randomValues(Math.max(1, bRows * (bCols + pad)), 2), [Math.max(1, bRows * (bCols + pad))]);
    const c = randomValues(m * (n + pad), 3);
    const native = tensor(c, [m * (n + pad)]);
    const expected = tensor(c, [m * (n + pad)]);
    const args = { transA, transB, m, n, k, alpha, a: a.ptr, lda: aCols + pad, b: b.ptr, ldb: bCols + pad, beta, ldc: n + pad };
    gemm({ ...args, c: native.ptr });
    referenceGemm({ ...args, c: expected.ptr });
    assertClose(native.data, expected.data, 1e-4, 1e-4 * Math.sqrt(k + 1), `native gemm ${m}x${n}x${k} transA=${transA} transB=${transB} alpha=${alpha} beta=${beta} pad=${pad}`);
  });
}

// CI installs OpenBLAS's development files: there a failed build must not pass unnoticed as a
// quiet fall-back to WASM.
test("where a C compiler and OpenBLAS's headers are installed, npm ci built the native backend", (t) => {
  const buildable =
    spawnSync("cc", ["--version"]).status === 0 && ["/usr/include/cblas.h", "/usr/include/x86_64-linux-gnu/cblas.h", "/usr/include/aarch64-linux-gnu/cblas.h"].some(existsSync);
  if (!buildable) {
    t.skip("no C compiler or no OpenBLAS headers on this machine");
    return;
  }
  assert.equal(noNative, false, "the addon loads");
});

test("native GEMM matches the TypeScript reference for every transpose, odd sizes, strided matrices, alpha and beta", { skip: noNative }, () => {
  onNative(() => {
    for (const [m, n, k] of sizes) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          checkAgainstReference(m, n, k, transA, transB, 1, 0, 0);
          checkAgainstReference(m, n, k, transA, transB, 0.5, 1.5, 3);
        }
      }
    }
  });
});

test("native GEMM with beta = 0 overwrites C even when it holds NaN, as BLAS and the WASM kernel define it", { skip: noNative }, () => {
  onNative(() =>
    scope(() => {
      const a = tensor([1, 2, 3, 4], [2, 2]);
      const c = tensor([Number.NaN, Number.NaN, Number.NaN, Number.NaN], [2, 2]);
      gemm({ transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: a.ptr, lda: 2, b: a.ptr, ldb: 2, beta: 0, c: c.ptr, ldc: 2 });
      assert.deepEqual(c.toArray(), [7, 10, 15, 22]);
    }),
  );
});

test("the native Gram matrix's lower triangle matches X·Xᵀ", { skip: noNative }, () => {
  onNative(() =>
    scope(() => {
      const rows = 11;
      const length = 37;
      const x = tensor(randomValues(rows * length, 4), [rows, length]);
      const gram = zeros([rows, rows]);
      const expected = zeros([rows, rows]);
      gramLower(x.ptr, rows, length, gram.ptr);
      referenceGemm({ transA: false, transB: true, m: rows, n: rows, k: length, alpha: 1, a: x.ptr, lda: length, b: x.ptr, ldb: length, beta: 0, c: expected.ptr, ldc: rows });
      const lower = (values: Float32Array) => Array.from(values).filter((_, index) => index % rows <= Math.floor(index / rows));
      assertClose(lower(gram.data), lower(expected.data), 1e-5, 1e-4, "gram lower triangle");
    }),
  );
});

test("native products follow the engine memory when it grows, and refuse offsets outside it", { skip: noNative }, () => {
  onNative(() =>
    scope(() => {
      const a = tensor([1, 2, 3, 4], [2, 2]);
      const bytesBefore = engineMemory.memory.buffer.byteLength;
      // Larger than the memory is now: allocating it grows the memory (a new buffer object).
      const big = zeros([bytesBefore / 4 + 1024]);
      assert.ok(engineMemory.memory.buffer.byteLength > bytesBefore);
      gemm({ transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: a.ptr, lda: 2, b: a.ptr, ldb: 2, beta: 0, c: big.ptr + big.size * 4 - 16, ldc: 2 });
      assert.deepEqual(Array.from(big.data.subarray(big.size - 4)), [7, 10, 15, 22]);
      const end = engineMemory.memory.buffer.byteLength;
      const outside: GemmArgs = { transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: a.ptr, lda: 2, b: a.ptr, ldb: 2, beta: 0, c: end - 8, ldc: 2 };
      assert.throws(() => gemm(outside), /sgemm: a matrix reaches outside the engine memory/);
      assert.throws(() => gemm({ ...outside, c: big.ptr, lda: 1 }), /sgemm: a leading dimension is smaller than its matrix's row/);
    }),
  );
});

// OpenBLAS's own threading gave A·Bᵀ at 128x1000x784 different bits at 1 and 2 threads; the
// addon's shape-only panel grid must not.
test("native products are the same bits at 1, 2 and 3 threads (GEMM in every transpose, and the Gram matrix)", { skip: noNative }, () => {
  const threadsBefore = threadCount();
  onNative(() =>
    scope(() => {
      const [m, n, k] = [128, 1000, 784];
      const a = tensor(randomValues(m * k, 5), [m * k]);
      const b = tensor(randomValues(k * n, 6), [k * n]);
      const x = tensor(randomValues(300 * 200, 7), [300, 200]);
      const products = (threads: number) => {
        setThreads(threads);
        const results: number[][] = [];
        for (const [transA, transB] of [
          [false, false],
          [false, true],
          [true, false],
          [true, true],
        ]) {
          const c = zeros([m, n]);
          gemm({ transA, transB, m, n, k, alpha: 1, a: a.ptr, lda: transA ? m : k, b: b.ptr, ldb: transB ? k : n, beta: 0, c: c.ptr, ldc: n });
          results.push(c.toArray());
        }
        const gram = zeros([300, 300]);
        gramLower(x.ptr, 300, 200, gram.ptr);
        results.push(gram.toArray().filter((_, index) => index % 300 <= Math.floor(index / 300)));
        return results;
      };
      const one = products(1);
      assert.deepEqual(products(1), one, "run to run");
      assert.deepEqual(products(2), one, "2 threads");
      assert.deepEqual(products(3), one, "3 threads");
    }),
  );
  setThreads(threadsBefore);
});

// Batch 128: the MLP's first layer (128x256x784) and the CNN's chunked convolutions split into
// several panels, so a thread count that changed a bit would show.
test("an MLP's and a CNN's weights after SGD steps on the native backend are the same bits at 1, 2 and 3 threads", { skip: noNative }, () => {
  const threadsBefore = threadCount();
  const trained = (spec: LayerSpec[], inputShape: number[], threads: number) =>
    scope(() => {
      setThreads(threads);
      const batch = 128;
      const size = inputShape.reduce((a, b) => a * b, 1);
      const inputs = tensor(randomValues(batch * size, 8), [batch, ...inputShape]);
      const labels = tensor(
        Array.from({ length: batch }, (_, i) => (i * 7) % 10),
        [batch],
        "int32",
      );
      const { model } = buildModel({ layers: spec }, inputShape, 3);
      const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
      for (let step = 0; step < 3; step++) {
        scope(() => {
          optimizer.zeroGrad();
          backward(mean(crossEntropy(model.forward(inputs), labels)));
          noGrad(() => optimizer.step());
        });
      }
      const weights = model.parameters().map((p) => p.toArray());
      optimizer.zeroGrad();
      optimizer.dispose();
      model.dispose();
      return weights;
    });
  onNative(() => {
    for (const [spec, inputShape] of [
      [mlpSpec, [784]],
      [cnnSpec, [1, 28, 28]],
    ] as Array<[LayerSpec[], number[]]>) {
      const one = trained(spec, inputShape, 1);
      assert.deepEqual(trained(spec, inputShape, 2), one, "2 threads");
      assert.deepEqual(trained(spec, inputShape, 3), one, "3 threads");
    }
  });
  setThreads(threadsBefore);
});

test("a CPU that OpenBLAS does not know gets the kernels its vector flags allow", () => {
  assert.equal(openblasCoreFor(new Set(["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"])), "SkylakeX");
  assert.equal(openblasCoreFor(new Set(["avx", "avx2", "fma", "avx512f"])), "Haswell");
  assert.equal(openblasCoreFor(new Set(["avx"])), "Sandybridge");
  assert.equal(openblasCoreFor(new Set(["sse4_2"])), undefined);
});

test("setBackend chooses the backend and refuses a name that is not one", () => {
  const before = backendChoice();
  setBackend("wasm");
  assert.equal(backend(), "wasm");
  assert.match(backendSummary(), /^engine: WASM \((relaxed-)?simd\), \d+ threads?$/);
  assert.throws(() => setBackend("blas" as never), /setBackend\(choice\) must be one of auto, wasm, native, got "blas"/);
  assert.equal(backend(), "wasm", "a refused choice leaves the previous one");
  setBackend("auto");
  assert.equal(backend(), noNative ? "wasm" : "native");
  setBackend(before);
});

// A fresh process, since the addon is loaded once per process: the CLI's main() from the sources,
// through a runner file (worker threads inherit the process's flags, which an -e program is not).
const runner = join(work, "gradscope.mjs");
writeFileSync(runner, `import { main } from ${JSON.stringify(new URL("../src/cli/main.ts", import.meta.url).href)};\nprocess.exitCode = await main(process.argv.slice(2));\n`);
function gradscope(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, ["--import", import.meta.resolve("tsx"), runner, ...args], {
    cwd: work,
    encoding: "utf8",
    env: { ...process.env, GRADSCOPE_BACKEND: "", GRADSCOPE_NATIVE_ADDON: "", ...env },
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
const missingAddon = { GRADSCOPE_NATIVE_ADDON: join(work, "no-such-addon.node") };

test("gradscope info names the backend, SIMD build, threads, CPU and versions, as text and as JSON", () => {
  const text = gradscope(["info"], { GRADSCOPE_THREADS: "1" });
  assert.equal(text.status, 0, text.stderr);
  for (const row of [
    /^gradscope +\d+\.\d+\.\d+$/m,
    /^node +v\d+/m,
    /^backend +(wasm|native) \(auto asked for\)/m,
    /^simd +(relaxed-simd|simd)$/m,
    /^threads +1 \(\d+ available\)$/m,
    /^cpu +\S/m,
  ]) {
    assert.match(text.stdout, row);
  }
  assert.match(text.stdout, noNative ? /^openblas +not loaded$/m : /^openblas +OpenBLAS \d+\.\d+\.\d+ .*\(\w+ kernels\)$/m);
  const json = JSON.parse(gradscope(["info", "--json"], { GRADSCOPE_BACKEND: "wasm" }).stdout);
  assert.equal(json.backend, "wasm");
  assert.equal(json.backendChoice, "wasm");
  assert.equal(json.simd, engineMemory.flavor);
  assert.equal(typeof json.cpu.model, "string");
  assert.equal(json.node, process.version);
  if (!noNative) assert.match(json.openblas.config, /^OpenBLAS /);
});

test("without the addon, auto falls back to WASM and says why, and native is a clear error", () => {
  const info = JSON.parse(gradscope(["info", "--json"], missingAddon).stdout);
  assert.equal(info.backend, "wasm");
  assert.match(info.nativeError, /the native addon is not built \(no .*no-such-addon\.node; `npm run build:native` builds it/);
  assert.equal(info.openblas, null);
  const text = gradscope(["info"], missingAddon).stdout;
  assert.match(text, /^backend +wasm \(auto asked for\); native not loaded: the native addon is not built/m);
  const asked = gradscope(["info"], { ...missingAddon, GRADSCOPE_BACKEND: "native" });
  assert.match(asked.stdout, /^backend +none: native was asked for, and the native addon is not built/m);
  const wrong = gradscope(["info"], { GRADSCOPE_BACKEND: "gpu" });
  assert.notEqual(wrong.status, 0);
  assert.match(wrong.stderr, /GRADSCOPE_BACKEND must be one of auto, wasm, native, got "gpu"/);
});

test("train says which backend it runs on; engine.backend native without the addon is a config error naming the field", () => {
  const config = join(work, "tiny.yaml");
  writeFileSync(
    config,
    `seed: 1
model: { arch: mlp, hidden: [8], classes: 2 }
data: { source: spirals, samples: 80, batch_size: 20 }
training: { epochs: 1, runs_dir: runs }
optimizer: { name: sgd, lr: 0.1 }
store: { enabled: false }
`,
  );
  const fallback = gradscope(["train", "-c", config, "-q", "--threads", "1"], missingAddon);
  assert.equal(fallback.status, 0, fallback.stderr);
  assert.match(fallback.stdout, /^engine: WASM \((relaxed-)?simd\), 1 thread; native not loaded: the native addon is not built/m);
  const refused = gradscope(["train", "-c", config, "-q", "--backend", "native"], missingAddon);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /override "engine\.backend=native": engine\.backend: the native backend \(asked for by engine\.backend\) cannot run: the native addon is not built/);
  const inFile = join(work, "native.yaml");
  writeFileSync(inFile, "extends: tiny.yaml\nengine: { backend: native }\n");
  const refusedInFile = gradscope(["train", "-c", inFile, "-q"], missingAddon);
  assert.equal(refusedInFile.status, 2);
  assert.match(refusedInFile.stderr, /native\.yaml:2:\d+: engine\.backend: the native backend \(asked for by engine\.backend\) cannot run/);
  const wasm = gradscope(["train", "-c", config, "-q", "engine.backend=wasm"]);
  assert.match(wasm.stdout, /^engine: WASM /m);
  const badFlag = gradscope(["train", "-c", config, "--backend", "cuda"]);
  assert.equal(badFlag.status, 2);
  assert.match(badFlag.stderr, /--backend <name>.*expected one of auto, wasm, native, got "cuda"/);
  if (!noNative) assert.match(gradscope(["train", "-c", config, "-q", "--backend", "native"]).stdout, /^engine: native BLAS \(OpenBLAS \d/m);
});

test("the install script never fails: without a compiler it prints one line and exits 0, and no addon is left", () => {
  // A copy of the package's native sources, as npm unpacks them, so the real build is untouched.
  const copy = join(work, "package");
  for (const path of ["native/binding.gyp", "native/gradscope_blas.c", "scripts/build-native.mjs"]) cpSync(join(root, path), join(copy, path));
  const result = spawnSync(process.execPath, [join(copy, "scripts", "build-native.mjs")], { cwd: copy, encoding: "utf8", env: { ...process.env, PATH: "" }, timeout: 120_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^gradscope: native BLAS backend not built \(.+\); the engine runs on WASM\n$/);
  assert.equal(existsSync(join(copy, "native", "build", "Release", "gradscope_blas.node")), false);
  const strict = spawnSync(process.execPath, [join(copy, "scripts", "build-native.mjs"), "--strict"], {
    cwd: copy,
    encoding: "utf8",
    env: { ...process.env, PATH: "" },
    timeout: 120_000,
  });
  assert.equal(strict.status, 1, "npm run build:native fails loudly");
});
