// The local sweep's floor (issue 24), a script rather than a test: the 16-trial random sweep of
// the spirals example (examples/sweep-spirals.yaml) on 2 local workers against the same trials one
// after another, measured two ways: the sweep on 1 worker (one process trains them all) and each
// trial as a `gradscope train` of its own. Rounds are interleaved, each sweep in a fresh folder
// through the CLI. Two workers cannot beat the cores the machine gives both at once, so that is
// measured too, before and after (independent GEMMs on 2 threads against one alone).
//   node --experimental-wasm-relaxed-simd --import tsx bench/sweepWorkers.ts [rounds]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openSweepStore } from "../src/store/sweeps.ts";
import { parameterOverrides } from "../src/sweep/spec.ts";
import { coresAvailable } from "./groups/threads.ts";
import { median } from "./timing.ts";

const rounds = Number(process.argv[2] ?? 3);
const root = fileURLToPath(new URL("..", import.meta.url));
const examples = join(root, "examples");
const cli = join(root, "bin", "gradscope.js");
const baseFile = join(examples, "spirals.yaml");
// The example's trials, with their base given by absolute path so that the sweep runs anywhere.
const sweepFile = readFileSync(join(examples, "sweep-spirals.yaml"), "utf8").replace(/^base: .*$/m, `base: ${baseFile}`);

function gradscope(args: string[], folder: string): void {
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: folder, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`gradscope ${args.join(" ")} failed (${result.status}): ${result.stderr}`);
}

/** Seconds one sweep takes on `workers` local workers, and its trials' parameters. */
function sweepSeconds(workers: number): { seconds: number; trials: Array<Record<string, unknown>> } {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-bench-"));
  try {
    writeFileSync(join(folder, "sweep.yaml"), sweepFile);
    const started = performance.now();
    gradscope(["sweep", "-c", "sweep.yaml", "--workers", String(workers), "-q"], folder);
    const seconds = (performance.now() - started) / 1000;
    const store = openSweepStore(join(folder, "runs", "gradscope.db"));
    try {
      const [sweep] = store.listSweeps();
      return { seconds, trials: store.trials(sweep.id).map((trial) => trial.params) };
    } finally {
      store.close();
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

/** Seconds the same trials take as `gradscope train` runs one after another, in a folder of their own. */
function separateRunsSeconds(trials: Array<Record<string, unknown>>): number {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-sweep-bench-"));
  try {
    const started = performance.now();
    for (const params of trials) gradscope(["train", "-c", baseFile, "-q", ...parameterOverrides(params)], folder);
    return (performance.now() - started) / 1000;
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

const coresBefore = coresAvailable(2);
const one: number[] = [];
const two: number[] = [];
const separate: number[] = [];
for (let round = 0; round < rounds; round++) {
  const oneWorker = sweepSeconds(1);
  one.push(oneWorker.seconds);
  two.push(sweepSeconds(2).seconds);
  separate.push(separateRunsSeconds(oneWorker.trials));
}
const coresAfter = coresAvailable(2);
const seconds = (values: number[]) => values.map((s) => +s.toFixed(1));
const ratios = (baseline: number[]) => two.map((s, i) => +(s / baseline[i]).toFixed(3));
console.log(`gradscope bench:sweep: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}`);
console.log(
  JSON.stringify(
    {
      coresAvailable: { before: +coresBefore.toFixed(2), after: +coresAfter.toFixed(2) },
      oneWorkerSeconds: seconds(one),
      twoWorkersSeconds: seconds(two),
      separateRunsSeconds: seconds(separate),
      ratiosToOneWorker: ratios(one),
      ratiosToSeparateRuns: ratios(separate),
      medianRatioToOneWorker: +median(ratios(one)).toFixed(3),
      medianRatioToSeparateRuns: +median(ratios(separate)).toFixed(3),
    },
    null,
    2,
  ),
);
