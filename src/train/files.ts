import { accessSync, closeSync, constants, existsSync, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";

/**
 * Writes `bytes` so that `path` is always either the old file or the complete new one: a temp
 * file in the same folder, fsync, rename, then fsync of the folder.
 */
export function writeFileAtomic(path: string, bytes: Buffer | string): void {
  const temporary = `${path}.tmp-${process.pid}`;
  const fd = openSync(temporary, "w");
  try {
    writeSync(fd, typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(temporary, path);
  } catch (error) {
    if (existsSync(temporary)) unlinkSync(temporary);
    throw error;
  }
  try {
    const directory = openSync(dirname(path), "r");
    fsyncSync(directory);
    closeSync(directory);
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is still atomic.
  }
}

// The nearest folder (or file) on the way from `folder` to the root that exists, and the
// missing folders below it, outermost first.
function existingAncestor(folder: string): { existing: string; missing: string[] } {
  const missing: string[] = [];
  let existing = resolve(folder);
  while (!existsSync(existing) && dirname(existing) !== existing) {
    missing.unshift(existing);
    existing = dirname(existing);
  }
  return { existing, missing };
}

/**
 * Why `folder` cannot be used or created (a file stands where it or one of its parents would
 * be), or null: a check before anything is created.
 */
export function folderProblem(folder: string): string | null {
  const { existing } = existingAncestor(folder);
  return statSync(existing).isDirectory() ? null : `${existing} is not a folder`;
}

/**
 * Creates a folder and its missing parents, one level at a time: Node's
 * recursive mkdir spins forever where mkdir answers ENOENT below an existing folder (under
 * /proc, for one). Throws naming the folder and why it cannot be made.
 */
export function createFolder(folder: string): void {
  const problem = folderProblem(folder);
  if (problem) throw new Error(`gradscope: cannot create the folder ${folder}: ${problem}`);
  for (const path of existingAncestor(folder).missing) {
    try {
      mkdirSync(path);
    } catch (error) {
      throw new Error(`gradscope: cannot create the folder ${folder}: ${(error as Error).message}`);
    }
  }
}

/**
 * Creates `folder` if need be and checks that this process may write in it: why not, or null. A
 * long-lived process (a sweep worker) checks its folders at its start, not at its first trial.
 */
export function writableFolderProblem(folder: string): string | null {
  try {
    createFolder(folder);
    accessSync(folder, constants.W_OK);
    return null;
  } catch (error) {
    return (error as Error).message.replace(/^gradscope: /, "");
  }
}
