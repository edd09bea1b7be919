import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as source from "../src/index.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const fixtures = join(root, "test", "package");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { dependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), "gradscope-package-"));
const consumer = join(work, "consumer");

// What the README's library section promises a user of `import ... from "gradscope"`.
const promised = [
  // engine and nn
  ...["Tensor", "tensor", "zeros", "parameter", "scope", "keep", "backward", "noGrad", "matmul", "crossEntropy", "mean", "relu", "backwardWithExtensions", "perSampleLosses"],
  ...["Module", "Linear", "Conv2d", "BatchNorm", "LayerNorm", "Embedding", "Dropout", "Sequential", "Residual", "ReLU", "Flatten", "buildModel"],
  // optimizers and schedulers
  ...["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "LARS", "createOptimizer", "clipGradNorm", "clipGradValue", "GradientAccumulation"],
  ...["LRScheduler", "StepLR", "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau", "SequentialLR", "createScheduler"],
  // data and metrics
  ...["ArrayDataset", "DataLoader", "loadCsv", "readIdx", "fashionMnistSample", "blobs", "splitDataset", "normalize", "Accuracy", "ConfusionMatrix", "createMetric"],
  // the Trainer and callbacks
  ...["Trainer", "EarlyStopping", "ModelCheckpoint", "CsvLogger", "JsonlLogger", "ProgressLogger", "NanGuard", "QuantityLogger", "StoreLogger", "SystemMonitor"],
  ...["StoreStopWatcher", "TensorBoardLogger", "saveCheckpoint", "loadCheckpoint"],
  // every quantity, the tracker, configurations and schedules
  ...["Alpha", "CABS", "Distance", "EarlyStoppingCriterion", "GradHist1d", "GradHist2d", "GradNorm", "GradientNoiseScale", "HessMaxEV", "HessTrace", "InnerTest"],
  ...["Loss", "MeanGSNR", "NormTest", "OrthoTest", "TICDiag", "TICTrace", "Time", "UpdateSize", "ScheduledQuantity", "StabilizedQuantity"],
  ...["QuantityTracker", "collectQuantityValues", "createQuantities", "quantityNames", "configurations", "every", "logarithmic", "atSteps"],
  ...["registerQuantity", "defineQuantity", "quantityDefinitions"],
  // config, the run store and the dashboard
  ...["loadConfig", "buildData", "buildTraining", "ConfigError", "SqliteRunStore", "openRunStore", "valuesByStep", "toJsonl", "toCsv", "writeTfEvents", "serveDashboard"],
];
// Test oracles and internal helpers.
const internal = [
  "closestName",
  "referenceRelu",
  "referenceActivations",
  "referenceBinary",
  "mergeRequests",
  "fitQuadratic",
  "isDefaultSgd",
  "writeFileAtomic",
  "argmaxRow",
  "startDashboard",
];

let installed: { names: string[] } & Record<string, unknown>;

before(() => {
  assert.ok(existsSync(join(root, "dist", "src", "index.js")), "dist/ is missing: npm test builds it first (alone: npm run build:ts)");
  // The build already made dist/ and build/ (npm test, npm ci), so packing skips `prepare`.
  const packed = JSON.parse(execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8" })) as Array<{
    filename: string;
  }>;
  // No network here: the runtime dependencies are the repository's own, linked in beforehand,
  // so that npm installs only the tarball.
  mkdirSync(join(consumer, "node_modules"), { recursive: true });
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  const link = (dependency: string) => symlinkSync(realpathSync(join(root, "node_modules", dependency)), join(consumer, "node_modules", dependency), "dir");
  for (const dependency of Object.keys(manifest.dependencies)) link(dependency);
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", join(work, packed[0].filename)], { cwd: consumer, stdio: "pipe" });
  // Node's types for the type check, linked after the install (which drops what it did not install).
  mkdirSync(join(consumer, "node_modules", "@types"));
  link("@types/node");
  for (const file of ["consumer.mjs", "types.mts"]) copyFileSync(join(fixtures, file), join(consumer, file));
  // A plain `node`, as a user runs it: the package turns on what the engine needs itself.
  const output = execFileSync(process.execPath, ["consumer.mjs", join(work, "runs.db")], { cwd: consumer, encoding: "utf8" });
  installed = JSON.parse(output);
});

after(() => rmSync(work, { recursive: true, force: true }));

test("the installed package exports what src/index.ts does, everything the library promises, and no internal helper", () => {
  assert.deepEqual(installed.names, Object.keys(source).sort());
  assert.deepEqual(
    promised.filter((name) => !installed.names.includes(name)),
    [],
  );
  assert.deepEqual(
    internal.filter((name) => installed.names.includes(name)),
    [],
  );
  assert.equal(installed.names.filter((name) => name.startsWith("reference")).length, 0);
});

test("from the installed package a run trains with the economy quantities into the store, whose dashboard serves the page and its assets", () => {
  assert.equal(installed.status, "completed");
  assert.equal(installed.steps, 8, "2 epochs of 64 samples in batches of 16");
  assert.deepEqual(installed.heard, ["Alpha", "Distance", "GradHist1d", "GradNorm", "InnerTest", "Loss", "NormTest", "OrthoTest", "UpdateSize"]);
  const keys = installed.storedKeys as { scalars: string[]; lists: string[]; histograms: string[] };
  assert.deepEqual(
    keys.lists.filter((key) => key.startsWith("quantities/")),
    ["quantities/Distance", "quantities/GradNorm", "quantities/UpdateSize"],
  );
  assert.deepEqual(keys.histograms, ["quantities/GradHist1d"]);
  assert.ok(keys.scalars.includes("quantities/NormTest") && keys.scalars.includes("train/loss"), keys.scalars.join(", "));
  const exported = installed.jsonlSteps as number[];
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7].filter((step) => !exported.includes(step)),
    [],
    "the JSONL export has every training step",
  );
  const dashboard = installed.dashboard as {
    port: number;
    page: { status: number; type: string };
    runs: { runs: Array<{ id: string; status: string }> };
    assets: Array<{ path: string; status: number }>;
  };
  assert.ok(dashboard.port > 0);
  assert.deepEqual(dashboard.page, { status: 200, type: "text/html; charset=utf-8" });
  assert.deepEqual(
    dashboard.runs.runs.map((run) => [run.id, run.status]),
    [["package-run", "completed"]],
  );
  assert.ok(dashboard.assets.length >= 5, JSON.stringify(dashboard.assets));
  assert.deepEqual(
    dashboard.assets.filter((asset) => asset.status !== 200),
    [],
  );
});

test("from the installed package a Learner trains a model of one's own with a per-sample loss of one's own and economy quantities, and its dashboard shows the run", () => {
  const learner = installed.learner as { status: string; dashboardRuns: Array<[boolean, string]>; quantities: string[] };
  assert.equal(learner.status, "completed");
  assert.deepEqual(learner.dashboardRuns, [[true, "completed"]]);
  assert.deepEqual(learner.quantities, ["quantities/Alpha", "quantities/InnerTest", "quantities/Loss", "quantities/NormTest", "quantities/OrthoTest"]);
});

test("a TypeScript user's code type-checks against the installed declarations, and internal names and deep imports do not", () => {
  // Without skipLibCheck: the declarations a user's code reaches name no type of a package the
  // user may not have installed (SqliteRunStore keeps its better-sqlite3 handle private, and its
  // reader is an interface of the package's own).
  const options = { module: "nodenext", moduleResolution: "nodenext", target: "es2022", strict: true, noEmit: true, skipLibCheck: false, types: ["node"] };
  writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({ compilerOptions: options, files: ["types.mts"] }));
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const result = (() => {
    try {
      return { status: 0, output: execFileSync(process.execPath, [tsc, "-p", consumer], { encoding: "utf8" }) };
    } catch (error) {
      return { status: (error as { status: number }).status, output: String((error as { stdout: string }).stdout) };
    }
  })();
  assert.deepEqual(result, { status: 0, output: "" });
});

// The package's public surface as the compiler sees it: every name src/index.ts exports, each
// resolved to its declaration (built once for the TSDoc tests below).
let surface: { checker: ts.TypeChecker; exports: ts.Symbol[] } | undefined;
function publicSurface(): { checker: ts.TypeChecker; exports: ts.Symbol[] } {
  if (surface) return surface;
  const entry = join(root, "src", "index.ts");
  const program = ts.createProgram([entry], { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, allowImportingTsExtensions: true, noEmit: true });
  const checker = program.getTypeChecker();
  const exported = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry) as ts.SourceFile) as ts.Symbol);
  surface = { checker, exports: exported.map((symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol)) };
  return surface;
}

const hasDoc = (checker: ts.TypeChecker, symbol: ts.Symbol | undefined) => symbol !== undefined && ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim() !== "";

test("every name exported from gradscope has TSDoc", () => {
  const { checker, exports } = publicSurface();
  assert.ok(exports.length > 250, `${exports.length} exports`);
  assert.deepEqual(
    exports.filter((symbol) => !hasDoc(checker, symbol)).map((symbol) => symbol.name),
    [],
  );
});

test("every field of an interface or object type exported from gradscope has TSDoc (what it is, its unit, its default, when it is absent)", () => {
  const { checker, exports } = publicSurface();
  // Undocumented field declarations, each named once as Type.field (Type.field.inner for a
  // field of a nested object type, Type.method(argument).field for one of an argument's).
  const undocumented = new Map<ts.Node, string>();
  const fields = new Set<ts.Node>();
  const check = (member: ts.TypeElement, name: string) => {
    if ((!ts.isPropertySignature(member) && !ts.isMethodSignature(member)) || fields.has(member)) return;
    fields.add(member);
    if (!hasDoc(checker, checker.getSymbolAtLocation(member.name))) undocumented.set(member, name);
  };
  const visit = (node: ts.Node, path: string): void => {
    if (!ts.isInterfaceDeclaration(node) && !ts.isTypeLiteralNode(node)) {
      ts.forEachChild(node, (child) => visit(child, path));
      return;
    }
    for (const member of node.members) {
      const name = `${path}.${member.name?.getText() ?? ""}`;
      check(member, name);
      if ((ts.isPropertySignature(member) || ts.isMethodSignature(member)) && member.type) visit(member.type, name);
      if (ts.isMethodSignature(member)) for (const parameter of member.parameters) if (parameter.type) visit(parameter.type, `${name}(${parameter.name.getText()})`);
    }
  };
  const types = exports.filter((symbol) => symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias));
  for (const symbol of types) for (const declaration of symbol.declarations ?? []) visit(declaration, symbol.name);
  // Fields reached through the type rather than written in it: inherited from an unexported
  // base interface, or of the interfaces an exported union names (LayerRecord's variants).
  for (const symbol of types) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    for (const member of type.isUnion() ? type.types : [type]) {
      for (const property of checker.getPropertiesOfType(member)) {
        const declaration = property.declarations?.[0];
        if (!declaration || !(ts.isPropertySignature(declaration) || ts.isMethodSignature(declaration))) continue;
        const owner = ts.isInterfaceDeclaration(declaration.parent) ? declaration.parent.name.text : symbol.name;
        check(declaration, `${owner}.${property.name}`);
      }
    }
  }
  assert.ok(fields.size > 800, `${fields.size} fields`);
  assert.deepEqual([...new Set(undocumented.values())], [], "fields without TSDoc");
});

test("serveDashboard on this thread serves the store named by its path, on the port asked for, until closed", async () => {
  const path = join(work, "served.db");
  const store = new source.SqliteRunStore(path);
  store.createRun({ id: "served-run", name: "served", config: {} });
  store.close();
  const probe = await source.serveDashboard({ store: path, worker: false });
  const port = probe.port;
  await probe.close();
  const dashboard = await source.serveDashboard({ store: path, port, host: "127.0.0.1", worker: false });
  try {
    assert.equal(dashboard.port, port);
    assert.equal(dashboard.url, `http://127.0.0.1:${port}/`);
    const runs = (await (await fetch(new URL("/api/runs", dashboard.url))).json()) as { runs: Array<{ id: string }> };
    assert.deepEqual(
      runs.runs.map((run) => run.id),
      ["served-run"],
    );
  } finally {
    await dashboard.close();
  }
  await assert.rejects(fetch(new URL("/api/runs", dashboard.url)), /fetch failed/);
});
