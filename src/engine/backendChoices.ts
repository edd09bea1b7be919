/** The choices `engine.backend`, `--backend`, GRADSCOPE_BACKEND and `setBackend` accept. */
export const backendChoices = ["auto", "wasm", "native"] as const;

/** Where GEMM-shaped work runs: `auto` is native when the addon loaded, else WASM. */
export type BackendChoice = (typeof backendChoices)[number];
