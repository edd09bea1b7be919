import { availableParallelism, cpus } from "node:os";
import { backend, backendChoice, nativeUnavailableReason } from "../engine/backend.ts";
import { engineMemory } from "../engine/memory.ts";
import { type BlasInfo, loadNativeBlas } from "../engine/native.ts";
import { threadCount } from "../engine/threads/settings.ts";

/** What `gradscope info` reports: where the engine runs and on what. */
export interface EngineInfo {
  gradscope: string;
  node: string;
  /** The backend in use, or null when the one asked for cannot run (see nativeError). */
  backend: "wasm" | "native" | null;
  /** What was asked for (GRADSCOPE_BACKEND, else auto). */
  backendChoice: string;
  /** Why the native backend is not available, or null when it is. */
  nativeError: string | null;
  /** The WASM kernel build: relaxed-simd (FMA) or simd. */
  simd: string;
  threads: number;
  cpu: { model: string; cores: number };
  /** The BLAS library behind the native backend, when it loaded. */
  openblas: BlasInfo | null;
}

/** Collects the engine's setup (loading the native addon if it was not loaded yet). */
export function engineInfo(version: string): EngineInfo {
  const nativeError = nativeUnavailableReason();
  let active: EngineInfo["backend"];
  try {
    active = backend();
  } catch {
    active = null;
  }
  const native = loadNativeBlas();
  return {
    gradscope: version,
    node: process.version,
    backend: active,
    backendChoice: backendChoice(),
    nativeError,
    simd: engineMemory.flavor,
    threads: threadCount(),
    cpu: { model: cpus()[0]?.model.trim() ?? "unknown", cores: availableParallelism() },
    openblas: "error" in native ? null : native.info(),
  };
}

/** `gradscope info` as aligned lines. */
export function engineInfoText(info: EngineInfo): string {
  const backendLine =
    info.backend === null
      ? `none: ${info.backendChoice} was asked for, and ${info.nativeError}`
      : `${info.backend} (${info.backendChoice} asked for)${info.backend === "wasm" && info.nativeError ? `; native not loaded: ${info.nativeError}` : ""}`;
  const rows: Array<[string, string]> = [
    ["gradscope", info.gradscope],
    ["node", info.node],
    ["backend", backendLine],
    ["simd", info.simd],
    ["threads", `${info.threads} (${info.cpu.cores} available)`],
    ["cpu", info.cpu.model],
    ["openblas", info.openblas ? `${info.openblas.config} (${info.openblas.core} kernels)` : "not loaded"],
  ];
  return rows.map(([name, value]) => `${name.padEnd(10)} ${value}`).join("\n");
}
