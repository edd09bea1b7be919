// `npm run reference -- refresh|check [SOURCE]`: keeps reference/, the repository's copy of the
// golden data, equal to the shared original (default ../shared/reference). The tests read the
// copy so that a clone passes on its own; `check` is the CI step that catches a stale copy.
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const copy = fileURLToPath(new URL("../reference", import.meta.url));
const [mode, sourceArgument] = process.argv.slice(2);
const source = resolve(sourceArgument ?? join(copy, "../../shared/reference"));

if (mode !== "refresh" && mode !== "check") {
  console.error(`usage: npm run reference -- refresh|check [SOURCE]; got "${mode ?? ""}"`);
  process.exit(2);
}
if (!existsSync(source)) {
  if (mode === "refresh" || sourceArgument !== undefined) {
    console.error(`reference: ${source} does not exist`);
    process.exit(2);
  }
  console.log(`reference: no original at ${source}; nothing to compare the copy against`);
  process.exit(0);
}

const originals = readdirSync(source).sort();
const copies = readdirSync(copy).sort();
if (mode === "refresh") {
  for (const name of copies) if (!originals.includes(name)) rmSync(join(copy, name));
  for (const name of originals) copyFileSync(join(source, name), join(copy, name));
  console.log(`reference: copied ${originals.length} files from ${source}`);
} else {
  const differing = originals.filter((name) => !copies.includes(name) || !readFileSync(join(source, name)).equals(readFileSync(join(copy, name))));
  const extra = copies.filter((name) => !originals.includes(name));
  for (const name of differing) console.error(`reference/${name} differs from ${join(source, name)}`);
  for (const name of extra) console.error(`reference/${name} is not in ${source}`);
  if (differing.length + extra.length > 0) {
    console.error("reference: the copy is stale; run `npm run reference -- refresh` and commit reference/");
    process.exit(1);
  }
  console.log(`reference: the ${originals.length} files equal ${source}`);
}
