import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { loadCheckpoint } from "../src/train/checkpoint.ts";

// Real processes of the CLI as users run it (bin/gradscope.js on dist/, which npm test builds),
// killed and signalled at different points of their training.
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "gradscope-resume-"));
const config = join(folder, "chain.yaml");
writeFileSync(
  config,
  `name: chain
seed: 4
model: { arch: mlp, hidden: [16], activation: tanh, classes: 2 }
data: { source: spirals, samples: 4000, batch_size: 20, validation: 0.1 }
training: { epochs: 8, runs_dir: runs }
optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }
scheduler: { name: one_cycle, max_lr: 0.5, total_steps: 10000 }
quantities: { grad_norm: true, norm_test: true, grad_hist_1d: true, update_size: true, alpha: true }
callbacks: { progress: { every: 5 } }
`,
);

const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder });
const start = (args: string[]) => spawn(process.execPath, [bin, ...args], { cwd: folder });
const runsIn = (runsDir: string) =>
  readdirSync(join(folder, runsDir))
    .map((name) => join(folder, runsDir, name))
    .filter((path) => statSync(path).isDirectory());

/** Resolves with the exit code (or signal) once `child` has printed a match of `pattern` and `act` ran on it, then ended. */
function actAt(child: ChildProcess, pattern: RegExp, act: () => void): Promise<{ code: number | null; signal: string | null; stdout: string }> {
  let stdout = "";
  let acted = false;
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
    if (!acted && pattern.test(stdout)) {
      acted = true;
      act();
    }
  });
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout })));
}

// Values whose steps but not numbers are reproducible (timings), and values sampled by the clock
// (the machine's load, every 2 s), whose very steps depend on how fast the run went.
const timed = (key: string) => key === "epoch/epoch_seconds";
const sampledByClock = (key: string) => key.startsWith("system/");

/** Every (key, step, value) a store holds for its one run but the system samples, by table, in key and step order. */
function storedRows(storePath: string): Record<string, unknown[][]> {
  const db = new Database(storePath, { readonly: true });
  try {
    const rows = (table: string, columns: string) =>
      (db.prepare(`SELECT key, step, ${columns} FROM ${table} ORDER BY key, step`).raw().all() as unknown[][])
        .filter((row) => !sampledByClock(String(row[0])))
        .map((row) => (timed(String(row[0])) ? row.slice(0, 2) : row));
    return { scalars: rows("scalars", "value"), lists: rows("lists", "value"), histograms: rows("histograms", "edges, counts") };
  } finally {
    db.close();
  }
}

function storedRun(storePath: string): { status: string; config: string; events: Array<{ kind: string; message: string }> } {
  const db = new Database(storePath, { readonly: true });
  try {
    const run = db.prepare("SELECT id, status, config FROM runs").get() as { id: string; status: string; config: string };
    const events = db.prepare("SELECT kind, message FROM events WHERE run_id = ? ORDER BY wall_time, rowid").all(run.id) as Array<{ kind: string; message: string }>;
    return { status: run.status, config: run.config, events };
  } finally {
    db.close();
  }
}

test("a run killed with SIGKILL again and again and resumed each time ends with exactly the rows of an uninterrupted run", async () => {
  const straight = run(["train", "-q", "-c", config, "training.runs_dir=straight"]);
  assert.equal(straight.status, 0, straight.stderr);
  const expected = storedRows(join(folder, "straight", "gradscope.db"));
  assert.ok(expected.scalars.length > 1000 && expected.lists.length > 100 && expected.histograms.length > 100, "the run logged scalars, lists and histograms");
  // The two-step quantities, whose value at the step before each resume point the checkpoint must carry.
  assert.ok(expected.scalars.some(([key]) => key === "quantities/Alpha") && expected.lists.some(([key]) => key === "quantities/UpdateSize"), "the run logged Alpha and UpdateSize");
  // Kill points: inside an epoch, right after an epoch's checkpoint (where buffered rows used to
  // be lost), and inside a later epoch, each well before the end of training.
  const killAt = [/epoch 2\/8 {2}batch 10\//, /^epoch 3\/8 {2}(?!batch)/m, /epoch 5\/8 {2}batch 60\//];
  const first = start(["train", "-c", config, "training.runs_dir=killed"]);
  let ended = await actAt(first, killAt[0], () => first.kill("SIGKILL"));
  assert.equal(ended.signal, "SIGKILL", ended.stdout);
  const [directory] = runsIn("killed");
  for (const pattern of killAt.slice(1)) {
    const resumed = start(["train", "--resume", directory]);
    ended = await actAt(resumed, pattern, () => resumed.kill("SIGKILL"));
    assert.equal(ended.signal, "SIGKILL", `killed at ${pattern}: ${ended.stdout}`);
  }
  const last = run(["train", "--resume", directory]);
  assert.equal(last.status, 0, last.stderr);
  const storePath = join(folder, "killed", "gradscope.db");
  const actual = storedRows(storePath);
  for (const table of ["scalars", "lists", "histograms"]) assert.deepEqual(actual[table], expected[table], table);
  const stored = storedRun(storePath);
  assert.equal(stored.status, "completed");
  assert.deepEqual(
    stored.events.map((e) => e.kind),
    ["start", "crash", "resume", "crash", "resume", "crash", "resume"],
  );
});

test("a --resume that fails (an override that does not fit, a truncated checkpoint) changes nothing, and a plain --resume then works", () => {
  const done = run(["train", "-q", "-c", config, "training.runs_dir=finished", "training.epochs=1", "quantities=null"]);
  assert.equal(done.status, 0, done.stderr);
  const [directory] = runsIn("finished");
  const storePath = join(folder, "finished", "gradscope.db");
  const latest = join(directory, "checkpoints", "latest.gsckpt");
  const before = { config: readFileSync(join(directory, "config.yaml")), checkpoint: readFileSync(latest), run: storedRun(storePath) };
  const unchanged = (what: string) => {
    assert.deepEqual(readFileSync(join(directory, "config.yaml")), before.config, `${what}: config.yaml`);
    assert.deepEqual(storedRun(storePath), before.run, `${what}: the store's run`);
  };
  const wider = run(["train", "--resume", directory, "model.hidden=[32]"]);
  assert.equal(wider.status, 2, wider.stderr);
  assert.match(wider.stderr, new RegExp(`cannot resume ${directory} from checkpoints/latest.gsckpt: .*\\n\\(${directory} is unchanged\\)`));
  unchanged("an override that does not fit");
  truncateSync(latest, 100);
  const truncated = run(["train", "--resume", directory, "training.epochs=2"]);
  assert.equal(truncated.status, 2, truncated.stderr);
  assert.match(truncated.stderr, /checkpoint .*latest\.gsckpt is truncated/);
  unchanged("a truncated checkpoint");
  writeFileSync(latest, before.checkpoint);
  const resumed = run(["train", "--resume", directory, "training.epochs=2"]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /resuming .* at epoch 2, batch 0/);
  assert.equal(storedRun(storePath).status, "completed");
  assert.equal(loadCheckpoint(latest).trainer.position.epoch, 2);
});

test("SIGTERM stops like Ctrl-C: a checkpoint, an interrupted run, exit 143; the run resumes to the end", async () => {
  const child = start(["train", "-c", config, "training.runs_dir=terminated", "quantities=null", "training.epochs=20"]);
  const ended = await actAt(child, /epoch 2\/20 {2}batch 20\//, () => child.kill("SIGTERM"));
  assert.equal(ended.code, 143, ended.stdout);
  const stoppedAt = /interrupted at epoch (\d+), batch (\d+); checkpoint saved\. Resume with: gradscope train --resume /.exec(ended.stdout);
  assert.ok(stoppedAt, ended.stdout.slice(-300));
  const [directory] = runsIn("terminated");
  const storePath = join(folder, "terminated", "gradscope.db");
  const stopped = storedRun(storePath);
  assert.equal(stopped.status, "interrupted");
  assert.deepEqual(stopped.events.at(-1), { kind: "stop", message: "interrupted (SIGTERM)" });
  const position = loadCheckpoint(join(directory, "checkpoints", "latest.gsckpt")).trainer.position;
  assert.deepEqual([position.epoch + 1, position.batch], [Number(stoppedAt[1]), Number(stoppedAt[2])], "the checkpoint is of the step SIGTERM stopped at");
  const resumed = run(["train", "--resume", directory]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(storedRun(storePath).status, "completed");
});

test("a --resume inside an epoch with another batch size, data or seed is refused and changes nothing (it went on, skipping or repeating examples of that epoch)", async () => {
  // A signal that lands while an epoch ends (validation, its checkpoint) stops at the next epoch's
  // first batch, which any data may resume from: stop again until the stop is inside an epoch.
  const stopInsideAnEpoch = async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const runsDir = `changed-${attempt}`;
      const child = start(["train", "-c", config, `training.runs_dir=${runsDir}`, "training.epochs=3"]);
      const ended = await actAt(child, /epoch 1\/3 {2}batch 40\//, () => child.kill("SIGINT"));
      assert.equal(ended.code, 130, ended.stdout);
      const [directory] = runsIn(runsDir);
      const { epoch, batch } = loadCheckpoint(join(directory, "checkpoints", "latest.gsckpt")).trainer.position;
      if (batch > 0) return { directory, storePath: join(folder, runsDir, "gradscope.db"), epoch, batch };
    }
    assert.fail("five runs stopped by SIGINT at batch 40 of an epoch all stopped at an epoch's end");
  };
  const { directory, storePath, epoch, batch } = await stopInsideAnEpoch();
  const before = { config: readFileSync(join(directory, "config.yaml")), run: storedRun(storePath) };
  const cases: Array<[string, RegExp]> = [
    ["data.batch_size=7", /with batches of 20, now 7: the rest of the epoch would skip or repeat examples/],
    ["data.samples=3000", /with \d+ training examples, now \d+:/],
    ["seed=9", /with another example order \(the seed or shuffle changed\):/],
  ];
  for (const [override, message] of cases) {
    const refused = run(["train", "--resume", directory, override]);
    assert.equal(refused.status, 2, `${override}: ${refused.stderr}`);
    assert.match(refused.stderr, new RegExp(`cannot resume ${directory}: the checkpoint stopped inside epoch ${epoch + 1}, after batch ${batch}, `));
    assert.match(refused.stderr, message, override);
    assert.deepEqual(readFileSync(join(directory, "config.yaml")), before.config, `${override}: config.yaml`);
    assert.deepEqual(storedRun(storePath), before.run, `${override}: the store's run`);
  }
  const resumed = run(["train", "--resume", directory]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(storedRun(storePath).status, "completed");
});

test("a second Ctrl-C exits 130 at once and leaves the last checkpoint loadable; the run resumes from it", async () => {
  for (const [k, delayMs] of [0, 15, 60].entries()) {
    const runsDir = `twice-${k}`;
    const child = start(["train", "-c", config, `training.runs_dir=${runsDir}`, "quantities=null", "training.epochs=20"]);
    const ended = await actAt(child, /epoch 3\/20 {2}batch 40\//, () => {
      child.kill("SIGINT");
      setTimeout(() => child.kill("SIGINT"), delayMs);
    });
    // A second Ctrl-C that arrives once the run is recorded meets the default action of SIGINT,
    // which shells report as 130 too.
    assert.ok(ended.code === 130 || ended.signal === "SIGINT", `second SIGINT after ${delayMs} ms: exit ${ended.code}, signal ${ended.signal}: ${ended.stdout}`);
    const [directory] = runsIn(runsDir);
    const latest = join(directory, "checkpoints", "latest.gsckpt");
    assert.ok(existsSync(latest));
    const position = loadCheckpoint(latest).trainer.position;
    assert.ok(position.epoch >= 2, `after ${delayMs} ms: the checkpoint of epoch 2 or of the step Ctrl-C stopped at`);
    const storePath = join(folder, runsDir, "gradscope.db");
    assert.equal(storedRun(storePath).status, "interrupted");
    const resumed = run(["train", "--resume", directory]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`resuming .* at epoch ${position.epoch + 1}, batch ${position.batch}`));
  }
});
