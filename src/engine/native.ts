import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { GemmArgs } from "./kernels/gemm.ts";
import { engineMemory } from "./memory.ts";
import { packageFile } from "./packageFiles.ts";
import { threadCount } from "./threads/settings.ts";

/** What native/gradscope_blas.c exports. */
interface BlasAddon {
  attach(view: Uint8Array): void;
  sgemm(...args: number[]): void;
  gramLower(x: number, rows: number, length: number, c: number): void;
  setThreads(count: number): void;
  info(): { config: string; core: string; threads: number };
}

/** The BLAS library behind the native backend, as it describes itself. */
export interface BlasInfo {
  /** OpenBLAS's build line, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH ...". */
  config: string;
  /** The kernel family OpenBLAS runs, e.g. "SkylakeX". */
  core: string;
  /** Threads the addon runs a product's panels on (OpenBLAS itself runs single-threaded). */
  threads: number;
}

/** The addon's path: GRADSCOPE_NATIVE_ADDON if set, else where `npm run build:native` puts it. */
export function nativeAddonPath(): string {
  const override = process.env.GRADSCOPE_NATIVE_ADDON;
  return override !== undefined && override !== "" ? override : packageFile(import.meta.url, 1, "native/build/Release/gradscope_blas.node");
}

/**
 * The kernel family to ask OpenBLAS for, from the CPU's flags (Linux). OpenBLAS picks its kernels
 * by CPU model, and a model newer than the library (Debian 12's 0.3.21 on a 2023 Xeon) falls back
 * to its SSE3 "Prescott" kernels: 4.6 against 42 GFLOP/s for SkylakeX's on GEMM 1024³, measured
 * on this project's CI machine. The flags say which vector kernels the CPU can run.
 */
export function openblasCoreFor(cpuFlags: ReadonlySet<string>): string | undefined {
  if (["avx512f", "avx512bw", "avx512dq", "avx512vl"].every((flag) => cpuFlags.has(flag))) return "SkylakeX";
  if (cpuFlags.has("avx2") && cpuFlags.has("fma")) return "Haswell";
  if (cpuFlags.has("avx")) return "Sandybridge";
  return undefined;
}

function cpuFlags(): Set<string> {
  try {
    const line = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return new Set(line ? line[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * The native BLAS products, in place on the engine's memory: byte offsets as the WASM kernels
 * take them, no copies. The addon holds the memory's address; it is handed over again whenever
 * the memory has grown (a shared memory grows in place, but its buffer object and length change).
 */
export class NativeBlas {
  private attached: ArrayBufferLike | null = null;
  private threads = 0;

  constructor(private readonly addon: BlasAddon) {}

  // Before each product: the current memory, and the engine's thread count for the addon's panel
  // threads (native/gradscope_blas.c; the WASM pool stays idle during a native product).
  private prepare(): void {
    const buffer = engineMemory.memory.buffer;
    if (buffer !== this.attached) {
      this.addon.attach(new Uint8Array(buffer));
      this.attached = buffer;
    }
    const threads = threadCount();
    if (threads !== this.threads) {
      this.addon.setThreads(threads);
      this.threads = threads;
    }
  }

  /** C = alpha·op(A)·op(B) + beta·C (cblas_sgemm, row-major). */
  gemm(args: GemmArgs): void {
    this.prepare();
    const { transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc } = args;
    this.addon.sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  /** The lower triangle of X·Xᵀ, by row panels of sgemm (the upper triangle is scratch). */
  gramLower(x: number, rows: number, length: number, c: number): void {
    this.prepare();
    this.addon.gramLower(x, rows, length, c);
  }

  /** The BLAS library's own description, with the threads it now runs on. */
  info(): BlasInfo {
    this.prepare();
    return this.addon.info();
  }
}

let loaded: NativeBlas | { error: string } | undefined;

/**
 * Loads the native addon once: the BLAS products, or why they are not available (not built,
 * or the library failed to load). Never throws.
 */
export function loadNativeBlas(): NativeBlas | { error: string } {
  if (loaded) return loaded;
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    loaded = { error: `the native addon is not built (no ${path}; \`npm run build:native\` builds it where a C compiler and OpenBLAS are installed)` };
    return loaded;
  }
  // OpenBLAS reads OPENBLAS_CORETYPE once, when the library loads; a user's own setting wins.
  const core = process.env.OPENBLAS_CORETYPE === undefined && process.platform === "linux" ? openblasCoreFor(cpuFlags()) : undefined;
  if (core) process.env.OPENBLAS_CORETYPE = core;
  try {
    loaded = new NativeBlas(createRequire(import.meta.url)(path) as BlasAddon);
  } catch (error) {
    loaded = { error: `loading ${path} failed: ${(error as Error).message.split("\n")[0]}` };
  } finally {
    if (core) delete process.env.OPENBLAS_CORETYPE;
  }
  return loaded;
}
