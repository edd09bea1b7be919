// Compiles assembly/ twice: a plain SIMD build, and a relaxed-SIMD build (FMA) that the engine
// picks at run time when WebAssembly.validate accepts it.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const asc = join(root, "node_modules", ".bin", "asc");
mkdirSync(join(root, "build"), { recursive: true });

// The engine's memory, imported and shared (which needs its maximum and the threads feature), so
// that worker threads instantiate the same kernels on it (src/engine/threads/).
const memory = ["--importMemory", "--initialMemory", "1", "--maximumMemory", "65536", "--sharedMemory", "--enable", "threads"];
const common = ["assembly/index.ts", "-O3", "--noAssert", "--runtime", "stub", ...memory, "--enable", "simd"];
const builds = [
  { file: "gradscope.simd.wasm", extra: [] },
  { file: "gradscope.relaxed.wasm", extra: ["--enable", "relaxed-simd"] },
];
for (const { file, extra } of builds) {
  execFileSync(asc, [...common, ...extra, "--outFile", join("build", file)], { cwd: root, stdio: "inherit" });
}
