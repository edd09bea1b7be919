import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { stringify } from "yaml";
import { writeFileAtomic } from "../train/checkpoint.ts";
import { UsageError } from "./usageError.ts";

const stamp = (date: Date) => date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);

/**
 * Creates `runsDir/<name>-<yyyymmdd-hhmmss>` (with a numeric suffix if taken) and writes the
 * resolved config into it as config.yaml.
 */
export function createRunDirectory(runsDir: string, name: string, resolvedConfig: unknown): string {
  const base = join(runsDir, `${name}-${stamp(new Date())}`);
  let directory = base;
  for (let n = 2; existsSync(directory); n++) directory = `${base}-${n}`;
  mkdirSync(join(directory, "checkpoints"), { recursive: true });
  writeFileAtomic(join(directory, "config.yaml"), stringify(resolvedConfig));
  return directory;
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
