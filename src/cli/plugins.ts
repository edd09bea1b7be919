import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ConfigError } from "../config/load.ts";

/**
 * Imports the modules given with `--plugin`, in order, before the config is loaded: a plug-in
 * registers its quantities (`registerQuantity` from gradscope) as it is imported, and configs
 * may then name them. Paths are relative to the working directory.
 */
export async function loadPlugins(paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const file = resolve(path);
    if (!existsSync(file)) throw new ConfigError(`--plugin ${path}: file not found (${file})`);
    try {
      await import(pathToFileURL(file).href);
    } catch (error) {
      throw new Error(`gradscope: --plugin ${path}: ${(error as Error).message.replace(/^gradscope: /, "")}`);
    }
  }
}
