import { existsSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { safeRunName } from "../train/runDirectory.ts";
import { UsageError } from "./usageError.ts";

/** The run's name: the config's `name`, else the first config file's base name. */
export function runName(configName: string | undefined, files: string[]): string {
  const raw = configName ?? basename(files[0] ?? "run", extname(files[0] ?? ""));
  return safeRunName(raw);
}

/** The saved config of an existing run directory, checked to exist. */
export function runConfigFile(directory: string): string {
  const file = join(directory, "config.yaml");
  if (!existsSync(file)) throw new UsageError(`gradscope: ${directory} is not a run directory (no config.yaml)`);
  readFileSync(file, "utf8");
  return file;
}
