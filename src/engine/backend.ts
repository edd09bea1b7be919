import { type BackendChoice, backendChoices } from "./backendChoices.ts";
import { engineMemory } from "./memory.ts";
import { loadNativeBlas, type NativeBlas } from "./native.ts";
import { threadCount } from "./threads/settings.ts";

export { type BackendChoice, backendChoices } from "./backendChoices.ts";

/** The backend GEMM-shaped work runs on. */
export type Backend = "wasm" | "native";

let chosen: { choice: BackendChoice; source: string } | undefined;
// The resolved backend's native products (null: WASM), cached because every GEMM asks.
let resolved: { native: NativeBlas | null } | undefined;

function parseBackend(value: unknown, source: string): BackendChoice {
  if (typeof value === "string" && (backendChoices as readonly string[]).includes(value)) return value as BackendChoice;
  throw new RangeError(`gradscope: ${source} must be one of ${backendChoices.join(", ")}, got ${JSON.stringify(value)}`);
}

/** The backend asked for: set by `setBackend`, else GRADSCOPE_BACKEND, else `auto`. */
export function backendChoice(): BackendChoice {
  if (chosen === undefined) {
    const fromEnvironment = process.env.GRADSCOPE_BACKEND;
    chosen =
      fromEnvironment === undefined || fromEnvironment === ""
        ? { choice: "auto", source: "the default" }
        : { choice: parseBackend(fromEnvironment, "GRADSCOPE_BACKEND"), source: `GRADSCOPE_BACKEND=${fromEnvironment}` };
  }
  return chosen.choice;
}

/**
 * Forgets the backend chosen so far: the next use reads GRADSCOPE_BACKEND again, as in a new
 * process (a sweep's trial host, between trials whose configs choose differently).
 */
export function resetBackend(): void {
  chosen = undefined;
  resolved = undefined;
}

/** Why the native backend is not available, or null when it is. Loads the addon (once). */
export function nativeUnavailableReason(): string | null {
  const native = loadNativeBlas();
  return "error" in native ? native.error : null;
}

function resolve(): { native: NativeBlas | null } {
  if (!resolved) resolved = { native: resolveNative() };
  return resolved;
}

function resolveNative(): NativeBlas | null {
  const choice = backendChoice();
  if (choice === "wasm") return null;
  const native = loadNativeBlas();
  if (!("error" in native)) return native;
  if (choice === "native") throw new Error(`gradscope: the native backend (asked for by ${chosen?.source}) cannot run: ${native.error}`);
  return null;
}

/**
 * Chooses where GEMM-shaped work (matrix products, convolutions as im2col + GEMM, Gram matrices)
 * runs: `wasm`, `native` (a system BLAS through the optional addon; throws, naming the reason,
 * when it cannot load) or `auto` (native when it loaded, else WASM). Every other kernel runs in
 * WASM on either. Native results are the same bits at any thread count, as WASM's are, and close
 * to WASM's but not the same bits.
 */
export function setBackend(choice: BackendChoice): void {
  chooseBackend(choice, `setBackend("${choice}")`, "setBackend(choice)");
}

/**
 * setBackend for a named source (`source` names who asked, `field` what was wrong if the choice
 * is not one): an unusable choice throws and leaves the previous one in force.
 */
export function chooseBackend(choice: unknown, source: string, field = source): void {
  const previous = chosen;
  chosen = { choice: parseBackend(choice, field), source };
  resolved = undefined;
  try {
    resolve();
  } catch (error) {
    chosen = previous;
    throw error;
  }
}

/** The backend GEMM-shaped work runs on now (resolving `auto`); throws if `native` was asked for and cannot load. */
export function backend(): Backend {
  return resolve().native ? "native" : "wasm";
}

/** The native products when the native backend is in use, else null (gemm.ts's one switch). */
export function activeNativeBlas(): NativeBlas | null {
  return resolve().native;
}

/** One line for the start of a run: which backend, on how many threads, and why not native. */
export function backendSummary(): string {
  const native = activeNativeBlas();
  const threads = `${threadCount()} thread${threadCount() === 1 ? "" : "s"}`;
  if (native) {
    const blas = native.info();
    return `engine: native BLAS (${blas.config.split(" ").slice(0, 2).join(" ")}, ${blas.core} kernels), ${threads}`;
  }
  const why = backendChoice() === "auto" ? `; native not loaded: ${nativeUnavailableReason()}` : "";
  return `engine: WASM (${engineMemory.flavor}), ${threads}${why}`;
}
