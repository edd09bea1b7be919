import { existsSync, statSync } from "node:fs";

/**
 * Refuses a data file (`what`: "CSV file", "IDX file") that cannot be read to its end, naming
 * it: a missing path, a folder, or a device (/dev/zero read on until memory ran out). A pipe is
 * read (`predict --input /dev/stdin`, `data.path=<(zcat train.csv.gz)`): it ends when its
 * writer closes it.
 */
export function checkDataFile(path: string, what: string): void {
  if (!existsSync(path)) throw new Error(`gradscope: ${what} ${path} does not exist`);
  const stats = statSync(path);
  if (stats.isDirectory()) throw new Error(`gradscope: ${what} ${path} is a folder; expected a file`);
  if (stats.isCharacterDevice() || stats.isBlockDevice()) throw new Error(`gradscope: ${what} ${path} is a device; expected a file or a pipe`);
}
