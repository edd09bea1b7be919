import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";

/**
 * Why `--checkpoint PATH` names no file, with what the user probably meant: the checkpoints its
 * folder does hold and, for a `best.gsckpt`, that only a run whose `callbacks.checkpoint.monitor`
 * is set writes one (the README's commands name `best.gsckpt`, which a new user copies for any run).
 */
export function missingCheckpointMessage(path: string): string {
  const folder = dirname(path);
  const held =
    existsSync(folder) && statSync(folder).isDirectory()
      ? readdirSync(folder)
          .filter((name) => name.endsWith(".gsckpt"))
          .sort()
      : [];
  const notes: string[] = [];
  if (held.length > 0) notes.push(`its folder holds ${held.join(", ")}`);
  if (basename(path) === "best.gsckpt") notes.push("a run writes best.gsckpt only when its callbacks.checkpoint.monitor is set");
  return notes.length > 0 ? `does not exist (${notes.join("; ")})` : "does not exist";
}
