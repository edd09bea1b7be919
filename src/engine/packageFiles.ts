import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * The path of a file shipped at the package root (build/, data/), from a module in src/ (run
 * through tsx) or in dist/src/ (compiled): `moduleUrl` is the caller's import.meta.url and
 * `depth` how many folders below src/ it sits.
 */
export function packageFile(moduleUrl: string, depth: number, relative: string): string {
  const up = "../".repeat(depth + 1);
  const fromSrc = fileURLToPath(new URL(`${up}${relative}`, moduleUrl));
  const fromDist = fileURLToPath(new URL(`${up}../${relative}`, moduleUrl));
  return existsSync(fromSrc) || !existsSync(fromDist) ? fromSrc : fromDist;
}
