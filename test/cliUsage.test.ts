import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";

// The CLI as users run it: bin/gradscope.js on the compiled dist/ (npm test builds it first).
// Every run has a timeout, so that a hang fails the test instead of blocking the suite.
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "gradscope-cli-usage-"));
const timeout = 30_000;
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder, timeout });

// A store with two runs whose ids share the prefix "sweep-".
const storePath = join(folder, "runs", "gradscope.db");
mkdirSync(join(folder, "runs"));
const store = new SqliteRunStore(storePath);
for (const id of ["sweep-a", "sweep-b"]) {
  store.createRun({ id, name: id, config: { seed: 0 } });
  store.log(id, "train/loss", 1, 0.5);
  store.finishRun(id, "completed", null);
}
store.close();

const usageError = (args: string[], message: RegExp) => {
  const result = run(args);
  assert.equal(result.status, 2, `gradscope ${args.join(" ")}: exit ${result.status} (${result.signal ?? "no signal"}): ${result.stderr}`);
  assert.match(result.stderr, message, args.join(" "));
  assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
};

test("usage mistakes exit with 2 and say what is wrong: unknown or ambiguous run id, runs without id, unknown format, missing store", { timeout: 4 * timeout }, () => {
  usageError(["runs", "show", "nothing-like-it"], /no run "nothing-like-it" in runs\/gradscope.db/);
  usageError(["runs", "show", "sweep-"], /"sweep-" matches 2 runs \(sweep-a, sweep-b\); give more of the id/);
  usageError(["export", "sweep-", "--format", "csv"], /"sweep-" matches 2 runs/);
  usageError(["runs", "delete"], /runs delete needs a run id/);
  usageError(["runs", "frobnicate"], /'frobnicate' is invalid for argument 'action'. Allowed choices are list, show, delete/);
  usageError(["export", "sweep-a", "--format", "xml"], /argument 'xml' is invalid. Allowed choices are jsonl, csv, tfevents/);
  usageError(["runs", "--store", "elsewhere.db"], /no run store at elsewhere.db/);
  usageError(["ui", "--store", "elsewhere.db"], /no run store at elsewhere.db/);
  assert.equal(existsSync(join(folder, "elsewhere.db")), false, "a missing store is not created");
  writeFileSync(join(folder, "garbage.db"), "not a database, just text that is long enough to be read as a header".repeat(20));
  usageError(["runs", "--store", "garbage.db"], /garbage\.db/);
  usageError(["export", "sweep-a", "--format", "csv", "--store", "garbage.db"], /garbage\.db/);
  assert.equal(run(["runs", "show", "sweep-a"]).status, 0);
});

test("train and eval exit with 2 for a missing --resume directory, a folder given as -c, no config, a missing checkpoint", { timeout: 4 * timeout }, () => {
  usageError(["train", "--resume", "no-such-run"], /no-such-run is not a run directory \(no config.yaml\)/);
  usageError(["train", "-c", folder], new RegExp(`${folder}: is a directory; expected a YAML config file`));
  usageError(["train"], /train needs -c FILE \(or --resume RUN_DIR\)$/m);
  usageError(["train", "examples/spirals.yaml", "training.epochs=2"], /train needs -c FILE \(or --resume RUN_DIR\): gradscope train -c examples\/spirals\.yaml$/m);
  usageError(["eval", "-c", "any.yaml", "--checkpoint", "missing.gsckpt"], /eval --checkpoint missing.gsckpt: does not exist$/m);
  // A folder was read as a checkpoint: "EISDIR: illegal operation on a directory", exit 1.
  const spirals = fileURLToPath(new URL("../examples/spirals.yaml", import.meta.url));
  usageError(["eval", "-c", spirals, "--checkpoint", folder, "data.samples=100"], new RegExp(`checkpoint ${folder} is a folder; expected a \\.gsckpt file`));
});

test("export --out a folder that cannot be made fails at once naming it (Node's recursive mkdir spins forever under /proc)", { timeout: 2 * timeout }, () => {
  usageError(
    ["export", "sweep-a", "--format", "csv", "--out", "/proc/gradscope-nope"],
    /export --out \/proc\/gradscope-nope: cannot create the folder \/proc\/gradscope-nope: ENOENT/,
  );
  usageError(["export", "sweep-a", "--format", "jsonl", "--out", join(bin, "inside")], /cannot create the folder .*: .*gradscope.js is not a folder/);
  const made = run(["export", "sweep-a", "--format", "jsonl", "--out", join("exports", "nested")]);
  assert.equal(made.status, 0, made.stderr);
  assert.deepEqual(JSON.parse(readFileSync(join(folder, "exports", "nested", "sweep-a.jsonl"), "utf8")), { step: 1, "train/loss": 0.5 });
  // A folder where the export's file goes failed with "EISDIR: illegal operation on a directory", exit 1.
  mkdirSync(join(folder, "exports", "sweep-a.csv"));
  usageError(["export", "sweep-a", "--format", "csv", "--out", "exports"], /export --out exports: exports\/sweep-a\.csv is a folder; expected to write the export there/);
});

test("a runs folder, store or checkpoint folder that cannot be made fails at once, naming it, and creates no run", { timeout: 3 * timeout }, () => {
  const spirals = fileURLToPath(new URL("../examples/spirals.yaml", import.meta.url));
  usageError(["train", "-c", spirals, "-q", "training.runs_dir=/proc/gradscope-runs"], /cannot create the folder \/proc\/gradscope-runs: ENOENT[\s\S]*no run was created/);
  usageError(
    ["train", "-c", spirals, "-q", "store.path=/proc/gradscope-store/g.db"],
    /cannot open the run store \/proc\/gradscope-store\/g\.db: the folder \/proc\/gradscope-store does not exist; expected the path of a store file in an existing folder[\s\S]*no run was created/,
  );
  usageError(["train", "-c", spirals, "-q", `training.runs_dir=${join(bin, "runs")}`], /gradscope\.js is not a folder/);
});

test("a store path in a missing folder (--store, store.path) is refused, naming it, and the folder is not made; a resume into a store that does not exist makes none; the runs folder is made for a store in it", {
  timeout: 3 * timeout,
}, () => {
  const spirals = fileURLToPath(new URL("../examples/spirals.yaml", import.meta.url));
  const missing = join(folder, "no-such-folder", "deeper");
  const refused = `cannot open the run store ${missing}/g\\.db: the folder ${missing} does not exist; expected the path of a store file in an existing folder[\\s\\S]*no run was created`;
  usageError(["train", "-c", spirals, "-q", "--store", join(missing, "g.db")], new RegExp(refused));
  usageError(["train", "-c", spirals, "-q", `store.path=${join(missing, "g.db")}`], new RegExp(refused));
  assert.equal(existsSync(join(folder, "no-such-folder")), false, "no folder was made");
  // A resume into a store that does not exist: its run cannot be there, and no store file is made.
  const orphan = join(folder, "orphan-run");
  mkdirSync(orphan);
  writeFileSync(join(orphan, "config.yaml"), readFileSync(spirals));
  const elsewhere = join(folder, "elsewhere.db");
  usageError(
    ["train", "-q", "--resume", orphan, "--store", elsewhere],
    new RegExp(`run orphan-run is not in the run store ${elsewhere}: there is no such file[\\s\\S]*${orphan} is unchanged`),
  );
  assert.equal(existsSync(elsewhere), false, "no store file was made for the resume");
  const runsDir = join(folder, "made-runs", "nested");
  const trained = run(["train", "-c", spirals, "-q", "training.epochs=1", "data.samples=64", `training.runs_dir=${runsDir}`, `store.path=${join(runsDir, "own.db")}`]);
  assert.equal(trained.status, 0, trained.stderr);
  const made = new SqliteRunStore(join(runsDir, "own.db"));
  assert.equal(made.listRuns().length, 1);
  made.close();
});

test("gradscope --version prints the package's version", { timeout }, () => {
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  for (const flag of ["--version", "-V"]) {
    const result = run([flag]);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, `${version}\n`);
  }
});

test("a reader that closes the pipe early (gradscope runs | head -1) ends the command quietly with 0", { timeout }, async () => {
  const child = spawn(process.execPath, [bin, "runs"], { cwd: folder, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy(); // before the CLI has started, so that its first write meets a closed pipe
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
});

test("every command's help shows real defaults only (none for -c, --plugin, --threads, --backend), and eval and predict require -c", { timeout: 4 * timeout }, () => {
  for (const command of ["train", "eval", "predict", "quantities", "summary", "schema"]) {
    const help = run([command, "--help"]);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--plugin <module>|--config <file>/, command);
    assert.doesNotMatch(help.stdout, /\(default: \[\]\)/, `gradscope ${command} --help:\n${help.stdout}`);
  }
  usageError(["eval", "--checkpoint", "missing.gsckpt"], /required option '-c, --config <file>' not specified/);
  usageError(["predict", "--checkpoint", "missing.gsckpt", "--out", "out.csv"], /required option '-c, --config <file>' not specified/);
});

test("runs lists a run whose test results hold a confusion matrix (the confusion_matrix metric), with its numbers", { timeout }, () => {
  const path = join(folder, "matrix.db");
  const matrixStore = new SqliteRunStore(path);
  matrixStore.createRun({ id: "with-matrix", name: "with-matrix", config: {} });
  matrixStore.finishRun("with-matrix", "completed", {
    test: {
      test_loss: 0.25,
      test_accuracy: 0.75,
      test_confusion_matrix: [
        [3, 1],
        [0, 4],
      ],
    },
  });
  matrixStore.close();
  const result = run(["runs", "--store", path]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^with-matrix\s+completed .* test_loss 0\.2500 {2}test_accuracy 0\.7500\n$/);
});
