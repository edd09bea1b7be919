// `npm run conformance [-- DIR]`: evaluates the golden cases in DIR (default reference/, the
// repository's copy of the golden data) and exits non-zero when any case exceeds its tolerance.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runConformance } from "../src/conformance/run.ts";

const directory = process.argv[2] === undefined ? fileURLToPath(new URL("../reference", import.meta.url)) : resolve(process.argv[2]);
const { results, uncoveredFiles } = runConformance(directory);
const format = (x: number) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
for (const r of results) {
  const line = `${r.file.padEnd(16)} ${r.name.padEnd(32)} max abs ${format(r.maxAbs).padStart(9)}  max rel ${format(r.maxRel).padStart(9)}  ${r.status}`;
  console.log(r.note ? `${line}  (${r.note})` : line);
  for (const f of r.failures) console.log(`    ${f.what}: ${f.detail ?? ""} (max abs ${format(f.maxAbs)})`);
}
for (const file of uncoveredFiles) console.log(`${file.padEnd(16)} (not covered yet)`);
const failed = results.filter((r) => r.status === "fail").length;
const passed = results.filter((r) => r.status === "pass").length;
const uncovered = results.filter((r) => r.status === "not covered").length;
console.log(`conformance: ${passed} passed, ${failed} failed, ${uncovered} cases and ${uncoveredFiles.length} files not covered (${directory})`);
process.exitCode = failed > 0 ? 1 : 0;
