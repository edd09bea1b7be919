import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import type * as z from "zod";
import { applicableConfig } from "../src/config/applicable.ts";
import { buildData, buildTraining } from "../src/config/build.ts";
import { ConfigError, loadConfig } from "../src/config/load.ts";
import { configJsonSchema, configSchema, quantitiesSchema } from "../src/config/schema.ts";
import { architectureNames } from "../src/nn/spec.ts";
import { createQuantities, quantityNames } from "../src/quantities/index.ts";
import { configurations } from "../src/quantities/registry.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-config-"));
const file = (name: string, text: string) => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};

const base = file(
  "base.yaml",
  `seed: 3
model: { arch: mlp, hidden: [8], classes: 2 }
data:
  source: spirals
  samples: 200
training:
  epochs: 2
optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }
`,
);

test("extends, repeated files and overrides merge in order; defaults fill the rest", () => {
  const child = file("child.yaml", "extends: base.yaml\ntraining:\n  epochs: 4\ndata:\n  batch_size: 16\n");
  const extra = file("extra.yaml", "optimizer: { lr: 0.05 }\n");
  const { config, locate } = loadConfig([child, extra], ["training.epochs=7", "data.transforms=[{type: flatten}]"]);
  assert.equal(config.seed, 3);
  assert.equal(config.training.epochs, 7);
  assert.equal(config.data.batch_size, 16);
  assert.deepEqual(config.optimizer, { name: "sgd", lr: 0.05, momentum: 0.9 });
  assert.equal(config.data.eval_batch_size, 1000);
  assert.equal(locate(["optimizer", "momentum"]), `${base}:8:44`); // the value 0.9 in base.yaml
  assert.equal(locate(["training", "epochs"]), 'command-line override "training.epochs=7"');
  // Swapping the optimizer replaces its options instead of merging SGD's momentum into Adam.
  assert.deepEqual(loadConfig([base], ["optimizer={name: adam}"]).config.optimizer, { name: "adam" });
});

test("options set on a quantities configuration name go onto the quantities it names; a later name replaces a map", () => {
  const tweaked = loadConfig([base], ["quantities=business", "quantities.grad_hist_1d.per_parameter=true", "quantities.hess_trace.every=4"]);
  // The config fills in the options' defaults; what was written (raw) keeps only the merge.
  assert.deepEqual((tweaked.config.quantities as Record<string, unknown>).grad_hist_1d, { per_parameter: true, bins: 100, range: [-2, 2] });
  assert.deepEqual(tweaked.raw.quantities, {
    ...Object.fromEntries(configurations.business.map((name) => [name, true])),
    grad_hist_1d: { per_parameter: true },
    hess_trace: { every: 4 },
  });
  const fromFile = file("tweak.yaml", "extends: base.yaml\nquantities: economy\n");
  assert.deepEqual(Object.keys(loadConfig([fromFile], ["quantities.alpha=false"]).config.quantities as object).sort(), [...configurations.economy].sort());
  assert.equal((loadConfig([fromFile], ["quantities.alpha=false"]).config.quantities as Record<string, unknown>).alpha, false);
  assert.equal(loadConfig([base], ["quantities={loss: true}", "quantities=full"]).config.quantities, "full");
  assert.throws(
    () => loadConfig([base], ["quantities=ful", "quantities.loss=true"]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /^quantities: unknown quantities configuration "ful" \(did you mean "full"\?\)/);
      return true;
    },
  );
});

test("quantities errors name the quantity's field, its place and a close name (several at once were 'quantities: Invalid input')", () => {
  const bad = file(
    "quantities.yaml",
    "extends: base.yaml\nquantities:\n  norm_tset: true\n  hess_trace: { curvature: diag_x }\n  grad_hist_1d: { rnage: [0, 1], bins: 0 }\n  alpha: 3\n",
  );
  assert.throws(
    () => loadConfig([bad]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`${bad}:3:3: quantities.norm_tset: unknown key \\(did you mean "norm_test"\\?\\)`));
      assert.match(
        error.message,
        new RegExp(`${bad}:4:28: quantities.hess_trace.curvature: got "diag_x" \\(did you mean "diag_h"\\?\\); expected one of diag_h, diag_ggn_exact, diag_ggn_mc`),
      );
      assert.match(
        error.message,
        new RegExp(`${bad}:5:19: quantities.grad_hist_1d.rnage: unknown key \\(did you mean "range"\\?\\); known: every, offset, logarithmic, steps, bins, range`),
      );
      assert.match(error.message, new RegExp(`${bad}:5:40: quantities.grad_hist_1d.bins: Too small`));
      assert.match(error.message, new RegExp(`${bad}:6:10: quantities.alpha: got 3; expected true \\| false or \\{every\\?, offset\\?, logarithmic\\?, steps\\?\\}`));
      return true;
    },
  );
  assert.throws(() => loadConfig([base], ["quantities=econmy"]), /quantities: got "econmy" \(did you mean "economy"\?\); expected economy \| business \| full or \{loss\?/);
});

test("errors name file:line:col, the field and what was expected, with a did-you-mean for unknown keys", () => {
  const bad = file("bad.yaml", "extends: base.yaml\ntraining:\n  epochs: three\n  lerning_rate: 3\noptimizer:\n  name: adamm\ndata:\n  source: spiral\n");
  assert.throws(
    () => loadConfig([bad]),
    (error: Error) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, new RegExp(`${bad}:3:11: training.epochs: got "three"; expected number`));
      assert.match(error.message, new RegExp(`${bad}:4:3: training.lerning_rate: unknown key; known: epochs`));
      assert.match(error.message, new RegExp(`${bad}:6:9: optimizer.name: got "adamm" \\(did you mean "adam"\\?\\)`));
      assert.match(error.message, new RegExp(`${bad}:8:11: data.source: got "spiral" \\(did you mean "spirals"\\?\\)`));
      return true;
    },
  );
  const typo = file("typo.yaml", "extends: base.yaml\noptimizer: { name: adam, weight_decy: 0.1 }\n");
  assert.throws(() => loadConfig([typo]), /typo.yaml:2:26: optimizer.weight_decy: unknown key \(did you mean "weight_decay"\?\)/);
  assert.throws(() => loadConfig([file("broken.yaml", "model: [1,\n")]), /broken.yaml:2:1: invalid YAML/);
  assert.throws(() => loadConfig([join(folder, "nope.yaml")]), /nope.yaml: config file not found/);
  assert.throws(() => loadConfig([folder]), new RegExp(`^ConfigError: ${folder}: is a directory; expected a YAML config file$`));
  assert.throws(() => loadConfig([base], ["training.epochs"]), /override "training.epochs": expected key.path=value/);
  // A field without its section is pointed to the section(s) that have it.
  assert.throws(() => loadConfig([base], ["epochs=3"]), /override "epochs=3": epochs: unknown key \(did you mean "training\.epochs"\?\); known: name, seed/);
  assert.throws(() => loadConfig([base], ["path=x"]), /path: unknown key \(did you mean "data\.path" or "store\.path"\?\)/);
  assert.throws(() => loadConfig([file("cycle.yaml", "extends: cycle.yaml\n")]), /extends cycle/);
  assert.throws(() => loadConfig([base], ["training.epochs=0"]), /override "training.epochs=0": training.epochs: Too small/);
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
test("${ENV} substitution, with defaults, and an error naming the place of a missing variable", () => {
  process.env.GRADSCOPE_TEST_LR = "0.25";
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
  const withEnv = file("env.yaml", 'extends: base.yaml\nname: "run-${GRADSCOPE_TEST_LR}"\ntraining:\n  runs_dir: "${GRADSCOPE_NO_SUCH_VAR:-/tmp/elsewhere}"\n');
  const { config } = loadConfig([withEnv]);
  assert.equal(config.name, "run-0.25");
  assert.equal(config.training.runs_dir, "/tmp/elsewhere");
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
  const missing = file("missing.yaml", "extends: base.yaml\nname: ${GRADSCOPE_NO_SUCH_VAR}\n");
  assert.throws(() => loadConfig([missing]), /missing.yaml:2:7: environment variable GRADSCOPE_NO_SUCH_VAR is not set/);
});

// biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
test("a ${VAR} that fills an unquoted scalar is read as YAML (a number, a boolean); in longer text or in quotes it stays a string", () => {
  delete process.env.GRADSCOPE_TEST_EPOCHS;
  const typed = file(
    "typed.yaml",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the config syntax ${VAR} itself
    'extends: base.yaml\nname: run-${GRADSCOPE_TEST_EPOCHS:-3}\ntraining:\n  epochs: ${GRADSCOPE_TEST_EPOCHS:-3}\n  runs_dir: "${GRADSCOPE_TEST_EPOCHS:-7}"\ndata:\n  shuffle: ${GRADSCOPE_TEST_SHUFFLE:-false}\n',
  );
  const defaults = loadConfig([typed]).config;
  assert.equal(defaults.training.epochs, 3);
  assert.equal(defaults.data.shuffle, false);
  assert.equal(defaults.name, "run-3");
  assert.equal(defaults.training.runs_dir, "7");
  process.env.GRADSCOPE_TEST_EPOCHS = "5";
  try {
    const fromEnvironment = loadConfig([typed]).config;
    assert.equal(fromEnvironment.training.epochs, 5);
    assert.equal(fromEnvironment.name, "run-5");
  } finally {
    delete process.env.GRADSCOPE_TEST_EPOCHS;
  }
});

const configErrorOf = (files: string[], overrides: string[] = []): string => {
  try {
    loadConfig(files, overrides);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`no error for ${files.join(" ")} ${overrides.join(" ")}`);
};

test("a value that fits no form of a union names the place, the field and the forms it accepts, with a did-you-mean", () => {
  const noModel = file("no-model.yaml", "data: { source: spirals }\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\n");
  assert.equal(
    configErrorOf([noModel]),
    `${noModel}:1:1: model: required; expected {arch: ${architectureNames.join(" | ")}, variant?, hidden?, activation?, classes?} or {layers: [{type: string, ...}, ...], init?, bias_init?}`,
  );
  const archs = architectureNames.join(", ");
  assert.equal(configErrorOf([base], ["model.arch=transformer"]), `command-line override "model.arch=transformer": model.arch: got "transformer"; expected one of ${archs}`);
  assert.equal(configErrorOf([base], ["model.arch=lenet"]), `command-line override "model.arch=lenet": model.arch: got "lenet" (did you mean "lenet5"?); expected one of ${archs}`);
  assert.match(
    configErrorOf([base], ["quantities=economyy"]),
    /^command-line override "quantities=economyy": quantities: got "economyy" \(did you mean "economy"\?\); expected economy \| business \| full or \{loss\?, time\?, /,
  );
  assert.equal(configErrorOf([base], ["training.clip_norm_type=3"]), 'command-line override "training.clip_norm_type=3": training.clip_norm_type: got 3; expected 2 or inf');
  assert.match(configErrorOf([base], ["training.metrics=[acuracy]"]), /training.metrics\[0\]: got "acuracy" \(did you mean "accuracy"\?\); expected accuracy \| /);
  assert.match(configErrorOf([base], ["quantities={alpha: 3}"]), /quantities.alpha: got 3; expected true \| false or \{every\?, offset\?, logarithmic\?, steps\?\}$/);
  assert.match(configErrorOf([base], ["optimizer={name: null}"]), /optimizer.name: got null; expected one of sgd, adam, /);
  assert.match(configErrorOf([base], ["scheduler={t_max: 3}"]), /scheduler.name: required; expected one of step, multistep, /);
  const both = file("both.yaml", "extends: base.yaml\nmodel:\n  arch: mlp\n  layers: [{ type: linear, out: 2 }]\n");
  assert.match(configErrorOf([both]), new RegExp(`^${both}:3:3: model: layers cannot be combined with arch; expected \\{arch: `));
});

// Every union in the schema, with its path, for the test below.
function unionPaths(schema: z.ZodType, path: Array<string | number> = []): Array<Array<string | number>> {
  const def = (schema as unknown as { def: { type: string; innerType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[]; shape?: Record<string, z.ZodType> } }).def;
  if (def.innerType) return unionPaths(def.innerType, path);
  if (def.type === "union") return [path, ...(def.options ?? []).flatMap((option) => unionPaths(option, path))];
  if (def.type === "array" && def.element) return unionPaths(def.element, [...path, 0]);
  if (def.type === "object") return Object.entries(def.shape ?? {}).flatMap(([key, field]) => unionPaths(field, [...path, key]));
  return [];
}

test("no union of the schema answers a value that fits none of its forms with a bare 'Invalid input'", () => {
  const paths = unionPaths(configSchema());
  assert.ok(paths.length >= 8, `${paths.length} unions`);
  for (const path of paths) {
    const nested = path.slice(1).reduceRight<unknown>((inner, key) => (typeof key === "number" ? [inner] : { [key]: inner }), -1.5);
    const override = `${path[0]}=${JSON.stringify(nested)}`;
    const field = path.reduce<string>((s, p) => (typeof p === "number" ? `${s}[${p}]` : s ? `${s}.${p}` : p), "");
    const message = configErrorOf([base], [override]);
    assert.ok(message.startsWith(`command-line override "${override}": ${field}: `), message);
    assert.match(message, /: got -1\.5; expected \S/, message);
    assert.doesNotMatch(message, /Invalid input/, message);
  }
});

test("a layers model replaces an arch model and the other way round (their options do not mix)", () => {
  const layers = [{ type: "linear", out: 2 }];
  assert.deepEqual(loadConfig([base], ["model={layers: [{type: linear, out: 2}]}"]).config.model, { layers });
  const layered = file("layered.yaml", "extends: base.yaml\nmodel: { layers: [{ type: linear, out: 2 }] }\n");
  assert.deepEqual(loadConfig([layered], ["model={arch: lenet5}"]).config.model, { arch: "lenet5" });
  assert.deepEqual(loadConfig([base], ["model={hidden: [4]}"]).config.model, { arch: "mlp", hidden: [4], classes: 2 });
});

test("an override is blamed only for the field it sets and below; other errors point at the file's nearest key", () => {
  const idx = file("idx.yaml", "model: { arch: mlp, hidden: [8] }\ndata:\n  source: idx\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\n");
  const loaded = loadConfig([idx], ["data.path=/nowhere"]);
  assert.throws(() => buildData(loaded), new RegExp(`^ConfigError: ${idx}:2:1: data.classes: required for source idx with a classification loss$`));
  const sourceless = file("sourceless.yaml", "extends: base.yaml\ndata: { source: null }\n");
  assert.match(configErrorOf([sourceless], ["data.batch_size=4"]), new RegExp(`^${sourceless}:2:17: data.source: `));
  const noData = file("no-data.yaml", "model: { arch: mlp }\ntraining: { epochs: 1 }\noptimizer: { name: sgd }\n");
  assert.match(configErrorOf([noData], ["data.batch_size=4"]), new RegExp(`^${noData}:1:1: data.source: required; expected one of `));
  assert.match(configErrorOf([base], ["data={samples: 0}"]), /^command-line override "data=\{samples: 0\}": data.samples: Too small/);
  assert.equal(configErrorOf([base], ["data.samples=0", "training.epochs=1"]).split(":")[0], 'command-line override "data.samples=0"');
});

test("errors raised while building the optimizer and scheduler name their options as the YAML does (t_max, not tMax)", () => {
  const directory = mkdtempSync(join(tmpdir(), "gradscope-build-"));
  const buildError = (overrides: string[]) => {
    const loaded = loadConfig([base], overrides);
    const data = buildData(loaded);
    try {
      buildTraining(loaded, data, directory).model.dispose();
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    assert.fail(`no error for ${overrides.join(" ")}`);
  };
  assert.equal(
    buildError(["scheduler={name: cosine, t_max: -1}"]),
    'command-line override "scheduler={name: cosine, t_max: -1}": scheduler.t_max: CosineAnnealingLR: t_max must be a positive integer, got -1',
  );
  assert.match(buildError(["scheduler={name: one_cycle, max_lr: 1, total_steps: 10, pct_start: 2}"]), /scheduler.pct_start: OneCycleLR: pct_start must be in \[0, 1\], got 2$/);
  assert.match(buildError(["optimizer={name: adam, weight_decay: -1}"]), /optimizer.weight_decay: Adam: weight_decay must be a finite number >= 0, got -1$/);
  assert.match(buildError(["optimizer={name: adam, betas: [2, 0.9]}"]), /optimizer.betas\[0\]: Adam: betas\[0\] must be in \[0, 1\), got 2$/);
});

test("the JSON Schema describes every section and each optimizer's options", () => {
  const schema = configJsonSchema() as { properties: Record<string, { oneOf?: Array<{ properties: Record<string, unknown> }> }>; additionalProperties: boolean };
  for (const section of ["model", "data", "training", "optimizer", "scheduler", "callbacks", "loggers", "seed"]) assert.ok(section in schema.properties, section);
  assert.equal(schema.additionalProperties, false);
  // A config file's own `extends` is allowed (examples/zoo/*.yaml have one), and a file that
  // extends another need not repeat the sections it inherits.
  assert.deepEqual(schema.properties.extends, {
    anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }],
    description: "config files to merge first, in order (paths relative to this file)",
  });
  assert.deepEqual((schema as unknown as { anyOf: unknown }).anyOf, [{ required: ["extends"] }, { required: ["model", "data", "training", "optimizer"] }]);
  assert.equal((schema as { required?: unknown }).required, undefined);
  const adam = schema.properties.optimizer.oneOf?.find((o) => JSON.stringify(o.properties.name).includes('"adam"'));
  assert.ok(adam && "weight_decay" in adam.properties && "amsgrad" in adam.properties);
});

test("the quantities section takes every quantity gradscope has, with its options (the curvature ones were missing)", () => {
  const section = {
    ...Object.fromEntries(quantityNames().map((name) => [name, true])),
    hess_trace: { every: 10, curvature: "diag_ggn_mc", seed: 3 },
    hess_max_ev: { every: 50, max_iterations: 40, rtol: 1e-3 },
    grad_hist_2d: { adapt: { x: { policy: "grad_abs_max", padding: 0.1 }, y: null } },
  };
  const parsed = quantitiesSchema().safeParse(section);
  assert.ok(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues));
  assert.equal(createQuantities(parsed.data as Record<string, boolean | Record<string, unknown>>, 1).length, quantityNames().length);
  assert.equal(quantitiesSchema().safeParse({ hess_trace: { curvature: "diag_x" } }).success, false);
});

test("a __proto__ key in a file or an override is a config error naming its place, and pollutes no object (it crashed with exit 1)", () => {
  const polluting = file("proto.yaml", "extends: base.yaml\ndata:\n  __proto__: { polluted: 1 }\n");
  assert.equal(configErrorOf([polluting]), `${polluting}:3:3: data.__proto__: not a config key (it would change every object)`);
  assert.equal(configErrorOf([base], ["__proto__.polluted=1"]), 'command-line override "__proto__.polluted=1": __proto__: not a config key (it would change every object)');
  assert.equal(
    configErrorOf([base], ["data={__proto__: {polluted: 1}}"]),
    'command-line override "data={__proto__: {polluted: 1}}": data.__proto__: not a config key (it would change every object)',
  );
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("a YAML alias bomb is a config error naming the file, not an exit 1 without a place", () => {
  // Nine levels of ten aliases each: 10^9 strings once expanded.
  const levels = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"];
  for (let i = 1; i < 9; i++)
    levels.push(
      `l${i}: &l${i} [${Array(10)
        .fill(`*l${i - 1}`)
        .join(", ")}]`,
    );
  const bomb = file("bomb.yaml", `extends: base.yaml\n${levels.join("\n")}\n`);
  assert.match(configErrorOf([bomb]), new RegExp(`^${bomb}:1:1: invalid YAML: Excessive alias count`));
});

test("an override's unknown key, or a key path with an empty part, is blamed on the override, not on the file's first line", () => {
  assert.match(configErrorOf([base], ["trainig.epochs=3"]), /^command-line override "trainig.epochs=3": trainig: unknown key/);
  assert.equal(
    configErrorOf([base], ["model.hidden.0=3"]),
    'command-line override "model.hidden.0=3": model.hidden is a list, which an override replaces whole (model.hidden=[...]); expected a key path through mappings',
  );
  for (const override of ["training..epochs=3", ".epochs=3", "training.=3"])
    assert.equal(configErrorOf([base], [override]), `override "${override}": expected key.path=value with no empty part in key.path, e.g. training.epochs=3`);
});

test("data errors name the option at fault: too many generated samples (data.samples, not data.path), a missing label column (data.label), a folder as data.path, drop_last with no full batch (its epochs trained nothing)", () => {
  const buildError = (files: string[], overrides: string[]) => {
    try {
      buildData(loadConfig(files, overrides));
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.message;
    }
    assert.fail(`no error for ${overrides.join(" ")}`);
  };
  assert.match(
    buildError([base], ["data.limit=3", "data.drop_last=true"]),
    /^command-line override "data.drop_last=true": data.drop_last: with drop_last, the 3 examples of .* make no full batch of 128: an epoch would train nothing$/,
  );
  assert.match(
    buildError([base], ["data.samples=1e12"]),
    /^command-line override "data.samples=1e12": data.samples: 1000000000000 examples of 2 values each do not fit in one array \(.*\); expected fewer samples$/,
  );
  const points = file("points.csv", "x,y,label\n1,2,0\n3,4,1\n");
  const csv = file("csv.yaml", `extends: base.yaml\ndata:\n  source: csv\n  path: ${points}\n  classes: 2\n  label: class\n`);
  assert.equal(buildError([csv], []), `${csv}:6:10: data.label: CSV file ${points} has no column "class"; columns: x, y, label`);
  assert.equal(
    buildError([csv], [`data.path=${folder}`, "data.label=label"]),
    `command-line override "data.path=${folder}": data.path: CSV file ${folder} is a folder; expected a file`,
  );
});

test("histogram options that cannot work are config errors: more bins than the kernel holds (exit 1 once the run had started), an inverted range (every value fell outside)", () => {
  assert.equal(
    configErrorOf([base], ["quantities={grad_hist_1d: {bins: 100000000}}"]),
    'command-line override "quantities={grad_hist_1d: {bins: 100000000}}": quantities.grad_hist_1d.bins: expected at most 1024 bins, got 100000000',
  );
  assert.equal(
    configErrorOf([base], ["quantities={grad_hist_1d: {range: [1, -1]}}"]),
    'command-line override "quantities={grad_hist_1d: {range: [1, -1]}}": quantities.grad_hist_1d.range: expected [lo, hi] with lo < hi, got [1, -1]',
  );
  assert.match(
    configErrorOf([base], ["quantities={grad_hist_2d: {range: [[0, 1], [2, 2]]}}"]),
    /quantities.grad_hist_2d.range\[1\]: expected \[lo, hi\] with lo < hi, got \[2, 2\]$/,
  );
  assert.deepEqual((loadConfig([base], ["quantities={grad_hist_1d: {bins: 1024}}"]).config.quantities as Record<string, { bins: number }>).grad_hist_1d.bins, 1024);
});

test("a config file is read up to 16 MiB: a device that never ends (-c /dev/zero took 9 GB in 12 s) or a huge file is refused, naming it", () => {
  assert.equal(configErrorOf(["/dev/zero"]), "/dev/zero: longer than 16 MiB; expected a YAML config file");
  const huge = file("huge.yaml", `# ${"x".repeat(16 * 2 ** 20)}\n`);
  assert.equal(configErrorOf([huge]), `${huge}: longer than 16 MiB; expected a YAML config file`);
});

test("the printed config (--print-config) holds only the fields that apply to the run: its data source's, not the others'", () => {
  const sourceFields = [
    "path",
    "test_path",
    "label",
    "train_images",
    "train_labels",
    "test_images",
    "test_labels",
    "transpose",
    "samples",
    "dims",
    "noise",
    "std",
    "test_fraction",
  ];
  const printed = (overrides: string[]) => applicableConfig(loadConfig([base], overrides).config) as { data: object; training: object; callbacks: { checkpoint: object } };
  const shown = (data: string) => Object.keys(printed([`data=${data}`]).data).filter((field) => sourceFields.includes(field));
  assert.deepEqual(shown("{source: spirals}"), ["samples", "noise"]);
  assert.deepEqual(shown("{source: blobs, classes: 3}"), ["samples", "dims", "std"]);
  assert.deepEqual(shown("{source: regression}"), ["samples", "dims", "noise"]);
  // A CSV file without a test file of its own is split: test_fraction applies.
  assert.deepEqual(shown("{source: csv, path: a.csv, classes: 2}"), ["path", "test_fraction"]);
  assert.deepEqual(shown("{source: csv, path: a.csv, test_path: b.csv, label: y, classes: 2}"), ["path", "test_path", "label"]);
  assert.deepEqual(shown("{source: idx, path: mnist, classes: 10}"), ["path", "train_images", "train_labels", "test_images", "test_labels", "transpose"]);
  assert.deepEqual(shown("{source: cifar100, path: cifar, label: coarse}"), ["path", "label"]);
  assert.deepEqual(shown("{source: fashion-mnist-sample}"), []);
  // Options of a choice not made: label smoothing of another loss, the mode of no monitor.
  assert.ok(!("label_smoothing" in printed(["training.loss=mse"]).training));
  assert.ok("label_smoothing" in printed([]).training);
  assert.ok(!("mode" in printed([]).callbacks.checkpoint));
  assert.ok("mode" in printed(["callbacks.checkpoint.monitor=val_loss"]).callbacks.checkpoint);
});

test("a printed config (--print-config) loads as the config it was printed from and trains the same weights, though it leaves out other sources' fields", async () => {
  const applicable = ["data.noise=0.2", "data.validation=0.25", "training.label_smoothing=0.1", "callbacks.checkpoint.monitor=val_accuracy", "callbacks.checkpoint.mode=max"];
  // Fields that spirals never reads: printed, they would be noise; left out, nothing changes.
  const foreign = ["data.dims=5", "data.std=3", "data.train_images=nowhere", "data.test_fraction=0.5", "data.label=class"];
  const printedFile = file("printed.yaml", stringify(applicableConfig(loadConfig([base], [...applicable, ...foreign]).config)));
  assert.doesNotMatch(readFileSync(printedFile, "utf8"), /dims|std|train_images|test_fraction|label:/);
  assert.deepEqual(loadConfig([printedFile]).config, loadConfig([base], applicable).config);
  const trainedWeights = async (files: string[], overrides: string[]) => {
    const loaded = loadConfig(files, overrides);
    const setup = buildTraining(loaded, buildData(loaded), mkdtempSync(join(folder, "run-")));
    assert.equal((await setup.trainer.fit(setup.data.train, setup.data.validation)).status, "completed");
    const weights = setup.model.parameters().map((parameter) => [...parameter.data]);
    setup.optimizer.dispose();
    setup.model.dispose();
    return weights;
  };
  assert.deepEqual(await trainedWeights([printedFile], []), await trainedWeights([base], [...applicable, ...foreign]));
});
