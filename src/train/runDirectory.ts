import { existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { stringify } from "yaml";
import { createFolder, writeFileAtomic } from "./files.ts";

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

// Room for the "-yyyymmdd-hhmmss-N" a run id adds, within the 255 bytes of a file name.
const MAX_RUN_NAME = 200;

/**
 * A run name as directory names take it: every run of other characters becomes one "-"; no
 * leading "-" or "." (an id "-abs-…" reads as an option to `gradscope runs show`, "..-…" and
 * ".-…" as hidden folders), at most MAX_RUN_NAME characters, and "run" when nothing is left.
 */
export function safeRunName(name: string): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^[-.]+/, "")
      .slice(0, MAX_RUN_NAME) || "run"
  );
}
