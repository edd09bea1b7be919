// The local sweep's floor (issue 24), a script rather than a test: the 16-trial random sweep of
// the spirals example (examples/sweep-spirals.yaml) on 2 local workers against the same trials one
// after another (1 worker), rounds alternated, each in a fresh folder through the CLI.
//   node --experimental-wasm-relaxed-simd --import tsx bench/sweepWorkers.ts [rounds]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { median } from "./timing.ts";

const rounds = Number(process.argv[2] ?? 3);
const root = fileURLToPath(new URL("..", import.meta.url));
const examples = join(root, "examples");
const cli = join(root, "bin", "gradscope.js");
// The example's trials, with their base given by absolute path so that the sweep runs anywhere.
const sweepFile = readFileSync(join(examples, "sweep-spirals.yaml"), "utf8").replace(/^base: .*$/m, `base: ${join(examples, "spirals.yaml")}`);

/** Seconds one sweep takes on `workers` local workers, in a folder of its own. */
function sweepSeconds(workers: number): number {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-bench-"));
  try {
    writeFileSync(join(folder, "sweep.yaml"), sweepFile);
    const started = performance.now();
    const result = spawnSync(process.execPath, [cli, "sweep", "-c", "sweep.yaml", "--workers", String(workers), "-q"], { cwd: folder, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`the sweep on ${workers} worker(s) failed (${result.status}): ${result.stderr}`);
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const one: number[] = [];
const two: number[] = [];
for (let round = 0; round < rounds; round++) {
  one.push(sweepSeconds(1));
  two.push(sweepSeconds(2));
}
const ratios = two.map((seconds, i) => seconds / one[i]);
console.log(`gradscope bench:sweep: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}`);
console.log(
  JSON.stringify(
    {
      oneWorkerSeconds: one.map((s) => +s.toFixed(1)),
      twoWorkersSeconds: two.map((s) => +s.toFixed(1)),
      ratios: ratios.map((r) => +r.toFixed(3)),
      medianRatio: +median(ratios).toFixed(3),
    },
    null,
    2,
  ),
);
