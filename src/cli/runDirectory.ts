import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { stringify } from "yaml";
import { createFolder, writeFileAtomic } from "../train/files.ts";
import { UsageError } from "./usageError.ts";

const stamp = (date: Date) => date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);

/**
 * A free run directory `runsDir/<name>-<yyyymmdd-hhmmss>`, with a numeric suffix when that
 * directory exists or `taken(id)` says its id is used (e.g. in the run store). Not created:
 * `claimRunDirectory` does that once the run is known to start.
 */
export function freeRunDirectory(runsDir: string, name: string, taken: (id: string) => boolean = () => false): string {
  const base = join(runsDir, `${name}-${stamp(new Date())}`);
  let directory = base;
  for (let n = 2; existsSync(directory) || taken(basename(directory)); n++) directory = `${base}-${n}`;
  return directory;
}

/**
 * Creates the run directory (with its checkpoints folder) and writes the resolved config into it
 * as config.yaml. The directory itself is created atomically: when another run created it first
 * (two runs of one name in one second), nothing is written and the result is false.
 */
export function claimRunDirectory(directory: string, resolvedConfig: unknown): boolean {
  createFolder(dirname(directory));
  try {
    mkdirSync(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  mkdirSync(join(directory, "checkpoints"));
  writeFileAtomic(join(directory, "config.yaml"), stringify(resolvedConfig));
  return true;
}

/** The run's name: the config's `name`, else the first config file's base name. */
export function runName(configName: string | undefined, files: string[]): string {
  const raw = configName ?? basename(files[0] ?? "run", extname(files[0] ?? ""));
  return raw.replace(/[^A-Za-z0-9._-]+/g, "-");
}

/** The saved config of an existing run directory, checked to exist. */
export function runConfigFile(directory: string): string {
  const file = join(directory, "config.yaml");
  if (!existsSync(file)) throw new UsageError(`gradscope: ${directory} is not a run directory (no config.yaml)`);
  readFileSync(file, "utf8");
  return file;
}
