// A quantity of the user's own: one definition given to registerQuantity, then named in YAML,
// through the library and through `gradscope train --plugin`, with no edit of gradscope's files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import * as z from "zod";
import {
  buildData,
  buildTraining,
  ConfigError,
  configJsonSchema,
  createQuantities,
  loadConfig,
  quantityDefinitions,
  type RunStore,
  registerQuantity,
  ScheduledQuantity,
  SqliteRunStore,
  serveDashboard,
  toCsv,
  toJsonl,
} from "../src/index.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "gradscope.js");
const folder = mkdtempSync(join(tmpdir(), "gradscope-plugins-"));
const file = (name: string, text: string) => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};

// The plug-in as a user writes it: `from "gradscope"` becomes the copy of gradscope that runs it
// (the library test's src through tsx, the CLI's compiled dist).
const plugin = (gradscope: string) => `import * as z from ${JSON.stringify(import.meta.resolve("zod"))};
import { registerQuantity, ScheduledQuantity } from ${JSON.stringify(gradscope)};

class ScaledLoss extends ScheduledQuantity {
  name = "ScaledLoss";
  constructor(schedule, scale) {
    super(schedule);
    this.scale = scale;
  }
  compute(step) {
    return this.scale * step.loss;
  }
}

registerQuantity({
  configName: "scaled_loss",
  name: "ScaledLoss",
  description: "the mini-batch loss times scale",
  options: { scale: z.number().positive().default(1).describe("the factor") },
  create: (options, schedule) => new ScaledLoss(schedule, options.scale),
});
`;

type JsonSchema = { type?: string; anyOf?: JsonSchema[]; properties?: Record<string, JsonSchema>; default?: unknown };
// The schema's one object among nested anyOf alternatives (the quantities map, an entry's options).
const objectIn = (schema: JsonSchema): JsonSchema | undefined => (schema.type === "object" ? schema : schema.anyOf?.map(objectIn).find(Boolean));
const quantitiesMap = (configSchema: unknown) => objectIn((configSchema as { properties: { quantities: JsonSchema } }).properties.quantities)?.properties ?? {};

const config = (quantities: string) =>
  `seed: 3
model: { arch: mlp, hidden: [8], classes: 2 }
data: { source: spirals, samples: 100, batch_size: 10, test_fraction: 0.2 }
training: { epochs: 1, runs_dir: ${JSON.stringify(join(folder, "runs"))} }
optimizer: { name: sgd, lr: 0.1 }
callbacks: { progress: { every: 1000 } }
quantities:
${quantities}
`;

// ScaledLoss must be `scale` × Cockpit's Loss (the same L_t) at every step it is due, and absent elsewhere.
function assertScaledLoss(store: RunStore, runId: string, scale: number, every: number): void {
  const loss = new Map(store.scalars(runId, "quantities/Loss").map((row) => [row.step, row.value as number]));
  const scaled = store.scalars(runId, "quantities/ScaledLoss");
  assert.deepEqual(
    scaled.map((row) => row.step),
    [...loss.keys()].filter((step) => step % every === 0),
  );
  for (const row of scaled) assert.equal(row.value, scale * (loss.get(row.step) as number), `step ${row.step}`);
}

await import(pathToFileURL(file("library-plugin.mjs", plugin(pathToFileURL(join(root, "src", "index.ts")).href))).href);

test("a quantity registered through the public API is accepted in YAML, stored as quantities/<name> and exported to JSONL and CSV", async () => {
  const loaded = loadConfig([file("library.yaml", config("  loss: true\n  scaled_loss: { every: 2, scale: 3 }"))]);
  assert.deepEqual((loaded.config.quantities as Record<string, unknown>).scaled_loss, { every: 2, scale: 3 });
  const store = new SqliteRunStore(join(folder, "library.db"));
  store.createRun({ id: "library-run", name: "library", config: loaded.raw });
  const setup = buildTraining(loaded, buildData(loaded), join(folder, "library-run"), undefined, { store, runId: "library-run" });
  await setup.trainer.fit(setup.data.train);
  store.flush();
  assertScaledLoss(store, "library-run", 3, 2);
  const scaled = store.scalars("library-run", "quantities/ScaledLoss");
  assert.ok(scaled.length > 2, `${scaled.length} values`);
  const lines = toJsonl(store, "library-run")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, number>);
  for (const row of scaled) assert.equal(lines.find((line) => line.step === row.step)?.["quantities/ScaledLoss"], row.value);
  const [header, ...rows] = toCsv(store, "library-run").trim().split("\n");
  const column = header.split(",").indexOf("quantities/ScaledLoss");
  assert.ok(column > 0, header);
  for (const row of scaled) assert.equal(Number(rows.find((r) => r.startsWith(`${row.step},`))?.split(",")[column]), row.value);
  store.close();
});

test("a registered quantity's config errors name file:line:col, the field, and a close name", () => {
  const expectError = (quantities: string, pattern: RegExp) =>
    assert.throws(
      () => loadConfig([file("bad.yaml", config(quantities))]),
      (error: Error) => error instanceof ConfigError && pattern.test(error.message),
    );
  expectError("  scaled_los: true", /bad.yaml:8:3: quantities.scaled_los: unknown key \(did you mean "scaled_loss"\?\)/);
  expectError("  scaled_loss: { scale: -1 }", /bad.yaml:8:25: quantities.scaled_loss.scale: Too small: expected number to be >0/);
  expectError(
    "  scaled_loss: { sacle: 2 }",
    /bad.yaml:8:18: quantities.scaled_loss.sacle: unknown key \(did you mean "scale"\?\); known: every, offset, logarithmic, steps, scale/,
  );
  assert.throws(() => createQuantities({ scaled_loss: { scale: "big" } }, 1), /quantity scaled_loss: scale: expected number, received string/);
});

test("registerQuantity refuses a taken config name or stored name, and a definition whose quantity has another name", () => {
  class Named extends ScheduledQuantity {
    constructor(readonly name: string) {
      super();
    }
  }
  const definition = (configName: string, name: string, created = name) => ({ configName, name, description: "test", options: {}, create: () => new Named(created) });
  assert.throws(() => registerQuantity(definition("scaled_loss", "Other")), /a quantity named "scaled_loss" is already registered/);
  assert.throws(() => registerQuantity(definition("my_loss", "Loss")), /quantity loss already stores its values under the name "Loss"/);
  assert.throws(() => registerQuantity(definition("MyLoss", "MyLoss")), /configName "MyLoss" must be snake_case/);
  registerQuantity(definition("misnamed", "Misnamed", "Something"));
  assert.throws(() => createQuantities({ misnamed: true }, 1), /quantity misnamed: create returned a quantity named "Something", not "Misnamed"/);
});

test("the config's JSON Schema lists every registered quantity with its options and their defaults, from the definitions", () => {
  const map = quantitiesMap(configJsonSchema());
  assert.ok("scaled_loss" in map);
  for (const definition of quantityDefinitions()) {
    const options = objectIn(map[definition.configName])?.properties ?? {};
    assert.deepEqual(Object.keys(options), ["every", "offset", "logarithmic", "steps", ...Object.keys(definition.options)], definition.configName);
    const defaults = z.strictObject(definition.options).parse({});
    for (const [option, value] of Object.entries(defaults)) assert.deepEqual(options[option].default, value, `${definition.configName}.${option}`);
  }
});

// The CLI runs the compiled dist/ (npm test builds it first); the plug-in imports the same copy.
const cliPlugin = file("plugin.mjs", plugin(pathToFileURL(join(root, "dist", "src", "index.js")).href));
const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder });

test("gradscope schema lists the built-in quantities' options, and a plug-in's with --plugin", () => {
  const quantitiesOf = (text: string) => quantitiesMap(JSON.parse(text));
  const builtIn = cli(["schema"]);
  assert.equal(builtIn.status, 0, builtIn.stderr);
  const names = Object.keys(quantitiesOf(builtIn.stdout));
  assert.ok(names.includes("grad_hist_1d") && !names.includes("scaled_loss"), names.join(", "));
  const withPlugin = cli(["schema", "--plugin", cliPlugin]);
  assert.equal(withPlugin.status, 0, withPlugin.stderr);
  assert.deepEqual(Object.keys(quantitiesOf(withPlugin.stdout)), [...names, "scaled_loss"]);
  assert.deepEqual(quantitiesOf(withPlugin.stdout).grad_hist_1d, quantitiesOf(builtIn.stdout).grad_hist_1d);
});

test("the quantity reference derives from the definitions: docs/quantities.md is gradscope quantities' table, and a plug-in's quantity joins it", () => {
  const builtIn = cli(["quantities"]);
  assert.equal(builtIn.status, 0, builtIn.stderr);
  const docs = readFileSync(join(root, "docs", "quantities.md"), "utf8");
  assert.ok(docs.endsWith(builtIn.stdout), "docs/quantities.md ends with the table `gradscope quantities` prints (regenerate it when a definition changes)");
  assert.match(builtIn.stdout, /\| `grad_hist_2d` \| GradHist2d \| .* \| `bins` \(\[40,50\]\), `range` \(\[\[-1,1\],\[-2,2\]\]\), `adapt` \|/);
  const withPlugin = cli(["quantities", "--plugin", cliPlugin, "--json"]);
  assert.equal(withPlugin.status, 0, withPlugin.stderr);
  const listed = JSON.parse(withPlugin.stdout) as Array<{ configName: string; name: string; options: Array<{ name: string; default?: unknown }> }>;
  assert.deepEqual(listed.at(-1), { configName: "scaled_loss", name: "ScaledLoss", description: "the mini-batch loss times scale", options: [{ name: "scale", default: 1 }] });
});

test("gradscope train --plugin trains with a plug-in's quantity from YAML; the store, the export and the dashboard's generic chart have it", { timeout: 120_000 }, async () => {
  const yaml = file("cli.yaml", config("  loss: true\n  scaled_loss: { scale: 2 }"));
  const without = cli(["train", "-q", "-c", yaml]);
  assert.equal(without.status, 2);
  assert.match(without.stderr, /cli.yaml:9:3: quantities.scaled_loss: unknown key/);
  const missing = cli(["train", "-q", "-c", yaml, "--plugin", "nowhere.mjs"]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--plugin nowhere.mjs: file not found/);

  const trained = cli(["train", "-q", "-c", yaml, "--plugin", cliPlugin]);
  assert.equal(trained.status, 0, trained.stderr);
  const storePath = join(folder, "runs", "gradscope.db");
  const store = new SqliteRunStore(storePath);
  const [run] = store.listRuns();
  assertScaledLoss(store, run.id, 2, 1);
  const steps = store.scalars(run.id, "quantities/ScaledLoss").length;
  const exported = cli(["export", run.id, "--format", "jsonl", "--out", folder, "--store", storePath]);
  assert.equal(exported.status, 0, exported.stderr);
  const exportedText = readFileSync(join(folder, `${run.id}.jsonl`), "utf8");
  assert.equal(exportedText, toJsonl(store, run.id));
  assert.match(exportedText, /"quantities\/ScaledLoss":/);
  store.close();

  const dashboard = await serveDashboard({ store: storePath, worker: false });
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  try {
    const page = await browser.newPage();
    await page.goto(`${dashboard.url}#run=${run.id}`);
    await page.waitForSelector("body[data-ready]");
    const panel = "other-quantities/ScaledLoss";
    await page.waitForFunction((p) => Number(document.querySelector<HTMLElement>(`[data-panel="${p}"]`)?.dataset.points ?? 0) > 0, panel, { timeout: 30_000 });
    assert.equal(await page.$eval(`[data-panel="${panel}"]`, (e) => Number((e as HTMLElement).dataset.points)), steps, "one point per step");
  } finally {
    await browser.close();
    await dashboard.close();
  }
});
