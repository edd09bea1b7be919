import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../src/cli/main.ts";
import { DataLoader } from "../src/data/loader.ts";
import { spirals } from "../src/data/synthetic.ts";
import { Random } from "../src/engine/random.ts";
import { Tanh } from "../src/nn/activations.ts";
import { Sequential } from "../src/nn/containers.ts";
import { Linear } from "../src/nn/layers.ts";
import { valuesByStep } from "../src/store/export.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { scalarEvent, tfRecord } from "../src/store/tfevents.ts";
import { TfEventsFile } from "../src/store/tfeventsFile.ts";
import type { Callback } from "../src/train/callback.ts";
import { TensorBoardLogger } from "../src/train/callbacks/tensorboardLogger.ts";
import { Learner } from "../src/train/learner.ts";
import { readEvents, type TfEvent } from "./tfeventsReader.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-tensorboard-"));
const file = (name: string, text: string) => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};

const spiralsConfig = file(
  "spirals.yaml",
  `name: tb
seed: 3
model: { arch: mlp, hidden: [12], activation: tanh, classes: 2 }
data: { source: spirals, samples: 200, batch_size: 20, validation: 0.1 }
training: { epochs: 2 }
optimizer: { name: sgd, lr: 0.2, momentum: 0.5 }
quantities: { grad_norm: true, alpha: true, grad_hist_1d: true, grad_hist_2d: true }
loggers: { csv: false, tensorboard: true }
`,
);

// `gradscope train -q` in this process, its error messages collected.
async function train(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(["train", "-q", ...args]), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const directoriesIn = (parent: string) => (existsSync(parent) ? readdirSync(parent).filter((name) => statSync(join(parent, name)).isDirectory()) : []);
const eventFiles = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.includes("tfevents"))
    .sort()
    .map((name) => join(dir, name));

// Every point as "tag@step", with the value a 32-bit float scalar holds.
type Points = Map<string, number>;

// What TensorBoard shows of a directory's files read in order: a SessionLog START at step s after
// the first one (which its plugin loader takes for the run's beginning) drops the earlier points
// at s and after; a point logged twice would show twice, so it fails here.
function shownScalars(events: TfEvent[]): Points {
  const points: Points = new Map();
  let started = false;
  for (const event of events) {
    if (event.sessionStatus === 1 && started) for (const key of points.keys()) if (Number(key.slice(key.lastIndexOf("@") + 1)) >= event.step) points.delete(key);
    started ||= event.sessionStatus === 1;
    for (const value of event.values) {
      if (value.simpleValue === undefined) continue;
      const key = `${value.tag}@${event.step}`;
      assert.ok(!points.has(key), `${key} is shown twice`);
      points.set(key, value.simpleValue);
    }
  }
  return points;
}

// The scalar points the store holds for a run as TensorBoard tags (lists by parameter name),
// without the system monitor's samples, which only the store gets.
function storedScalars(store: RunStore, runId: string): Points {
  const names = store.getRun(runId).parameters ?? [];
  const points: Points = new Map();
  for (const [step, values] of valuesByStep(store, runId)) {
    for (const [key, value] of Object.entries(values)) {
      if (key.startsWith("system/")) continue;
      const entries: Array<[string, number]> = typeof value === "number" ? [[key, value]] : Array.isArray(value) ? value.map((v, i) => [`${key}/${names[i]}`, v]) : [];
      // TensorBoard draws no NaN: the writer leaves non-finite values out.
      for (const [tag, v] of entries) if (Number.isFinite(v)) points.set(`${tag}@${step}`, Math.fround(v));
    }
  }
  return points;
}

const sorted = (points: Points) => [...points].sort((a, b) => (a[0] < b[0] ? -1 : 1));

test("a spirals run with loggers.tensorboard writes every scalar the store holds, its histograms and its config into a CRC-checked event file", async () => {
  const runs = join(folder, "runs");
  const { code, stderr } = await train(["-c", spiralsConfig, `training.runs_dir=${runs}`]);
  assert.equal(code, 0, stderr);
  const [runId] = directoriesIn(runs);
  const files = eventFiles(join(runs, runId, "tensorboard"));
  assert.equal(files.length, 1);
  assert.match(files[0], new RegExp(`events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/\W/g, "\\$&")}\\.`));
  const events = readEvents(files[0]);
  assert.equal(events[0].fileVersion, "brain.Event:2", "the version record first");
  assert.deepEqual([events[1].sessionStatus, events[1].step], [1, 0], "then the session's START");
  const store = new SqliteRunStore(join(runs, "gradscope.db"));
  try {
    const expected = storedScalars(store, runId);
    for (const key of ["train/loss@0", "train/lr@0", "epoch/val_accuracy@18", "quantities/Alpha@0", "quantities/GradNorm/0.weight@3"]) assert.ok(expected.has(key), key);
    assert.deepEqual(sorted(shownScalars(events)), sorted(expected));
    // Histograms: the 1-D ones as they are, the 2-D one as its two marginals, at the store's steps.
    const stored = [...valuesByStep(store, runId)].flatMap(([step, values]) =>
      Object.entries(values).flatMap(([key, value]) => {
        if (typeof value === "number" || Array.isArray(value)) return [];
        const counts = (value.hist as number[] | number[][]).flat();
        const total = counts.reduce((a, b) => a + b, 0);
        return Array.isArray(value.edges[0]) ? [`${key}/x@${step} ${total}`, `${key}/y@${step} ${total}`] : [`${key}@${step} ${total}`];
      }),
    );
    const written = events.flatMap((e) => e.values.flatMap((v) => (v.histo ? [`${v.tag}@${e.step} ${v.histo.num}`] : [])));
    assert.ok(stored.some((h) => h.startsWith("quantities/GradHist2d/x@0 ")) && stored.some((h) => h.startsWith("quantities/GradHist1d@0 ")));
    assert.deepEqual(written.sort(), stored.sort());
  } finally {
    store.close();
  }
  const [config] = events.flatMap((e) => e.values.filter((v) => v.tag === "config"));
  assert.equal(config.pluginName, "text");
  assert.equal(config.strings?.length, 1);
  // The saved config, as a Markdown code block (four spaces before each line).
  const saved = readFileSync(join(runs, runId, "config.yaml"), "utf8")
    .trimEnd()
    .split("\n");
  assert.deepEqual(
    config.strings?.[0].split("\n"),
    saved.map((line) => `    ${line}`),
  );
});

test("a resumed run appends a second file that TensorBoard merges: each point shown once, values logged after the checkpoint dropped, the last epoch's kept", async () => {
  const runs = join(folder, "resumed-runs");
  assert.equal((await train(["-c", spiralsConfig, `training.runs_dir=${runs}`, "training.epochs=1"])).code, 0);
  const [runId] = directoriesIn(runs);
  const dir = join(runs, runId, "tensorboard");
  const [first] = eventFiles(dir);
  // As if the process had gone on past its checkpoint (at step 9) and crashed: values that the
  // resumed run logs again, maybe differently.
  appendFileSync(first, Buffer.concat([9, 12].map((step) => tfRecord(scalarEvent(Date.now() / 1000, step, "train/loss", 99)))));
  const firstBytes = readFileSync(first);
  const resumed = await train(["--resume", join(runs, runId), "training.epochs=2"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const files = eventFiles(dir);
  assert.equal(files.length, 2, "a new file beside the first");
  assert.deepEqual(readFileSync(files[0]), firstBytes, "the first file is left as it was");
  const second = readEvents(files[1]);
  // Epoch 1 (9 batches) ended at step 9, where the checkpoint resumes: START there, then epoch 1's values again.
  assert.equal(second[0].fileVersion, "brain.Event:2");
  assert.deepEqual([second[1].sessionStatus, second[1].step], [1, 9]);
  assert.ok(second.some((e) => e.step === 9 && e.values.some((v) => v.tag === "epoch/val_loss")));
  const store = new SqliteRunStore(join(runs, "gradscope.db"));
  try {
    assert.deepEqual(sorted(shownScalars([...readEvents(files[0]), ...second])), sorted(storedScalars(store, runId)));
  } finally {
    store.close();
  }
});

// A Learner on spirals with the logger, and a callback that reads the event file at epoch 2 and
// stops the run in epoch 3 as Ctrl-C does.
test("the event file holds the records of the epochs done while the run goes on, and all of them once interrupted", async () => {
  const dir = join(folder, "boards");
  const seen: TfEvent[][] = [];
  const probe: Callback = {
    name: "probe",
    onEpochEnd(_trainer, logs) {
      if (logs.epoch === 2) seen.push(eventFiles(join(dir, directoriesIn(dir)[0])).flatMap(readEvents));
    },
    onBatchEnd(_trainer, logs) {
      if (logs.step === 20) learner.requestStop();
    },
  };
  const random = new Random(5);
  const learner = new Learner({
    model: new Sequential([new Linear(2, 12, { random }), Tanh(), new Linear(12, 2, { random })]),
    data: { train: new DataLoader(spirals(160, 0.1, 4), { batchSize: 20, shuffle: true, seed: 4 }) },
    loss: "cross_entropy",
    optimizer: { name: "sgd", lr: 0.3 },
    quantities: ["grad_norm"],
    runsDir: join(folder, "learner-runs"),
    store: false,
    tensorboard: { dir, flushSecs: 600 },
    callbacks: [probe],
  });
  const result = await learner.fit({ epochs: 3 });
  assert.equal(result.status, "interrupted");
  assert.equal(seen.length, 1);
  // The probe runs before the logger's own epoch end: epoch 1 (steps 0-7, its values at 8) is
  // written, although 600 s never passed; nothing of epoch 3 exists yet.
  const steps = (events: TfEvent[], tag: string) => events.flatMap((e) => (e.values.some((v) => v.tag === tag) ? [e.step] : []));
  assert.deepEqual(steps(seen[0], "epoch/loss"), [8]);
  assert.ok(steps(seen[0], "train/loss").includes(7));
  assert.ok(steps(seen[0], "quantities/GradNorm/0.weight").includes(7), "per-parameter lists by name");
  assert.ok(Math.max(...steps(seen[0], "train/loss")) < 16);
  // Interrupted after step 20: every value up to it is in the file (600 s never passed).
  const final = eventFiles(join(dir, result.runId)).flatMap(readEvents);
  assert.deepEqual(steps(final, "epoch/loss"), [8, 16]);
  assert.deepEqual(
    steps(final, "train/loss"),
    Array.from({ length: 21 }, (_, step) => step),
  );
  assert.deepEqual(steps(final, "quantities/GradNorm/2.bias").at(-1), 20);
  assert.match(final.flatMap((e) => e.values).find((v) => v.tag === "config")?.strings?.[0] ?? "", /^ {4}name: learner$/m);
});

test("the event file writes queued records once flushSecs passed, by its timer or at the next record, and at close", async () => {
  const dir = join(folder, "file");
  const events = new TfEventsFile(dir, 0.05);
  const recordsOnDisk = () => readEvents(events.path).length;
  assert.equal(recordsOnDisk(), 1, "the version record at once");
  events.append([scalarEvent(1, 0, "a", 1)]);
  assert.equal(recordsOnDisk(), 1, "a record waits");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(recordsOnDisk(), 2, "the timer wrote it");
  // While training keeps the event loop busy no timer runs: the next record writes both.
  events.append([scalarEvent(1, 1, "a", 2)]);
  for (const started = Date.now(); Date.now() - started < 100; );
  events.append([scalarEvent(1, 2, "a", 3)]);
  assert.equal(recordsOnDisk(), 4);
  events.append([scalarEvent(1, 3, "a", 4)]);
  events.close();
  assert.deepEqual(
    readEvents(events.path).flatMap((e) => e.values.map((v) => v.simpleValue)),
    [1, 2, 3, 4],
  );
  assert.throws(() => events.append([scalarEvent(1, 4, "a", 5)]), /event file .* is closed/);
  assert.equal(eventFiles(dir).length, 1);
});

test("bad loggers.tensorboard settings exit with 2 naming the field, and create nothing", async () => {
  const runs = join(folder, "refused-runs");
  const aFile = file("not-a-folder", "x\n");
  const cases: Array<[string, string, RegExp]> = [
    ["a negative flush_secs", "loggers.tensorboard={flush_secs: -1}", /loggers\.tensorboard\.flush_secs: .*(>0|positive|greater than 0)/i],
    [
      "a dir that is a file",
      `loggers.tensorboard={dir: ${aFile}}`,
      new RegExp(`loggers\\.tensorboard\\.dir: cannot hold event files in ${aFile}/[\\w.-]+: ${aFile} is not a folder`),
    ],
    ["an unknown key", "loggers.tensorboard={flush_sec: 1}", /loggers\.tensorboard.*flush_sec.*did you mean "flush_secs"/],
  ];
  for (const [what, override, message] of cases) {
    const { code, stderr } = await train(["-c", spiralsConfig, `training.runs_dir=${runs}`, override]);
    assert.equal(code, 2, what);
    assert.match(stderr, message, what);
    assert.deepEqual(directoriesIn(runs), [], `${what}: no run directory`);
  }
  assert.equal(readFileSync(aFile, "utf8"), "x\n");
  assert.throws(() => new TensorBoardLogger({ dir: join(folder, "lib"), flushSecs: -1 }), /TensorBoardLogger flushSecs: expected a positive number of seconds, got -1/);
  assert.throws(() => new TensorBoardLogger({ dir: join(aFile, "x") }), /TensorBoardLogger dir: cannot hold event files in .*not-a-folder\/x: .*not-a-folder is not a folder/);
  assert.ok(!existsSync(join(folder, "lib")));
});
