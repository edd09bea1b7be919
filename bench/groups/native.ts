// Native BLAS against WASM in the same run (issue 22's native floors). The native backend brings
// bench/native.ts, which exports its group as `nativeGroup` (a BenchGroup whose `unavailable` says
// why, when the addon did not load); without that module the group is a line saying it is skipped.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { BenchGroup } from "../registry.ts";

const nativeModule = new URL("../native.ts", import.meta.url);

export const nativeGroup: BenchGroup = existsSync(fileURLToPath(nativeModule))
  ? ((await import(nativeModule.href)) as { nativeGroup: BenchGroup }).nativeGroup
  : { name: "native", unavailable: () => "no native backend in this build (bench/native.ts would bring its rows)", rows: [] };
